"""Cache misses to storage reads, coalesced: at most ``max_batches`` reads in flight per worker.

Misses that arrive while reads are in flight wait for the next one (like Nagle's algorithm), so an idle worker
reads at once and a loaded one sends large pipelines. Without this each UDP datagram (its own event-loop
tick) would cost one pipeline, and a pipeline's fixed client-side cost dwarfs the per-key cost. One key
asked for by many requests is read once (single flight). Each requester waits on its own plain future, set
by the batch when its read returns: cheaper than ``asyncio.shield`` of a shared one (two futures and two
Python callbacks per request), and a cancelled requester still cannot cancel the read others wait for.
"""

from __future__ import annotations

import asyncio
from collections import deque

from storage.api import HandleStore, Record

Waiter = asyncio.Future[Record | None]


class _Batch:
    """Keys read together, and who waits for which position of the result."""

    __slots__ = ("keys", "waiters")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.waiters: list[tuple[Waiter, int]] = []


class RecordLoader:
    """Coalescing, single-flight reads of handle records for one worker."""

    __slots__ = ("_max_batch_keys", "_max_batches", "_queued", "_running", "_scheduled", "_slots", "_store",
                 "_tasks")

    def __init__(self, store: HandleStore, max_batches: int = 2, max_batch_keys: int = 1024) -> None:
        self._store = store
        self._max_batches = max_batches
        self._max_batch_keys = max_batch_keys
        self._slots: dict[str, tuple[_Batch, int]] = {}  # queued or in flight: (batch, position)
        self._queued: deque[_Batch] = deque()  # not yet sent; only the last one takes new keys
        self._running = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def load(self, key: str) -> Record | None:
        """The record of ``key`` (None: no such handle); ``StorageUnavailable`` if Redis fails."""
        loop = asyncio.get_running_loop()
        slot = self._slots.get(key)
        if slot is None:
            slot = self._queue(key, loop)
        batch, position = slot
        waiter: Waiter = loop.create_future()
        batch.waiters.append((waiter, position))
        return await waiter

    def _queue(self, key: str, loop: asyncio.AbstractEventLoop) -> tuple[_Batch, int]:
        queued = self._queued
        if not queued or len(queued[-1].keys) >= self._max_batch_keys:
            queued.append(_Batch())
        batch = queued[-1]
        slot = self._slots[key] = (batch, len(batch.keys))
        batch.keys.append(key)
        if not self._scheduled and self._running < self._max_batches:
            self._scheduled = True
            loop.call_soon(self._launch)  # same-tick misses join this batch
        return slot

    def _launch(self) -> None:
        self._scheduled = False
        if not self._queued or self._running >= self._max_batches:
            return
        batch = self._queued.popleft()
        self._running += 1
        task = asyncio.get_running_loop().create_task(self._read(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, batch: _Batch) -> None:
        try:
            records = await self._store.get_many(batch.keys)
        except asyncio.CancelledError:
            _cancel(batch)
            raise
        except Exception as exc:  # noqa: BLE001 - handed to every waiter (StorageUnavailable normally)
            for waiter, _ in batch.waiters:
                if not waiter.done():  # a requester that went away has cancelled its own waiter
                    waiter.set_exception(exc)
        else:
            for waiter, position in batch.waiters:
                if not waiter.done():
                    waiter.set_result(records[position])
        finally:
            for key in batch.keys:
                del self._slots[key]
            self._running -= 1
            if self._queued and not self._scheduled:
                self._launch()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for batch, _ in list(self._slots.values()):
            _cancel(batch)  # queued, or in a task cancelled before it started
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _cancel(batch: _Batch) -> None:
    for waiter, _ in batch.waiters:
        waiter.cancel()
