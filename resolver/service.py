"""Resolution decisions (handle-protocol.md §9, §8.6, §13), no sockets: one answer for every transport.

``Resolver.answer_now`` answers from the prefix registry and the cache without I/O (the hot path never
awaits); ``Resolver.resolve`` adds the storage read for a miss. Values without PUBLIC_READ never leave the
node: there is no authentication on resolution, so every answer is public-only whatever PO says (§9).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final, NamedTuple

from protocol.constants import Permission, ResponseCode
from protocol.filtering import public_only, select_values
from protocol.handle import Identifier, prefix_handle
from resolver.cache import CacheEntry, ResolutionCache
from resolver.loader import Outcome, RecordLoader
from resolver.logs import LogThrottle
from resolver.registry import PrefixRegistry
from storage.api import HandleStore, PrefixRecord, PrefixStatus, Record, StorageError, StorageUnavailable
from storage.records import RecordFormatError, StoredRecord

RC: Final = ResponseCode
log: Final = logging.getLogger(__name__)
_UNAVAILABLE_LOG: Final = LogThrottle()  # ops work: an outage logs one line per interval per worker, and why
_DAMAGED_LOG: Final = LogThrottle()  # a damaged record asked for in a loop must not flood the log either
# Location types a prefix referral carries (TI core/Common.java LOCATION_TYPES, handle-protocol.md §8.6, §13).
LOCATION_TYPES: Final = frozenset(
    ("HS_SITE", "HS_SITE.6", "HS_SITE.PREFIX", "HS_NA_DELEGATE", "HS_SERV", "HS_SERV.PREFIX")
)

# http-apis.md §1.5, the reference server's mapping (HSJ statusCodeFromResponse); RC 200 is 200 for a
# resolution only. Anything not listed is 500.
HTTP_STATUS: Final[dict[int, int]] = {
    1: 200, 2: 500, 3: 503, 4: 400, 5: 501, 7: 503,
    100: 404, 101: 409, 102: 400, 200: 200, 201: 409, 202: 400, 301: 400, 302: 300, 303: 300,
    400: 403, 401: 403, 402: 401, 403: 403, 404: 403,
}


def http_status(code: int, *, resolution: bool = True) -> int:
    """The HTTP status for a Handle response code (one table for the whole node)."""
    if code == RC.VALUES_NOT_FOUND and not resolution:
        return 400
    return HTTP_STATUS.get(code, 500)


class Resolution(NamedTuple):
    """The answer to one resolution. ``entry`` tells how long it stays true (for pre-encoded copies).

    ``values`` are the values answered; ``wire``, when not None, is their encoded form already (the usual
    unfiltered answer from a ``StoredRecord``: a Handle transport splices it, and ``values`` are decoded only
    if something reads them, as the HTTP JSON does). A NamedTuple rather than a frozen dataclass: one is
    built for every answer that is not a hot hit, and a frozen dataclass's ``__init__`` (one
    ``object.__setattr__`` per field) cost ~1.5 us of a cold request.
    """

    code: ResponseCode
    entry: CacheEntry
    chosen: Record | StoredRecord = ()  # a StoredRecord: its public values, whose wire form is ``wire``
    message: str = ""
    referral_handle: str = ""
    wire: bytes | None = None  # ``protocol.values.encode_values(values)`` when known without encoding

    @property
    def values(self) -> Record:
        chosen = self.chosen
        return chosen if isinstance(chosen, tuple) else _filtered(chosen.values, (), ())


def _filtered(values: Record, indexes: Sequence[int], types: Sequence[str]) -> Record:
    selected = select_values(values, indexes, types) if indexes or types else values
    # protocol.filtering.public_only, but the PUBLIC_READ test is a dict lookup: Flag.__and__ costs ~0.7 us
    # a value, a cold-cache miss answers ~6 values, and every miss is filtered once.
    public = _PUBLIC
    for value in selected:  # a plain loop: all() over a generator costs ~1 us more per answer
        if not public.get(value.permissions):
            return public_only(selected)
    return selected


# Permission members (one byte, §11) -> whether PUBLIC_READ is set; a raw int misses and takes public_only.
_PUBLIC: Final[dict[Permission, bool]] = {
    member: bool(member & Permission.PUBLIC_READ) for member in map(Permission, range(256))
}


def _referral_values(record: PrefixRecord) -> Record:
    return tuple(v for v in public_only(record.values) if v.type.upper() in LOCATION_TYPES)


def _log_unavailable(exc: StorageUnavailable) -> None:
    _UNAVAILABLE_LOG.emit(log, logging.WARNING, "storage read failed: %s", exc, exc_info=exc)


def _log_damaged(key: str, exc: StorageError) -> None:
    _DAMAGED_LOG.emit(log, logging.ERROR, "stored record of %s cannot be read: %s", key, exc)


def checked(record: StoredRecord) -> StoredRecord | StorageError:
    """``record``, or the ``StorageError`` of its damaged value: ``read_record`` reads only the outer array,
    so a damaged value shows when the record's facts are first asked for (``StoredRecord.check``)."""
    try:
        record.check()
    except RecordFormatError as exc:
        return StorageError(str(exc))
    return record


