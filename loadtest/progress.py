"""The progress line of long runs: one line rewritten in place on a terminal, a line every 5 s otherwise."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from loadtest.runner import Tick


class ProgressLine:
    def __init__(self, duration_s: float, stream: TextIO | None = None) -> None:
        self.duration_s = duration_s
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last = (0, 0)
        self._printed = False

    def __call__(self, ticks: Sequence[Tick]) -> None:
        elapsed = max(t.elapsed_s for t in ticks)
        sent = sum(t.sent for t in ticks)
        answered = sum(t.answered for t in ticks)
        failed = sum(t.failed for t in ticks)
        rate = answered - self._last[1]
        self._last = (sent, answered)
        line = (f"[{elapsed:5.0f}s/{self.duration_s:.0f}s] sent {sent:,}  answered {answered:,} "
                f"(~{rate:,}/s)  failed {failed:,}")
        if self.tty:
            self.stream.write("\r" + line.ljust(78))
            self._printed = True
        elif int(elapsed) % 5 == 0 or elapsed < 1.5:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self._printed:
            self.stream.write("\n")
            self.stream.flush()
