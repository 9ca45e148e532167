"""The permission matrix: tenant A can touch nothing under tenant B's prefix on any API (REST, SNMS single
and batch, templates, listing, admin), and every refusal leaves Redis as it was."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from protocol.values import HandleValue
from tests.integration.admin_app import AdminApp, admin_app, basic, bearer, settings_for
from tests.integration.test_snms import TEMPLATE, ident

URL_VALUE = {"index": 1, "type": "URL", "data": "https://example.com/"}


@pytest.fixture
async def node(redis_url: str, tmp_path: Path) -> AsyncIterator[AdminApp]:
    async with admin_app(settings_for(redis_url, tmp_path)) as app:
        yield app


async def snapshot(node: AdminApp) -> tuple[Any, ...]:
    records = [await node.store.get(h) for h in ("88.2000.1/b-owned", "88.2000.1/new")]
    template = await node.store.get_doc("template", "88.2000.1|1.0")
    return (*records, template, await node.store.count_handles("88.2000.1"))


async def attempts(node: AdminApp, token: str) -> list[tuple[str, str, Any]]:
    """(method, path, body) of every write a tenant could aim at prefix 88.2000.1."""
    return [
        ("PUT", "/api/handles/88.2000.1/new", [URL_VALUE]),
        ("PUT", "/api/handles/88.2000.1/b-owned", [URL_VALUE]),
        ("PUT", "/api/handles/88.2000.1/b-owned?index=1", [URL_VALUE]),
        ("DELETE", "/api/handles/88.2000.1/b-owned?index=1", None),
        ("DELETE", "/api/handles/88.2000.1/b-owned", None),
        ("PUT", "/api/handles/0.NA/88.2000.1", [URL_VALUE]),
        ("GET", "/api/handles?prefix=88.2000.1", None),
        ("POST", "/identityv2/data", ident("88.2000.1/new")),
        ("PUT", "/identityv2/data", ident("88.2000.1/b-owned")),
        ("DELETE", "/identityv2/data", {"handle": "88.2000.1/b-owned"}),
        ("POST", "/identityv2/data/batchCreate", [ident("88.2000.1/new")]),
        ("PUT", "/identityv2/data/batchUpdate", [ident("88.2000.1/b-owned")]),
        ("DELETE", "/identityv2/data/batchDelete", ["88.2000.1/b-owned"]),
        ("POST", "/snms/api/v5/template", {**TEMPLATE, "prefix": "88.2000.1", "version": "2.0"}),
        ("PUT", "/snms/api/v5/template", {"prefix": "88.2000.1", "version": "1.0", "description": "x"}),
        ("DELETE", "/snms/api/v5/template", {"prefix": "88.2000.1", "version": "1.0"}),
        ("GET", "/api/admin/tenants", None),
        ("POST", "/api/admin/tenants/a/prefixes", {"prefix": "88.2000.1"}),
        ("DELETE", "/api/admin/tenants/b/prefixes/88.2000.1", None),
    ]


def refused(status: int, body: Any) -> bool:
    if status in (401, 403):
        return True
    if status == 200 and isinstance(body, dict) and "status" in body:
        data = body.get("data")
        if isinstance(data, list):  # a batch: every item refused
            return all(item.get("msg", "").startswith("无权限") for item in data)
        return bool(body["status"] in (-1, -3))
    return False


@pytest.mark.parametrize("credential", ["bearer", "basic"])
async def test_tenant_a_cannot_touch_b(node: AdminApp, credential: str) -> None:
    a = await node.tenant("a", "88.1000.1", "secret-a")
    b = await node.tenant("b", "88.2000.1", "secret-b")
    await node.store.create("88.2000.1/b-owned", [HandleValue(1, "URL", b"b")], actor="test")
    b_template = await node.client.post(
        "/snms/api/v5/template", json={**TEMPLATE, "prefix": "88.2000.1"}, headers=bearer(b.token)
    )
    assert (await b_template.json())["status"] == 1
    before = await snapshot(node)
    headers = bearer(a.token) if credential == "bearer" else basic("300%3A88.1000.1%2FADMIN", "secret-a")
    for method, path, body in await attempts(node, a.token):
        resp = await node.client.request(method, path, json=body, headers=headers)
        answer = await resp.json()
        assert refused(resp.status, answer), (method, path, resp.status, answer)
    assert await snapshot(node) == before


async def test_unhomed_prefix_is_refused_even_for_its_former_tenant(
    node: AdminApp, caplog: pytest.LogCaptureFixture
) -> None:
    a = await node.tenant("a", "88.1000.1", "secret-a")
    await node.ctx.tenants.unhome("a", "88.1000.1", actor="operator:test")
    with caplog.at_level(logging.WARNING, logger="resolver.audit"):
        resp = await node.client.put("/api/handles/88.1000.1/x", json=[URL_VALUE], headers=bearer(a.token))
    assert resp.status == 403
    assert await node.store.get("88.1000.1/x") is None
    assert any("actor=tenant:a" in r.getMessage() and "88.1000.1/x" in r.getMessage() for r in caplog.records)


async def test_anonymous_is_refused_everywhere(node: AdminApp) -> None:
    await node.tenant("b", "88.2000.1", "secret-b")
    await node.store.create("88.2000.1/b-owned", [HandleValue(1, "URL", b"b")], actor="test")
    before = await snapshot(node)
    for method, path, body in await attempts(node, ""):
        resp = await node.client.request(method, path, json=body)
        assert refused(resp.status, await resp.json()), (method, path)
    assert await snapshot(node) == before
