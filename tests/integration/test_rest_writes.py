"""Handle REST writes on the real store: create/overwrite/add/remove/delete, listing, status mapping,
credentials in the forms Handle clients send them, and refusals that change nothing."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.admin_app import AdminApp, admin_app, basic, bearer, settings_for

URL_VALUE = {"index": 1, "type": "URL", "data": {"format": "string", "value": "https://example.com/a"}}
EMAIL_VALUE = {"index": 2, "type": "EMAIL", "data": "ops@example.com"}


@pytest.fixture
async def node(redis_url: str, tmp_path: Path) -> AsyncIterator[AdminApp]:
    async with admin_app(settings_for(redis_url, tmp_path)) as app:
        yield app


async def put(node: AdminApp, handle: str, body: Any, headers: dict[str, str], query: str = "") -> Any:
    resp = await node.client.put(f"/api/handles/{handle}{query}", json=body, headers=headers)
    return resp.status, await resp.json()


async def test_create_with_basic_identity_then_read_back(node: AdminApp) -> None:
    creds = await node.tenant("acme", "88.1000.1", "pw-acme")
    # pyhandle / B2HANDLE form: the identity URL-encoded as the Basic user.
    headers = basic("300%3A88.1000.1%2FADMIN", "pw-acme")
    status, body = await put(node, "88.1000.1/p1", {"values": [URL_VALUE]}, headers, "?overwrite=false")
    assert (status, body) == (201, {"responseCode": 1, "handle": "88.1000.1/p1"})
    record = await node.store.get("88.1000.1/p1")
    assert record is not None and [v.type for v in record] == ["URL"]
    assert record[0].timestamp > 0
    assert creds.identity == "300:88.1000.1/ADMIN"
    # The unencoded form (user containing ':') is accepted too.
    status, _ = await put(node, "88.1000.1/p2", [URL_VALUE], basic("300:88.1000.1/ADMIN", "pw-acme"))
    assert status == 200


async def test_overwrite_add_remove_delete(node: AdminApp) -> None:
    creds = await node.tenant("acme", "88.1000.1")
    auth = bearer(creds.token)
    assert (await put(node, "88.1000.1/x", [URL_VALUE], auth))[0] == 200
    status, body = await put(node, "88.1000.1/x", [URL_VALUE], auth, "?overwrite=false")
    assert (status, body["responseCode"]) == (409, 101)
    status, _ = await put(node, "88.1000.1/x", [EMAIL_VALUE], auth, "?index=2&overwrite=false")
    assert status == 201
    status, body = await put(node, "88.1000.1/x", [EMAIL_VALUE], auth, "?index=2&overwrite=false")
    assert (status, body["responseCode"]) == (409, 201)
    status, body = await put(node, "88.1000.1/x", [EMAIL_VALUE], auth, "?index=3")
    assert (status, body["responseCode"]) == (400, 202)
    resp = await node.client.delete("/api/handles/88.1000.1/x?index=various", headers=auth)
    assert resp.status == 400 and await node.store.get("88.1000.1/x") is not None
    resp = await node.client.delete("/api/handles/88.1000.1/x?index=1", headers=auth)
    assert resp.status == 200
    record = await node.store.get("88.1000.1/x")
    assert record is not None and [v.index for v in record] == [2]
    resp = await node.client.delete("/api/handles/88.1000.1/x", headers=auth)
    assert resp.status == 200 and await node.store.get("88.1000.1/x") is None
    resp = await node.client.delete("/api/handles/88.1000.1/x", headers=auth)
    assert resp.status == 404 and (await resp.json())["responseCode"] == 100


async def test_single_value_entity_and_mint(node: AdminApp) -> None:
    creds = await node.tenant("acme", "88.1000.1")
    status, body = await put(node, "88.1000.1/", URL_VALUE, bearer(creds.token), "?mintNewSuffix=true")
    assert status == 200
    minted = body["handle"]
    assert minted.startswith("88.1000.1/") and len(minted) > len("88.1000.1/")
    assert await node.store.get(minted) is not None


async def test_prefix_is_case_insensitive(node: AdminApp) -> None:
    creds = await node.tenant("acme", "88.abc.1")
    status, _ = await put(node, "88.ABC.1/Case", [URL_VALUE], bearer(creds.token))
    assert status == 200
    assert await node.store.get("88.ABC.1/Case") is not None


async def test_listing(node: AdminApp) -> None:
    creds = await node.tenant("acme", "88.1000.1")
    for n in range(5):
        await put(node, f"88.1000.1/h{n}", [URL_VALUE], bearer(creds.token))
    resp = await node.client.get(
        "/api/handles?prefix=88.1000.1&page=0&pageSize=2", headers=bearer(creds.token)
    )
    body = await resp.json()
    assert resp.status == 200 and body["totalCount"] == 5 and len(body["handles"]) == 2
    resp = await node.client.get("/api/handles?prefix=88.1000.1&pageSize=0", headers=bearer(creds.token))
    assert (await resp.json())["handles"] == []
    resp = await node.client.get("/api/handles?prefix=88.1000.1", headers=bearer(creds.token))
    assert sorted((await resp.json())["handles"]) == [f"88.1000.1/h{n}" for n in range(5)]
    resp = await node.client.get("/api/handles", headers=bearer(creds.token))
    assert resp.status == 400 and (await resp.json())["responseCode"] == 102
    resp = await node.client.get("/api/handles?prefix=88.1000.1")
    assert resp.status == 401


@pytest.mark.parametrize(
    ("body", "content_type", "names"),
    [
        (b"{not json", "application/json", "invalid JSON"),
        (b'[{"index": "one", "type": "URL", "data": "x"}]', "application/json", "values[0].index"),
        (b'[{"index": 1, "type": "URL", "data": "x", "colour": 1}]', "application/json", "colour"),
        (b'{"values": [], "extra": 1}', "application/json", "extra"),
        (
            b'{"values": [{"index": 1, "type": "URL", "data": "x"}], "handle": "88.1000.1/other"}',
            "application/json",
            "Mismatched handle",
        ),
        (b"[]", "application/json", "non-empty"),
        (b"[" * 100 + b"]" * 100, "application/json", "deeper"),
        (b'[{"index": 1, "type": "URL", "data": "x"}]', "text/plain", "Content-Type"),
        (
            b'[{"index": 1, "type": "URL", "data": "x"}, {"index": 1, "type": "URL", "data": "y"}]',
            "application/json",
            "given twice",
        ),
        (b"[NaN]", "application/json", "NaN"),
    ],
)
async def test_bad_bodies_are_4xx_and_change_nothing(
    node: AdminApp, body: bytes, content_type: str, names: str
) -> None:
    creds = await node.tenant("acme", "88.1000.1")
    headers = {**bearer(creds.token), "Content-Type": content_type}
    resp = await node.client.put("/api/handles/88.1000.1/bad", data=body, headers=headers)
    answer = await resp.json()
    assert resp.status == 400, answer
    assert names in answer["message"] and answer["responseCode"] in (4, 102, 202)
    assert await node.store.get("88.1000.1/bad") is None


async def test_oversize_body(redis_url: str, tmp_path: Path) -> None:
    settings = settings_for(redis_url, tmp_path)
    settings = dataclasses.replace(settings, limits=dataclasses.replace(settings.limits, max_body_bytes=2000))
    async with admin_app(settings) as node:
        creds = await node.tenant("acme", "88.1000.1")
        big = [{**URL_VALUE, "data": "x" * (settings.limits.max_body_bytes + 10)}]
        status, body = await put(node, "88.1000.1/big", big, bearer(creds.token))
        assert status == 413 and "too large" in body["message"]
        assert await node.store.get("88.1000.1/big") is None


async def test_invalid_handle(node: AdminApp) -> None:
    creds = await node.tenant("acme", "88.1000.1")
    status, body = await put(node, "88.1000.1/" + "x" * 300, [URL_VALUE], bearer(creds.token))
    assert (status, body["responseCode"]) == (400, 102) and "too long" in body["message"]


async def test_authentication_errors(node: AdminApp) -> None:
    await node.tenant("acme", "88.1000.1", "right")
    status, body = await put(node, "88.1000.1/a", [URL_VALUE], {})
    assert (status, body["responseCode"]) == (401, 402)
    status, body = await put(node, "88.1000.1/a", [URL_VALUE], basic("300%3A88.1000.1%2FADMIN", "wrong"))
    assert status == 401
    status, _ = await put(node, "88.1000.1/a", [URL_VALUE], bearer("not-a-token"))
    assert status == 401
    status, _ = await put(node, "88.1000.1/a", [URL_VALUE], {"Authorization": "Handle sessionId=1"})
    assert status == 401
    assert await node.store.get("88.1000.1/a") is None


async def test_write_rate_limit(redis_url: str, tmp_path: Path) -> None:
    async with admin_app(settings_for(redis_url, tmp_path, writes_per_s=0.001, burst=3)) as node:
        creds = await node.tenant("acme", "88.1000.1")
        statuses = []
        for n in range(5):
            resp = await node.client.put(
                f"/api/handles/88.1000.1/r{n}", json=[URL_VALUE], headers=bearer(creds.token)
            )
            statuses.append(resp.status)
            if resp.status == 429:
                assert int(resp.headers["Retry-After"]) >= 1
                assert (await resp.json())["responseCode"] == 3
        assert statuses == [200, 200, 200, 429, 429]
        assert await node.store.get("88.1000.1/r3") is None


async def test_slow_body_is_cut_off(redis_url: str, tmp_path: Path) -> None:
    async with admin_app(settings_for(redis_url, tmp_path), body_timeout_s=0.2) as node:
        creds = await node.tenant("acme", "88.1000.1")
        reader, writer = await asyncio.open_connection("127.0.0.1", node.client.port)
        head = (
            "PUT /api/handles/88.1000.1/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {creds.token}\r\nContent-Length: 100\r\n\r\n[{{"
        )
        writer.write(head.encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 30)
        writer.close()
        await writer.wait_closed()
        assert status_line.split()[1] == b"408"
        assert await node.store.get("88.1000.1/slow") is None
