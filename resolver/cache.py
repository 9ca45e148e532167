"""The per-worker resolution cache: records by canonical handle, plus pre-encoded hot responses.

Two maps. ``entries`` keeps what storage said about a handle (its values, or "does not exist") for a TTL
taken from the record, LRU-bounded. ``hot`` maps the exact bytes that identify a request (the Handle request
minus its RequestId/SessionId, or an HTTP path and format) to the finished response, so a repeated request is
answered by one dict lookup and a byte patch. A hot response points at the entry it was built from; dropping
or expiring the entry makes every hot response built from it stale at once. Time is always a parameter.

Both maps are bounded by count and by bytes (``max_bytes``, half for each): every entry and answer is charged
an estimate of the memory it holds (``CacheEntry.size``, ``answer_size``), so a worker's memory stays near its
budget whatever the records' sizes. By count alone, 200,000 records of a few hundred kilobytes each (a value
may hold 64 KiB) would have taken tens of gigabytes per worker. A record or answer charged more than a shard's
share of its map's budget is served but not kept.

Admission (``put``): a full shard of ``entries`` keeps a new handle on its second miss within the window of
a doorkeeper (protocol/doorkeeper.py), as TinyLFU caches do. A handle asked for once (most of cold traffic, or
a crawler's sweep) is answered from its read without an insertion, an eviction or a kept answer, and the
handles being asked for stay. Expired entries count as room taken: serve-stale answers from them.

Serve-stale (RFC 8767, as DNS resolvers do it): an entry that expired stays in its map until the LRU drops
it, a write invalidates it or a read replaces it, so when storage cannot be read (``StorageUnavailable``) an
identifier asked for within ``max_stale_s`` of its entry's expiry is still answered, from what was last read
(``stale``). A Redis outage then costs the node its misses, not every identifier whose few minutes of TTL ran
out. Answers made from a stale entry are never kept: the next request tries storage again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from protocol.constants import TTLType
from protocol.doorkeeper import Doorkeeper
from resolver.lru import ShardedLRU
from storage.api import Record
from storage.records import NO_RELATIVE_TTL, StoredRecord

# The memory estimates, within a few per cent of tracemalloc's count for records of 200 B and 20 KB
# (tests/resolver/test_cache_bytes.py): an entry, its key and its map slot; a record adds its objects, its
# stored bytes and its wire form (about as long); an answer adds its payload and key to its own objects and
# map slot. Records made from decoded values (the prefix registry's, a few) have no stored length and are
# charged as entries only. No entry owns a share of the value memo tables (storage.records): they keep only
# values seen twice, which records share.
ENTRY_BYTES: Final = 256
RECORD_BYTES: Final = 128
ANSWER_BYTES: Final = 256


def answer_size(key: bytes | str, payload: bytes) -> int:
    return ANSWER_BYTES + len(key) + len(payload)


class CacheEntry:
    """What is known about one handle. ``record`` (``values``) None means "does not exist" (a negative entry).

    ``record`` is the ``StoredRecord`` the storage read made (values given as a tuple are wrapped in one), so
    the usual answer is its pre-encoded public values and ``values`` are decoded only when asked for.
    ``size`` is what it is charged against the cache's byte budget, fixed when it is made.
    """

    __slots__ = ("alive", "expires_at", "key", "record", "size")

    def __init__(self, key: str, values: StoredRecord | Record | None, expires_at: float) -> None:
        self.key = key
        record = self.record = StoredRecord.of_values(values) if isinstance(values, tuple) else values
        self.expires_at = expires_at
        self.alive = True
        size = ENTRY_BYTES + len(key)
        self.size = size if record is None else size + RECORD_BYTES + 2 * record.stored_length

    @property
    def values(self) -> Record | None:
        record = self.record
        return None if record is None else record.values

    def fresh(self, now: float) -> bool:
        return self.alive and now < self.expires_at


class HotResponse:
    """A finished response and the entry whose freshness it shares. Never changed once built.

    A plain slotted class, like ``CacheEntry``: one is stored per answer that is not a hot hit (a cold miss
    builds one), and a frozen dataclass's ``__init__`` costs three times as much; reading its fields, the
    warm path, costs the same (a NamedTuple's field getters are slower there).
    """

    __slots__ = ("code", "entry", "payload", "size", "status")

    def __init__(
        self, entry: CacheEntry, payload: bytes, status: int = 0, code: int = 0, size: int = 0
    ) -> None:
        self.entry = entry
        self.payload = payload
        self.status = status  # HTTP status for HTTP payloads; unused by the Handle transports
        self.code = code  # the Handle response code of an HTTP payload, for metrics
        self.size = size  # charged against the hot map's byte budget (``answer_size``)


@dataclass(slots=True)
class CacheStats:
    """Counters the metrics module reads (plain ints: no cost on the hot path beyond an add)."""

    hits: int = 0  # metrics: record found (cache hit)
    misses: int = 0  # metrics: record not cached (a storage read follows)
    negative_hits: int = 0  # metrics: "does not exist" found (a negative entry), not counted in ``hits``
    stale_hits: int = 0  # metrics: answered from an expired entry because storage could not be read
    hot_hits: int = 0  # metrics: answered from a pre-encoded response
    evictions: int = 0
    refused: int = 0  # metrics: reads not kept, their identifier's first miss in a full cache (admission)
    invalidations: int = 0


_RELATIVE: Final = TTLType.RELATIVE


def _size(item: CacheEntry | HotResponse) -> int:
    return item.size


def record_ttl_s(values: Record, max_ttl_s: float) -> float:
    """The smallest relative TTL of the record, capped; absolute-TTL values count as the cap (§11)."""
    ttl = max_ttl_s
    for value in values:
        if value.ttl < ttl and value.ttl_type == _RELATIVE:  # runs for every record a miss reads
            ttl = float(value.ttl)
    return max(ttl, 0.0)


def stored_ttl_s(smallest_s: int, max_ttl_s: float) -> float:
    """``record_ttl_s`` from a ``StoredRecord``'s smallest relative TTL (``NO_RELATIVE_TTL``: none)."""
    ttl = float(smallest_s) if smallest_s < max_ttl_s and smallest_s != NO_RELATIVE_TTL else max_ttl_s
    return max(ttl, 0.0)


class ResolutionCache:
    """Bounded LRU of ``CacheEntry`` plus the bounded ``hot`` response map."""

    __slots__ = (
        "_door", "_entries", "_max_hot", "_registry", "generation", "hot", "max_stale_s", "max_ttl_s",
        "negative_ttl_s", "stats",
    )

    def __init__(
        self, max_entries: int, max_ttl_s: float, negative_ttl_s: float, max_hot: int | None = None,
        max_bytes: int | None = None, max_stale_s: float = 0.0,
    ) -> None:
        # Both maps are sharded (resolver/lru.py): one 200k-entry dict stalled a worker 35-50 ms whenever it
        # rebuilt its table.
        half = None if max_bytes is None else max_bytes // 2
        self._entries: ShardedLRU[str, CacheEntry] = ShardedLRU(max_entries, half, _size)
        self._door = Doorkeeper(max_entries)  # admission once full: see ``put``
        self._max_hot = max_hot if max_hot is not None else 2 * max_entries
        self.max_ttl_s = max_ttl_s
        self.negative_ttl_s = negative_ttl_s
        self.max_stale_s = max_stale_s  # 0: an expired entry is never answered (see ``stale``)
        # Insertion-ordered: when a shard is full, its oldest answer goes (O(1)). A sweep of the whole map
        # was a stall of tens of milliseconds every max_hot misses under cold traffic.
        self.hot: ShardedLRU[bytes | str, HotResponse] = ShardedLRU(self._max_hot, half, _size)
        self.stats = CacheStats()
        self._registry = CacheEntry("", (), 0.0)
        self.generation = 0  # bumped by every invalidation: a read that straddles one is not kept

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def total_bytes(self) -> int:
        """What the entries and answers held are charged, in all (a metric: ``idnode_cache_bytes``)."""
        return self._entries.bytes + self.hot.bytes

    def get(self, key: str, now: float) -> CacheEntry | None:
        """The fresh entry for ``key``, or None. An expired one stays until a read replaces it (``put``) or
        the LRU drops it: ``stale`` may answer from it if that read fails."""
        shard = self._entries.shard(key)
        entry = shard.get(key)
        if entry is None or now >= entry.expires_at:  # an entry in the map is alive: dropping one removes it
            self.stats.misses += 1
            return None
        shard.move_to_end(key)
        if entry.record is None:  # not ``entry.values``: that decodes every value of the record
            self.stats.negative_hits += 1
        else:
            self.stats.hits += 1
        return entry

    def put(self, key: str, values: StoredRecord | Record | None, now: float) -> CacheEntry:
        """Remember ``values`` (None: does not exist) with the TTL the record allows."""
        if type(values) is StoredRecord and values.ttl_s is not None:  # every read's record (storage.records)
            ttl = stored_ttl_s(values.ttl_s, self.max_ttl_s)
        elif values is None:
            ttl = self.negative_ttl_s
        else:
            ttl = record_ttl_s(values.values if isinstance(values, StoredRecord) else values, self.max_ttl_s)
        # One shard lookup for the replace and the add (ShardedLRU.pop + add): this runs for every miss.
        entries = self._entries
        shard = entries.shard(key)
        old = shard.pop(key, None)
        if old is not None:
            entries.bytes -= old.size
            old.alive = False
        entry = CacheEntry(key, values, now + ttl)
        if ttl <= 0:
            return entry
        size = entry.size
        if size > entries.max_value_bytes:  # served, never kept: nor are answers made from it (store_hot)
            entry.alive = False
            return entry
        if old is None and entries.full(shard) and not self._door.seen_before(hash(key)):
            # Admission: a full shard keeps a new identifier on its second miss within the doorkeeper's
            # window. Its first costs no insertion and evicts nothing (nor do answers made from it), so a
            # sweep of identifiers asked for once (cold traffic, a crawler) leaves the asked-for ones cached.
            entry.alive = False
            self.stats.refused += 1
            return entry
        shard[key] = entry
        entries.bytes += size
        while entries.past_bounds(shard):
            evicted = shard.popitem(last=False)[1]
            entries.bytes -= evicted.size
            evicted.alive = False
            self.stats.evictions += 1
        return entry

    def stale(self, key: str, now: float) -> CacheEntry | None:
        """What to answer for ``key`` when storage cannot be read: its entry if fresh (a read by another path
        filled it meanwhile), else a copy of it if it expired less than ``max_stale_s`` ago, detached (not
        alive) so that no answer made from it is kept. None when there is nothing to answer from."""
        shard = self._entries.shard(key)
        entry = shard.get(key)
        if entry is None:
            return None
        if now < entry.expires_at:
            return entry
        if now - entry.expires_at >= self.max_stale_s:
            return None
        self.stats.stale_hits += 1
        stale = CacheEntry(key, entry.record, entry.expires_at)
        stale.alive = False
        return stale

    def registry_entry(self, now: float) -> CacheEntry:
        """The shared entry of answers made from the prefix registry alone; ``clear`` ends it."""
        entry = self._registry
        if not entry.fresh(now):
            entry = self._registry = CacheEntry("", (), now + self.max_ttl_s)
        return entry

    def lookup_hot(self, key: bytes | str, now: float) -> HotResponse | None:
        """The pre-encoded response for an identical earlier request, if still fresh. The hot path.

        A hit counts as a use of the answer and of its entry (both move to the young end of their shards):
        otherwise both maps would drop the most asked-for identifiers first under a sweep of cold ones,
        the hot map in insertion order and the entry map because hot hits never reach ``get``.
        """
        shard = self.hot.shard(key)
        hot = shard.get(key)
        if hot is None:
            return None
        entry = hot.entry
        if entry.alive and now < entry.expires_at:
            self.stats.hot_hits += 1
            shard.move_to_end(key)
            if entry.key:  # registry answers have no entry in the map
                self._entries.shard(entry.key).move_to_end(entry.key)
            return hot
        del shard[key]
        self.hot.bytes -= hot.size
        return None

    def store_hot(
        self, key: bytes | str, entry: CacheEntry, payload: bytes, status: int = 0, code: int = 0
    ) -> None:
        size = answer_size(key, payload)
        if entry.alive and size <= self.hot.max_value_bytes:
            self.hot.add(key, HotResponse(entry, payload, status, code, size))

    def invalidate(self, key: str) -> None:
        """A write to ``key`` happened somewhere: forget it (and every hot response built from it)."""
        self.stats.invalidations += 1
        self.generation += 1
        entry = self._entries.pop(key)
        if entry is not None:
            entry.alive = False

    def clear(self) -> None:
        """Forget everything (prefix registry change, or the change feed was interrupted)."""
        self.generation += 1
        for entry in self._entries.values():
            entry.alive = False
        self._entries.clear()
        self._registry.alive = False
        self.hot.clear()
