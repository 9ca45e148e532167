"""Per-client token buckets for writes and resolutions (HTTP 429 / RC_SERVER_TOO_BUSY with Retry-After).

Each worker keeps its own buckets (no Redis round trip per request); the node gives each of its N workers
a 1/N share of the configured rate and burst (``resolver.http.write_ctx.node_rate``), so a client spread
over the workers gets the configured rate node-wide, and one held on a single worker (one keep-alive
connection, one TCP connection) gets 1/N of it. Time is a parameter (STYLE 7). The table of clients is
bounded: past ``max_clients`` the least recently seen client is dropped (it starts again with a full bucket).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate_per_s`` tokens a second, at most ``burst`` saved up. A rate of 0 means unlimited."""

    rate_per_s: float
    burst: float

    @property
    def unlimited(self) -> bool:
        return self.rate_per_s <= 0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_s: float


class RateLimiter:
    """Token buckets keyed by client (an address or a principal name)."""

    __slots__ = ("_buckets", "_limit", "_max_clients")

    def __init__(self, limit: RateLimit, max_clients: int = 100_000) -> None:
        self._limit = limit
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, client: str, now_s: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; 0.0 when allowed, else the seconds to wait before a retry can succeed.

        A cost above the burst (a large batch) is charged as the burst, so it needs a full bucket.
        """
        if self._limit.unlimited:
            return 0.0
        cost = min(cost, self._limit.burst)
        bucket = self._bucket(client, now_s)
        elapsed = max(0.0, now_s - bucket.updated_s)
        bucket.tokens = min(self._limit.burst, bucket.tokens + elapsed * self._limit.rate_per_s)
        bucket.updated_s = now_s
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self._limit.rate_per_s

    def _bucket(self, client: str, now_s: float) -> _Bucket:
        bucket = self._buckets.get(client)
        if bucket is not None:
            self._buckets.move_to_end(client)
            return bucket
        if len(self._buckets) >= self._max_clients:
            self._buckets.popitem(last=False)
        bucket = _Bucket(tokens=self._limit.burst, updated_s=now_s)
        self._buckets[client] = bucket
        return bucket

    @property
    def unlimited(self) -> bool:
        """No limit is configured: ``acquire`` always allows and keeps no state (callers may skip it)."""
        return self._limit.unlimited

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after_header(wait_s: float) -> str:
    """Retry-After takes whole seconds (RFC 9110 §10.2.3); never 0 for a refused request."""
    return str(max(1, math.ceil(wait_s)))
