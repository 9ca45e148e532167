"""RedisStore: the ``HandleStore`` on Redis (standalone or cluster): batched reads, atomic writes by Lua
script, the change feed. Every Redis failure is translated here into ``StorageUnavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from protocol.values import HandleValue
from storage import keys, records, scripts
from storage.api import (
    AuditEntry,
    ChangeEntry,
    DocDelete,
    DocPut,
    HandleAlreadyExists,
    HandleNotFound,
    Invalidation,
    InvalidationKind,
    PrefixPut,
    PrefixRecord,
    PrefixStatus,
    ReadDone,
    Record,
    StorageConfig,
    StorageError,
    StorageObserver,
    StorageUnavailable,
    StoredDone,
    StoredOutcome,
    TxnDecide,
    TxnView,
    ValueAlreadyExists,
    ValueNotFound,
)
from storage.batcher import ReadBatcher
from storage.client import (
    REDIS_FAILURES,
    Client,
    pubsub_client,
    unavailable,
    unavailable_on_error,
)
from storage.cluster import RedisCluster
from storage.embedded import EmbeddedRedis
from storage.fastread import Done as FastDone
from storage.fastread import FastReader, RawValues, endpoint_of
from storage.feed import append_audit_entry, entry_from_stream, publish_change
from storage.records import StoredRecord
from storage.scan import PrefixScanner
from storage.txn import run_transaction

log = logging.getLogger(__name__)
_Outcome = scripts.Outcome
_KINDS = frozenset(k.value for k in InvalidationKind)


class RedisStore:
    """One per worker. ``owner`` is the embedded server this store started, stopped by ``aclose()``."""

    def __init__(
        self,
        client: Client,
        url: str,
        config: StorageConfig,
        buckets: int,
        owner: EmbeddedRedis | None = None,
        observer: StorageObserver | None = None,
    ) -> None:
        self._client: Any = client  # redis-py's reply types are unions of bytes/str/None; we know ours
        self._url = url
        self._config = config
        self.buckets = buckets
        self._owner = owner
        self._observer = observer
        self._batcher: ReadBatcher[Record | None] = ReadBatcher(self.read_many)
        self._change = client.register_script(scripts.CHANGE)
        self._put_doc = client.register_script(scripts.PUT_DOC)
        self._delete_doc = client.register_script(scripts.DELETE_DOC)
        self.bulk_script = client.register_script(scripts.BULK_PUT)  # used by storage.bulk
        # Standalone reads go out on storage.fastread's own connection; a cluster, TLS or anything it cannot
        # speak for, and every batch it cannot finish, take the redis-py pipeline (_pipelined).
        self._fast: FastReader | None = None
        self._slow_tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        if not isinstance(client, RedisCluster):
            pool = client.connection_pool
            endpoint = endpoint_of(pool.connection_class, pool.connection_kwargs)
            if endpoint is not None:
                self._fast = FastReader(
                    endpoint, config.socket_timeout_s, self._slow_read, backoff_s=config.retry_backoff_s
                )
        self._scanner = PrefixScanner(client, buckets)
        self._closed = asyncio.Event()
        # The cluster client fails instead of waiting when its per-node pool is full: bound writers here.
        self._writers = asyncio.Semaphore(config.max_connections)

    @property
    def url(self) -> str:
        return self._url

    @property
    def client(self) -> Any:
        """The raw client, for storage's own tools (bulk, bench); never used outside ``storage``."""
        return self._client

    @property
    def fast_reader(self) -> FastReader | None:
        """The standalone read link (None on a cluster or TLS), for storage's tools and tests."""
        return self._fast

    # --- reads ---------------------------------------------------------------------------------
    async def get(self, handle: str) -> Record | None:
        return await self._batcher.get(handle)

    async def get_many(self, handles: Sequence[str]) -> list[Record | None]:
        return await self._batcher.get_many(handles)

    async def read_many(self, handles: Sequence[str]) -> list[Record | None]:
        # No second coalescing layer under the loader's: the batcher's future, task and shield cost ~15 us
        # per batch, and a cold cache sends batches of a few keys (issue 4).
        waiter: asyncio.Future[list[Record | None]] = asyncio.get_running_loop().create_future()
        self.read_many_soon(handles, functools.partial(_settle, waiter))
        return await waiter

    def read_many_soon(self, handles: Sequence[str], done: ReadDone) -> None:
        self.read_records_soon(handles, functools.partial(_values_of, done))

    def read_records_soon(self, handles: Sequence[str], done: StoredDone) -> None:
        bucket_keys, fields = keys.record_locations(handles, self.buckets)
        if not fields:
            asyncio.get_running_loop().call_soon(done, [])
            return
        observer, started = self._observer, time.perf_counter()

        def finish(raws: RawValues | Exception) -> None:
            # One closure per batch carries the caller's done and the start time through either path.
            if observer is not None:
                ok = not isinstance(raws, Exception)
                observer.on_roundtrip("read", len(fields), time.perf_counter() - started, ok)
            done(_records(raws))

        if self._fast is not None:
            self._fast.read(bucket_keys, fields, finish)
        else:
            self._slow_read(bucket_keys, fields, finish)

    def _slow_read(self, bucket_keys: list[str], fields: list[bytes], done: FastDone) -> None:
        """The redis-py pipeline of HGETs, with the client's retries and backoff: a cluster's reads, and
        every batch the fast link could not finish. A task per batch is fine here (storage.fastread)."""
        if self._closing:
            asyncio.get_running_loop().call_soon(done, StorageUnavailable("read cancelled: store closing"))
            return
        task = asyncio.get_running_loop().create_task(self._pipelined(bucket_keys, fields, done))
        self._slow_tasks.add(task)
        task.add_done_callback(self._slow_tasks.discard)

    async def _pipelined(self, bucket_keys: list[str], fields: list[bytes], done: FastDone) -> None:
        outcome: RawValues | Exception
        try:
            pipe = self._client.pipeline(transaction=False)
            for bucket, field in zip(bucket_keys, fields, strict=True):
                pipe.hget(bucket, field)
            outcome = await pipe.execute()
        except asyncio.CancelledError:
            done(StorageUnavailable("read cancelled: store closing"))
            raise
        except REDIS_FAILURES as exc:
            outcome = unavailable(exc)
        try:
            done(outcome)
        except Exception:  # the caller's bug; not this task's outcome (STYLE.md 10)
            log.exception("unexpected error in a read callback")

    @contextlib.contextmanager
    def _observed(self, op: str, count: int) -> Iterator[None]:
        """Report one round trip to the observer (metrics live in the resolver, not here)."""
        if self._observer is None:
            yield
            return
        started, ok = time.perf_counter(), False
        try:
            yield
            ok = True
        finally:
            self._observer.on_roundtrip(op, count, time.perf_counter() - started, ok)

    async def list_handles(self, prefix: str, page: int, page_size: int) -> list[str]:
        with unavailable_on_error():
            return await self._scanner.page(prefix, page, page_size)

    async def count_handles(self, prefix: str) -> int:
        with unavailable_on_error():
            return await self._scanner.count(prefix)

    # --- writes --------------------------------------------------------------------------------
    async def create(self, handle: str, values: Sequence[HandleValue], *, actor: str) -> None:
        await self._write(handle, "create", records.encode_pairs(values), actor=actor)

    async def overwrite(self, handle: str, values: Sequence[HandleValue], *, actor: str) -> bool:
        existed = await self._write(handle, "overwrite", records.encode_pairs(values), actor=actor)
        return not existed

    async def add_values(
        self, handle: str, values: Sequence[HandleValue], *, actor: str, replace: bool = False
    ) -> None:
        await self._write(handle, "add", records.encode_pairs(values), actor=actor, replace=replace)

    async def modify_values(self, handle: str, values: Sequence[HandleValue], *, actor: str) -> None:
        await self._write(handle, "modify", records.encode_pairs(values), actor=actor)

    async def remove_values(self, handle: str, indexes: Sequence[int], *, actor: str) -> None:
        await self._write(handle, "remove", records.encode_indexes(indexes), actor=actor)

    async def delete(self, handle: str, *, actor: str) -> None:
        await self._write(handle, "delete", b"", actor=actor)

    async def _write(
        self, handle: str, op: str, payload: bytes, *, actor: str, replace: bool = False
    ) -> bool:
        """Run the change script, raise the Handle error it reports, else publish. True if it existed."""
        key = keys.record_key(handle, self.buckets)
        args: list[bytes | str] = [keys.record_field(handle), op, payload, b"1" if replace else b"0"]
        async with self._writers:
            with self._observed("write", 1), unavailable_on_error():
                result: list[int] = await self._change(keys=[key], args=args)
            _raise_outcome(result)
            with unavailable_on_error():
                await publish_change(self._client, InvalidationKind.HANDLE, handle, actor=actor, operation=op)
        return bool(result[1])

    # --- prefixes ------------------------------------------------------------------------------
    async def get_prefix(self, prefix: str) -> PrefixRecord | None:
        with unavailable_on_error():
            raw = await self._client.hget(keys.PREFIXES, prefix)
        return None if raw is None else _prefix_from(prefix, raw)

    async def list_prefixes(self) -> list[PrefixRecord]:
        with unavailable_on_error():
            raw: dict[bytes, bytes] = await self._client.hgetall(keys.PREFIXES)
        return sorted((_prefix_from(k.decode(), v) for k, v in raw.items()), key=lambda r: r.prefix)

    async def put_prefix(self, record: PrefixRecord, *, actor: str) -> None:
        packed = records.pack_doc([record.status.value, record.tenant, records.encode_record(record.values)])
        with unavailable_on_error():
            await self._client.hset(keys.PREFIXES, record.prefix, packed)
            operation = record.status.value
            await publish_change(
                self._client, InvalidationKind.PREFIX, record.prefix, actor=actor, operation=operation
            )

    async def remove_prefix(self, prefix: str, *, actor: str) -> bool:
        with unavailable_on_error():
            removed = int(await self._client.hdel(keys.PREFIXES, prefix))
            if removed:
                kind = InvalidationKind.PREFIX
                await publish_change(self._client, kind, prefix, actor=actor, operation="unhome")
        return removed > 0

    # --- documents -----------------------------------------------------------------------------
    async def get_doc(self, kind: str, key: str) -> dict[str, Any] | None:
        with unavailable_on_error():
            raw = await self._client.get(keys.doc_key(kind, key))
        return None if raw is None else _doc(raw)

    async def put_doc(
        self, kind: str, key: str, doc: dict[str, Any], *, actor: str, ttl_s: int | None = None
    ) -> None:
        args: list[bytes | str | int] = [key, records.pack_doc(doc), ttl_s or 0]
        with unavailable_on_error():
            await self._put_doc(keys=[keys.doc_key(kind, key), keys.doc_index(kind)], args=args)
            await publish_change(
                self._client, InvalidationKind.HANDLE, f"{kind}/{key}", actor=actor, operation="doc-put"
            )

    async def delete_doc(self, kind: str, key: str, *, actor: str) -> bool:
        with unavailable_on_error():
            existed = await self._delete_doc(keys=[keys.doc_key(kind, key), keys.doc_index(kind)], args=[key])
            if existed:
                target = f"{kind}/{key}"
                await publish_change(
                    self._client, InvalidationKind.HANDLE, target, actor=actor, operation="doc-delete"
                )
        return bool(existed)

    async def list_docs(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        with unavailable_on_error():
            members = sorted(m.decode() for m in await self._client.smembers(keys.doc_index(kind)))
            pipe = self._client.pipeline(transaction=False)
            for member in members:
                pipe.get(keys.doc_key(kind, member))
            raws: list[bytes | None] = await pipe.execute()
            expired = [m for m, raw in zip(members, raws, strict=True) if raw is None]
            if expired:  # tokens that ran out their TTL: drop them from the index too
                await self._client.srem(keys.doc_index(kind), *expired)
        return [(m, _doc(raw)) for m, raw in zip(members, raws, strict=True) if raw is not None]

    # --- transactions (admin work: tenant operations, storage.txn) -----------------------------
    async def transact(
        self,
        docs: Sequence[tuple[str, str]],
        prefixes: Sequence[str],
        decide: TxnDecide,
        *,
        actor: str,
    ) -> None:
        if isinstance(self._client, RedisCluster):
            await self._apply_unwatched(docs, prefixes, decide, actor=actor)
            return
        with unavailable_on_error():
            await run_transaction(self._client, docs, prefixes, decide, actor=actor)

    async def _apply_unwatched(
        self, docs: Sequence[tuple[str, str]], prefixes: Sequence[str], decide: TxnDecide, *, actor: str
    ) -> None:
        """Cluster: no multi-slot WATCH, so read, decide and apply in order (not atomic; storage.txn)."""
        view = TxnView(
            {(kind, key): await self.get_doc(kind, key) for kind, key in docs},
            {prefix: await self.get_prefix(prefix) for prefix in prefixes},
        )
        for op in decide(view):
            if isinstance(op, DocPut):
                await self.put_doc(op.kind, op.key, op.doc, actor=actor, ttl_s=op.ttl_s)
            elif isinstance(op, DocDelete):
                await self.delete_doc(op.kind, op.key, actor=actor)
            elif isinstance(op, PrefixPut):
                await self.put_prefix(op.record, actor=actor)
            else:
                await self.remove_prefix(op.prefix, actor=actor)

    # --- change feed ---------------------------------------------------------------------------
    async def invalidations(self) -> AsyncIterator[Invalidation]:
        """Subscribe; yield ALL after every (re)subscribe, then each published invalidation."""
        backoff_s, attempt = self._config.retry_backoff_s, 0
        while not self._closed.is_set():
            sub = pubsub_client(self._url, self._config, attempt)
            pubsub = sub.pubsub()
            try:
                with unavailable_on_error():
                    await pubsub.subscribe(keys.INVALIDATIONS)
                backoff_s = self._config.retry_backoff_s
                yield Invalidation(InvalidationKind.ALL, "")
                async for item in _messages(pubsub, self._closed):
                    yield item
            except StorageUnavailable as exc:
                log.warning("invalidation feed lost, resubscribing: %s", exc)
                backoff_s, attempt = min(backoff_s * 2, 2.0), attempt + 1
                await _wait(self._closed, backoff_s)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                await sub.aclose()

    async def read_changes(self, after_id: str = "0", count: int = 100) -> list[ChangeEntry]:
        with unavailable_on_error():
            rows = await self._client.xrange(keys.CHANGES, min=f"({after_id}", count=count)
        return [entry_from_stream(ident, fields) for ident, fields in rows]

    async def append_audit(self, entry: AuditEntry) -> None:
        with unavailable_on_error():
            await append_audit_entry(self._client, entry)

    async def ping(self) -> None:
        with self._observed("ping", 0), unavailable_on_error():
            await self._client.ping()

    async def aclose(self) -> None:
        self._closed.set()
        await self._batcher.aclose()
        self._closing = True  # from now on a new read is answered StorageUnavailable at once
        if self._fast is not None:
            await self._fast.aclose()  # lets the batches in flight finish (bounded by the socket timeout)
        for task in list(self._slow_tasks):
            task.cancel()
        await asyncio.gather(*self._slow_tasks, return_exceptions=True)
        await self._client.aclose()
        if self._owner is not None:
            await self._owner.astop()


async def _messages(pubsub: Any, closed: asyncio.Event) -> AsyncIterator[Invalidation]:
    while not closed.is_set():
        with unavailable_on_error():
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if message is None or message.get("type") != "message":
            continue
        kind, key, at_ms = keys.parse_invalidation_at(message["data"])
        if kind == keys.BATCH_KIND:
            for handle in key.split("\n"):
                yield Invalidation(InvalidationKind.HANDLE, handle, at_ms)
        elif kind in _KINDS:
            yield Invalidation(InvalidationKind(kind), key, at_ms)


async def _wait(event: asyncio.Event, timeout_s: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), timeout_s)
    except TimeoutError:
        return


