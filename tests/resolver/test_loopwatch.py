"""The loop watch counts the time a blocked event loop kept its tick (and every request) waiting."""

from __future__ import annotations

import asyncio
import time

from resolver.loopwatch import PERIOD_S, STALL_S, LoopWatch


def hold_loop(seconds: float) -> None:
    """A callback that keeps the loop from everything else, as a long garbage-collector pass would."""
    time.sleep(seconds)


async def test_a_blocked_loop_is_seen_as_one_late_tick() -> None:
    delays: list[float] = []
    watch = LoopWatch(delays.append)
    watch.start(asyncio.get_running_loop())
    try:
        await asyncio.sleep(3 * PERIOD_S)
        blocked_from = len(delays)
        asyncio.get_running_loop().call_soon(hold_loop, 0.05)
        await asyncio.sleep(3 * PERIOD_S)
        late = delays[blocked_from:]
        assert any(delay >= 0.05 - PERIOD_S for delay in late), late
        assert all(delay >= STALL_S for delay in delays)  # shorter delays are the timer's rounding
    finally:
        watch.stop()


async def test_after_a_stall_the_watch_does_not_catch_up_in_a_burst() -> None:
    delays: list[float] = []
    watch = LoopWatch(delays.append)
    watch.start(asyncio.get_running_loop())
    try:
        asyncio.get_running_loop().call_soon(hold_loop, 0.1)  # ten periods pass with the loop held
        await asyncio.sleep(2 * PERIOD_S)
        assert len([d for d in delays if d >= 0.05]) == 1, delays
    finally:
        watch.stop()
