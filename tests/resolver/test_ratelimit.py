"""Token buckets: refill, burst, per-client isolation, bounded table."""

from __future__ import annotations

from resolver.ratelimit import RateLimit, RateLimiter, retry_after_header


def test_burst_then_refused_with_wait() -> None:
    limiter = RateLimiter(RateLimit(rate_per_s=2.0, burst=3))
    assert [limiter.acquire("a", 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.acquire("a", 100.0)
    assert wait == 0.5
    assert retry_after_header(wait) == "1"


def test_refill_is_proportional_and_capped() -> None:
    limiter = RateLimiter(RateLimit(rate_per_s=1.0, burst=2))
    limiter.acquire("a", 0.0)
    limiter.acquire("a", 0.0)
    assert limiter.acquire("a", 0.5) > 0
    assert limiter.acquire("a", 1.5) == 0.0
    # A long pause refills only up to the burst.
    assert [limiter.acquire("a", 1000.0) for _ in range(3)][2] > 0


def test_clients_are_isolated() -> None:
    limiter = RateLimiter(RateLimit(rate_per_s=1.0, burst=1))
    assert limiter.acquire("a", 0.0) == 0.0
    assert limiter.acquire("a", 0.0) > 0
    assert limiter.acquire("b", 0.0) == 0.0


def test_unlimited() -> None:
    limiter = RateLimiter(RateLimit(rate_per_s=0, burst=0))
    assert all(limiter.acquire("a", 0.0) == 0.0 for _ in range(1000))
    assert len(limiter) == 0


def test_table_is_bounded() -> None:
    limiter = RateLimiter(RateLimit(rate_per_s=1.0, burst=1), max_clients=10)
    for n in range(100):
        limiter.acquire(f"c{n}", 0.0)
    assert len(limiter) == 10


def test_clock_going_back_does_not_add_tokens() -> None:
    limiter = RateLimiter(RateLimit(rate_per_s=1.0, burst=1))
    limiter.acquire("a", 10.0)
    assert limiter.acquire("a", 5.0) > 0


def test_cost_above_burst_needs_a_full_bucket() -> None:
    limiter = RateLimiter(RateLimit(rate_per_s=10.0, burst=5))
    assert limiter.acquire("a", 0.0, cost=2000) == 0.0
    assert limiter.acquire("a", 0.0, cost=2000) == 0.5
    assert limiter.acquire("a", 0.5, cost=2000) == 0.0
