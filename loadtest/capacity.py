"""`loadtest capacity`: raise the rate step by step until the SLO breaks; report the last rate that held.

A step holds when the SLO percentile is within its limit, at most 0.1 % of requests failed (error or
timeout), and the node answered at least 95 % of the offered rate. The rate grows by ``factor`` while steps
hold; after the first break, ``refine`` bisection steps between the last good and the first bad rate narrow
the answer. Every step is a bounded run, and the number of steps is bounded too.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass

from loadtest.runner import RunSpec
from loadtest.session import RunResult, run_load

MAX_FAILED_SHARE = 0.001
MIN_ANSWERED_SHARE = 0.95
_SLO = re.compile(r"^p(\d+(?:\.\d+)?)=(\d+(?:\.\d+)?)(us|ms|s)$")
_UNIT_US = {"us": 1, "ms": 1_000, "s": 1_000_000}


@dataclass(frozen=True, slots=True)
class Slo:
    percentile: float
    limit_us: int

    @classmethod
    def parse(cls, text: str) -> Slo:
        match = _SLO.match(text.strip())
        if match is None:
            raise ValueError(f"SLO {text!r} is not like p99=5ms")
        return cls(float(match.group(1)), int(float(match.group(2)) * _UNIT_US[match.group(3)]))

    def __str__(self) -> str:
        return f"p{self.percentile:g} <= {self.limit_us / 1000:g} ms"


@dataclass(frozen=True, slots=True)
class Step:
    rate: float
    result: RunResult
    observed_us: int
    holds: bool
    reason: str


@dataclass(frozen=True, slots=True)
class CapacityResult:
    slo: Slo
    steps: tuple[Step, ...]

    @property
    def best(self) -> Step | None:
        good = [s for s in self.steps if s.holds]
        return max(good, key=lambda s: s.rate) if good else None

    @property
    def sustainable_rate(self) -> float:
        best = self.best
        return best.result.throughput if best else 0.0


def judge(result: RunResult, slo: Slo) -> tuple[int, bool, str]:
    t = result.tally
    observed = t.histogram.percentile(slo.percentile)
    failed = (t.errors + t.timeouts) / t.sent if t.sent else 1.0
    offered = t.sent / result.elapsed_s if result.elapsed_s else 0.0
    if failed > MAX_FAILED_SHARE:
        return observed, False, f"{failed:.2%} failed"
    if offered and result.throughput < MIN_ANSWERED_SHARE * offered:
        return observed, False, f"answered {result.throughput:,.0f}/s of {offered:,.0f}/s"
    if observed > slo.limit_us:
        return observed, False, f"p{slo.percentile:g} {observed / 1000:.2f} ms"
    return observed, True, "holds"


def find_capacity(
    base: RunSpec, slo: Slo, *, start_rate: float, factor: float = 1.5, refine: int = 2, max_steps: int = 12,
    on_step: Callable[[Step], None] | None = None,
) -> CapacityResult:
    steps: list[Step] = []
    good, bad, refined = 0.0, 0.0, 0
    rate = start_rate
    while len(steps) < max_steps:
        result = run_load(dataclasses.replace(base, rate=rate))
        step = Step(rate, result, *judge(result, slo))
        steps.append(step)
        if on_step is not None:
            on_step(step)
        if result.interrupted:
            break
        if step.holds:
            good = rate
        else:
            bad = rate
        if not bad:
            rate = good * factor
            continue
        if not good or refined >= refine:
            break
        refined += 1
        rate = (good + bad) / 2
    return CapacityResult(slo, tuple(steps))
