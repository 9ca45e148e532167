"""A bounded map split by key hash into shards, each an insertion-ordered dict: the worker cache's two maps.

Why shards: a dict that fills up, or churns at a constant size, now and then rebuilds its whole table (to
grow, or to drop the slots of deleted keys). At the cache's 200,000 entries one such rebuild held a worker
for 35-50 ms (issue 4, p99 at half the maximum: a UDP receive buffer overflows after ~13 ms). Split 128
ways, each rebuild is 1/128 of that, well under a millisecond.

Order is kept per shard: the entry a full shard drops is the oldest of its shard, and for hashed keys that is
close to the oldest overall. Maps too small to need shards (under 2,048 entries) keep one: exact order.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MAX_SHARDS = 128
MIN_SHARD_ENTRIES = 1024  # below this a shard's rebuild costs too little to be worth splitting further


def shard_count(capacity: int) -> int:
    """The largest power of two up to MAX_SHARDS that leaves every shard MIN_SHARD_ENTRIES or more."""
    count = 1
    while count < MAX_SHARDS and capacity // (2 * count) >= MIN_SHARD_ENTRIES:
        count *= 2
    return count


class ShardedLRU(Generic[K, V]):
    """At most ``capacity`` entries (rounded up to a multiple of the shard count), oldest first per shard.

    The cache's hot paths take a key's shard once (``shard``) and use the dict directly.
    """

    __slots__ = ("_mask", "_shards", "per_shard")

    def __init__(self, capacity: int) -> None:
        count = shard_count(capacity)
        self._shards: list[OrderedDict[K, V]] = [OrderedDict() for _ in range(count)]
        self._mask = count - 1
        self.per_shard = max(1, -(-capacity // count))  # a shard past this drops its oldest (see ``add``)

    def shard(self, key: K) -> OrderedDict[K, V]:
        return self._shards[hash(key) & self._mask]

    def get(self, key: K) -> V | None:
        return self._shards[hash(key) & self._mask].get(key)

    def __contains__(self, key: K) -> bool:
        return key in self._shards[hash(key) & self._mask]

    def add(self, key: K, value: V) -> V | None:
        """Set ``key`` (a new key goes last in its shard); returns the value its shard dropped, if any."""
        shard = self._shards[hash(key) & self._mask]
        shard[key] = value
        if len(shard) > self.per_shard:
            return shard.popitem(last=False)[1]
        return None

    def pop(self, key: K) -> V | None:
        return self._shards[hash(key) & self._mask].pop(key, None)

    def __len__(self) -> int:
        return sum(map(len, self._shards))

    def __iter__(self) -> Iterator[K]:
        for shard in self._shards:
            yield from shard

    def values(self) -> Iterator[V]:
        for shard in self._shards:
            yield from shard.values()

    def clear(self) -> None:
        for shard in self._shards:
            shard.clear()
