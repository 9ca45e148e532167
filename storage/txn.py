"""Small all-or-nothing transactions over documents and prefixes (``HandleStore.transact``).

Tenant administration changes several keys at once (the tenant document, its credential, the prefix
registry). Standalone Redis runs them as optimistic transactions: WATCH the keys, read them, let the caller
decide the writes from what it read, then MULTI/EXEC the writes together with their change-stream entries and
invalidations. A concurrent change to a watched key aborts EXEC and the whole round is retried, so a check
("prefix is free") and the write it guards cannot be separated; a Redis failure before EXEC leaves nothing.

A cluster cannot WATCH keys of several slots in one transaction; there the writes are applied one by one in
the order given (documented gap: not atomic on a cluster).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.exceptions import WatchError

from storage import keys, records
from storage.api import (
    DocDelete,
    DocPut,
    InvalidationKind,
    PrefixPut,
    PrefixRecord,
    PrefixStatus,
    StorageError,
    TransactionConflict,
    TxnDecide,
    TxnOp,
    TxnView,
)

MAX_ATTEMPTS = 16  # ours: only another admin call can make one lose; 16 losses in a row is a storm


async def run_transaction(
    client: Any,
    docs: Sequence[tuple[str, str]],
    prefixes: Sequence[str],
    decide: TxnDecide,
    *,
    actor: str,
) -> list[TxnOp]:
    """Watch, read, ``decide``, commit; retried on a concurrent change. Returns the ops that committed.

    ``decide`` may raise to abort (nothing is written); its exception propagates unchanged.
    """
    watched = [keys.doc_key(kind, key) for kind, key in docs] + ([keys.PREFIXES] if prefixes else [])
    async with client.pipeline(transaction=True) as pipe:
        for _attempt in range(MAX_ATTEMPTS):
            try:
                if watched:
                    await pipe.watch(*watched)
                view = await _read(pipe, docs, prefixes)
                ops = list(decide(view))
                pipe.multi()
                for op in ops:
                    _queue(pipe, op, actor)
                await pipe.execute()
                return ops
            except WatchError:
                await pipe.reset()
    raise TransactionConflict(f"gave up after {MAX_ATTEMPTS} concurrent changes to {', '.join(watched)}")


async def _read(pipe: Any, docs: Sequence[tuple[str, str]], prefixes: Sequence[str]) -> TxnView:
    """Immediate-mode reads on the watching connection."""
    found_docs: dict[tuple[str, str], dict[str, Any] | None] = {}
    for kind, key in docs:
        raw = await pipe.get(keys.doc_key(kind, key))
        found_docs[(kind, key)] = None if raw is None else _doc(raw)
    found_prefixes: dict[str, PrefixRecord | None] = {}
    for prefix in prefixes:
        raw = await pipe.hget(keys.PREFIXES, prefix)
        found_prefixes[prefix] = None if raw is None else prefix_from(prefix, raw)
    return TxnView(found_docs, found_prefixes)


def _queue(pipe: Any, op: TxnOp, actor: str) -> None:
    """Queue one write plus its stream entry and invalidation (committed together by EXEC)."""
    if isinstance(op, DocPut):
        pipe.set(keys.doc_key(op.kind, op.key), records.pack_doc(op.doc), ex=op.ttl_s or None)
        pipe.sadd(keys.doc_index(op.kind), op.key)
        _feed(pipe, InvalidationKind.HANDLE, f"{op.kind}/{op.key}", actor, "doc-put")
    elif isinstance(op, DocDelete):
        pipe.delete(keys.doc_key(op.kind, op.key))
        pipe.srem(keys.doc_index(op.kind), op.key)
        _feed(pipe, InvalidationKind.HANDLE, f"{op.kind}/{op.key}", actor, "doc-delete")
    elif isinstance(op, PrefixPut):
        pipe.hset(keys.PREFIXES, op.record.prefix, pack_prefix(op.record))
        _feed(pipe, InvalidationKind.PREFIX, op.record.prefix, actor, op.record.status.value)
    else:
        pipe.hdel(keys.PREFIXES, op.prefix)
        _feed(pipe, InvalidationKind.PREFIX, op.prefix, actor, "unhome")


def _feed(pipe: Any, kind: InvalidationKind, target: str, actor: str, operation: str) -> None:
    fields = {"actor": actor, "op": operation, "target": target, "result": "ok"}
    pipe.xadd(keys.CHANGES, fields, maxlen=keys.CHANGES_MAXLEN, approximate=True)
    pipe.publish(keys.INVALIDATIONS, keys.invalidation_message(kind.value, target))


def pack_prefix(record: PrefixRecord) -> bytes:
    return records.pack_doc([record.status.value, record.tenant, records.encode_record(record.values)])


def prefix_from(prefix: str, raw: bytes) -> PrefixRecord:
    status, tenant, record = records.unpack_doc(raw)
    try:
        values = records.decode_record(record)
    except records.RecordFormatError as exc:
        raise StorageError(str(exc)) from exc
    return PrefixRecord(prefix=prefix, status=PrefixStatus(status), tenant=tenant, values=values)


def _doc(raw: bytes) -> dict[str, Any]:
    doc = records.unpack_doc(raw)
    if not isinstance(doc, dict):
        raise StorageError("stored document is not a map")
    return doc
