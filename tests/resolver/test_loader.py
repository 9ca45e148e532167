"""Cache misses reach Redis coalesced: one read per identifier however many requests ask at once."""

from __future__ import annotations

import asyncio

import redis

from resolver.demo_data import DEMO_PREFIX, load_demo
from resolver.loader import RecordLoader
from storage import open_store
from storage.api import StorageConfig


def hget_calls(url: str) -> int:
    with redis.Redis.from_url(url) as client:
        stats = client.info("commandstats").get("cmdstat_hget", {})
        return int(stats.get("calls", 0)) if isinstance(stats, dict) else 0


async def test_concurrent_misses_cost_one_read_each(redis_url: str) -> None:
    store = await open_store(StorageConfig(redis_url=redis_url))
    try:
        await load_demo(store)
        loader = RecordLoader(store, max_batches=1, max_batch_keys=64)
        with redis.Redis.from_url(redis_url) as client:
            client.config_resetstat()
        hot = f"{DEMO_PREFIX}/demo-url"
        cold = [f"{DEMO_PREFIX}/none-{i}" for i in range(150)]
        results = await asyncio.gather(*[loader.load(hot) for _ in range(50)], *map(loader.load, cold))
        assert all(r is not None and r[0].type == "URL" for r in results[:50])
        assert all(r is None for r in results[50:])
        assert hget_calls(redis_url) == 1 + len(cold)
        await loader.aclose()
    finally:
        await store.aclose()


async def test_a_cancelled_requester_does_not_cancel_the_shared_read(redis_url: str) -> None:
    store = await open_store(StorageConfig(redis_url=redis_url))
    try:
        await load_demo(store)
        loader = RecordLoader(store)
        first = asyncio.create_task(loader.load(f"{DEMO_PREFIX}/demo-text"))
        second = asyncio.create_task(loader.load(f"{DEMO_PREFIX}/demo-text"))
        await asyncio.sleep(0)  # both wait on the one queued read
        first.cancel()
        record = await second
        assert record is not None and record[0].type == "DESC"
        assert first.cancelled()
    finally:
        await store.aclose()
