"""Single-flight, tick-batched reads: concurrent callers asking for one key share one in-flight read, and
every key asked for in the same event-loop tick goes out in one pipelined round trip (issue 3 "Read many").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
Fetch = Callable[[Sequence[str]], Awaitable[Sequence[T]]]


class ReadBatcher(Generic[T]):
    """Collects keys until the loop runs its next callbacks, then fetches them all with one ``fetch`` call."""

    def __init__(self, fetch: Fetch[T]) -> None:
        self._fetch = fetch
        self._inflight: dict[str, asyncio.Future[T]] = {}
        self._pending: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, key: str) -> asyncio.Future[T]:
        """A future for ``key``: the in-flight one if there is one, else a new one queued for this tick."""
        future = self._inflight.get(key)
        if future is None:
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            self._inflight[key] = future
            if not self._pending:
                loop.call_soon(self._flush)
            self._pending.append(key)
        return future

    async def get_many(self, keys: Sequence[str]) -> list[T]:
        futures = [self.get(key) for key in keys]
        # shield: one caller being cancelled must not cancel the read other callers share.
        return list(await asyncio.gather(*(asyncio.shield(f) for f in futures)))

    def _flush(self) -> None:
        keys, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._run(keys))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, keys: list[str]) -> None:
        futures = [self._inflight[key] for key in keys]
        try:
            results = await self._fetch(keys)
        except asyncio.CancelledError:
            for future in futures:
                future.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - handed to every waiter, raised there
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # mark retrieved: every waiter may have gone away
        else:
            for future, result in zip(futures, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            # Only now: callers arriving while the read was in flight shared it (single flight).
            for key, future in zip(keys, futures, strict=True):
                if self._inflight.get(key) is future:
                    del self._inflight[key]

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
