"""Storage benchmark: memory per identifier and bulk/NDJSON import rates on a private redis-server.

``python -m loadtest.storagebench --count 1000000`` loads typical records (one URL value, four template
attributes of 10-30 bytes, an HS_ADMIN value; issue 3 "Memory") through the bulk path into a fresh embedded
Redis in a temporary directory and prints ``used_memory`` per identifier, the overhead of the records beyond
each identifier's own bytes plus its encoded record, what the capped change stream took apart from them
(``change_feed_per_id_B``), and the import rates. The NDJSON import also reports its
CPU time per line (importer, parsing workers, redis-server): on a shared machine the rate follows the other
load, the CPU per line much less.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from loadtest.seed import typical_values
from protocol.jsonfmt import values_to_json
from protocol.values import HandleValue
from storage import keys, open_store, records
from storage.api import StorageConfig
from storage.bulk import bulk_put
from storage.importer import import_lines
from storage.redis_store import RedisStore

ADMIN = bytes.fromhex("0ff2000000000a302e4e412f38382e313030000000c8")  # an HS_ADMIN-sized blob (~24 B)


def attribute_pool(rng: random.Random, size: int = 1024) -> list[tuple[HandleValue, ...]]:
    """Four template attributes of 10-30 bytes each; drawn from a pool so generating 1M records is cheap."""
    return [
        tuple(
            HandleValue(index=2 + i, type=f"attr{i}", data=rng.randbytes(rng.randint(5, 15)).hex().encode())
            for i in range(4)
        )
        for _ in range(size)
    ]


def typical_record(pool: list[tuple[HandleValue, ...]], n: int) -> tuple[str, tuple[HandleValue, ...]]:
    handle = f"88.100.{n % 100}/P{n:010d}"
    url = HandleValue(index=1, type="URL", data=f"https://id.example.com/p/{n:010d}".encode())
    return handle, (url, *pool[n % len(pool)], HandleValue(index=100, type="HS_ADMIN", data=ADMIN))


class RecordSource:
    """Yields typical records and keeps, outside the measured time, their payload bytes and its own time."""

    def __init__(self, count: int, seed: int) -> None:
        self.count = count
        self.pool = attribute_pool(random.Random(seed))
        self.payload_bytes = 0
        self.own_s = 0.0

    def __iter__(self) -> Iterator[tuple[str, tuple[HandleValue, ...]]]:
        for n in range(self.count):
            started = time.perf_counter()
            handle, values = typical_record(self.pool, n)
            self.payload_bytes += len(keys.record_field(handle)) + len(records.encode_record(values))
            self.own_s += time.perf_counter() - started
            yield handle, values


async def used_memory(store: RedisStore) -> int:
    """used_memory without the AOF and client buffers, after any AOF rewrite (its buffer is transient)."""
    for _ in range(600):  # bounded: at most ~60 s
        if int((await store.client.info("persistence"))["aof_rewrite_in_progress"]) == 0:
            break
        await asyncio.sleep(0.1)
    info: dict[str, Any] = await store.client.info("memory")
    return int(info["used_memory"]) - int(info["mem_aof_buffer"]) - int(info["mem_clients_normal"])


async def feed_memory(store: RedisStore) -> int:
    """What the change stream holds (``MEMORY USAGE``, every entry counted)."""
    usage = await store.client.execute_command("MEMORY", "USAGE", keys.CHANGES, "SAMPLES", "0")
    return int(usage or 0)


async def measure_bulk(store: RedisStore, count: int, batch: int) -> dict[str, float]:
    """Memory per identifier, the records apart from the change stream: the stream is a log capped at
    ``keys.CHANGES_MAXLEN`` entries whose bulk entries name their identifiers, so it grows with a load until
    its cap and then no more, whatever the number of identifiers stored."""
    before, feed_before, source = await used_memory(store), await feed_memory(store), RecordSource(count, 1)
    started = time.perf_counter()
    await bulk_put(store, source, batch=batch)
    elapsed = time.perf_counter() - started - source.own_s  # the generator's own time is not the store's
    delta = await used_memory(store) - before
    feed = await feed_memory(store) - feed_before
    return {
        "identifiers": count,
        "bulk_rate_per_s": count / elapsed,
        "used_memory_per_id_B": delta / count,
        "payload_per_id_B": source.payload_bytes / count,
        "overhead_per_id_B": (delta - feed - source.payload_bytes) / count,
        "change_feed_per_id_B": feed / count,
    }


def ndjson_records(count: int, shape: str) -> Iterator[tuple[str, tuple[HandleValue, ...]]]:
    """``typical``: the memory run's records. ``seeded``: ``loadtest seed``'s, as a node exports them
    (values with timestamps, HS_ADMIN in the ``admin`` format, UTF-8 attribute texts)."""
    pool = attribute_pool(random.Random(2))
    for n in range(count):
        if shape == "seeded":
            handle = f"88.100.{n % 100}/P{n:010d}"
            yield handle, typical_values(handle, n)
        else:
            yield typical_record(pool, n)


async def measure_ndjson(
    store: RedisStore, count: int, batch: int, workdir: Path, workers: int, shape: str = "typical"
) -> dict[str, float]:
    path = workdir / "bench.ndjson"
    with path.open("w") as out:
        for handle, values in ndjson_records(count, shape):
            out.write(json.dumps({"handle": handle, "values": values_to_json(values)}) + "\n")
    await store.client.flushall()
    cpu_before = await cpu_seconds(store)
    started = time.perf_counter()
    with path.open("rb") as lines:
        report = await import_lines(store, lines, on_bad=lambda _n, _r: None, batch=batch, workers=workers)
    elapsed = time.perf_counter() - started
    cpu = [after - before for after, before in zip(await cpu_seconds(store), cpu_before, strict=True)]
    per_line_us = [1e6 * s / max(report.imported, 1) for s in cpu]
    return {
        "ndjson_lines": report.imported,
        "ndjson_rate_per_s": report.imported / elapsed,
        # CPU per line, which the other load on a shared machine disturbs far less than the rate.
        "ndjson_cpu_us_per_line": sum(per_line_us),
        "ndjson_cpu_us_importer": per_line_us[0],
        "ndjson_cpu_us_workers": per_line_us[1],
        "ndjson_cpu_us_redis": per_line_us[2],
    }


async def cpu_seconds(store: RedisStore) -> tuple[float, float, float]:
    """CPU seconds so far of this process, of its finished children (the import's worker pool, reaped when
    it closes) and of the redis-server (with its AOF rewrite children)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    info: dict[str, Any] = await store.client.info("cpu")
    redis_s = sum(float(info[name]) for name in info if name.startswith("used_cpu_") and "main" not in name)
    return time.process_time(), children.ru_utime + children.ru_stime, redis_s


async def run(
    count: int, ndjson_count: int, buckets: int, batch: int, workers: int, shape: str = "typical"
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="storagebench") as tmp:
        store = await open_store(StorageConfig(data_dir=Path(tmp) / "var"), buckets=buckets)
        try:
            result = await measure_bulk(store, count, batch)
            result["buckets"] = buckets
            result["ndjson_workers"] = workers
            result.update(await measure_ndjson(store, ndjson_count, batch, Path(tmp), workers, shape))
        finally:
            await store.aclose()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.storagebench", description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000, help="identifiers for the memory run")
    parser.add_argument("--ndjson-count", type=int, default=100_000, help="lines for the NDJSON import run")
    parser.add_argument("--buckets", type=int, default=StorageConfig().record_buckets)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2, help="NDJSON parsing processes")
    parser.add_argument(
        "--ndjson-records", choices=("typical", "seeded"), default="typical", help="what NDJSON lines hold"
    )
    args = parser.parse_args(argv)
    result = asyncio.run(
        run(args.count, args.ndjson_count, args.buckets, args.batch, args.workers, args.ndjson_records)
    )
    for name, value in result.items():
        print(f"{name:24} {value:,.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
