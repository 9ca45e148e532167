"""Single flight and tick batching of reads, observed through the server's own command counters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from protocol.values import HandleValue
from storage import open_store
from storage.api import InvalidationKind, StorageConfig
from storage.redis_store import RedisStore

VALUE = HandleValue(index=1, type="URL", data=b"u")


@pytest.fixture
async def standalone(redis_url: str) -> AsyncIterator[RedisStore]:
    store = await open_store(StorageConfig(redis_url=redis_url), buckets=16)
    yield store
    await store.aclose()


async def hget_calls(store: RedisStore) -> int:
    stats = await store.client.info("commandstats")
    return int(stats.get("cmdstat_hget", {}).get("calls", 0))


async def test_same_key_shares_one_read(standalone: RedisStore) -> None:
    await standalone.create("88.1/a", [VALUE], actor="t")
    await standalone.client.config_resetstat()
    results = await asyncio.gather(*(standalone.get("88.1/a") for _ in range(50)))
    assert results == [(VALUE,)] * 50
    assert await hget_calls(standalone) == 1


async def test_same_tick_misses_go_in_one_pipeline(standalone: RedisStore) -> None:
    # Reads go out on their own connection (storage.fastread): bring it up first, so the commands that set up
    # a connection (CLIENT SETNAME, PING, ...) are not counted below.
    assert standalone.fast_reader is not None
    assert await standalone.fast_reader.connect()
    await standalone.client.config_resetstat()
    handles = [f"88.1/{i}" for i in range(20)]
    got = await asyncio.gather(standalone.get_many(handles[:10]), *(standalone.get(h) for h in handles))
    assert got[0] == [None] * 10 and got[1:] == [None] * 20
    assert await hget_calls(standalone) == 20  # one HGET per distinct handle, not per caller
    stats = await standalone.client.info("stats")
    # The 20 HGETs (one write on the fast link) + our two INFO calls: nothing per caller.
    assert int(stats["total_commands_processed"]) == 20 + 2


async def test_cancelled_caller_does_not_cancel_shared_read(standalone: RedisStore) -> None:
    await standalone.create("88.1/a", [VALUE], actor="t")
    first = asyncio.ensure_future(standalone.get("88.1/a"))
    second = asyncio.ensure_future(standalone.get("88.1/a"))
    await asyncio.sleep(0)
    first.cancel()
    assert await second == (VALUE,)
    with pytest.raises(asyncio.CancelledError):
        await first


class Recorder:
    """A StorageObserver that keeps what it is told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, bool]] = []

    def on_roundtrip(self, op: str, keys: int, seconds: float, ok: bool) -> None:
        assert seconds >= 0
        self.calls.append((op, keys, ok))


async def test_observer_hears_round_trips(redis_url: str) -> None:
    recorder = Recorder()
    store = await open_store(StorageConfig(redis_url=redis_url), buckets=16, observer=recorder)
    try:
        await store.create("88.1/a", [VALUE], actor="t")
        await store.get_many([f"88.1/{i}" for i in range(12)])
        await store.ping()
    finally:
        await store.aclose()
    assert recorder.calls == [("write", 1, True), ("read", 12, True), ("ping", 0, True)]


async def test_feed_resubscribes_with_all(standalone: RedisStore) -> None:
    feed = standalone.invalidations()
    assert (await asyncio.wait_for(anext(feed), 10)).kind is InvalidationKind.ALL
    # Drop the subscriber's connection server-side: the feed must come back and say "drop everything".
    waiter = asyncio.ensure_future(anext(feed))
    assert await standalone.client.client_kill_filter(_type="pubsub") == 1
    got = await asyncio.wait_for(waiter, 30)
    assert got.kind is InvalidationKind.ALL
    await standalone.create("88.1/z", [VALUE], actor="t")
    assert (await asyncio.wait_for(anext(feed), 10)).key == "88.1/z"
    await feed.aclose()  # type: ignore[attr-defined]
