"""Cache misses reach Redis coalesced: one read per identifier however many requests ask at once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import redis

from resolver.demo_data import DEMO_PREFIX, load_demo
from resolver.loader import MAX_BATCH_KEYS, Outcome, RecordLoader
from storage import open_store
from storage.api import StorageConfig, StorageUnavailable
from storage.records import StoredRecord
from tests.conftest import RedisProcess


def hget_calls(url: str) -> int:
    with redis.Redis.from_url(url) as client:
        stats = client.info("commandstats").get("cmdstat_hget", {})
        return int(stats.get("calls", 0)) if isinstance(stats, dict) else 0


async def test_concurrent_misses_cost_one_read_each(redis_url: str) -> None:
    store = await open_store(StorageConfig(redis_url=redis_url))
    try:
        await load_demo(store)
        loader = RecordLoader(store, max_batches=1, max_batch_keys=64)
        with redis.Redis.from_url(redis_url) as client:
            client.config_resetstat()
        hot = f"{DEMO_PREFIX}/demo-url"
        cold = [f"{DEMO_PREFIX}/none-{i}" for i in range(150)]
        results = await asyncio.gather(*[loader.load(hot) for _ in range(50)], *map(loader.load, cold))
        assert all(r is not None and r.values[0].type == "URL" for r in results[:50])
        assert all(r is None for r in results[50:])
        assert hget_calls(redis_url) == 1 + len(cold)
        await loader.aclose()
    finally:
        await store.aclose()


async def test_a_cancelled_requester_does_not_cancel_the_shared_read(redis_url: str) -> None:
    store = await open_store(StorageConfig(redis_url=redis_url))
    try:
        await load_demo(store)
        loader = RecordLoader(store)
        first = asyncio.create_task(loader.load(f"{DEMO_PREFIX}/demo-text"))
        second = asyncio.create_task(loader.load(f"{DEMO_PREFIX}/demo-text"))
        await asyncio.sleep(0)  # both wait on the one queued read
        first.cancel()
        record = await second
        assert record is not None and record.values[0].type == "DESC"
        assert first.cancelled()
    finally:
        await store.aclose()


class Heard:
    """Records every outcome a requester is handed, and wakes the test when ``expected`` have arrived."""

    def __init__(self, expected: int) -> None:
        self.outcomes: dict[int, list[Outcome]] = {}
        self.expected = expected
        self.done = asyncio.Event()

    def requester(self, number: int) -> Callable[[Outcome], None]:
        def deliver(outcome: Outcome) -> None:
            self.outcomes.setdefault(number, []).append(outcome)
            if sum(map(len, self.outcomes.values())) >= self.expected:
                self.done.set()

        return deliver


async def test_submitted_requesters_share_one_read_and_each_hears_once(redis_url: str) -> None:
    store = await open_store(StorageConfig(redis_url=redis_url))
    try:
        await load_demo(store)
        loader = RecordLoader(store, max_batches=1, max_batch_keys=8)
        with redis.Redis.from_url(redis_url) as client:
            client.config_resetstat()
        keys = [f"{DEMO_PREFIX}/demo-url"] * 30 + [f"{DEMO_PREFIX}/none-{i}" for i in range(20)]
        heard = Heard(len(keys))
        for number, key in enumerate(keys):
            loader.submit(key, heard.requester(number))
        assert not heard.outcomes  # never called back inside submit
        await asyncio.wait_for(heard.done.wait(), 30)
        assert all(len(heard.outcomes[n]) == 1 for n in range(len(keys)))
        found = [heard.outcomes[n][0] for n in range(30)]
        assert all(isinstance(r, StoredRecord) and r.values[0].type == "URL" for r in found)
        assert all(heard.outcomes[n] == [None] for n in range(30, len(keys)))
        assert hget_calls(redis_url) == 1 + 20  # one read per identifier, in batches of at most 8
        await loader.aclose()
    finally:
        await store.aclose()


async def test_a_requester_that_raises_does_not_cost_the_others_their_answer(redis_url: str) -> None:
    store = await open_store(StorageConfig(redis_url=redis_url))
    try:
        await load_demo(store)
        loader = RecordLoader(store)
        heard = Heard(2)

        def broken(outcome: Outcome) -> None:
            raise RuntimeError("a bug in one requester")

        loader.submit(f"{DEMO_PREFIX}/demo-url", heard.requester(1))
        loader.submit(f"{DEMO_PREFIX}/demo-url", broken)
        loader.submit(f"{DEMO_PREFIX}/demo-text", heard.requester(2))
        await asyncio.wait_for(heard.done.wait(), 30)
        assert set(heard.outcomes) == {1, 2}
        await loader.aclose()
    finally:
        await store.aclose()


async def test_a_failed_read_reaches_every_requester(redis_launcher: Callable[..., RedisProcess]) -> None:
    server = redis_launcher()
    config = StorageConfig(redis_url=server.url, socket_timeout_s=0.5, retries=1, retry_backoff_s=0.01)
    store = await open_store(config, buckets=16)
    try:
        loader = RecordLoader(store)
        server.kill()
        heard = Heard(3)
        for number, key in enumerate(["88.1/a", "88.1/a", "88.1/b"]):
            loader.submit(key, heard.requester(number))
        await asyncio.wait_for(heard.done.wait(), 30)
        assert all(
            len(got) == 1 and isinstance(got[0], StorageUnavailable) for got in heard.outcomes.values()
        )
        await loader.aclose()
    finally:
        await store.aclose()


async def test_closing_settles_requesters_whose_read_never_started(redis_url: str) -> None:
    store = await open_store(StorageConfig(redis_url=redis_url))
    try:
        loader = RecordLoader(store)
        heard = Heard(2)
        loader.submit("88.1/a", heard.requester(1))
        loader.submit("88.1/b", heard.requester(2))
        await loader.aclose()  # before the loop ran the launch: nothing was sent
        assert heard.done.is_set()
        assert all(isinstance(got[0], StorageUnavailable) for got in heard.outcomes.values())
    finally:
        await store.aclose()


class ReadTrips:
    """A ``storage.api.StorageObserver`` noting how many keys each read round trip carried."""

    def __init__(self) -> None:
        self.reads: list[int] = []

    def on_roundtrip(self, op: str, keys: int, seconds: float, ok: bool) -> None:
        if op == "read":
            self.reads.append(keys)


async def test_a_batch_waits_while_it_grows_within_the_window(redis_url: str) -> None:
    trips = ReadTrips()
    store = await open_store(StorageConfig(redis_url=redis_url), observer=trips)
    try:
        await load_demo(store)
        for window_s, reads in ((0.0, [2, 1]), (30.0, [3])):
            loader = RecordLoader(store, window_s=window_s)
            trips.reads.clear()
            heard = Heard(3)
            loader.submit(f"{DEMO_PREFIX}/demo-url", heard.requester(0))
            loader.submit(f"{DEMO_PREFIX}/demo-text", heard.requester(1))  # grew in the tick it opened
            await asyncio.sleep(0)  # the loader's first look: it grew, so (with a window) one tick more
            loader.submit(f"{DEMO_PREFIX}/none-1", heard.requester(2))  # grew again; the next tick adds none
            await asyncio.wait_for(heard.done.wait(), 30)
            assert trips.reads == reads
            assert heard.outcomes[2] == [None] and heard.outcomes[0][0] is not None
            await loader.aclose()
    finally:
        await store.aclose()


async def test_a_backlog_of_misses_is_read_in_batches_of_at_most_max_batch_keys(redis_url: str) -> None:
    # Each batch's answers are one callback that every hit waits behind: a backlog must not make it huge.
    trips = ReadTrips()
    store = await open_store(StorageConfig(redis_url=redis_url), observer=trips)
    try:
        loader = RecordLoader(store)  # the node's defaults
        keys = [f"{DEMO_PREFIX}/none-{i}" for i in range(2 * MAX_BATCH_KEYS + 100)]
        heard = Heard(len(keys))
        for number, key in enumerate(keys):  # one tick: a burst of pipelined misses
            loader.submit(key, heard.requester(number))
        await asyncio.wait_for(heard.done.wait(), 30)
        assert sorted(trips.reads) == [100, MAX_BATCH_KEYS, MAX_BATCH_KEYS]
        await loader.aclose()
    finally:
        await store.aclose()
