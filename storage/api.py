"""The storage contract: what the rest of the node may ask of ``storage`` and what it gets back.

Everything outside ``storage/`` talks to Redis only through ``HandleStore``. Handles passed in are the
canonical lookup keys made by ``protocol.handle`` (ASCII upper-cased in the prefix, suffix untouched); the
store never re-normalises them. Every Redis failure leaves this package as ``StorageUnavailable``.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from protocol.values import HandleValue
from storage.records import StoredRecord

Record = tuple[HandleValue, ...]


class StorageError(Exception):
    """Root of every error ``storage`` raises."""


class StorageUnavailable(StorageError):
    """Redis could not be reached or did not answer in time, after bounded retries."""


class HandleAlreadyExists(StorageError):
    """create() of a handle that exists."""


class HandleNotFound(StorageError):
    """A change to a handle that does not exist."""


class ValueAlreadyExists(StorageError):
    """add_values() of an index the handle already has (without overwrite)."""

    def __init__(self, indexes: Sequence[int]) -> None:
        super().__init__(f"value index already exists: {', '.join(map(str, indexes))}")
        self.indexes = tuple(indexes)


class ValueNotFound(StorageError):
    """modify_values() or remove_values() of an index the handle does not have."""

    def __init__(self, indexes: Sequence[int]) -> None:
        super().__init__(f"no value at index: {', '.join(map(str, indexes))}")
        self.indexes = tuple(indexes)


class PrefixStatus(enum.StrEnum):
    HOMED = "homed"  # this node answers for identifiers under it
    DELEGATED = "delegated"  # an enterprise node does; we answer RC 303 with its HS_SITE / HS_SERV values


@dataclass(frozen=True, slots=True)
class PrefixRecord:
    """A prefix this node knows. ``values`` are the values of its prefix handle ``0.NA/<prefix>``."""

    prefix: str  # canonical form, e.g. "88.100.1"
    status: PrefixStatus
    tenant: str | None = None
    values: Record = ()


class InvalidationKind(enum.StrEnum):
    HANDLE = "handle"  # key = a canonical handle
    PREFIX = "prefix"  # key = a canonical prefix
    ALL = "all"  # the feed was interrupted: drop every cached entry (key = "")


@dataclass(frozen=True, slots=True)
class Invalidation:
    kind: InvalidationKind
    key: str
    at_ms: int = 0  # commit time of the write (Redis stream id time), 0 when unknown; for change-feed lag


@dataclass(frozen=True, slots=True)
class ChangeEntry:
    """One committed write, as kept in the capped change stream (audit log, upstream sync)."""

    id: str  # the stream entry id
    at_ms: int
    actor: str
    operation: str  # create, overwrite, add, modify, remove, delete, home, unhome, delegate, doc-put, ...
    target: str  # handle, prefix or document key
    result: str = "ok"  # anything else: a refused or failed write that changed nothing (append_audit)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A write that changed nothing (refused or failed), kept in the change stream for the audit trail.

    ``result`` is never "ok": consumers that replay writes (upstream sync) skip entries whose result is not
    "ok", and no invalidation is published for them, so caches never react to one.
    """

    actor: str
    operation: str
    target: str
    result: str
    detail: dict[str, Any] = field(default_factory=dict)


class TransactionConflict(StorageError):
    """A transaction kept losing to concurrent changes of the keys it read (``HandleStore.transact``)."""


@dataclass(frozen=True, slots=True)
class DocPut:
    kind: str
    key: str
    doc: dict[str, Any]
    ttl_s: int | None = None


@dataclass(frozen=True, slots=True)
class DocDelete:
    kind: str
    key: str


@dataclass(frozen=True, slots=True)
class PrefixPut:
    record: PrefixRecord


@dataclass(frozen=True, slots=True)
class PrefixRemove:
    prefix: str


TxnOp = DocPut | DocDelete | PrefixPut | PrefixRemove


@dataclass(frozen=True, slots=True)
class TxnView:
    """What a transaction read: each requested document and prefix (None when absent)."""

    docs: dict[tuple[str, str], dict[str, Any] | None]
    prefixes: dict[str, PrefixRecord | None]


TxnDecide = Callable[[TxnView], Sequence[TxnOp]]


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """How to reach Redis. ``redis_url`` None means the embedded redis-server in ``data_dir``."""

    redis_url: str | None = None
    data_dir: Path = Path("var")
    max_connections: int = 32
    socket_timeout_s: float = 2.0
    retries: int = 3
    retry_backoff_s: float = 0.05
    # Record buckets for a fresh database (recorded in Redis; later openers use the recorded value).
    # About expected identifiers / 60 keeps buckets compact; see storage.keys.
    record_buckets: int = 16_384


class StorageObserver(Protocol):
    """Told about every Redis round trip, so the node can measure storage without ``storage`` knowing metrics.

    ``op`` is one of "read", "write", "ping", "feed"; ``keys`` how many keys one pipeline carried (a batched
    read of 12 handles is one call with keys=12); ``ok`` False when it failed. Called on the event loop; it
    must be cheap and must not raise (``resolver.metrics.WorkerStats.on_roundtrip`` implements it).
    """

    def on_roundtrip(self, op: str, keys: int, seconds: float, ok: bool) -> None: ...


