"""The cache's byte budget: every entry and answer is charged, the charges add up, the maps stay within their
halves of ``max_bytes``, a record too big for a shard's share is served but never kept, and the charges are
near what the objects really take (tracemalloc)."""

from __future__ import annotations

import random
import tracemalloc

from protocol.values import HandleValue, push_values
from protocol.wire import Writer
from resolver.cache import CacheEntry, ResolutionCache, answer_size
from resolver.lru import ShardedLRU
from storage.record_json import public_json
from storage.records import StoredRecord, encode_record, read_record


def stored(data_bytes: int, seed: int = 0) -> StoredRecord:
    """A record as a storage read makes it: one public URL value of ``data_bytes`` bytes."""
    data = random.Random(seed).randbytes(data_bytes)
    record = read_record(encode_record([HandleValue(1, "URL", data)]))
    record.check()  # as Resolver.settle does before the cache sees it
    return record


def push_values_of(values: tuple[HandleValue, ...]) -> bytes:
    writer = Writer()
    push_values(writer, values)
    return writer.getvalue()


def charges(lru: ShardedLRU[str, CacheEntry]) -> int:
    return sum(entry.size for entry in lru.values())


def test_the_map_total_is_the_sum_of_what_it_holds_after_every_kind_of_change() -> None:
    rng = random.Random(7)
    lru: ShardedLRU[str, CacheEntry] = ShardedLRU(4_096, 400_000, lambda entry: entry.size)  # 2 shards
    for step in range(3_000):
        key = f"88.1/{rng.randrange(600)}"
        if rng.random() < 0.2:
            lru.pop(key)
        else:
            lru.add(key, CacheEntry(key, stored(rng.randrange(10, 2_000), step), 1.0))
        assert lru.bytes == charges(lru)
        assert lru.bytes <= lru.max_bytes + lru.max_value_bytes  # past it by at most the newest value
    assert len(lru) < 600  # the byte budget, not the count, bound it
    lru.clear()
    assert lru.bytes == 0 and len(lru) == 0


def test_entries_past_the_budget_go_oldest_first_and_take_their_answers_along() -> None:
    cache = ResolutionCache(1_000, 300.0, 5.0, max_bytes=200_000)  # one shard per map: exact order
    entries = [cache.put(f"88.1/{i}", stored(4_000, i), 0.0) for i in range(60)]
    for i, entry in enumerate(entries):
        cache.store_hot(f"/api/handles/88.1/{i}", entry, b"x" * 5_000)
    kept = [i for i, entry in enumerate(entries) if entry.alive]
    assert 0 < len(kept) < 60 and kept == list(range(60 - len(kept), 60))  # the newest stayed
    assert cache.total_bytes <= 200_000
    assert cache.stats.evictions == 60 - len(kept)
    assert cache.lookup_hot("/api/handles/88.1/0", 1.0) is None  # its entry went, and the answer with it
    assert cache.lookup_hot("/api/handles/88.1/59", 1.0) is not None
    found = cache.get("88.1/59", 1.0)
    assert found is not None and found.record is not None
    assert found.record.values[0].data == stored(4_000, 59).values[0].data


def test_a_record_bigger_than_a_shards_share_is_served_but_never_kept() -> None:
    cache = ResolutionCache(1_000, 300.0, 5.0, max_bytes=100_000)  # 50,000 for records, one shard
    small = cache.put("88.1/small", stored(1_000), 0.0)
    huge = cache.put("88.1/huge", stored(30_000), 0.0)  # charged twice its stored bytes: over 50,000
    assert huge.record is not None and len(huge.record.values[0].data) == 30_000  # still answered from
    assert not huge.alive and cache.get("88.1/huge", 1.0) is None
    cache.store_hot("/api/handles/88.1/huge", huge, b"x" * 30_000)
    assert cache.lookup_hot("/api/handles/88.1/huge", 1.0) is None
    cache.store_hot("/api/handles/88.1/small", small, b"y" * 60_000)  # an answer over the hot map's half
    assert cache.lookup_hot("/api/handles/88.1/small", 1.0) is None
    assert small.alive and cache.get("88.1/small", 1.0) is small  # nothing was pushed out to try


def test_replacing_and_invalidating_give_their_charges_back() -> None:
    cache = ResolutionCache(1_000, 300.0, 5.0, max_bytes=10_000_000)
    answer = answer_size("answer-0", b"z" * 700)
    entries = [cache.put(f"88.1/{i}", stored(500, i), 0.0) for i in range(10)]
    for i, entry in enumerate(entries):
        cache.store_hot(f"answer-{i}", entry, b"z" * 700)
    total = sum(entry.size for entry in entries) + 10 * answer
    assert cache.total_bytes == total
    cache.invalidate("88.1/0")
    assert cache.total_bytes == total - entries[0].size  # its answer is dropped when next asked for
    assert cache.lookup_hot("answer-0", 1.0) is None
    assert cache.total_bytes == total - entries[0].size - answer
    total = cache.total_bytes
    bigger = cache.put("88.1/1", stored(9_000), 0.0)  # replaced: the old charge goes, the new one comes
    assert cache.total_bytes == total - entries[1].size + bigger.size
    total = cache.total_bytes
    negative = cache.put("88.1/absent", None, 0.0)
    assert cache.total_bytes == total + negative.size
    assert cache.get("88.1/absent", 6.0) is None  # a negative entry lives 5 s
    assert cache.total_bytes == total + negative.size  # expired, it stays until replaced (serve-stale)
    cache.put("88.1/absent", None, 6.0)  # the read that followed: the old charge goes, the new one comes
    assert cache.total_bytes == total + negative.size
    cache.clear()
    assert cache.total_bytes == 0


def test_the_charges_are_near_what_the_cached_objects_take() -> None:
    """Within a quarter of what tracemalloc counts, for small and large records: an operator sizing a
    node by ``cache_max_bytes`` gets about what the setting says."""
    for data_bytes in (200, 20_000):
        raws = [encode_record([HandleValue(1, "URL", random.Random(i).randbytes(data_bytes))])
                for i in range(300)]
        cache = ResolutionCache(1_000, 300.0, 5.0)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for i, raw in enumerate(raws):  # what a miss does: read, settle, keep, answer, keep the answer
                record = read_record(raw)
                record.check()
                entry = cache.put(f"88.100.1/part-{i:06d}", record, 0.0)
                wire = record.wire
                assert wire is not None
                cache.store_hot(f"88.100.1/part-{i:06d}".encode() + bytes(24), entry, bytes(40) + wire)
            held = tracemalloc.get_traced_memory()[0] - before + sum(map(len, raws))  # the read's own bytes
        finally:
            tracemalloc.stop()
        assert 0.75 * held <= cache.total_bytes <= 1.33 * held, (data_bytes, held, cache.total_bytes)


def test_the_read_paths_memo_tables_keep_no_large_value() -> None:
    """They are for values many records share (HS_ADMIN, template attributes), and small: distinct large
    values read and answered over Handle and HTTP leave nothing behind once their records are gone (at
    16,384 entries of 64 KiB values each table would otherwise have held gigabytes, outside the cache)."""
    raws = [encode_record([HandleValue(1, "URL", random.Random(i).randbytes(20_000))]) for i in range(100)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for raw in raws:
            record = read_record(raw)
            assert record.wire is not None and public_json(read_record(raw)) is not None
            assert len(record.values[0].data) == 20_000
            assert push_values_of(record.values)
        del record
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 200_000, kept  # 100 values of 20 KB: 2 MB per table if they were kept
