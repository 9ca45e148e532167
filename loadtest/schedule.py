"""When each request of an open-loop run is due: a piecewise-constant arrival rate.

A constant-rate run is one segment. `loadtest day` uses 24 equal segments (the hours of a compressed day). The
schedule is exact: request ``i`` is due at a fixed instant computed from the rates alone, never from when the
previous request actually left, which is what keeps the generator open-loop.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence


class Schedule:
    """Due times of ``total`` requests over ``duration_s`` with rates ``rates`` in equal segments."""

    __slots__ = ("_starts", "duration_s", "rates", "segment_s", "total")

    def __init__(self, rates: Sequence[float], duration_s: float) -> None:
        if not rates or duration_s <= 0 or any(r < 0 for r in rates):
            raise ValueError("a schedule needs rates >= 0 and a positive duration")
        self.rates = tuple(rates)
        self.duration_s = duration_s
        self.segment_s = duration_s / len(rates)
        starts = [0]
        for r in self.rates:
            starts.append(starts[-1] + math.floor(r * self.segment_s))
        self._starts = starts  # index of the first request of each segment
        self.total = starts[-1]

    def due_by(self, elapsed_s: float) -> int:
        """How many requests are due at ``elapsed_s`` after the start."""
        if elapsed_s < 0:
            return 0  # before t0 (processes wait for a common start slightly ahead)
        if elapsed_s >= self.duration_s:
            return self.total
        k = max(0, int(elapsed_s / self.segment_s))
        # The epsilon keeps due_by(intended(i)) >= i + 1 despite float rounding.
        in_segment = (elapsed_s - k * self.segment_s) * self.rates[k] + 1e-9
        return min(self._starts[k + 1], self._starts[k] + int(in_segment) + 1)

    def intended(self, i: int) -> float:
        """Seconds after the start at which request ``i`` is due."""
        k = bisect.bisect_right(self._starts, i) - 1
        return k * self.segment_s + (i - self._starts[k]) / self.rates[k]


def diurnal_profile() -> tuple[float, ...]:
    """Share of the peak rate in each hour of a national service's day (China Standard Time, hour 0-23).

    A typical shape of a working-day public service: a night trough near 5 % of the peak, a morning ramp
    from 07:00, peaks at 10:00 and 15:00, a lunch dip and an evening tail. It is an assumption to show the
    node across a full day, not a measured curve.
    """
    return (0.12, 0.08, 0.06, 0.05, 0.05, 0.07, 0.15, 0.35, 0.65, 0.9, 1.0, 0.95,
            0.7, 0.85, 0.95, 1.0, 0.9, 0.75, 0.55, 0.45, 0.4, 0.35, 0.25, 0.17)
