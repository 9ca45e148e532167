"""A bounded map split by key hash into shards, each an insertion-ordered dict: the worker cache's two maps.

Why shards: a dict that fills up, or churns at a constant size, now and then rebuilds its whole table (to
grow, or to drop the slots of deleted keys). At the cache's 200,000 entries one such rebuild held a worker
for 35-50 ms (issue 4, p99 at half the maximum: a UDP receive buffer overflows after ~13 ms). Split 128
ways, each rebuild is 1/128 of that, well under a millisecond.

Order is kept per shard: the entry a full shard drops is the oldest of its shard, and for hashed keys that is
close to the oldest overall. Maps too small to need shards (under 2,048 entries) keep one: exact order.

A map may also have a byte budget (``max_bytes``) for what its values are charged (``size_of``), kept as
one total (``bytes``): a map past it drops the oldest of the shard it adds to, which over hashed keys is as
close to the oldest overall as the entry bound's choice. A value charged more than a shard's share of the
budget is not kept at all (``max_value_bytes``): one huge record must not empty its shard only to be dropped
itself.
(One total, not one per shard: a dict subclass carrying its own byte count made every lookup ~5 % slower.)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Final, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MAX_SHARDS: Final = 128
MIN_SHARD_ENTRIES: Final = 1024  # below this a shard's rebuild costs too little to be worth splitting further


def shard_count(capacity: int) -> int:
    """The largest power of two up to MAX_SHARDS that leaves every shard MIN_SHARD_ENTRIES or more."""
    count = 1
    while count < MAX_SHARDS and capacity // (2 * count) >= MIN_SHARD_ENTRIES:
        count *= 2
    return count


_UNBOUNDED: Final = 1 << 62


def _no_size(value: object) -> int:
    return 0


class ShardedLRU(Generic[K, V]):
    """At most ``capacity`` entries (rounded up to a multiple of the shard count) and about ``max_bytes`` of
    what ``size_of`` charges them, oldest first per shard.

    The cache's hot paths take a key's shard once (``shard``) and use the dict directly; whatever they add or
    delete there, they also add to or take from ``bytes``.
    """

    __slots__ = ("_mask", "_shards", "bytes", "max_bytes", "max_value_bytes", "per_shard", "size_of")

    def __init__(self, capacity: int, max_bytes: int | None = None,
                 size_of: Callable[[V], int] = _no_size) -> None:
        count = shard_count(capacity)
        self._shards: list[OrderedDict[K, V]] = [OrderedDict() for _ in range(count)]
        self._mask = count - 1
        self.per_shard = max(1, -(-capacity // count))  # a shard past this drops its oldest (see ``add``)
        self.bytes = 0
        self.max_bytes = max_bytes if max_bytes is not None else _UNBOUNDED  # ints: a float compares slower
        self.max_value_bytes = self.max_bytes // count
        self.size_of = size_of

    def shard(self, key: K) -> OrderedDict[K, V]:
        return self._shards[hash(key) & self._mask]

    def get(self, key: K) -> V | None:
        return self._shards[hash(key) & self._mask].get(key)

    def __contains__(self, key: K) -> bool:
        return key in self._shards[hash(key) & self._mask]

    def add(self, key: K, value: V) -> int:
        """Set ``key`` (a new key goes last in its shard), dropping the shard's oldest while it is past either
        bound; returns how many it dropped. The caller checks the value against ``max_value_bytes`` first."""
        shard = self._shards[hash(key) & self._mask]
        size_of = self.size_of
        old = shard.pop(key, None)
        if old is not None:
            self.bytes -= size_of(old)
        shard[key] = value
        self.bytes += size_of(value)
        dropped = 0
        while self.past_bounds(shard):
            self.bytes -= size_of(shard.popitem(last=False)[1])
            dropped += 1
        return dropped

    def past_bounds(self, shard: OrderedDict[K, V]) -> bool:
        """Whether ``shard``, just added to, must drop its oldest: past its entry count, or the map past its
        bytes while the shard holds more than the newest value."""
        return len(shard) > self.per_shard or (self.bytes > self.max_bytes and len(shard) > 1)

    def full(self, shard: OrderedDict[K, V]) -> bool:
        """Whether adding a new key to ``shard`` would drop one: it holds its share, or the map its bytes."""
        return len(shard) >= self.per_shard or self.bytes >= self.max_bytes

    def pop(self, key: K) -> V | None:
        shard = self._shards[hash(key) & self._mask]
        value = shard.pop(key, None)
        if value is not None:
            self.bytes -= self.size_of(value)
        return value

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
        self.bytes = 0
