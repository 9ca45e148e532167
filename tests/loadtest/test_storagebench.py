"""The storage benchmark's memory split (issue 3 "Memory"): records apart from the capped change stream, on a
real redis-server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from loadtest.storagebench import feed_memory, measure_bulk
from storage import keys, open_store
from storage.api import StorageConfig
from tests.conftest import RedisProcess


async def test_records_and_the_change_stream_are_measured_apart(
    redis_launcher: Callable[..., RedisProcess], tmp_path: Path
) -> None:
    server = redis_launcher()  # a fresh server: the stream starts empty
    store = await open_store(StorageConfig(redis_url=server.url, data_dir=tmp_path), buckets=64)
    try:
        figures = await measure_bulk(store, 2_000, 500)
        # Each bulk entry names its identifiers: the stream grew by about their names, and that is not
        # counted as the records' overhead.
        assert figures["change_feed_per_id_B"] > len("88.100.0/P0000000000") / 2
        assert await feed_memory(store) > 0 and await store.client.xlen(keys.CHANGES) == 4
        total = figures["used_memory_per_id_B"]
        parts = figures["payload_per_id_B"] + figures["overhead_per_id_B"] + figures["change_feed_per_id_B"]
        assert abs(total - parts) < 1e-6
    finally:
        await store.aclose()
