"""The resolution cache: TTLs from the record, negative entries, LRU bound, invalidation of hot responses."""

from __future__ import annotations

from protocol.constants import TTLType
from protocol.values import HandleValue
from resolver.cache import ResolutionCache, record_ttl_s

URL = HandleValue(1, "URL", b"https://example.com", ttl=60)


def test_ttl_is_smallest_relative_capped() -> None:
    values = (URL, HandleValue(2, "EMAIL", b"a@b", ttl=30))
    assert record_ttl_s(values, 300.0) == 30.0
    assert record_ttl_s((HandleValue(1, "URL", b"x", ttl=86_400),), 300.0) == 300.0
    absolute = HandleValue(1, "URL", b"x", ttl=5, ttl_type=TTLType.ABSOLUTE)
    assert record_ttl_s((absolute,), 300.0) == 300.0


def test_entry_expires_with_record_ttl() -> None:
    cache = ResolutionCache(10, 300.0, 5.0)
    cache.put("88.1/A", (URL,), now=100.0)
    entry = cache.get("88.1/A", now=159.0)
    assert entry is not None and entry.values == (URL,)
    assert cache.get("88.1/A", now=160.0) is None
    assert cache.stats.hits == 1 and cache.stats.misses == 1


def test_negative_entry_is_short() -> None:
    cache = ResolutionCache(10, 300.0, 5.0)
    cache.put("88.1/NONE", None, now=0.0)
    entry = cache.get("88.1/NONE", now=4.9)
    assert entry is not None and entry.values is None
    assert cache.get("88.1/NONE", now=5.0) is None


def test_zero_ttl_is_not_kept() -> None:
    cache = ResolutionCache(10, 300.0, 5.0)
    entry = cache.put("88.1/Z", (HandleValue(1, "URL", b"x", ttl=0),), now=0.0)
    assert cache.get("88.1/Z", now=0.0) is None
    cache.store_hot(b"k", entry, b"payload")
    assert cache.lookup_hot(b"k", now=0.0) is None


def test_lru_bound_evicts_least_recent() -> None:
    cache = ResolutionCache(2, 300.0, 5.0)
    cache.put("a", (URL,), 0.0)
    cache.put("b", (URL,), 0.0)
    assert cache.get("a", 1.0) is not None  # a is now the most recent
    cache.put("c", (URL,), 1.0)  # full: kept on its second read (admission)
    cache.put("c", (URL,), 1.0)
    assert len(cache) == 2
    assert cache.get("b", 1.0) is None
    assert cache.get("a", 1.0) is not None
    assert cache.stats.evictions == 1


def test_a_full_cache_keeps_a_new_identifier_on_its_second_read() -> None:
    cache = ResolutionCache(2, 300.0, 5.0)
    cache.put("a", (URL,), 0.0)
    cache.put("b", (URL,), 0.0)
    first = cache.put("c", (URL,), 1.0)  # full: answered from, not kept, evicts nothing
    cache.store_hot(b"c-request", first, b"response")
    assert not first.alive and cache.get("c", 1.0) is None and cache.lookup_hot(b"c-request", 1.0) is None
    assert cache.stats.refused == 1 and cache.stats.evictions == 0
    assert cache.get("a", 1.0) is not None and cache.get("b", 1.0) is not None
    second = cache.put("c", (URL,), 2.0)
    assert second.alive and cache.get("c", 2.0) is second
    assert cache.stats.refused == 1 and cache.stats.evictions == 1 and cache.get("a", 2.0) is None


def test_a_full_cache_keeps_a_refreshed_entry_at_once() -> None:
    cache = ResolutionCache(2, 300.0, 5.0)
    cache.put("a", (URL,), 0.0)
    cache.put("b", (URL,), 0.0)
    assert cache.get("a", 61.0) is None  # expired: the read that follows replaces it
    assert cache.put("a", (URL,), 61.0).alive and cache.get("a", 62.0) is not None
    assert cache.stats.refused == 0 and cache.stats.evictions == 0


def test_a_sweep_of_identifiers_read_once_leaves_a_full_cache_as_it_was() -> None:
    cache = ResolutionCache(5_000, 300.0, 5.0)  # 4 shards of 1,250
    for i in range(6_000):
        cache.put(f"88.1/asked-{i}", (URL,), 0.0)
    asked = [f"88.1/asked-{i}" for i in range(6_000) if cache.get(f"88.1/asked-{i}", 1.0) is not None]
    assert len(asked) == len(cache) == 5_000
    for i in range(20_000):  # a crawler: every identifier once
        cache.put(f"88.1/{i}", (URL,), 1.0)
    still = sum(cache.get(key, 2.0) is not None for key in asked)
    # Only the doorkeeper's false positives got in (under one in eight of first sightings).
    assert still >= 0.8 * len(asked) and cache.stats.refused >= 0.8 * 20_000


def test_invalidation_kills_hot_responses() -> None:
    cache = ResolutionCache(10, 300.0, 5.0)
    entry = cache.put("88.1/A", (URL,), 0.0)
    cache.store_hot(b"request-bytes", entry, b"response")
    hot = cache.lookup_hot(b"request-bytes", 1.0)
    assert hot is not None and hot.payload == b"response"
    generation = cache.generation
    cache.invalidate("88.1/A")
    assert cache.generation > generation
    assert cache.lookup_hot(b"request-bytes", 1.0) is None
    assert cache.get("88.1/A", 1.0) is None


