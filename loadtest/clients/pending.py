"""In-flight Handle requests of one connection, keyed by RequestId, oldest first.

RequestIds grow with the intended send time, and a dict keeps insertion order, so the oldest requests are at
the front: expiring timeouts only looks at the ones that have expired (plus one).
"""

from __future__ import annotations

import functools

from loadtest.tally import Tally
from protocol.constants import ResponseCode

MAX_REQUEST_ID = 0x7FFF_FFFF  # Teleinfo's client refuses ids <= 0 as signed int4 (handle-protocol.md §1.3)


class RequestIds:
    """A process-wide RequestId counter starting at 1, like the CNRI/Teleinfo clients (§1.3)."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = 0

    def take(self) -> int:
        self._next = self._next % MAX_REQUEST_ID + 1
        return self._next


@functools.lru_cache(maxsize=256)
def code_label(code: int) -> str:
    """``RC 1 SUCCESS``-style label; bounded cache, response codes are a small set."""
    return f"RC {code} {ResponseCode(code).name}"


class Pending:
    """RequestId -> intended send time for one connection."""

    __slots__ = ("intended",)

    def __init__(self) -> None:
        self.intended: dict[int, float] = {}

    def expire(self, cutoff: float, tally: Tally, now: float) -> list[int]:
        """Count requests intended before ``cutoff`` as timeouts; return their RequestIds."""
        expired = []
        for request_id, intended in self.intended.items():
            if intended > cutoff:
                break
            expired.append(request_id)
        for request_id in expired:
            del self.intended[request_id]
            tally.on_timeout(now)
        return expired

    def fail_all(self, tally: Tally, now: float, kind: str) -> None:
        for _ in range(len(self.intended)):
            tally.on_error(now, kind)
        self.intended.clear()

    def timeout_all(self, tally: Tally, now: float) -> None:
        for _ in range(len(self.intended)):
            tally.on_timeout(now)
        self.intended.clear()
