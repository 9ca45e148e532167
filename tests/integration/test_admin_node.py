"""The write/admin API through the real node: ``resolver serve`` (2 workers) with HTTPS and a separate admin
listener on a real Redis, tenants made by the CLI, writes visible to every worker, owner-only values."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from resolver.client import resolve_tcp, resolve_udp
from tests.integration.admin_app import basic, bearer
from tests.integration.node import Node, start_node

pytestmark = pytest.mark.slow


def make_cert(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def cli_json(redis_url: str, data_dir: Path, *args: str) -> Any:
    command = [
        sys.executable,
        "-m",
        "resolver",
        *args,
        "--json",
        "--redis-url",
        redis_url,
        "--data-dir",
        str(data_dir),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def tls_node(redis_url: str, tmp_path: Path) -> Iterator[Node]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = make_cert(tmp_path)
    node = start_node(
        tmp_path / "node",
        redis_url,
        "--tls-cert",
        str(cert),
        "--tls-key",
        str(key),
        "--admin-listen",
        "127.0.0.1:0",
    )
    try:
        yield node
    finally:
        node.stop()


def client_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's own self-signed certificate
    return context


async def get_json(session: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[int, Any]:
    async with session.get(url, ssl=client_tls(), **kw) as resp:
        return resp.status, await resp.json()


async def test_https_admin_listener_and_owner_reads(tls_node: Node, redis_url: str) -> None:
    data_dir = tls_node.data_dir
    creds = cli_json(redis_url, data_dir, "tenant", "add", "acme", "--prefix", "88.1000.1")
    operator = cli_json(redis_url, data_dir, "token", "create", "--operator")["token"]
    ports = tls_node.ports()
    public, admin = f"https://127.0.0.1:{ports['http_port']}", f"https://127.0.0.1:{ports['admin_port']}"
    owner = basic("300%3A88.1000.1%2FADMIN", creds["password"])
    values = [
        {"index": 1, "type": "URL", "data": "https://example.com/"},
        {"index": 2, "type": "SECRET", "data": "internal", "permissions": "1100"},
    ]
    async with aiohttp.ClientSession() as session:
        async with session.put(
            f"{public}/api/handles/88.1000.1/node-1", json=values, headers=owner, ssl=client_tls()
        ) as resp:
            assert resp.status == 200, await resp.text()
        # Both workers see the write (the change feed); anonymous readers see only public values.
        for _ in range(10):
            status, body = await get_json(session, f"{public}/api/handles/88.1000.1/node-1")
            assert status == 200 and [v["index"] for v in body["values"]] == [1]
        status, body = await get_json(session, f"{public}/api/handles/88.1000.1/node-1", headers=owner)
        assert status == 200 and [v["index"] for v in body["values"]] == [1, 2]
        status, body = await get_json(
            session, f"{public}/api/handles/88.1000.1/node-1", headers=bearer(creds["token"])
        )
        assert [v["index"] for v in body["values"]] == [1, 2]
        # The admin API lives only on the admin listener.
        status, _ = await get_json(session, f"{admin}/api/admin/tenants", headers=bearer(operator))
        assert status == 200
        async with session.get(
            f"{public}/api/admin/tenants", headers=bearer(operator), ssl=client_tls()
        ) as r:
            assert r.status in (400, 404)  # the proxy catch-all refuses it: no admin route here
        # Plain HTTP is not served on the TLS port.
        with pytest.raises(aiohttp.ClientError):
            async with session.get(
                f"http://127.0.0.1:{ports['http_port']}/api/prefixes", timeout=aiohttp.ClientTimeout(total=10)
            ) as r:
                await r.read()


async def test_write_then_delete_seen_by_resolution(redis_url: str, tmp_path: Path) -> None:
    node = start_node(tmp_path / "node", redis_url)
    try:
        creds = cli_json(redis_url, node.data_dir, "tenant", "add", "acme", "--prefix", "88.1000.1")
        base = f"http://127.0.0.1:{node.http_port}"
        auth = bearer(creds["token"])
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/api/handles/88.1000.1/seen") as resp:
                assert resp.status == 404  # now cached as "not found" by one worker
            async with session.put(
                f"{base}/api/handles/88.1000.1/seen",
                headers=auth,
                json=[{"index": 1, "type": "URL", "data": "u"}],
            ) as resp:
                assert resp.status == 200
            statuses = set()
            for _ in range(50):  # bounded: the feed invalidates within 100 ms on every worker
                async with session.get(f"{base}/api/handles/88.1000.1/seen") as resp:
                    statuses.add(resp.status)
                if statuses == {200}:
                    break
                statuses.clear()
                await asyncio.sleep(0.05)
            assert statuses == {200}
    finally:
        node.stop()


async def test_resolution_rate_limit_on_every_transport(redis_url: str, tmp_path: Path) -> None:
    node = start_node(
        tmp_path / "node", redis_url, "--resolutions-per-s", "0.001", "--rate-burst", "3", workers=1
    )
    try:
        port = node.handle_port
        codes = [int((await resolve_udp("127.0.0.1", port, "88.1/x")).header.response_code) for _ in range(4)]
        assert codes[:3] != [3, 3, 3] and codes[3] == 3  # the burst, then RC_SERVER_TOO_BUSY
        tcp = await resolve_tcp("127.0.0.1", port, "88.1/x")
        assert int(tcp.header.response_code) == 3  # the same client, the same bucket
        async with aiohttp.ClientSession() as session:
            statuses = []
            for _ in range(4):
                async with session.get(f"http://127.0.0.1:{node.http_port}/api/handles/88.1/x") as resp:
                    statuses.append(resp.status)
                    if resp.status == 429:
                        assert int(resp.headers["Retry-After"]) >= 1
                        assert (await resp.json())["responseCode"] == 3
            assert statuses[3] == 429 and 429 not in statuses[:3]
    finally:
        node.stop()


def test_bad_tls_files_fail_fast(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    command = [
        sys.executable,
        "-m",
        "resolver",
        "serve",
        "--data-dir",
        str(tmp_path),
        "--tls-cert",
        str(missing),
        "--tls-key",
        str(missing),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "tls_cert" in done.stderr
    only_cert = subprocess.run([*command[:-2]], capture_output=True, text=True, timeout=60, check=False)
    assert only_cert.returncode == 2 and "together" in only_cert.stderr


async def test_rate_limit_is_node_wide_with_two_workers(redis_url: str, tmp_path: Path) -> None:
    """Each of the 2 workers gets half the rate and burst: a burst of B + extra from one client gets at least
    ``extra`` refusals however the kernel spreads it over the workers (counts only, no timings)."""
    burst, extra = 10, 10
    node = start_node(
        tmp_path / "node", redis_url, "--resolutions-per-s", "0.001", "--rate-burst", str(burst), workers=2
    )
    try:
        port = node.handle_port
        replies = [await resolve_udp("127.0.0.1", port, "88.1/x") for _ in range(burst + extra)]
        busy = sum(int(r.header.response_code) == 3 for r in replies)
        assert busy >= extra
        statuses = []
        for _ in range(burst + extra):  # a new connection each time, so both workers take some
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{node.http_port}/api/handles/88.1/x") as resp,
            ):
                statuses.append(resp.status)
        assert statuses.count(429) >= extra
    finally:
        node.stop()
