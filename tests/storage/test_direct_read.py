"""Batched reads on a held connection (storage.client.DirectScript): a lost script or a dropped connection
falls back to the full redis-py call, which reloads and reconnects; the caller sees only the records."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from protocol.values import HandleValue
from storage import open_store
from storage.api import StorageConfig
from storage.client import DirectScript
from storage.redis_store import RedisStore

VALUE = HandleValue(index=1, type="URL", data=b"https://example.cn/a")


@pytest.fixture
async def standalone(redis_url: str) -> AsyncIterator[RedisStore]:
    store = await open_store(StorageConfig(redis_url=redis_url), buckets=16)
    await store.create("88.7/a", [VALUE], actor="t")
    yield store
    await store.delete("88.7/a", actor="t")
    await store.aclose()


async def test_reads_again_after_the_server_forgets_the_script(standalone: RedisStore) -> None:
    assert await standalone.get_many(["88.7/a", "88.7/none"]) == [(VALUE,), None]
    await standalone.client.script_flush()
    assert await standalone.get_many(["88.7/a", "88.7/none"]) == [(VALUE,), None]
    assert await standalone.get("88.7/a") == (VALUE,)


async def test_reads_again_after_its_connection_is_dropped(standalone: RedisStore) -> None:
    assert await standalone.get("88.7/a") == (VALUE,)
    # Kill every normal client connection, the held one included; the next read must still answer.
    killed = await standalone.client.client_kill_filter(_type="normal", skipme=False)
    assert killed >= 1
    assert await standalone.get_many(["88.7/a", "88.7/none"]) == [(VALUE,), None]
    assert await standalone.get("88.7/a") == (VALUE,)


async def test_close_hands_held_connections_back(redis_url: str) -> None:
    store = await open_store(StorageConfig(redis_url=redis_url), buckets=16)
    await store.get_many(["88.7/x", "88.7/y"])
    pool = store.client.connection_pool
    assert pool._in_use_connections  # the read's connection is held between calls
    await store.aclose()
    assert not pool._in_use_connections


async def test_command_bytes_are_what_redis_py_packs(redis_url: str) -> None:
    store = await open_store(StorageConfig(redis_url=redis_url), buckets=16)
    try:
        script = store.client.register_script("return 1")
        direct = DirectScript(store.client, script)
        keys, args = ["r:1f", "r:\u00e9"], [b"\x00\xffpacked", b""]
        conn = store.client.connection_pool.make_connection()
        packed = b"".join(conn.pack_command("EVALSHA", script.sha, len(keys), *keys, *args))
        assert direct._command(keys, args) == packed
    finally:
        await store.aclose()
