"""Cache misses to storage reads, coalesced: at most ``max_batches`` reads in flight per worker.

Misses that arrive while reads are in flight wait for the next one (like Nagle's algorithm), so an idle worker
reads at once and a loaded one sends large pipelines. Without this each UDP datagram (its own event-loop
tick) would cost one pipeline, and a pipeline's fixed client-side cost dwarfs the per-key cost. One key
asked for by many requests is read once (single flight).
"""

from __future__ import annotations

import asyncio

from storage.api import HandleStore, Record

RecordFuture = asyncio.Future[Record | None]


class RecordLoader:
    """Coalescing, single-flight reads of handle records for one worker."""

    __slots__ = ("_futures", "_max_batch_keys", "_max_batches", "_queued", "_running", "_scheduled",
                 "_store", "_tasks")

    def __init__(self, store: HandleStore, max_batches: int = 2, max_batch_keys: int = 1024) -> None:
        self._store = store
        self._max_batches = max_batches
        self._max_batch_keys = max_batch_keys
        self._futures: dict[str, RecordFuture] = {}  # queued or in flight
        self._queued: list[str] = []
        self._running = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def load(self, key: str) -> Record | None:
        """The record of ``key`` (None: no such handle); ``StorageUnavailable`` if Redis fails."""
        future = self._futures.get(key)
        if future is None:
            loop = asyncio.get_running_loop()
            future = self._futures[key] = loop.create_future()
            self._queued.append(key)
            if not self._scheduled and self._running < self._max_batches:
                self._scheduled = True
                loop.call_soon(self._launch)  # same-tick misses join this batch
        # shield: a cancelled requester (closed connection) must not cancel a read others wait for
        return await asyncio.shield(future)

    def _launch(self) -> None:
        self._scheduled = False
        if not self._queued or self._running >= self._max_batches:
            return
        keys, self._queued = self._queued[: self._max_batch_keys], self._queued[self._max_batch_keys :]
        self._running += 1
        task = asyncio.get_running_loop().create_task(self._read(keys))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, keys: list[str]) -> None:
        futures = [self._futures[key] for key in keys]
        try:
            records = await self._store.get_many(keys)
        except Exception as exc:  # noqa: BLE001 - handed to every waiter (StorageUnavailable normally)
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # retrieved: waiters may have gone away
        else:
            for future, record in zip(futures, records, strict=True):
                if not future.done():
                    future.set_result(record)
        finally:
            for key in keys:
                del self._futures[key]
            self._running -= 1
            if self._queued and not self._scheduled:
                self._launch()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
