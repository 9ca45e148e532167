"""Cache misses to storage reads, coalesced: at most ``max_batches`` reads in flight per worker.

Misses that arrive while reads are in flight wait for the next one (like Nagle's algorithm), so an idle worker
reads at once and a loaded one sends large pipelines. Without this each UDP datagram (its own event-loop
tick) would cost one pipeline, and a pipeline's fixed client-side cost dwarfs the per-key cost. One key
asked for by many requests is read once (single flight).

A batch also waits while it grows: its read starts after the first tick that added no miss to it, or
``window_s`` after its first miss (``cache_read_window_s``, 1 ms in the node), whichever comes first. A miss
on a quiet worker is read after one tick, as before; a saturated worker (misses arriving every tick) sends
one read per window. Measured on a saturated cold UDP run (1M ids, issue 4): ~46 keys per read instead of
~20 and ~13 % less Redis CPU per key; the worker's throughput did not change beyond this machine's noise, as
a round trip on the fast read link (storage.fastread) costs the worker only ~30 us.

A batch is one ``read_records_soon`` call, with no task of its own (storage.fastread calls back from the
reply); its requesters are plain callbacks (``submit``) called one after another when the read returns, so
a Handle request that misses costs no task, no future and no wake-up of its own (issue 4: those were a fifth
of a cold request's CPU). ``load`` is the awaitable form for HTTP: its own plain future, set by a callback,
so a cancelled requester still cannot cancel the read others wait for.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from functools import partial
from time import perf_counter
from typing import Final

from storage.api import HandleStore, StorageError, StorageUnavailable, StoredOutcome
from storage.records import StoredRecord

log: Final = logging.getLogger(__name__)
# What a requester is handed: the record (its public values already in wire form, ``StoredRecord``), None
# (no such handle), or the error the read failed with (``StorageUnavailable`` normally).
Outcome = StoredRecord | None | Exception
Deliver = Callable[[Outcome], None]


class _Batch:
    """Keys read together, and who waits for which position of the result."""

    __slots__ = ("keys", "opened", "waiters")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.waiters: list[tuple[Deliver, int]] = []
        self.opened = perf_counter()  # its first miss: it may grow for the loader's window from here


# A batch's answers are one callback (~25 us a miss), and every hit waits behind it. Interleaved 6-s runs of a
# backlogged TCP cold node (40,000/s offered on 16 pipelined connections): with 1,024 keys its loop was held
# over 10 ms 97, 6 and 129 times, with 256 keys 5, 2 and 11 times; every request was answered both ways, at
# 22-26 us of worker CPU each (128 against 256 in three more pairs: 2, 3, 6 against 1, 3, 15). A saturated
# worker's batches are far smaller (~46 keys): the bound only matters in a backlog.
MAX_BATCH_KEYS: Final = 256


class RecordLoader:
    """Coalescing, single-flight reads of handle records for one worker."""

    __slots__ = ("_closed", "_loop", "_max_batch_keys", "_max_batches", "_queued", "_running", "_scheduled",
                 "_seen", "_slots", "_store", "_window_s")
    _loop: asyncio.AbstractEventLoop  # the loop of the batch being launched (set by _schedule)

    def __init__(
        self, store: HandleStore, max_batches: int = 2, max_batch_keys: int = MAX_BATCH_KEYS,
        window_s: float = 0.0,
    ) -> None:
        self._store = store
        self._max_batches = max_batches
        self._max_batch_keys = max_batch_keys
        self._window_s = window_s
        self._seen = 0  # the next batch's size when its launch was last put off
        self._slots: dict[str, tuple[_Batch, int]] = {}  # queued or in flight: (batch, position)
        self._queued: deque[_Batch] = deque()  # not yet sent; only the last one takes new keys
        self._running = 0
        self._scheduled = False
        self._closed = False

    def submit(self, key: str, deliver: Deliver) -> None:
        """Read ``key`` and call ``deliver`` with the outcome, always later (never inside this call)."""
        slot = self._slots.get(key)
        if slot is None:
            slot = self._queue(key)
        batch, position = slot
        batch.waiters.append((deliver, position))

    async def load(self, key: str) -> StoredRecord | None:
        """The record of ``key`` (None: no such handle); ``StorageUnavailable`` if Redis fails."""
        waiter: asyncio.Future[StoredRecord | None] = asyncio.get_running_loop().create_future()
        self.submit(key, lambda outcome: _settle(waiter, outcome))
        return await waiter

    def _queue(self, key: str) -> tuple[_Batch, int]:
        queued = self._queued
        if not queued or len(queued[-1].keys) >= self._max_batch_keys:
            queued.append(_Batch())
        batch = queued[-1]
        slot = self._slots[key] = (batch, len(batch.keys))
        batch.keys.append(key)
        if not self._scheduled and self._running < self._max_batches:
            self._schedule()
        return slot

    def _schedule(self) -> None:
        """Start the next read after this tick, so that misses of the same tick join it."""
        self._scheduled = True
        self._seen = len(self._queued[0].keys)
        # Asked once per batch and kept for its later ticks: CPython 3.11's get_running_loop() makes a
        # getpid() system call every time (issue 4: one per loop tick under load).
        loop = self._loop = asyncio.get_running_loop()
        loop.call_soon(self._launch_when_settled)

    def _launch_when_settled(self) -> None:
        """Put the launch off by one more tick while the batch grew since the last look, within the window."""
        if self._queued and not self._closed:
            batch = self._queued[0]
            size = len(batch.keys)
            growing = size > self._seen and size < self._max_batch_keys
            if growing and perf_counter() < batch.opened + self._window_s:
                self._seen = size
                self._loop.call_soon(self._launch_when_settled)
                return
        self._launch()

    def _launch(self) -> None:
        self._scheduled = False
        if self._closed or not self._queued or self._running >= self._max_batches:
            return
        batch = self._queued.popleft()
        self._running += 1
        self._store.read_records_soon(batch.keys, partial(self._finish, batch))

    def _finish(self, batch: _Batch, outcome: list[StoredOutcome] | StorageError) -> None:
        """Its read returned: free its keys, start the next batch if one waits, answer its requesters."""
        if not self._closed:  # aclose let go of every slot already (and a key asked for since is not ours)
            slots = self._slots
            for key in batch.keys:
                del slots[key]
        self._running -= 1
        if self._queued and not self._scheduled and not self._closed:
            self._schedule()
        if isinstance(outcome, StorageError):
            _deliver_all(batch, outcome)
        else:
            _deliver(batch, outcome)

    async def aclose(self) -> None:
        """Answer every requester still waiting (StorageUnavailable); a read in flight that returns later
        finds nobody left to answer."""
        self._closed = True
        stopping = StorageUnavailable("read cancelled: the worker is stopping")
        for batch in {id(b): b for b, _ in self._slots.values()}.values():
            _deliver_all(batch, stopping)
        self._slots.clear()
        self._queued.clear()


def _deliver(batch: _Batch, records: list[StoredOutcome]) -> None:
    """Each requester gets its position's outcome: a record, None, or the StorageError of a damaged record."""
    waiters, batch.waiters = batch.waiters, []  # each requester hears exactly once
    for deliver, position in waiters:
        try:
            deliver(records[position])
        except Exception:  # one requester's bug must not cost the others their answers (STYLE #10)
            log.exception("unexpected error answering a request after its storage read")


def _deliver_all(batch: _Batch, outcome: Exception) -> None:
    waiters, batch.waiters = batch.waiters, []
    for deliver, _ in waiters:
        try:
            deliver(outcome)
        except Exception:
            log.exception("unexpected error answering a request after a failed storage read")


def _settle(waiter: asyncio.Future[StoredRecord | None], outcome: Outcome) -> None:
    if waiter.done():  # its requester went away and cancelled it
        return
    if isinstance(outcome, Exception):
        waiter.set_exception(outcome)
    else:
        waiter.set_result(outcome)
