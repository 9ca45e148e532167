"""Single-flight, tick-batched reads: concurrent callers asking for one key share one in-flight read, and
every key asked for in the same event-loop tick goes out in one round trip (issue 3 "Read many").

A batch has one future for the whole result list, and each waiting key is a (batch, position) slot: a
1,000-key ``get_many`` costs one future and one ``shield``, not a thousand of each (profiling the cold cache
showed the per-key futures, shields and ``gather`` costing more than the Redis pipeline itself).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
Fetch = Callable[[Sequence[str]], Awaitable[Sequence[T]]]
Results = asyncio.Future[Sequence[T]]


class ReadBatcher(Generic[T]):
    """Collects keys until the loop runs its next callbacks, then fetches them all with one ``fetch`` call."""

    def __init__(self, fetch: Fetch[T]) -> None:
        self._fetch = fetch
        self._inflight: dict[str, tuple[Results[T], int]] = {}  # queued or in flight: (batch, position)
        self._pending: list[str] = []
        self._pending_future: Results[T] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def _slot(self, key: str) -> tuple[Results[T], int]:
        """The in-flight slot of ``key`` if there is one, else a new one in the batch of this tick."""
        slot = self._inflight.get(key)
        if slot is None:
            future = self._pending_future
            if future is None:
                loop = asyncio.get_running_loop()
                future = self._pending_future = loop.create_future()
                loop.call_soon(self._flush)
            slot = self._inflight[key] = (future, len(self._pending))
            self._pending.append(key)
        return slot

    async def get(self, key: str) -> T:
        future, position = self._slot(key)
        # shield: one caller being cancelled must not cancel the read other callers share.
        return (await asyncio.shield(future))[position]

    async def get_many(self, keys: Sequence[str]) -> list[T]:
        slots = [self._slot(key) for key in keys]
        results: dict[Results[T], Sequence[T]] = {}
        for future, _ in slots:
            if future not in results:  # usually one batch; a few when some keys were already in flight
                results[future] = await asyncio.shield(future)
        return [results[future][position] for future, position in slots]

    def _flush(self) -> None:
        keys, future = self._pending, self._pending_future
        self._pending, self._pending_future = [], None
        if future is None:
            return
        task = asyncio.get_running_loop().create_task(self._run(keys, future))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, keys: list[str], future: Results[T]) -> None:
        try:
            results = await self._fetch(keys)
            if len(results) != len(keys):
                raise RuntimeError(f"fetch returned {len(results)} results for {len(keys)} keys")
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - handed to every waiter, raised there
            if not future.done():
                future.set_exception(exc)
                future.exception()  # mark retrieved: every waiter may have gone away
        else:
            if not future.done():
                future.set_result(results)
        finally:
            # Only now: callers arriving while the read was in flight shared it (single flight).
            inflight = self._inflight
            for key in keys:
                slot = inflight.get(key)
                if slot is not None and slot[0] is future:
                    del inflight[key]

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
