"""`resolver tenant`, `resolver token` and `resolver audit` as an operator runs them, on a real Redis."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from resolver.settings import Settings
from storage.api import StorageConfig
from tests.integration.admin_app import admin_app, basic


def cli(redis_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "resolver", *args, "--redis-url", redis_url, "--data-dir", str(data_dir)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def cli_json(redis_url: str, data_dir: Path, *args: str) -> Any:
    done = cli(redis_url, data_dir, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
async def test_tenant_add_token_audit(redis_url: str, tmp_path: Path) -> None:
    given = "pw-1"
    creds = cli_json(
        redis_url, tmp_path, "tenant", "add", "acme", "--prefix", "88.1000.1", "--password", given
    )
    assert creds["username"] == "acme" and creds["password"] == given
    assert creds["identity"] == "300:88.1000.1/ADMIN" and len(creds["token"]) == 43
    again = cli(redis_url, tmp_path, "tenant", "add", "acme", "--prefix", "88.1000.9")
    assert again.returncode == 1 and "already exists" in again.stderr
    operator = cli_json(redis_url, tmp_path, "token", "create", "--operator")
    tenant_token = cli_json(redis_url, tmp_path, "token", "create", "--tenant", "acme")
    assert tenant_token["tenant"] == "acme" and tenant_token["expires_in_s"] == 86_400

    settings = Settings(storage=StorageConfig(redis_url=redis_url, data_dir=tmp_path))
    async with admin_app(settings) as node:  # the same data dir: the same node key
        headers = {"Authorization": f"Bearer {operator['token']}"}
        assert (await node.client.get("/api/admin/tenants", headers=headers)).status == 200
        login = await node.client.post("/identity/token/v1", json={"username": "acme", "password": "x" * 64})
        assert (await login.json())["status"] == -2
        resp = await node.client.put(
            "/api/handles/88.1000.1/cli",
            json=[{"index": 1, "type": "URL", "data": "u"}],
            headers=basic("300%3A88.1000.1%2FADMIN", given),
        )
        assert resp.status == 200

    tail = cli_json(redis_url, tmp_path, "audit", "tail", "-n", "3")
    assert len(tail) == 3 and tail[-1]["target"] == "88.1000.1/cli" and tail[-1]["actor"] == "tenant:acme"
    text = cli(redis_url, tmp_path, "audit", "tail", "-n", "1")
    assert text.returncode == 0 and "88.1000.1/cli" in text.stdout
    listing = cli_json(redis_url, tmp_path, "tenant", "list")
    assert [t["name"] for t in listing] == ["acme"]
    assert cli(redis_url, tmp_path, "tenant", "remove", "acme").returncode == 0
    assert cli_json(redis_url, tmp_path, "tenant", "list") == []
