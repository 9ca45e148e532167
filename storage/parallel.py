"""Parallel import: worker processes parse and encode chunks of NDJSON lines; this process only writes.

JSON parsing and value validation dominate the import (storage.importer); they run in ``workers`` processes
(forked where that is safe, ``_start_context``), in order, with at most ``2 * workers`` chunks in flight so
memory stays bounded. On standalone Redis the workers also pack each chunk's ``scripts.BULK_PUT`` call into
RESP bytes, so this process only moves bytes: redis-py packing ~4 arguments per identifier in Python here
capped the import near 20,000 lines/s.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from storage import keys, scripts
from storage.bulk import Encoded, write_encoded
from storage.client import unavailable_on_error
from storage.cluster import RedisCluster
from storage.ndjson import BadLine, check_homed, parse_line_encoded
from storage.redis_store import RedisStore

if TYPE_CHECKING:
    from storage.importer import ImportReport

Chunk = tuple[int, list[str | bytes]]  # the number of its first line, its lines
BadLines = list[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a worker made of one chunk: the good lines (encoded, or as one packed script call) and the bad."""

    good: list[Encoded] = field(default_factory=list)
    packed: bytes = b""  # the whole BULK_PUT call in RESP when the writer is standalone Redis
    count: int = 0
    bad: BadLines = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PackFor:
    """Standalone targets: how workers pack a chunk's write (the store's bucket count, the feed actor)."""

    buckets: int
    actor: str


def parse_chunk(chunk: Chunk, pack_for: PackFor | None = None, homed: frozenset[str] | None = None) -> Parsed:
    """In a worker: the good lines encoded (packed for ``pack_for``); (line number, reason) of bad ones."""
    good: list[Encoded] = []
    bad: BadLines = []
    first, lines = chunk
    for line_no, line in enumerate(lines, start=first):
        if not line or line.isspace():  # strip() would copy every line
            continue
        try:
            encoded = parse_line_encoded(line)
            check_homed(encoded[0], homed)
            good.append(encoded)
        except BadLine as exc:
            bad.append((line_no, str(exc)))
    if pack_for is None or not good:
        return Parsed(good=good, count=len(good), bad=bad)
    return Parsed(packed=pack_bulk_put(good, pack_for), count=len(good), bad=bad)


def pack_bulk_put(items: list[Encoded], pack_for: PackFor) -> bytes:
    """``EVAL scripts.BULK_PUT`` for ``items`` in RESP, with the arguments ``storage.bulk`` gives it: each
    bucket, then the change stream; each (field, record), then actor, detail, maxlen, channel, message.
    EVAL rather than EVALSHA: Redis caches the script by its SHA either way, and EVAL cannot hit NOSCRIPT."""
    handles = [handle for handle, _ in items]
    detail = {"count": len(items), "first": handles[0], "last": handles[-1]}
    args: list[bytes] = [b"EVAL", scripts.BULK_PUT.encode(), b"%d" % (len(items) + 1)]
    args += [keys.record_key(handle, pack_for.buckets).encode() for handle in handles]
    args.append(keys.CHANGES.encode())
    for handle, record in items:
        args += [keys.record_field(handle), record]
    args += [
        pack_for.actor.encode(),
        json.dumps(detail, separators=(",", ":")).encode(),
        b"%d" % keys.CHANGES_MAXLEN,
        keys.INVALIDATIONS.encode(),
        keys.batch_invalidation_message(handles),
    ]
    return b"*%d\r\n" % len(args) + b"".join([b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in args])


def chunks(lines: Iterable[str | bytes], size: int) -> Iterator[Chunk]:
    """``size`` lines at a time, blank ones included (the worker skips them; line numbers stay right)."""
    source = iter(lines)
    first = 1
    while batch := list(itertools.islice(source, size)):
        yield first, batch
        first += len(batch)


async def import_parallel(
    store: RedisStore,
    lines: Iterable[str | bytes],
    report: ImportReport,
    on_bad: Callable[[int, str], None],
    *,
    actor: str,
    batch: int,
    workers: int,
    homed: frozenset[str] | None = None,
) -> None:
    # A cluster write is a pipeline of HSETs (storage.bulk): only a standalone write is one packed call.
    pack_for = None if isinstance(store.client, RedisCluster) else PackFor(store.buckets, actor)
    with ProcessPoolExecutor(workers, mp_context=_start_context(), initializer=_ignore_sigint) as pool:
        inflight: deque[Future[Parsed]] = deque()
        for chunk in chunks(lines, batch):
            inflight.append(pool.submit(parse_chunk, chunk, pack_for, homed))
            if len(inflight) >= 2 * workers:
                await _drain_one(store, inflight, report, on_bad, actor)
        while inflight:
            await _drain_one(store, inflight, report, on_bad, actor)


def _start_context() -> multiprocessing.context.BaseContext:
    """fork while this process has one thread, else spawn.

    A spawned worker re-imports the node before its first line: 0.25-0.7 s of CPU each, a fifth or more of
    the parsing time of a 100,000-line import; a forked one shares what is loaded. ProcessPoolExecutor forks
    all its workers at the first submit, before it starts a thread (CPython issue 90622): with no other
    thread then, no lock can be held in the child. The child never touches the parent's event loop or
    sockets: it only runs ``parse_chunk`` and leaves with ``os._exit``. Any other thread (an executor's, a
    resolver's) means spawn, the safe default.
    """
    return multiprocessing.get_context("fork" if threading.active_count() == 1 else "spawn")


def _ignore_sigint() -> None:
    """Ctrl-C is the importer's to handle: it stops submitting and closes the pool, and the workers finish
    the chunks in flight, instead of each printing a KeyboardInterrupt traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


async def _drain_one(
    store: RedisStore,
    inflight: deque[Future[Parsed]],
    report: ImportReport,
    on_bad: Callable[[int, str], None],
    actor: str,
) -> None:
    parsed = await asyncio.wrap_future(inflight.popleft())
    for line_no, reason in parsed.bad:
        report.note_bad(line_no, reason)
        on_bad(line_no, reason)
    if parsed.packed:
        await _send_packed(store, parsed.packed)
        report.imported += parsed.count
    else:
        report.imported += await write_encoded(store, parsed.good, actor=actor)


async def _send_packed(store: RedisStore, packed: bytes) -> None:
    """One pre-packed command on a pooled connection; its reply (or Redis error) is read before release."""
    pool: Any = store.client.connection_pool
    with unavailable_on_error():
        connection = await pool.get_connection()
        try:
            await connection.send_packed_command(packed, check_health=False)
            await connection.read_response()
        except BaseException:
            await connection.disconnect()  # a half-read reply must not be left for the next user
            raise
        finally:
            await pool.release(connection)
