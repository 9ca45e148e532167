"""Parallel import: worker processes parse and encode chunks of NDJSON lines; this process only writes.

JSON parsing and value validation dominate the import (storage.importer); they run in ``workers`` spawned
processes, in order, with at most ``2 * workers`` chunks in flight so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING

from storage import records
from storage.bulk import Encoded, write_encoded
from storage.ndjson import BadLine, parse_line
from storage.redis_store import RedisStore

if TYPE_CHECKING:
    from storage.importer import ImportReport

Chunk = list[tuple[int, bytes]]
Parsed = tuple[list[Encoded], list[tuple[int, str]]]


def parse_chunk(chunk: Chunk) -> Parsed:
    """In a worker: (handle, record bytes) of the good lines, (line number, reason) of the bad ones."""
    good: list[Encoded] = []
    bad: list[tuple[int, str]] = []
    for line_no, line in chunk:
        try:
            handle, values = parse_line(line)
        except BadLine as exc:
            bad.append((line_no, str(exc)))
        else:
            good.append((handle, records.encode_record(values)))
    return good, bad


def chunks(lines: Iterable[str | bytes], size: int) -> Iterator[Chunk]:
    chunk: Chunk = []
    for line_no, line in enumerate(lines, start=1):
        raw = line.encode() if isinstance(line, str) else line
        if raw.strip():
            chunk.append((line_no, raw))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def import_parallel(
    store: RedisStore,
    lines: Iterable[str | bytes],
    report: ImportReport,
    on_bad: Callable[[int, str], None],
    *,
    actor: str,
    batch: int,
    workers: int,
) -> None:
    context = multiprocessing.get_context("spawn")  # no fork of a process with a running loop
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        inflight: deque[Future[Parsed]] = deque()
        for chunk in chunks(lines, batch):
            inflight.append(pool.submit(parse_chunk, chunk))
            if len(inflight) >= 2 * workers:
                await _drain_one(store, inflight, report, on_bad, actor)
        while inflight:
            await _drain_one(store, inflight, report, on_bad, actor)


async def _drain_one(
    store: RedisStore,
    inflight: deque[Future[Parsed]],
    report: ImportReport,
    on_bad: Callable[[int, str], None],
    actor: str,
) -> None:
    good, bad = await asyncio.wrap_future(inflight.popleft())
    for line_no, reason in bad:
        report.note_bad(line_no, reason)
        on_bad(line_no, reason)
    report.imported += await write_encoded(store, good, actor=actor)
