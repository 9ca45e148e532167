"""Listing and counting the identifiers under a prefix by visiting every record bucket.

Records are bucketed by a hash of the whole handle (``storage.keys``), so a prefix's identifiers are spread
over all buckets. We pipeline HKEYS over the buckets in chunks and filter the field names here: only names
travel, never records, and the same pipeline works on a cluster (which blocks pipelined EVALSHA). Cost: one
HKEYS per bucket whatever the prefix's size. Paging follows bucket order, then field order within a bucket,
which is stable between calls when nothing is written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from storage import keys

CHUNK = 2048  # buckets per pipeline: bounds the reply size and the time one call holds the connection


class PrefixScanner:
    def __init__(self, client: Any, buckets: int) -> None:
        self._client = client
        self._buckets = buckets

    async def count(self, prefix: str) -> int:
        total = 0
        async for names in self._matches(prefix):
            total += len(names)
        return total

    async def page(self, prefix: str, page: int, page_size: int) -> list[str]:
        """Page ``page`` (0-based) of ``page_size`` handles under ``prefix``."""
        skip, out = page * page_size, list[str]()
        async for names in self._matches(prefix):
            if skip >= len(names):
                skip -= len(names)
                continue
            out += [n.decode() for n in names[skip:]]
            skip = 0
            if len(out) >= page_size:
                return out[:page_size]
        return out

    async def _matches(self, prefix: str) -> AsyncIterator[list[bytes]]:
        want = (prefix + "/").encode()
        for start in range(0, self._buckets, CHUNK):
            pipe = self._client.pipeline(transaction=False)
            for bucket in range(start, min(start + CHUNK, self._buckets)):
                pipe.hkeys(keys.bucket_key(bucket))
            for names in await pipe.execute():
                yield [n for n in names if n.startswith(want)]
