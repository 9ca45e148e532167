"""NDJSON export: every identifier (optionally under one prefix) as ``{"handle": ..., "values": [...]}``.
Visits the record buckets in chunks, so memory stays constant whatever the store's size."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from protocol.jsonfmt import values_to_json
from storage import keys, records
from storage.client import unavailable_on_error
from storage.redis_store import RedisStore

CHUNK = 256  # buckets per pipelined HGETALL


async def iter_records(store: RedisStore, prefix: str | None = None) -> AsyncIterator[tuple[str, Any]]:
    want = None if prefix is None else (prefix + "/").encode()
    client: Any = store.client
    for start in range(0, store.buckets, CHUNK):
        with unavailable_on_error():
            pipe = client.pipeline(transaction=False)
            for bucket in range(start, min(start + CHUNK, store.buckets)):
                pipe.hgetall(keys.bucket_key(bucket))
            buckets: list[dict[bytes, bytes]] = await pipe.execute()
        for entries in buckets:
            for field, raw in entries.items():
                if want is None or field.startswith(want):
                    yield field.decode(), records.decode_record(raw)


async def export_lines(store: RedisStore, write: Callable[[str], Any], prefix: str | None = None) -> int:
    count = 0
    async for handle, values in iter_records(store, prefix):
        line = {"handle": handle, "values": values_to_json(values)}
        write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    return count