def test_clear_ends_registry_answers() -> None:
    cache = ResolutionCache(10, 300.0, 5.0)
    entry = cache.registry_entry(0.0)
    assert cache.registry_entry(1.0) is entry
    cache.store_hot("http-key", entry, b"{}", 400)
    cache.clear()
    assert cache.lookup_hot("http-key", 1.0) is None
    assert cache.registry_entry(1.0) is not entry


def test_hot_map_is_bounded() -> None:
    cache = ResolutionCache(10, 300.0, 5.0, max_hot=8)
    entry = cache.put("k", (URL,), 0.0)
    for i in range(100):
        cache.store_hot(i.to_bytes(2, "big"), entry, b"r")
    assert len(cache.hot) == 8
    assert list(cache.hot) == [i.to_bytes(2, "big") for i in range(92, 100)]  # the oldest went first
    assert cache.lookup_hot((99).to_bytes(2, "big"), 1.0) is not None


def test_an_answer_still_asked_for_outlives_a_sweep_of_cold_identifiers() -> None:
    cache = ResolutionCache(5_000, 300.0, 5.0)  # both maps sharded (4 and 8 shards)
    popular = cache.put("88.1/popular", (URL,), 0.0)
    cache.store_hot(b"popular-request", popular, b"response")
    for i in range(20_000):  # a crawler: every identifier twice (so kept: admission), each answer kept
        cache.put(f"88.1/{i}", (URL,), 0.0)
        cold = cache.put(f"88.1/{i}", (URL,), 0.0)
        cache.store_hot(f"request-{i}".encode(), cold, b"r")
        if i % 500 == 0:  # meanwhile the popular one is asked for again and again, from the hot map only
            assert cache.lookup_hot(b"popular-request", 1.0) is not None
    assert len(cache) == 5_000 and len(cache.hot) == 10_000
    assert popular.alive
    hot = cache.lookup_hot(b"popular-request", 1.0)
    assert hot is not None and hot.payload == b"response"


def test_registry_answers_are_hot_hits_too() -> None:
    cache = ResolutionCache(10, 300.0, 5.0)
    cache.store_hot(b"0.NA/88.100.1", cache.registry_entry(0.0), b"prefix")
    assert cache.lookup_hot(b"0.NA/88.100.1", 1.0) is not None


def test_a_large_cache_stays_bounded_and_an_evicted_entry_takes_its_hot_answers_along() -> None:
    cache = ResolutionCache(5_000, 300.0, 5.0)  # sharded (resolver/lru.py): 4 shards of 1,250
    first = cache.put("88.1/first", (URL,), 0.0)
    cache.store_hot(b"first-request", first, b"response")
    for i in range(20_000):
        cache.put(f"88.1/{i}", (URL,), 0.0)
        cache.put(f"88.1/{i}", (URL,), 0.0)  # a second read: kept in a full cache too (admission)
    assert len(cache) == 5_000
    assert cache.stats.evictions == 20_001 - 5_000
    assert not first.alive and cache.lookup_hot(b"first-request", 1.0) is None
    assert cache.get("88.1/19999", 1.0) is not None


def test_an_expired_entry_answers_only_as_stale_within_its_bound() -> None:
    """Serve-stale (RFC 8767): what ``Resolver.settle`` answers from when storage cannot be read."""
    cache = ResolutionCache(10, 300.0, 5.0, max_stale_s=100.0)
    cache.put("88.1/A", (URL,), now=0.0)  # fresh until 60
    assert cache.stale("88.1/A", 30.0) is cache.get("88.1/A", 30.0)  # still fresh: the entry itself
    assert cache.get("88.1/A", 61.0) is None  # expired: a read is due
    stale = cache.stale("88.1/A", 61.0)  # ... and it failed
    assert stale is not None and stale.values == (URL,)
    assert not stale.alive  # detached: nothing made from it is kept
    cache.store_hot("answer-A", stale, b"stale answer")
    assert cache.lookup_hot("answer-A", 61.0) is None
    assert cache.stale("88.1/A", 159.9) is not None
    assert cache.stale("88.1/A", 160.0) is None  # 100 s past its expiry
    assert cache.stats.stale_hits == 2
    cache.put("88.1/A", (URL,), now=170.0)  # the read that worked: fresh again
    assert cache.get("88.1/A", 171.0) is not None


def test_a_negative_entry_is_served_stale_too_and_nothing_invalidated_ever_is() -> None:
    cache = ResolutionCache(10, 300.0, 5.0, max_stale_s=100.0)
    cache.put("88.1/NONE", None, now=0.0)
    stale = cache.stale("88.1/NONE", 50.0)
    assert stale is not None and stale.record is None
    cache.put("88.1/B", (URL,), now=0.0)
    cache.invalidate("88.1/B")  # a write: what was read before it is never answered again
    assert cache.stale("88.1/B", 61.0) is None
    cache.put("88.1/C", (URL,), now=0.0)
    cache.clear()
    assert cache.stale("88.1/C", 61.0) is None


def test_serve_stale_off() -> None:
    cache = ResolutionCache(10, 300.0, 5.0)  # max_stale_s 0, as the node's cache_max_stale_s = 0 sets it
    cache.put("88.1/A", (URL,), now=0.0)
    assert cache.stale("88.1/A", 60.0) is None