# Serve-stale's failure recheck (RFC 8767 §5): for this long after a read failed, a miss with a stale entry is
# answered from it at once instead of waiting for another read to fail (redis-py's retries: ~0.35 s each).
STALE_RECHECK_S: Final = 5.0


class Resolver:
    """Answers resolutions for one worker from its registry, cache and store."""

    __slots__ = ("cache", "loader", "registry", "store", "unreadable_until")

    def __init__(
        self, store: HandleStore, cache: ResolutionCache, registry: PrefixRegistry, *,
        read_window_s: float = 0.0,
    ) -> None:
        self.store = store
        self.cache = cache
        self.registry = registry
        self.loader = RecordLoader(store, window_s=read_window_s)
        self.unreadable_until = 0.0  # a read failed (StorageUnavailable): until then, stale answers first

    def answer_now(
        self, ident: Identifier, indexes: Sequence[int], types: Sequence[str], now: float, *,
        referrals: bool = True,
    ) -> Resolution | None:
        """The answer if it needs no storage read, else None (then call ``resolve``)."""
        if ident.is_prefix_handle:
            return self._prefix_answer(ident, indexes, types, now, referrals)
        # §9 step 3: the identifier's own prefix must be homed here for a direct answer. A delegated prefix
        # (its own or the nearest known ancestor's) is referred (§8.6, §13 step 3); a prefix merely derived
        # from one we home is not ours to answer (RC 301), so no record can be read or written under it.
        route = self.registry.route(ident.naming_prefix)
        if route is None:
            return self._not_here(ident, now)
        if route.status is PrefixStatus.DELEGATED:
            return self._referral(route, now) if referrals else self._declined(route, now)
        if route.prefix != ident.naming_prefix:
            return self._not_here(ident, now)
        entry = self.cache.get(ident.key, now)
        if entry is None:
            if now < self.unreadable_until:  # storage failed just now: a stale entry answers without a read
                entry = self.cache.stale(ident.key, now)
            if entry is None:
                return None
        return self._record_answer(entry, indexes, types)

    async def resolve(
        self, ident: Identifier, indexes: Sequence[int], types: Sequence[str], now: float, *,
        referrals: bool = True,
    ) -> Resolution:
        """The answer, reading storage on a cache miss (one read per handle however many ask at once)."""
        answer = self.answer_now(ident, indexes, types, now, referrals=referrals)
        if answer is not None:
            return answer
        generation = self.cache.generation
        outcome: Outcome
        try:
            outcome = await self.loader.load(ident.key)
        except StorageError as exc:  # unavailable, or this record cannot be read: settle answers both
            outcome = exc
        return self.settle(ident.key, outcome, generation, now, indexes, types)

    def settle(
        self, key: str, outcome: Outcome, generation: int, now: float, indexes: Sequence[int],
        types: Sequence[str],
    ) -> Resolution:
        """The answer once the read of ``key``, begun at cache ``generation``, returned ``outcome`` (the
        second half of ``resolve``, for requesters the read calls back instead of awaiting it)."""
        if type(outcome) is StoredRecord:
            outcome = checked(outcome)
        if isinstance(outcome, Exception):  # one test on the usual path, a record or None
            if isinstance(outcome, StorageUnavailable):
                _log_unavailable(outcome)
                self.unreadable_until = now + STALE_RECHECK_S
                stale = self.cache.stale(key, now)  # serve-stale (resolver/cache.py, RFC 8767)
                if stale is not None:
                    return self._record_answer(stale, indexes, types)
                message = f"storage unavailable: {outcome}"
                return Resolution(RC.ERROR, CacheEntry("", None, 0.0), message=message)
            if isinstance(outcome, StorageError):  # its stored record cannot be read: RC 2, nothing cached
                _log_damaged(key, outcome)
                return Resolution(RC.ERROR, CacheEntry("", None, 0.0), message="stored record cannot be read")
            raise outcome  # a bug: the transport logs it (STYLE #10)
        if generation == self.cache.generation:
            entry = self.cache.put(key, outcome, now)
        else:  # a write landed while we read: answer, but do not keep what may be stale
            entry = CacheEntry(key, outcome, 0.0)
        return self._record_answer(entry, indexes, types)

    def _record_answer(self, entry: CacheEntry, indexes: Sequence[int], types: Sequence[str]) -> Resolution:
        record = entry.record
        if record is None:
            return Resolution(RC.HANDLE_NOT_FOUND, entry, message="Handle not found")
        wire = record.wire
        if wire is not None and not indexes and not types:  # the usual request: public values as stored
            if record.public_count:
                return Resolution(RC.SUCCESS, entry, record, "", "", wire)
            return Resolution(RC.VALUES_NOT_FOUND, entry, message="Values not found")
        values = _filtered(record.values, indexes, types)
        if not values:
            return Resolution(RC.VALUES_NOT_FOUND, entry, message="Values not found")
        return Resolution(RC.SUCCESS, entry, values)

    def _prefix_answer(
        self, ident: Identifier, indexes: Sequence[int], types: Sequence[str], now: float, referrals: bool
    ) -> Resolution:
        """``0.NA/<prefix>`` (or a slashless identifier) from the registry (§9 step 1, §8.6)."""
        entry = self.cache.registry_entry(now)
        record = self.registry.get(ident.naming_prefix)
        if record is not None:
            if not record.values:
                return Resolution(RC.HANDLE_NOT_FOUND, entry, message="Prefix handle has no values")
            answer = self._record_answer(CacheEntry("", record.values, 0.0), indexes, types)
            return answer._replace(entry=entry)
        route = self.registry.route(ident.naming_prefix)
        if route is None:
            return self._not_here(ident, now)
        if route.status is PrefixStatus.DELEGATED:
            if not referrals:
                return self._declined(route, now)
            return self._referral(route, now, handle="")  # §8.6: derived prefix handle, empty referral handle
        return self._not_here(ident, now)  # derived from a homed prefix but not itself known: not homed here

    def _referral(self, route: PrefixRecord, now: float, handle: str | None = None) -> Resolution:
        referral = prefix_handle(route.prefix) if handle is None else handle
        entry = self.cache.registry_entry(now)
        return Resolution(RC.PREFIX_REFERRAL, entry, _referral_values(route), referral_handle=referral)

    def _declined(self, route: PrefixRecord, now: float) -> Resolution:
        """A referral the request cannot take: DNRF set, or a peer below 2.5, which reads RC 303 as "server
        backup" (§6, §16.3; CAICT clients send 2.3). RC 301 says "ask elsewhere" in every version."""
        message = f"Prefix {route.prefix} is delegated elsewhere; no referral sent (DNRF or version < 2.5)"
        return Resolution(RC.SERVER_NOT_RESP, self.cache.registry_entry(now), message=message)

    def _not_here(self, ident: Identifier, now: float) -> Resolution:
        message = f"Prefix not homed here: {ident.naming_prefix}"
        return Resolution(RC.SERVER_NOT_RESP, self.cache.registry_entry(now), message=message)