def _records(raws: RawValues | Exception) -> list[StoredOutcome] | StorageError:
    """Read a batch's raw values, or pass on its failure as the StorageError it is."""
    if isinstance(raws, Exception):
        return raws if isinstance(raws, StorageError) else unavailable(raws)
    read = records.read_record
    try:
        return [None if raw is None else read(raw) for raw in raws]
    except records.RecordFormatError:
        return [_one_record(raw) for raw in raws]  # rare: the damaged record fails alone, not its batch


def _one_record(raw: bytes | None) -> StoredOutcome:
    try:
        return None if raw is None else records.read_record(raw)
    except records.RecordFormatError as exc:
        return StorageError(str(exc))


def _values_of(done: ReadDone, outcome: list[StoredOutcome] | StorageError) -> None:
    """``read_many_soon``'s outcome from ``read_records_soon``'s: the records as decoded values. One call
    asked for all of them, so a damaged record fails the whole call."""
    if isinstance(outcome, StorageError):
        done(outcome)
        return
    try:
        got = [None if record is None else _decoded(record) for record in outcome]
    except StorageError as exc:
        done(exc)
        return
    done(got)


def _decoded(record: StoredRecord | StorageError) -> Record:
    if isinstance(record, StorageError):
        raise record
    try:
        return record.values
    except records.RecordFormatError as exc:  # cannot happen after read_record, but never lose the outcome
        raise StorageError(str(exc)) from exc


