"""What one generator process counts: sent, answered (by response code), errors, timeouts, latencies.

Every request ends in exactly one of answered, error or timeout, so ``sent == answered + errors +
timeouts`` once the run has drained. Latency is ``receive time - intended send time`` (never the actual send
time), which corrects coordinated omission: a stalled generator or server shows up as latency, not as fewer
samples.
A per-second timeline (by receive time) feeds the throughput and latency-over-time plots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loadtest.stats import Histogram


@dataclass(slots=True)
class Second:
    """One second of a run, counted by the time things happened."""

    sent: int = 0
    answered: int = 0
    errors: int = 0
    timeouts: int = 0
    histogram: Histogram = field(default_factory=Histogram)

    def to_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "answered": self.answered, "errors": self.errors,
                "timeouts": self.timeouts, "histogram": self.histogram.to_json()}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Second:
        return cls(obj["sent"], obj["answered"], obj["errors"], obj["timeouts"],
                   Histogram.from_json(obj["histogram"]))

    def merge(self, other: Second) -> None:
        self.sent += other.sent
        self.answered += other.answered
        self.errors += other.errors
        self.timeouts += other.timeouts
        self.histogram.merge(other.histogram)


class Tally:
    """Counters of one process; ``t0`` is the monotonic start of the schedule."""

    __slots__ = ("answered", "codes", "error_kinds", "errors", "histogram", "send_lag", "sent", "t0",
                 "timeline", "timeouts")

    def __init__(self, t0: float = 0.0) -> None:
        self.t0 = t0
        self.sent = 0
        self.answered = 0
        self.errors = 0
        self.timeouts = 0
        self.codes: dict[str, int] = {}
        self.error_kinds: dict[str, int] = {}
        self.histogram = Histogram()
        self.timeline: list[Second] = []
        # How late each request left compared with its intended time: when this grows, the generator (not
        # the server) could not keep up, and the run measures the generator.
        self.send_lag = Histogram()

    def second(self, now: float) -> Second:
        index = max(0, int(now - self.t0))
        timeline = self.timeline
        while len(timeline) <= index:
            timeline.append(Second())
        return timeline[index]

    def on_sent(self, now: float, intended: float) -> None:
        self.send_lag.record(int((now - intended) * 1_000_000))
        self.sent += 1
        self.second(now).sent += 1

    def on_answer(self, intended: float, now: float, code: str) -> None:
        latency_us = int((now - intended) * 1_000_000)
        self.histogram.record(latency_us)
        sec = self.second(now)
        sec.answered += 1
        sec.histogram.record(latency_us)
        self.answered += 1
        self.codes[code] = self.codes.get(code, 0) + 1

    def on_error(self, now: float, kind: str) -> None:
        self.errors += 1
        self.second(now).errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    def on_timeout(self, now: float) -> None:
        self.timeouts += 1
        self.second(now).timeouts += 1

    def merge(self, other: Tally) -> None:
        self.sent += other.sent
        self.answered += other.answered
        self.errors += other.errors
        self.timeouts += other.timeouts
        self.send_lag.merge(other.send_lag)
        for k, n in other.codes.items():
            self.codes[k] = self.codes.get(k, 0) + n
        for k, n in other.error_kinds.items():
            self.error_kinds[k] = self.error_kinds.get(k, 0) + n
        self.histogram.merge(other.histogram)
        while len(self.timeline) < len(other.timeline):
            self.timeline.append(Second())
        for mine, theirs in zip(self.timeline, other.timeline, strict=False):
            mine.merge(theirs)

    def to_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "answered": self.answered, "errors": self.errors,
                "timeouts": self.timeouts, "codes": dict(self.codes), "error_kinds": dict(self.error_kinds),
                "histogram": self.histogram.to_json(), "send_lag": self.send_lag.to_json(),
                "timeline": [s.to_json() for s in self.timeline]}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Tally:
        t = cls()
        t.sent, t.answered = obj["sent"], obj["answered"]
        t.errors, t.timeouts = obj["errors"], obj["timeouts"]
        t.send_lag = Histogram.from_json(obj["send_lag"])
        t.codes = dict(obj["codes"])
        t.error_kinds = dict(obj["error_kinds"])
        t.histogram = Histogram.from_json(obj["histogram"])
        t.timeline = [Second.from_json(s) for s in obj["timeline"]]
        return t
