"""Garbage collection in a worker: short young passes only, and a full pass only when the heap has doubled.

A worker's heap is mostly its cache: hundreds of thousands of long-lived objects (entries, decoded values,
pre-encoded answers) that are never part of a reference cycle. CPython's default policy walks them again and
again: a gen-1 pass walks every survivor of the last twenty young passes, and a full pass runs each time the
long-lived population has grown by a quarter, which cache churn (every cold miss adds an entry, evictions
free others) makes happen every few seconds. Measured under cold traffic on a 200k-entry cache: passes of
20-60 ms every few seconds, each one a stall that queues every request behind it (issue 4: the TCP p99 of
40 ms at half the maximum rate, and UDP datagrams dropped while the socket buffer overflowed).

So after every young pass the survivors move to the permanent generation (``gc.freeze``): no later pass
walks them, and each young pass walks about ``GEN0_THRESHOLD`` new objects (half a millisecond). Objects
there are still freed by reference counting the moment they are dropped; only a cycle that forms among them
and is then dropped would outlive its use. Measured on UDP, TCP and HTTP load (cold and Zipf), a full pass
afterwards found 0-10 such objects in ~500,000, so they are collected rarely: when the worker's peak memory
has doubled since the last full pass and passed a floor sized from the cache's bounds, in slots and in bytes
(checked every ``FULL_CHECK_S`` on the event loop, never inside a pass). Peak RSS is the measure because it
costs one system call; counting the frozen objects (``gc.get_freeze_count``) walks all of them, tens of
milliseconds on a full cache. A full pass over a full cache is a stall of a few hundred milliseconds; with the
floor, filling the cache triggers none, and only memory that really leaks can reach it later.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import resource
import time
from typing import Any, Final

log = logging.getLogger(__name__)

# Objects allocated (net) between young passes: each pass walks about this many. Measured in a worker under
# cold traffic: ~0.25 us per young object (decoded values, cache entries, answers), so ~0.5 ms per pass.
GEN0_THRESHOLD: Final = 2_000
FULL_CHECK_S: Final = 1.0
# Peak memory may grow to this multiple of what it was after the last full pass before the next one.
FULL_GROWTH: Final = 2.0
# The floor, per cache slot (an entry or a pre-encoded answer): well above what a cached handle takes (a full
# pass over a full cache stalls the worker for ~1 s, so it is kept for real leaks).
BYTES_PER_CACHE_SLOT: Final = 8192
# Or, when lower, this multiple of the cache's byte budget (resolver/cache.py charges within a few per cent
# of what an entry holds): room for the allocator's fragmentation and the read path's memo tables, while a
# leak is still caught near twice what the cache may legitimately hold, not at the slots' 3.2 GB.
BUDGET_MULTIPLE: Final = 2


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports kilobytes


class YoungOnlyCollector:
    """The policy above, for one process. ``start`` once the worker has finished starting up."""

    __slots__ = ("_handle", "floor", "full_passes", "next_full_at")

    def __init__(self, cache_slots: int = 0, cache_max_bytes: int | None = None) -> None:
        """``cache_slots``: how many entries and pre-encoded answers the worker's cache may hold;
        ``cache_max_bytes``: the memory they may take (None: bounded by the slots only)."""
        floor = cache_slots * BYTES_PER_CACHE_SLOT
        if cache_max_bytes is not None:
            floor = min(floor, cache_max_bytes * BUDGET_MULTIPLE)
        self.floor = floor  # added to the memory after start-up
        self.next_full_at = 0
        self.full_passes = 0
        self._handle: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Collect everything start-up built, freeze it, and from now on keep only young passes."""
        gc.collect()
        gc.freeze()
        self.floor += peak_rss_bytes()
        self._plan_next_full()
        gc.set_threshold(GEN0_THRESHOLD)
        gc.callbacks.append(self._after_pass)
        self._handle = loop.call_later(FULL_CHECK_S, self._check, loop)

    def stop(self) -> None:
        if self._after_pass in gc.callbacks:
            gc.callbacks.remove(self._after_pass)
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _after_pass(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "stop":
            gc.freeze()  # the survivors of this pass: no later young pass walks them again

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        if peak_rss_bytes() > self.next_full_at:
            self.collect_all()
        self._handle = loop.call_later(FULL_CHECK_S, self._check, loop)

    def collect_all(self) -> int:
        """One full pass over everything, then freeze again; returns what it found unreachable."""
        started = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()  # its own "stop" callback freezes the survivors again
        gc.freeze()
        self._plan_next_full()
        self.full_passes += 1
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.info("full garbage collection: %d unreachable, %.0f ms", found, elapsed_ms)
        return found

    def _plan_next_full(self) -> None:
        self.next_full_at = max(int(peak_rss_bytes() * FULL_GROWTH), self.floor)
