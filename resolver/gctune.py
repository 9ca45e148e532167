"""Garbage collection in a worker: young passes on the clock, a full pass only when the heap has doubled.

A worker's heap is mostly its cache: hundreds of thousands of long-lived objects (entries, decoded values,
pre-encoded answers) that are never part of a reference cycle. CPython's default policy walks them again and
again: a gen-1 pass walks every survivor of the last twenty young passes, and a full pass runs each time the
long-lived population has grown by a quarter, which cache churn (every cold miss adds an entry, evictions
free others) makes happen every few seconds. Measured under cold traffic on a 200k-entry cache: passes of
20-60 ms every few seconds, each one a stall that queues every request behind it (issue 4: the TCP p99 of
40 ms at half the maximum rate, and UDP datagrams dropped while the socket buffer overflowed).

So after every young pass the survivors move to the permanent generation (``gc.freeze``): no later pass
walks them. Objects there are still freed by reference counting the moment they are dropped; only a cycle
that forms among them and is then dropped would outlive its use. Measured on UDP, TCP and HTTP load (cold and
Zipf), a full pass afterwards found 0-10 such objects in ~500,000, so they are collected rarely: when the
worker's peak memory has doubled since the last full pass and passed a floor sized from the cache's bounds, in
slots and in bytes (checked every ``FULL_CHECK_S`` on the event loop, never inside a pass). Peak RSS is the
measure because it costs one system call; counting the frozen objects (``gc.get_freeze_count``) walks all of
them, tens of milliseconds on a full cache. A full pass over a full cache is a stall of a few hundred
milliseconds; with the floor, filling the cache triggers none, and only memory that really leaks can reach it.

Young passes run on the event loop's clock, not on CPython's allocation count, which is the wrong measure
here. The count is allocations minus deallocations, and every eviction frees frozen objects while the entry
replacing it adds young ones: under churn the count stands still while the young generation grows, until some
burst trips the threshold and one pass walks all of it. Measured with a threshold of 2,000 (one worker, 1M
ids, rig in issue 4's notes): no pass at all for seconds of cold UDP, then passes of 7-24 ms; cold HTTP had
one of 95 ms with a threshold of 10,000. And where the count does move, pipelined TCP (thousands of requests
in flight), it tripped 55-77 times a second, walking each in-flight request's objects once: 66-120 ms of
every second, 7-12 % of a saturated worker's CPU. On the clock a pass walks what survived since the last
one, so its length is bounded by the interval, and the interval stretches when passes are long: at least
``MIN_INTERVAL_S``, at most ``MAX_INTERVAL_S``, and otherwise ``1 / PAUSE_SHARE`` times the last pass, so
they take at most ``PAUSE_SHARE`` of the time. Measured against the threshold of 2,000 on the same
workloads: cold TCP at 30,000/s 15 ms a second in passes instead of 77 (the longest 18 ms: in a backlog, where
latency is already hundreds of milliseconds); cold HTTP 3 ms a second instead of 8, the longest pass 2 ms
instead of 8.5; cold UDP at 20,000/s the longest 0.9 ms instead of 6.7; warm UDP and TCP under 1 ms.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import resource
import time
from collections.abc import Callable
from typing import Final

log = logging.getLogger(__name__)

# Young passes (see above): every 100 ms under moderate load, where one walks a few thousand objects at most
# (under 1 ms); up to once a second when each is long.
MIN_INTERVAL_S: Final = 0.1
MAX_INTERVAL_S: Final = 1.0
PAUSE_SHARE: Final = 0.02
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


def next_young_interval(pause_s: float) -> float:
    """Seconds until the young pass after one that took ``pause_s`` (see the module)."""
    return min(MAX_INTERVAL_S, max(MIN_INTERVAL_S, pause_s / PAUSE_SHARE))


class YoungOnlyCollector:
    """The policy above, for one process. ``start`` once the worker has finished starting up; ``observe`` is
    told the length of every pass, young or full (the worker's ``idnode_gc_pause_seconds``)."""

    __slots__ = ("_full_check", "_observe", "_young", "floor", "full_passes", "next_full_at", "young_passes")

    def __init__(self, cache_slots: int = 0, cache_max_bytes: int | None = None,
                 observe: Callable[[float], None] | None = None) -> None:
        """``cache_slots``: how many entries and pre-encoded answers the worker's cache may hold;
        ``cache_max_bytes``: the memory they may take (None: bounded by the slots only)."""
        floor = cache_slots * BYTES_PER_CACHE_SLOT
        if cache_max_bytes is not None:
            floor = min(floor, cache_max_bytes * BUDGET_MULTIPLE)
        self.floor = floor  # added to the memory after start-up
        self.next_full_at = 0
        self.full_passes = 0
        self.young_passes = 0
        self._observe = observe
        self._young: asyncio.TimerHandle | None = None
        self._full_check: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Collect everything start-up built, freeze it, and from now on run only the passes above:
        CPython's own, counted by allocations, are off until ``stop``."""
        gc.collect()
        gc.freeze()
        gc.disable()
        self.floor += peak_rss_bytes()
        self._plan_next_full()
        self._young = loop.call_later(MIN_INTERVAL_S, self._young_pass, loop)
        self._full_check = loop.call_later(FULL_CHECK_S, self._check, loop)

    def stop(self) -> None:
        """No more passes of ours; CPython's own are back (a stopping worker still frees its cycles)."""
        for handle in (self._young, self._full_check):
            if handle is not None:
                handle.cancel()
        self._young = self._full_check = None
        gc.enable()

    def _young_pass(self, loop: asyncio.AbstractEventLoop) -> None:
        started = time.perf_counter()
        gc.collect(0)
        gc.freeze()  # the survivors of this pass: no later young pass walks them again
        pause = time.perf_counter() - started
        self.young_passes += 1
        if self._observe is not None:
            self._observe(pause)
        self._young = loop.call_later(next_young_interval(pause), self._young_pass, loop)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        if peak_rss_bytes() > self.next_full_at:
            self.collect_all()
        self._full_check = loop.call_later(FULL_CHECK_S, self._check, loop)

    def collect_all(self) -> int:
        """One full pass over everything, then freeze again; returns what it found unreachable."""
        started = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        self._plan_next_full()
        self.full_passes += 1
        elapsed = time.perf_counter() - started
        if self._observe is not None:
            self._observe(elapsed)
        log.info("full garbage collection: %d unreachable, %.0f ms", found, elapsed * 1000)
        return found

    def _plan_next_full(self) -> None:
        self.next_full_at = max(int(peak_rss_bytes() * FULL_GROWTH), self.floor)