# What ``HandleStore.read_many_soon`` hands its callback: the records in order (None: no such handle), or the
# error the read failed with (``StorageUnavailable`` normally).
ReadDone = Callable[[list[Record | None] | StorageError], None]
# What ``HandleStore.read_records_soon`` hands its callback: the same, each record as a ``StoredRecord``,
# except that a record this code cannot read is a ``StorageError`` at its own position: its requesters
# alone fail, not the others read with it.
StoredOutcome = StoredRecord | None | StorageError
StoredDone = Callable[[list[StoredOutcome] | StorageError], None]


class HandleStore(Protocol):
    """The operations the node needs. Implemented by ``storage.redis_store.RedisStore``."""

    # --- reads -------------------------------------------------------------------------------
    async def get(self, handle: str) -> Record | None: ...

    async def get_many(self, handles: Sequence[str]) -> list[Record | None]:
        """One round trip for all of them; concurrent callers asking for one handle share one read."""
        ...

    async def read_many(self, handles: Sequence[str]) -> list[Record | None]:
        """``get_many`` for a caller that batches and de-duplicates its own reads (the resolver's loader): one
        read of exactly these handles, started now, shared with no one."""
        ...

    def read_many_soon(self, handles: Sequence[str], done: ReadDone) -> None:
        """``read_many`` without a coroutine: ``done`` gets the records or the error, exactly once and always
        later (never inside this call). The resolver's loader calls it once per batch of misses (issue 4)."""
        ...

    def read_records_soon(self, handles: Sequence[str], done: StoredDone) -> None:
        """``read_many_soon`` for the resolution path: each record as a ``storage.records.StoredRecord`` (its
        public values already in wire form, decoded further only on demand), a damaged one as the
        ``StorageError`` it gives at its own position. The loader calls this."""
        ...

    async def list_handles(self, prefix: str, page: int, page_size: int) -> list[str]: ...

    async def count_handles(self, prefix: str) -> int: ...

    # --- writes: all or nothing, never a lost update -------------------------------------------
    async def create(self, handle: str, values: Sequence[HandleValue], *, actor: str) -> None: ...

    async def overwrite(self, handle: str, values: Sequence[HandleValue], *, actor: str) -> bool:
        """Replace the whole record; True when the handle did not exist before."""
        ...

    async def add_values(
        self, handle: str, values: Sequence[HandleValue], *, actor: str, replace: bool = False
    ) -> None: ...

    async def modify_values(self, handle: str, values: Sequence[HandleValue], *, actor: str) -> None: ...

    async def remove_values(self, handle: str, indexes: Sequence[int], *, actor: str) -> None: ...

    async def delete(self, handle: str, *, actor: str) -> None: ...

    # --- prefixes ----------------------------------------------------------------------------
    async def get_prefix(self, prefix: str) -> PrefixRecord | None: ...

    async def list_prefixes(self) -> list[PrefixRecord]: ...

    async def put_prefix(self, record: PrefixRecord, *, actor: str) -> None: ...

    async def remove_prefix(self, prefix: str, *, actor: str) -> bool: ...

    # --- documents: tenants, credentials, tokens, templates (layout owned by storage) -----------
    async def get_doc(self, kind: str, key: str) -> dict[str, Any] | None: ...

    async def put_doc(
        self, kind: str, key: str, doc: dict[str, Any], *, actor: str, ttl_s: int | None = None
    ) -> None: ...

    async def delete_doc(self, kind: str, key: str, *, actor: str) -> bool: ...

    async def list_docs(self, kind: str) -> list[tuple[str, dict[str, Any]]]: ...

    # --- transactions: several documents and prefixes, all or nothing ------------------------------
    async def transact(
        self,
        docs: Sequence[tuple[str, str]],
        prefixes: Sequence[str],
        decide: TxnDecide,
        *,
        actor: str,
    ) -> None:
        """Read the ``(kind, key)`` documents and the prefixes, call ``decide(view)`` for the writes, and
        commit them (with their change entries) only if nothing read changed meanwhile, else read again.
        ``decide`` is called once per attempt, must be pure, and may raise to abort with nothing written.
        Raises ``TransactionConflict`` after repeated losses, ``StorageUnavailable`` if Redis fails.
        """
        ...

    # --- change feed ---------------------------------------------------------------------------
    def invalidations(self) -> AsyncIterator[Invalidation]:
        """Every committed write on any worker or node, within 100 ms; ALL after a reconnect."""
        ...

    async def read_changes(self, after_id: str = "0", count: int = 100) -> list[ChangeEntry]: ...

    async def append_audit(self, entry: AuditEntry) -> None:
        """Add a refused or failed write to the change stream (``entry.result`` != "ok"); no invalidation."""
        ...

    async def ping(self) -> None: ...

    async def aclose(self) -> None: ...
