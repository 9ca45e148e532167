"""``RedisStore.read_many_soon`` over the fast link and its fallback: records in order, one outcome per batch,
never inside the call; a killed fast connection still gives the records (the pooled pipeline), a killed or
frozen server gives ``StorageUnavailable``, and closing answers every batch in flight."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Callable

import pytest
import redis

from protocol.values import HandleValue
from storage import keys, open_store
from storage.api import Record, StorageConfig, StorageError, StorageUnavailable, StoredOutcome
from storage.fastread import CLIENT_NAME, pack_command
from storage.records import StoredRecord
from storage.redis_store import RedisStore
from tests.conftest import RedisProcess

VALUE = HandleValue(index=1, type="URL", data=b"https://example.cn/a")
Outcome = list[Record | None] | StorageError


def submit(store: RedisStore, handles: list[str]) -> asyncio.Future[Outcome]:
    outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
    store.read_many_soon(handles, outcome.set_result)  # a second outcome would raise InvalidStateError
    assert not outcome.done()  # never answered inside the call
    return outcome


async def outcomes(futures: list[asyncio.Future[Outcome]]) -> list[Outcome]:
    return await asyncio.wait_for(asyncio.gather(*futures), 60)  # safety net; the store gives up first


class Recorder:
    """A StorageObserver that keeps the read round trips it is told of."""

    def __init__(self) -> None:
        self.reads: list[tuple[int, bool]] = []

    def on_roundtrip(self, op: str, keys: int, seconds: float, ok: bool) -> None:
        if op == "read":
            self.reads.append((keys, ok))


async def fast_store(
    url: str, socket_timeout_s: float = 5.0, retries: int = 3, retry_backoff_s: float = 0.05,
    observer: Recorder | None = None,
) -> RedisStore:
    config = StorageConfig(
        url, socket_timeout_s=socket_timeout_s, retries=retries, retry_backoff_s=retry_backoff_s
    )
    store = await open_store(config, buckets=16, observer=observer)
    await store.create("88.7/a", [VALUE], actor="t")
    assert store.fast_reader is not None and await store.fast_reader.connect()
    return store


async def test_records_in_order_on_the_fast_link(redis_url: str) -> None:
    store = await fast_store(redis_url)
    try:
        got = await outcomes([submit(store, ["88.7/a", "88.7/none", "88.7/a"]), submit(store, [])])
        assert got == [[(VALUE,), None, (VALUE,)], []]
        assert await store.read_many(["88.7/none", "88.7/a"]) == [None, (VALUE,)]
        assert store.fast_reader is not None and store.fast_reader.handed_off == 0
    finally:
        await store.aclose()


async def test_damaged_record_is_a_storage_error(redis_url: str) -> None:
    store = await fast_store(redis_url)
    try:
        # A record with an unknown version byte where 88.7/bad lives.
        await store.client.hset(keys.record_key("88.7/bad", store.buckets), "88.7/bad", b"\x09junk")
        (got,) = await outcomes([submit(store, ["88.7/a", "88.7/bad"])])
        assert isinstance(got, StorageError) and not isinstance(got, StorageUnavailable)
    finally:
        await store.aclose()


async def test_damaged_record_fails_only_its_own_position_for_the_resolver(redis_url: str) -> None:
    store = await fast_store(redis_url)
    try:
        await store.client.hset(keys.record_key("88.7/bad", store.buckets), "88.7/bad", b"\x09junk")
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[list[StoredOutcome] | StorageError] = loop.create_future()
        store.read_records_soon(["88.7/a", "88.7/bad", "88.7/none", "88.7/a"], outcome.set_result)
        got = await asyncio.wait_for(outcome, 60)
        assert isinstance(got, list) and len(got) == 4
        first, bad, none, again = got
        assert isinstance(first, StoredRecord) and first.values == (VALUE,)
        assert isinstance(bad, StorageError) and not isinstance(bad, StorageUnavailable)
        assert "unknown record version" in str(bad)
        assert none is None and isinstance(again, StoredRecord) and again.values == (VALUE,)
    finally:
        await store.aclose()


def fast_client_id(url: str) -> int:
    with redis.Redis.from_url(url) as client:
        (found,) = [c for c in client.client_list() if c["name"] == CLIENT_NAME.decode()]
    return int(found["id"])


async def test_killed_fast_connection_still_gives_the_records(
    redis_launcher: Callable[..., RedisProcess],
) -> None:
    server = redis_launcher()
    store = await fast_store(server.url, socket_timeout_s=5.0)
    fast = store.fast_reader
    assert fast is not None
    with socket.socket(socket.AF_UNIX) as killer:
        killer.connect(server.url.removeprefix("unix://"))
        kill = pack_command(b"CLIENT", b"KILL", b"ID", b"%d" % fast_client_id(server.url))
        # Frozen, the server reads nothing; on SIGCONT it reads its sockets in the order data arrived, so the
        # kill lands before the batches: they are in flight on a connection that dies under them.
        os.kill(server.pid, signal.SIGSTOP)
        try:
            killer.sendall(kill)
            futures = [submit(store, ["88.7/a", f"88.7/n{i}"]) for i in range(5)]
        finally:
            os.kill(server.pid, signal.SIGCONT)
        assert await outcomes(futures) == [[(VALUE,), None]] * 5
        assert killer.recv(16) == b":1\r\n"
    assert fast.handed_off == 5
    assert await fast.connect()  # reconnected in the background
    assert await outcomes([submit(store, ["88.7/a"])]) == [[(VALUE,)]]
    await store.aclose()


async def test_killed_server_mid_flight_gives_unavailable(
    redis_launcher: Callable[..., RedisProcess],
) -> None:
    server, observer = redis_launcher(), Recorder()
    store = await fast_store(server.url, 0.5, retries=1, retry_backoff_s=0.01, observer=observer)
    try:
        os.kill(server.pid, signal.SIGSTOP)  # so the batches are surely in flight when it dies
        futures = [submit(store, ["88.7/a"]), submit(store, ["88.7/a", "88.7/b"])]
        server.kill()
        for got in await outcomes(futures):
            assert isinstance(got, StorageUnavailable)
    finally:
        await store.aclose()
    assert sorted(observer.reads) == [(1, False), (2, False)]  # one report per batch, by whichever path


async def test_frozen_server_gives_unavailable(redis_launcher: Callable[..., RedisProcess]) -> None:
    server = redis_launcher()
    store = await fast_store(server.url, socket_timeout_s=0.3, retries=1, retry_backoff_s=0.01)
    try:
        os.kill(server.pid, signal.SIGSTOP)
        try:
            for got in await outcomes([submit(store, ["88.7/a"]) for _ in range(3)]):
                assert isinstance(got, StorageUnavailable)
            with pytest.raises(StorageUnavailable):
                await asyncio.wait_for(store.read_many(["88.7/a"]), 30)
        finally:
            os.kill(server.pid, signal.SIGCONT)
    finally:
        await store.aclose()


async def test_close_answers_every_batch_in_flight(redis_launcher: Callable[..., RedisProcess]) -> None:
    server = redis_launcher()
    store = await fast_store(server.url)
    answered = [submit(store, ["88.7/a"]) for _ in range(3)]
    await store.aclose()  # the batches in flight finish first
    assert await outcomes(answered) == [[(VALUE,)]] * 3
    late = submit(store, ["88.7/a"])
    (got,) = await outcomes([late])
    assert isinstance(got, StorageUnavailable)


async def test_close_on_a_frozen_server_answers_unavailable(
    redis_launcher: Callable[..., RedisProcess],
) -> None:
    server = redis_launcher()
    store = await fast_store(server.url, socket_timeout_s=0.3)
    os.kill(server.pid, signal.SIGSTOP)
    try:
        futures = [submit(store, ["88.7/a"]) for _ in range(3)]
        await store.aclose()
        for got in await outcomes(futures):
            assert isinstance(got, StorageUnavailable)
    finally:
        os.kill(server.pid, signal.SIGCONT)


@pytest.mark.cluster
async def test_cluster_reads_soon_on_the_pipeline(redis_cluster_url: str) -> None:
    store = await open_store(StorageConfig(redis_url=redis_cluster_url), buckets=16)
    try:
        assert store.fast_reader is None
        await store.create("88.7/a", [VALUE], actor="t")
        assert await outcomes([submit(store, ["88.7/a", "88.7/none"])]) == [[(VALUE,), None]]
    finally:
        await store.aclose()
