"""Tenant operations are all or nothing: racing creators of one prefix (one wins), racing homes, and a
redis-server killed in the middle of many creations (after a restart from its AOF, every tenant is whole or
absent)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from resolver.auth.accounts import CREDENTIAL, IDENTITY, Accounts
from resolver.auth.sealed import SecretBox
from resolver.auth.tenants import TENANT_DOC, TenantCredentials, TenantError, Tenants
from storage.api import StorageConfig, StorageError
from storage.open import open_store
from storage.redis_store import RedisStore
from tests.conftest import RedisProcess, start_redis

KEY = b"k" * 32
AOF = ("--appendonly", "yes", "--appendfsync", "always")


async def _tenants(url: str, data_dir: Path) -> tuple[RedisStore, Tenants]:
    """A separate store (its own connections), as a second worker or node would have."""
    store = await open_store(StorageConfig(redis_url=url, data_dir=data_dir, retries=0))
    return store, Tenants(store, Accounts(store, SecretBox(KEY)))


async def test_concurrent_create_of_one_prefix_has_one_winner(redis_url: str, tmp_path: Path) -> None:
    (s1, t1), (s2, t2) = await _tenants(redis_url, tmp_path), await _tenants(redis_url, tmp_path)
    try:
        for n in range(4):
            prefix = f"88.1000.{n}"
            got = await asyncio.gather(
                t1.create(f"a{n}", prefix, "pw", 0.0, actor="op1"),
                t2.create(f"b{n}", prefix, "pw", 0.0, actor="op2"),
                return_exceptions=True,
            )
            wins = [g for g in got if isinstance(g, TenantCredentials)]
            losses = [g for g in got if isinstance(g, TenantError)]
            assert len(wins) == 1 and len(losses) == 1 and losses[0].status == 409
            winner = wins[0].tenant
            loser = f"b{n}" if winner == f"a{n}" else f"a{n}"
            record = await s1.get_prefix(prefix)
            assert record is not None and record.tenant == winner
            assert await s1.get_doc(TENANT_DOC, loser) is None
            assert await s1.get_doc(CREDENTIAL, loser) is None
            link = await s1.get_doc(IDENTITY, f"300:{prefix}/ADMIN")
            assert link == {"username": winner}
    finally:
        await s1.aclose()
        await s2.aclose()


async def test_concurrent_home_of_one_prefix_has_one_winner(redis_url: str, tmp_path: Path) -> None:
    (s1, t1), (s2, t2) = await _tenants(redis_url, tmp_path), await _tenants(redis_url, tmp_path)
    try:
        await t1.create("a", "88.1000.1", "pw", 0.0, actor="op")
        await t1.create("b", "88.1000.2", "pw", 0.0, actor="op")
        for n in range(10):
            prefix = f"88.2000.{n}"
            got = await asyncio.gather(
                t1.home("a", prefix, actor="op1"), t2.home("b", prefix, actor="op2"), return_exceptions=True
            )
            assert sorted(type(g).__name__ for g in got) == ["TenantError", "str"]
        owners = {p.prefix: p.tenant for p in await s1.list_prefixes()}
        for name in ("a", "b"):
            doc = await t1.get(name)
            assert doc is not None
            # The tenant's list and the registry agree: no prefix is listed for a tenant that lost it.
            assert sorted(doc["prefixes"]) == sorted(p for p, t in owners.items() if t == name)
    finally:
        await s1.aclose()
        await s2.aclose()


async def test_concurrent_homes_for_one_tenant_keep_every_prefix(redis_url: str, tmp_path: Path) -> None:
    (s1, t1), (s2, t2) = await _tenants(redis_url, tmp_path), await _tenants(redis_url, tmp_path)
    try:
        await t1.create("a", "88.1000.1", "pw", 0.0, actor="op")
        homes = [(t1 if n % 2 else t2).home("a", f"88.3000.{n}", actor="op") for n in range(12)]
        await asyncio.gather(*homes)
        doc = await t1.get("a")
        assert doc is not None and len(doc["prefixes"]) == 13  # no lost update of the tenant's list
        await t2.remove("a", actor="op")
        assert await s1.list_prefixes() == [] and await s1.get_doc(CREDENTIAL, "a") is None
        assert await s1.list_docs(IDENTITY) == []
    finally:
        await s1.aclose()
        await s2.aclose()


def _restart(directory: Path) -> RedisProcess:
    return start_redis(directory, *AOF)


async def _whole_or_absent(store: RedisStore, names: list[str]) -> int:
    """Every tenant has all of its parts or none; returns how many exist."""
    whole = 0
    for n, name in enumerate(names):
        parts = [
            await store.get_doc(TENANT_DOC, name) is not None,
            await store.get_doc(CREDENTIAL, name) is not None,
            await store.get_doc(IDENTITY, f"300:88.4000.{n}/ADMIN") is not None,
            await store.get_prefix(f"88.4000.{n}") is not None,
        ]
        assert len(set(parts)) == 1, (name, parts)
        whole += parts[0]
    return whole


async def test_redis_killed_mid_creation_leaves_nothing_half_done(tmp_path: Path) -> None:
    directory = tmp_path / "redis"
    server = _restart(directory)
    names = [f"t{n}" for n in range(24)]
    store, tenants = await _tenants(server.url, tmp_path)
    first_done = asyncio.Event()

    async def create(n: int) -> Any:
        result = await tenants.create(names[n], f"88.4000.{n}", "pw", 0.0, actor="op")
        first_done.set()
        return result

    try:
        tasks = [asyncio.ensure_future(create(n)) for n in range(len(names))]
        await asyncio.wait_for(first_done.wait(), 60)
        server.kill()  # SIGKILL by PID while the other creations are in flight
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert any(isinstance(r, StorageError) for r in results)
    finally:
        await store.aclose()
        server.kill()
    server = _restart(directory)  # the same --dir: the AOF written with fsync always
    store, _ = await _tenants(server.url, tmp_path)
    try:
        whole = await _whole_or_absent(store, names)
        done = sum(isinstance(r, TenantCredentials) for r in results)
        assert whole >= done >= 1
    finally:
        await store.aclose()
        server.stop()
