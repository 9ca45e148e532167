"""The operator's admin API on the real store, the separate admin listener app, the audit trail, and
concurrent writes through the REST API."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from resolver.http.writes import build_admin_app
from resolver.settings import parse_address
from storage.api import PrefixStatus
from storage.open import open_store
from tests.integration.admin_app import AdminApp, admin_app, basic, bearer, settings_for

SITE_VALUE = {
    "index": 1,
    "type": "HS_SITE",
    "data": {
        "format": "site",
        "value": {
            "version": 1,
            "protocolVersion": "2.10",
            "serialNumber": 1,
            "primarySite": True,
            "multiPrimary": False,
            "attributes": [],
            "servers": [
                {
                    "serverId": 1,
                    "address": "127.0.0.1",
                    "publicKey": {"format": "base64", "value": ""},
                    "interfaces": [{"query": True, "admin": True, "protocol": "TCP", "port": 2641}],
                }
            ],
        },
    },
}


@pytest.fixture
async def node(redis_url: str, tmp_path: Path) -> AsyncIterator[AdminApp]:
    async with admin_app(settings_for(redis_url, tmp_path)) as app:
        yield app


async def test_tenant_lifecycle(node: AdminApp) -> None:
    ops = node.operator()
    resp = await node.client.post(
        "/api/admin/tenants", json={"name": "acme", "prefix": "88.1000.1"}, headers=ops
    )
    creds = await resp.json()
    assert resp.status == 201 and creds["username"] == "acme" and creds["identity"] == "300:88.1000.1/ADMIN"
    assert len(creds["password"]) >= 16 and len(creds["token"]) >= 43
    record = await node.store.get_prefix("88.1000.1")
    assert record is not None and record.status == PrefixStatus.HOMED and record.tenant == "acme"
    assert [v.type for v in record.values] == ["HS_ADMIN"]
    # The printed credentials work on every scheme.
    login = await node.client.post(
        "/identity/token", json={"username": "acme", "password": creds["password"]}
    )
    assert (await login.json())["status"] == 1
    put = await node.client.put(
        "/api/handles/88.1000.1/x",
        json=[{"index": 1, "type": "URL", "data": "u"}],
        headers=basic("300%3A88.1000.1%2FADMIN", creds["password"]),
    )
    assert put.status == 200

    resp = await node.client.post("/api/admin/tenants", json={"name": "acme", "prefix": "88.3"}, headers=ops)
    assert resp.status == 409
    resp = await node.client.post(
        "/api/admin/tenants", json={"name": "other", "prefix": "88.1000.1"}, headers=ops
    )
    assert resp.status == 409 and "belongs to tenant" in (await resp.json())["error"]

    resp = await node.client.post(
        "/api/admin/tenants/acme/prefixes", json={"prefix": "88.1000.2"}, headers=ops
    )
    assert resp.status == 200
    resp = await node.client.post(
        "/api/admin/tenants/acme/delegations",
        json={"prefix": "88.1000.3", "values": [SITE_VALUE]},
        headers=ops,
    )
    assert resp.status == 200, await resp.text()
    delegated = await node.store.get_prefix("88.1000.3")
    assert delegated is not None and delegated.status == PrefixStatus.DELEGATED
    assert {v.type for v in delegated.values} == {"HS_ADMIN", "HS_SITE"}
    doc = await (await node.client.get("/api/admin/tenants/acme", headers=ops)).json()
    assert doc["prefixes"] == ["88.1000.1", "88.1000.2", "88.1000.3"]

    resp = await node.client.delete("/api/admin/tenants/acme/prefixes/88.1000.2", headers=ops)
    assert resp.status == 200 and await node.store.get_prefix("88.1000.2") is None
    first_token = bearer(creds["token"])
    assert (await node.client.get("/api/handles?prefix=88.1000.1", headers=first_token)).status == 200
    resp = await node.client.post(
        "/api/admin/tenants/acme/credentials", json={"password": "new-pw"}, headers=ops
    )
    assert resp.status == 201
    # A new credential ends the tokens issued under the old one.
    assert (await node.client.get("/api/handles?prefix=88.1000.1", headers=first_token)).status == 401
    old = await node.client.post("/identity/token", json={"username": "acme", "password": creds["password"]})
    assert (await old.json())["status"] == -2
    token = await (await node.client.post("/api/admin/tenants/acme/tokens", headers=ops)).json()
    assert token["expires_in_s"] == 86_400

    resp = await node.client.delete("/api/admin/tenants/acme", headers=ops)
    assert resp.status == 200
    assert await node.store.get_prefix("88.1000.1") is None
    assert (await (await node.client.get("/api/admin/tenants", headers=ops)).json()) == {"tenants": []}


async def test_admin_refusals(node: AdminApp) -> None:
    ops = node.operator()
    creds = await node.tenant("acme", "88.1000.1")
    assert (await node.client.get("/api/admin/tenants")).status == 401
    assert (await node.client.get("/api/admin/tenants", headers=bearer(creds.token))).status == 403
    for body, names in (
        ({"name": "x", "prefix": "88.9", "colour": 1}, "colour"),
        ({"name": "bad name!", "prefix": "88.9"}, "tenant name"),
        ({"name": "x", "prefix": "88.9/suffix"}, "not a prefix"),
        ({"name": "x"}, "prefix"),
    ):
        resp = await node.client.post("/api/admin/tenants", json=body, headers=ops)
        assert resp.status == 400 and names in (await resp.json())["error"], body
    resp = await node.client.post(
        "/api/admin/tenants/acme/delegations",
        json={"prefix": "88.1000.3", "values": [{"index": 1, "type": "URL", "data": "x"}]},
        headers=ops,
    )
    assert resp.status == 400 and "HS_SITE" in (await resp.json())["error"]
    assert (await node.client.get("/api/admin/tenants/nobody", headers=ops)).status == 404


async def test_audit_trail(node: AdminApp) -> None:
    creds = await node.tenant("acme", "88.1000.1")
    await node.client.put(
        "/api/handles/88.1000.1/a",
        json=[{"index": 1, "type": "URL", "data": "u"}],
        headers=bearer(creds.token),
    )
    await node.client.delete("/api/handles/88.1000.1/a", headers=bearer(creds.token))
    resp = await node.client.get("/api/admin/audit?count=1000", headers=node.operator())
    entries = (await resp.json())["entries"]
    writes = [
        (e["actor"], e["operation"], e["target"], e["result"])
        for e in entries
        if e["target"] == "88.1000.1/a"
    ]
    assert [w[1] for w in writes] == ["overwrite", "delete"] or [w[1] for w in writes] == ["create", "delete"]
    assert all(w[0] == "tenant:acme" and w[3] == "ok" for w in writes)
    assert all(e["at"].endswith("Z") for e in entries)


async def test_separate_admin_listener(redis_url: str, tmp_path: Path) -> None:
    settings = settings_for(redis_url, tmp_path)
    settings = dataclasses.replace(
        settings, listen=dataclasses.replace(settings.listen, admin=parse_address("127.0.0.1:0"))
    )
    async with admin_app(settings) as public:
        # Admin routes are not on the public app when an admin listener is configured...
        assert (await public.client.get("/api/admin/tenants", headers=public.operator())).status == 404
        store = await open_store(settings.storage)
        client = TestClient(TestServer(build_admin_app(settings, store)))
        await client.start_server()
        try:
            resp = await client.get("/api/admin/tenants", headers=public.operator())
            assert resp.status == 200  # ...but on the admin app, with the same operator token.
            assert (await client.put("/api/handles/88.1/x", json=[])).status == 404
        finally:
            await client.close()
            await store.aclose()


async def test_concurrent_writes(node: AdminApp) -> None:
    auth = bearer((await node.tenant("acme", "88.1000.1")).token)
    # Many clients create the same handle: exactly one wins, the rest get 409 / RC 101.
    creates = await asyncio.gather(
        *(
            node.client.put(
                "/api/handles/88.1000.1/race?overwrite=false",
                json=[{"index": 1, "type": "URL", "data": f"v{n}"}],
                headers=auth,
            )
            for n in range(20)
        )
    )
    assert sorted(r.status for r in creates) == [201] + [409] * 19
    # Concurrent adds of different indexes: none is lost.
    adds = await asyncio.gather(
        *(
            node.client.put(
                f"/api/handles/88.1000.1/race?index={n}&overwrite=false",
                json=[{"index": n, "type": "EMAIL", "data": f"e{n}"}],
                headers=auth,
            )
            for n in range(2, 32)
        )
    )
    assert {r.status for r in adds} == {201}
    record = await node.store.get("88.1000.1/race")
    assert record is not None and sorted(v.index for v in record) == list(range(1, 32))