def _settle(waiter: asyncio.Future[list[Record | None]], outcome: list[Record | None] | StorageError) -> None:
    if waiter.done():  # the caller went away (cancelled)
        return
    if isinstance(outcome, StorageError):
        waiter.set_exception(outcome)
    else:
        waiter.set_result(outcome)


def _raise_outcome(result: list[int]) -> None:
    code = _Outcome(int(result[0]))
    if code is _Outcome.OK:
        return
    rest = [int(i) for i in result[1:]]
    errors: dict[_Outcome, StorageError] = {
        _Outcome.HANDLE_EXISTS: HandleAlreadyExists(),
        _Outcome.HANDLE_MISSING: HandleNotFound(),
        _Outcome.VALUE_EXISTS: ValueAlreadyExists(rest),
        _Outcome.VALUE_MISSING: ValueNotFound(rest),
        _Outcome.BAD_VERSION: StorageError("stored record has an unknown format version"),
    }
    raise errors[code]


def _decode(raw: bytes) -> Record:
    try:
        return records.decode_record(raw)
    except records.RecordFormatError as exc:
        raise StorageError(str(exc)) from exc


def _doc(raw: bytes) -> dict[str, Any]:
    doc = records.unpack_doc(raw)
    if not isinstance(doc, dict):
        raise StorageError("stored document is not a map")
    return doc


def _prefix_from(prefix: str, raw: bytes) -> PrefixRecord:
    status, tenant, record = records.unpack_doc(raw)
    return PrefixRecord(prefix=prefix, status=PrefixStatus(status), tenant=tenant, values=_decode(record))


__all__ = ["RedisStore"]
