"""`loadtest seed`: write N identifiers with a realistic record through the storage bulk path.

The record is what an industrial identifier typically carries (domain.md §4.2): a URL at index 1, four
template attributes from index 2000 (SNMS/IDHub number template items from 2000), and HS_ADMIN at index 100
naming the prefix's admin. Names come from ``workloads.key_name`` so a run finds exactly what was seeded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from loadtest.workloads import key_name
from protocol.constants import AdminPermission
from protocol.jsonfmt import value_to_json
from protocol.valuedata import AdminData, encode_typed
from protocol.values import HandleValue
from storage import open_store
from storage.api import PrefixRecord, PrefixStatus, StorageConfig
from storage.bulk import bulk_put
from storage.embedded import resolve_redis_url

ACTOR = "loadtest-seed"
PROGRESS_CHUNK = 50_000

SEED_TIMESTAMP = 1_767_225_600  # 2026-01-01T00:00:00Z: fixed, so records (and their size) are reproducible
_ATTRIBUTES = (
    (2000, "productName", "液压阀体 hydraulic valve body"),
    (2001, "model", "HV-{n:06d}"),
    (2002, "batchNo", "B2026-{b:04d}"),
    (2003, "productionDate", "2026-01-{d:02d}"),
)


def typical_values(handle: str, serial: int = 0) -> tuple[HandleValue, ...]:
    """The seeded record of ``handle``; ``serial`` varies the attribute texts a little."""
    values = [HandleValue(1, "URL", f"https://id.example.cn/{handle}".encode(), timestamp=SEED_TIMESTAMP)]
    for index, value_type, template in _ATTRIBUTES:
        text = template.format(n=serial, b=serial % 997, d=serial % 28 + 1)
        values.append(HandleValue(index, value_type, text.encode(), timestamp=SEED_TIMESTAMP))
    values.append(_admin_value(handle.partition("/")[0]))
    return tuple(values)


@functools.lru_cache(maxsize=16)
def _admin_value(prefix: str) -> HandleValue:
    admin = AdminData(AdminPermission(0x0FFF), f"0.NA/{prefix}", 200)  # all CNRI bits (§12.1)
    return HandleValue(100, "HS_ADMIN", encode_typed(admin), timestamp=SEED_TIMESTAMP)


def value_json(value: HandleValue) -> dict[str, Any]:
    return value_to_json(value)


def seed_items(prefix: str, stop: int, start: int = 0) -> Iterator[tuple[str, tuple[HandleValue, ...]]]:
    for i in range(start, stop):
        handle = key_name(prefix, i)
        yield handle, typical_values(handle, i)


@dataclass(frozen=True, slots=True)
class SeedResult:
    count: int
    elapsed_s: float

    @property
    def rate(self) -> float:
        return self.count / self.elapsed_s if self.elapsed_s > 0 else 0.0


async def seed(
    config: StorageConfig, prefix: str, count: int, *, batch: int = 2_000, start: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> SeedResult:
    """Home ``prefix`` and write identifiers ``start .. start+count-1`` through ``storage.bulk``."""
    store = await open_store(config)
    began = time.monotonic()
    written = 0
    try:
        await store.put_prefix(PrefixRecord(prefix, PrefixStatus.HOMED), actor=ACTOR)
        for chunk_start in range(start, start + count, PROGRESS_CHUNK):
            chunk_end = min(start + count, chunk_start + PROGRESS_CHUNK)
            written += await bulk_put(store, seed_items(prefix, chunk_end, chunk_start), actor=ACTOR,
                                      batch=batch)
            if on_progress is not None:
                on_progress(written)
    finally:
        await store.aclose()
    return SeedResult(written, time.monotonic() - began)


def _seed_slice(config: StorageConfig, prefix: str, start: int, count: int, batch: int) -> int:
    return asyncio.run(seed(config, prefix, count, batch=batch, start=start)).count


def seed_parallel(
    config: StorageConfig, prefix: str, count: int, *, processes: int = 2, batch: int = 2_000,
    on_progress: Callable[[int], None] | None = None,
) -> SeedResult:
    """Split the range over ``processes`` (building records is CPU work in Python; Redis is not the limit).

    The Redis URL is resolved once here: with the embedded default, this process starts (and at the end
    stops) the server, so no worker can stop it under another.
    """
    url, owner = resolve_redis_url(config)
    shared = dataclasses.replace(config, redis_url=url)
    began = time.monotonic()
    try:
        written = _seed_in_processes(shared, prefix, count, processes, batch, on_progress)
    finally:
        if owner is not None:
            owner.stop()
    return SeedResult(written, time.monotonic() - began)


def _seed_in_processes(config: StorageConfig, prefix: str, count: int, processes: int, batch: int,
                       on_progress: Callable[[int], None] | None) -> int:
    if processes <= 1:
        return asyncio.run(seed(config, prefix, count, batch=batch, on_progress=on_progress)).count
    share = -(-count // processes)
    slices = [(config, prefix, start, min(share, count - start), batch) for start in range(0, count, share)]
    # A process pool raises BrokenProcessPool if a worker dies, instead of waiting for it for ever.
    with ProcessPoolExecutor(len(slices), mp_context=multiprocessing.get_context("spawn")) as pool:
        written = sum(pool.map(_seed_slice, *zip(*slices, strict=True)))
    if on_progress is not None:
        on_progress(written)
    return written
