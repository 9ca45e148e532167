"""Refused and failed writes in the audit stream (and in ``resolver audit tail``), storage failures logged
with their cause, and the SNMS hashed login for unknown users; all on a real Redis."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest

from resolver.audit import RefusalAudit
from resolver.auth.sealed import sha256_hex
from resolver.auth.snms_login import accepted_days, hashed_password
from resolver.ratelimit import RateLimit
from storage.api import AuditEntry, ChangeEntry, InvalidationKind
from storage.open import open_store
from tests.conftest import RedisProcess
from tests.integration.admin_app import AdminApp, admin_app, basic, bearer, settings_for
from tests.integration.test_admin_cli import cli_json

VALUE = [{"index": 2000, "type": "name", "data": {"format": "string", "value": "v"}}]
URL_VALUE = {"index": 1, "type": "URL", "data": {"format": "string", "value": "https://example.com/a"}}


async def _changes(node: AdminApp) -> list[ChangeEntry]:
    return await node.store.read_changes("0", 1_000)


def _refusals(entries: list[ChangeEntry]) -> list[ChangeEntry]:
    return [e for e in entries if e.result != "ok"]


async def test_refused_rest_writes_are_audited(redis_url: str, tmp_path: Path) -> None:
    async with admin_app(settings_for(redis_url, tmp_path)) as node:
        await node.tenant("a", "88.1000.1")
        b = await node.tenant("b", "88.1000.2")
        resp = await node.client.put("/api/handles/88.1000.1/x", json=[URL_VALUE], headers=bearer(b.token))
        assert resp.status == 403
        resp = await node.client.delete("/api/handles/88.1000.1/x")  # anonymous
        assert resp.status == 401
        resp = await node.client.put(
            "/api/handles/88.1000.2/y",
            data=b"[{",
            headers={**bearer(b.token), "Content-Type": "application/json"},
        )
        assert resp.status == 400
        refused = _refusals(await _changes(node))
        assert [(e.actor, e.operation, e.target, e.result) for e in refused] == [
            ("tenant:b", "PUT /api/handles", "88.1000.1/x", "denied"),
            ("anonymous", "DELETE /api/handles", "88.1000.1/x", "denied"),
            ("tenant:b", "PUT /api/handles", "88.1000.2/y", "invalid"),
        ]
        assert refused[0].detail["status"] == 403 and "88.1000.1" in refused[0].detail["message"]
        assert all(e.at_ms > 0 for e in refused)
        assert await node.store.get("88.1000.1/x") is None


async def test_snms_batch_refusals_are_audited_per_item(redis_url: str, tmp_path: Path) -> None:
    async with admin_app(settings_for(redis_url, tmp_path)) as node:
        await node.tenant("a", "88.1000.1")
        b = await node.tenant("b", "88.1000.2")
        items = [
            {"handle": "88.1000.1/p", "templateVersion": "1.0", "value": VALUE},
            {"handle": "88.1000.1/q", "templateVersion": "1.0", "value": VALUE},
        ]
        resp = await node.client.post("/identityv2/data/batchCreate", json=items, headers=bearer(b.token))
        assert (await resp.json())["status"] == 1  # the envelope succeeds; each item failed
        resp = await node.client.post("/identityv2/data", json=items[0])  # not logged in
        assert (await resp.json())["status"] == -1
        refused = _refusals(await _changes(node))
        assert [(e.actor, e.operation, e.target, e.result) for e in refused] == [
            ("tenant:b", "snms-create", "88.1000.1/p", "denied"),
            ("tenant:b", "snms-create", "88.1000.1/q", "denied"),
            ("anonymous", "POST /identityv2/data", "", "denied"),
        ]


async def test_refused_admin_call_is_audited(redis_url: str, tmp_path: Path) -> None:
    async with admin_app(settings_for(redis_url, tmp_path)) as node:
        b = await node.tenant("b", "88.1000.2")
        resp = await node.client.post(
            "/api/admin/tenants", json={"name": "c", "prefix": "88.1000.3"}, headers=bearer(b.token)
        )
        assert resp.status == 403
        refused = _refusals(await _changes(node))
        assert [(e.actor, e.result, e.detail["status"]) for e in refused] == [("tenant:b", "denied", 403)]


async def test_audit_entries_do_not_invalidate_and_show_in_audit_tail(redis_url: str, tmp_path: Path) -> None:
    async with admin_app(settings_for(redis_url, tmp_path)) as node:
        feed = node.store.invalidations()
        assert isinstance(feed, AsyncGenerator)  # so it can be closed
        first = await asyncio.wait_for(anext(feed), 10)
        assert first.kind is InvalidationKind.ALL  # subscribed
        await node.store.append_audit(AuditEntry("tenant:x", "PUT /api/handles", "88.1/a", "denied"))
        await node.store.create("88.1/b", [], actor="t")
        nxt = await asyncio.wait_for(anext(feed), 10)
        assert (nxt.kind, nxt.key) == (InvalidationKind.HANDLE, "88.1/b")  # the audit entry published nothing
        await feed.aclose()
        with pytest.raises(ValueError, match="cannot be 'ok'"):
            await node.store.append_audit(AuditEntry("t", "op", "x", "ok"))
    tail = await asyncio.to_thread(cli_json, redis_url, tmp_path, "audit", "tail", "-n", "5")
    assert [(e["actor"], e["result"]) for e in tail][-2:] == [("tenant:x", "denied"), ("t", "ok")]


async def test_storage_failure_is_logged_with_its_cause(
    redis_launcher: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server: RedisProcess = redis_launcher()
    async with admin_app(settings_for(server.url, tmp_path)) as node:
        creds = await node.tenant("acme", "88.1000.1", "pw")
        headers = basic("300:88.1000.1/ADMIN", "pw")
        resp = await node.client.put("/api/handles/88.1000.1/warm", json=[URL_VALUE], headers=headers)
        assert resp.status in (200, 201)  # the Basic credential is now cached: the next write reaches storage
        server.kill()
        with caplog.at_level(logging.WARNING):
            resp = await node.client.put("/api/handles/88.1000.1/x", json=[URL_VALUE], headers=headers)
            assert resp.status == 503
            body = {
                "handle": "88.1000.1/y",
                "templateVersion": "1.0",
                "value": VALUE,
            }
            resp = await node.client.post("/identityv2/data", json=body, headers=bearer(creds.token))
            assert (await resp.json())["status"] == -4
    failed = [r for r in caplog.records if "failed in storage" in r.getMessage()]
    assert {r.name for r in failed} >= {"resolver.http.rest_writes", "resolver.http.snms_common"}
    assert all(r.exc_info is not None and r.exc_info[1] is not None for r in failed)
    assert any("audit entry not stored" in r.getMessage() for r in caplog.records)


async def test_hashed_login_unknown_user_takes_the_same_path(redis_url: str, tmp_path: Path) -> None:
    async with admin_app(settings_for(redis_url, tmp_path)) as node:
        await node.tenant("acme", "88.1000.1", "123456")
        now = node.ctx.clock()
        good = hashed_password(sha256_hex("123456"), accepted_days(now)[0])
        accounts = node.ctx.accounts
        assert (await accounts.login_hashed("acme", good, now)) is not None
        assert await accounts.login_hashed("nobody", good, now) is None
        # The dummy compared against for unknown users is a random secret, not a guessable one.
        for guess in ("", "idnode-timing-equaliser", "123456"):
            hashed = hashed_password(sha256_hex(guess), accepted_days(now)[0])
            assert await accounts.login_hashed("nobody", hashed, now) is None
        resp = await node.client.post("/identity/token/v1", json={"username": "nobody", "password": good})
        assert (await resp.json())["status"] != 1


async def test_open_store_sees_audit_entries(redis_url: str, tmp_path: Path) -> None:
    """Another process's store (a second node) reads the refusal as a ChangeEntry with its detail."""
    async with admin_app(settings_for(redis_url, tmp_path)) as node:
        await node.store.append_audit(
            AuditEntry("tenant:b", "DELETE /api/handles", "88.1/z", "failed", {"status": 503})
        )
    other = await open_store(settings_for(redis_url, tmp_path).storage)
    try:
        entry = (await other.read_changes())[-1]
        assert (entry.result, entry.detail) == ("failed", {"status": 503})
        assert entry.target == "88.1/z" and entry.operation == "DELETE /api/handles"
    finally:
        await other.aclose()


async def test_a_flood_of_refusals_cannot_evict_the_history(redis_url: str, tmp_path: Path) -> None:
    """Per client, refusal entries are bounded (then only logged); another client is not affected."""
    store = await open_store(settings_for(redis_url, tmp_path).storage)
    try:
        audit = RefusalAudit(store, RateLimit(0.001, 3), clock=lambda: 1000.0)
        for n in range(10):
            await audit.record("10.0.0.9", "", "PUT /api/handles", f"88.1/{n}", 401, "authentication needed")
        await audit.record("tenant:b", "tenant:b", "PUT /api/handles", "88.1/x", 403, "not yours")
        entries = await store.read_changes("0", 100)
        assert [e.target for e in entries] == ["88.1/0", "88.1/1", "88.1/2", "88.1/x"]
    finally:
        await store.aclose()
