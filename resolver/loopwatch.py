"""How responsive a worker's event loop is: a tick every ``PERIOD_S``, and how late each one fired.

A tick fires late when work ahead of it held the loop: a burst of requests being answered, a garbage-collector
pass, a long callback. Every request that arrived meanwhile waited as long, so these delays are what the
worker itself adds to the latency tail (issue 4: the p99 at half the maximum rate), told apart from the
machine and the client. Only delays of ``STALL_S`` or more are counted: uvloop's timers run on a millisecond
clock, so less than that is the timer's own rounding. The 1 s ``idnode_event_loop_lag_seconds`` gauge samples
one tick a second and misses short stalls; this counts each of them (``idnode_event_loop_delay_seconds``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

PERIOD_S: Final = 0.01
STALL_S: Final = 0.002


class LoopWatch:
    """Calls ``observe(seconds)`` for each tick that fired ``STALL_S`` or more late; ``start`` on the loop."""

    __slots__ = ("_due", "_handle", "_observe")

    def __init__(self, observe: Callable[[float], None]) -> None:
        self._observe = observe
        self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._arm(loop, time.monotonic())

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self, loop: asyncio.AbstractEventLoop, now: float) -> None:
        # From now, not from the last due time: after a stall the watch does not fire a burst to catch up.
        self._due = now + PERIOD_S
        self._handle = loop.call_later(PERIOD_S, self._tick, loop)

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = time.monotonic()
        late = now - self._due
        if late >= STALL_S:
            self._observe(late)
        self._arm(loop, now)
