"""The sharded LRU map under the worker cache: bounded, oldest first per shard, every key where it belongs."""

from __future__ import annotations

from resolver.lru import MAX_SHARDS, ShardedLRU, shard_count


def test_small_maps_keep_one_shard_and_exact_order() -> None:
    assert shard_count(10) == 1 and shard_count(2_047) == 1
    lru: ShardedLRU[str, int] = ShardedLRU(3)
    for i in range(5):
        lru.add(f"k{i}", i)
    assert list(lru) == ["k2", "k3", "k4"]


def test_large_maps_split_into_shards_of_a_thousand_or_more() -> None:
    assert shard_count(2_048) == 2
    assert shard_count(10_000) == 8
    assert shard_count(200_000) == MAX_SHARDS
    assert shard_count(10**9) == MAX_SHARDS


def test_a_sharded_map_stays_bounded_and_keeps_the_newest() -> None:
    lru: ShardedLRU[str, int] = ShardedLRU(10_000)  # 8 shards of 1,250
    dropped = [lru.add(f"88.100.1/lt-{i:08d}", i) for i in range(50_000)]
    assert len(lru) == 10_000
    assert sum(dropped) == 40_000  # how many each add dropped
    assert all(f"88.100.1/lt-{i:08d}" in lru for i in range(49_000, 50_000))  # ~125 per shard of the newest
    assert lru.get("88.100.1/lt-00000000") is None and lru.get("88.100.1/lt-00049999") == 49_999
    assert sorted(lru.values())[-1] == 49_999


def test_pop_and_clear() -> None:
    lru: ShardedLRU[bytes, str] = ShardedLRU(4_096)
    lru.add(b"a", "x")
    assert lru.pop(b"a") == "x" and lru.pop(b"a") is None
    lru.add(b"b", "y")
    lru.clear()
    assert len(lru) == 0 and b"b" not in lru
