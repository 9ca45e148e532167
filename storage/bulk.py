"""The bulk write path (import, ``loadtest seed``): overwrites in batches, with change-stream entries naming
every handle (one entry per ``scripts.BULK_CHUNK`` of them) and one invalidation message per batch. On
standalone Redis a batch is one script call, so the batch and its feed entries commit together; on a cluster
it is a pipeline of HSETs (a script cannot span slots), each identifier written whole, then the feed entries
and the invalidation.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from typing import Any, TypeVar

from protocol.values import HandleValue
from storage import keys, records, scripts
from storage.client import unavailable_on_error
from storage.cluster import RedisCluster
from storage.redis_store import RedisStore

Item = tuple[str, Sequence[HandleValue]]
Encoded = tuple[str, bytes]  # (handle, storage.records bytes)
DEFAULT_BATCH = 1000
T = TypeVar("T")


async def bulk_put(
    store: RedisStore,
    items: AsyncIterable[Item] | Iterable[Item],
    *,
    actor: str = "bulk",
    batch: int = DEFAULT_BATCH,
) -> int:
    """Overwrite every (handle, values) of ``items``; returns how many were written."""
    return await put_encoded(store, _encoded(items), actor=actor, batch=batch)


async def put_encoded(
    store: RedisStore,
    items: AsyncIterable[Encoded] | Iterable[Encoded],
    *,
    actor: str = "bulk",
    batch: int = DEFAULT_BATCH,
) -> int:
    """Overwrite every (handle, ``storage.records`` bytes) of ``items``; returns how many were written.

    One batch is written while the next is encoded: Redis executes on its own core meanwhile.
    """
    written, pending = 0, list[Encoded]()
    inflight: asyncio.Task[int] | None = None
    try:
        async for item in _aiter(items):
            pending.append(item)
            if len(pending) >= batch:
                written += await _settle(inflight)
                inflight = asyncio.ensure_future(write_encoded(store, pending, actor=actor))
                await asyncio.sleep(0)  # let the write go out on the socket before encoding on
                pending = []
        written += await _settle(inflight)
        inflight = None
        return written + await write_encoded(store, pending, actor=actor)
    finally:
        if inflight is not None and not inflight.done():
            inflight.cancel()


async def _encoded(items: AsyncIterable[Item] | Iterable[Item]) -> AsyncIterator[Encoded]:
    async for handle, values in _aiter(items):
        yield handle, records.encode_record(values)


async def _settle(task: asyncio.Task[int] | None) -> int:
    return 0 if task is None else await task


async def write_batch(store: RedisStore, items: Sequence[Item], *, actor: str) -> int:
    encoded = [(handle, records.encode_record(values)) for handle, values in items]
    return await write_encoded(store, encoded, actor=actor)


async def write_encoded(store: RedisStore, items: Sequence[Encoded], *, actor: str) -> int:
    """Write (handle, encoded record) pairs: the path parallel importers use after encoding elsewhere."""
    if not items:
        return 0
    detail = {"count": len(items), "first": items[0][0], "last": items[-1][0]}
    with unavailable_on_error():
        if isinstance(store.client, RedisCluster):
            await _write_pipelined(store, items, actor)
        else:
            await _write_scripted(store, items, actor, detail)
    return len(items)


async def _write_scripted(
    store: RedisStore, items: Sequence[Encoded], actor: str, detail: dict[str, Any]
) -> None:
    """Standalone: one script call per batch (far fewer commands than a pipeline of HSETs)."""
    bucket_keys: list[str] = []
    args: list[bytes | str | int] = []
    for handle, record in items:
        bucket_keys.append(keys.record_key(handle, store.buckets))
        args += [keys.record_field(handle), record]
    bucket_keys.append(keys.CHANGES)
    message = keys.batch_invalidation_message([h for h, _ in items])
    args += [
        actor,
        json.dumps(detail, separators=(",", ":")),
        keys.CHANGES_MAXLEN,
        keys.INVALIDATIONS,
        message,
    ]
    await store.bulk_script(keys=bucket_keys, args=args)


async def _write_pipelined(store: RedisStore, items: Sequence[Encoded], actor: str) -> None:
    """Cluster: one script cannot span slots: a pipeline of HSETs, then the feed entries and one PUBLISH."""
    pipe = store.client.pipeline(transaction=False)
    for handle, record in items:
        pipe.hset(keys.record_key(handle, store.buckets), keys.record_field(handle), record)
    for entry in _entries(actor, [h for h, _ in items]):
        pipe.xadd(keys.CHANGES, entry, maxlen=keys.CHANGES_MAXLEN, approximate=True)
    await pipe.execute()
    await store.client.publish(keys.INVALIDATIONS, keys.batch_invalidation_message([h for h, _ in items]))


def _entries(actor: str, handles: Sequence[str]) -> list[dict[str, str]]:
    """The feed entries of a batch, as ``scripts.BULK_PUT`` makes them: one per ``BULK_CHUNK`` identifiers,
    naming each of them in ``handles``."""
    entries = []
    for start in range(0, len(handles), scripts.BULK_CHUNK):
        chunk = handles[start : start + scripts.BULK_CHUNK]
        detail = {"count": len(chunk), "first": chunk[0], "last": chunk[-1]}
        text = json.dumps(detail, separators=(",", ":"))
        entry = {"actor": actor, "op": "bulk-overwrite", "target": chunk[0], "result": "ok", "detail": text}
        entries.append({**entry, "handles": "\n".join(chunk)})
    return entries


async def _aiter(items: AsyncIterable[T] | Iterable[T]) -> AsyncIterator[T]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item
