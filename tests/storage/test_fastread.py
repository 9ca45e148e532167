"""The fast read link (storage.fastread) against real redis-servers: replies matched to their batches, and
every batch it cannot finish handed to the fallback exactly once (a kill, a freeze, an error reply, a close).

The fallback given here records the batch and answers it with a marker exception, so a test sees which
path carried each batch; the store's own fallback (its redis-py pipeline) is tested through ``RedisStore``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import hiredis
import pytest
import redis
import redis.asyncio as aioredis

from storage.fastread import CLIENT_NAME, Done, Endpoint, FastReader, RawValues, endpoint_of, pack_command
from tests.conftest import RedisProcess, free_port_pair


class FellBack(Exception):
    """What the test fallback answers: the batch went to the slow path."""


class Recorder:
    """A fallback that remembers each batch handed to it and answers it ``FellBack``, later."""

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []

    def __call__(self, keys: list[str], fields: list[bytes], done: Done) -> None:
        self.batches.append(fields)
        asyncio.get_running_loop().call_soon(done, FellBack())


def endpoint(url: str) -> Endpoint:
    pool = aioredis.ConnectionPool.from_url(url)
    found = endpoint_of(pool.connection_class, pool.connection_kwargs)
    assert found is not None
    return found


def submit(reader: FastReader, keys: list[str], fields: list[bytes]) -> asyncio.Future[RawValues | Exception]:
    """Start one batch; the future holds its one outcome (a second one would raise InvalidStateError)."""
    outcome: asyncio.Future[RawValues | Exception] = asyncio.get_running_loop().create_future()
    reader.read(keys, fields, outcome.set_result)
    assert not outcome.done()  # never answered inside read()
    return outcome


async def outcome_of(future: asyncio.Future[RawValues | Exception]) -> RawValues | Exception:
    return await asyncio.wait_for(future, 30)  # a safety net only: the reader's own deadline comes first


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def tcp_server(redis_launcher: Callable[..., RedisProcess]) -> Iterator[str]:
    port = free_port_pair()
    redis_launcher("--port", str(port), "--bind", "127.0.0.1")
    yield f"redis://127.0.0.1:{port}/0"


@pytest.fixture(params=["unix", "tcp"])
async def reader(
    request: pytest.FixtureRequest, redis_url: str, recorder: Recorder
) -> AsyncIterator[tuple[FastReader, redis.Redis]]:
    url = redis_url if request.param == "unix" else request.getfixturevalue("tcp_server")
    fast = FastReader(endpoint(url), timeout_s=5.0, fallback=recorder)
    assert await fast.connect()
    with redis.Redis.from_url(url) as client:
        yield fast, client
    await fast.aclose()


async def test_values_and_none_in_order(reader: tuple[FastReader, redis.Redis], recorder: Recorder) -> None:
    fast, client = reader
    client.hset("h:1", mapping={"a": b"\x00one", "b": b""})
    client.hset("h:2", "c", b"three")
    keys, fields = ["h:1", "h:2", "h:1", "h:none", "h:1"], [b"a", b"c", b"b", b"a", b"zz"]
    assert await outcome_of(submit(fast, keys, fields)) == [b"\x00one", b"three", b"", None, None]
    assert recorder.batches == [] and fast.handed_off == 0


async def test_one_link_however_often_asked(reader: tuple[FastReader, redis.Redis]) -> None:
    fast, client = reader
    assert await fast.connect() and await fast.connect()
    names = [c["name"] for c in client.client_list()]
    assert names.count(CLIENT_NAME.decode()) == 1


async def test_many_batches_in_flight_each_get_their_own(
    reader: tuple[FastReader, redis.Redis], recorder: Recorder
) -> None:
    fast, client = reader
    client.hset("h:n", mapping={str(i): f"v{i}" for i in range(200)})
    futures = []
    for batch in range(60):  # sizes 1..7, interleaved on one connection
        numbers = [(batch * 7 + j) % 250 for j in range(1 + batch % 7)]
        futures.append((numbers, submit(fast, ["h:n"] * len(numbers), [str(n).encode() for n in numbers])))
    for numbers, future in futures:
        assert await outcome_of(future) == [f"v{n}".encode() if n < 200 else None for n in numbers]
    assert recorder.batches == []


async def test_batch_larger_than_a_segment(reader: tuple[FastReader, redis.Redis]) -> None:
    fast, client = reader
    client.hset("h:big", mapping={f"f{i}": b"x" * 300 + str(i).encode() for i in range(0, 1000, 2)})
    fields = [f"f{i}".encode() for i in range(1000)]  # ~14 kB of commands, ~150 kB of replies
    got = await outcome_of(submit(fast, ["h:big"] * 1000, fields))
    assert got == [b"x" * 300 + str(i).encode() if i % 2 == 0 else None for i in range(1000)]


async def test_error_reply_hands_only_its_batch_over(
    reader: tuple[FastReader, redis.Redis], recorder: Recorder
) -> None:
    fast, client = reader
    client.set("s:1", "a string, not a hash")
    client.hset("h:1", "a", b"1")
    before = submit(fast, ["h:1"], [b"a"])
    bad = submit(fast, ["h:1", "s:1"], [b"a", b"x"])  # WRONGTYPE for the second command
    after = submit(fast, ["h:1"], [b"a"])
    assert [await outcome_of(before), await outcome_of(after)] == [[b"1"], [b"1"]]
    assert isinstance(await outcome_of(bad), FellBack)
    assert recorder.batches == [[b"a", b"x"]]
    assert fast.connected  # an error reply leaves the stream in step: no reconnect


async def test_password_and_db(redis_launcher: Callable[..., RedisProcess], recorder: Recorder) -> None:
    port = free_port_pair()
    redis_launcher("--port", str(port), "--bind", "127.0.0.1", "--requirepass", "s3cret")
    with redis.Redis(port=port, db=3, password="s3cret") as client:  # noqa: S106 - a test server's
        client.hset("h:1", "a", b"in db 3")
    for url in (f"redis://:s3cret@127.0.0.1:{port}/3", f"redis://default:s3cret@127.0.0.1:{port}/3"):
        fast = FastReader(endpoint(url), timeout_s=5.0, fallback=recorder)
        try:
            assert await fast.connect()
            assert await outcome_of(submit(fast, ["h:1"], [b"a"])) == [b"in db 3"]
        finally:
            await fast.aclose()
    wrong = FastReader(endpoint(f"redis://:nope@127.0.0.1:{port}/3"), timeout_s=0.5, fallback=recorder)
    try:
        assert not await wrong.connect()
        assert isinstance(await outcome_of(submit(wrong, ["h:1"], [b"a"])), FellBack)
    finally:
        await wrong.aclose()
    assert recorder.batches == [[b"a"]]


async def test_silent_server_never_counts_as_up(tmp_path: Path, recorder: Recorder) -> None:
    path = tmp_path / "silent.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        listener.listen()  # the kernel accepts connections; nobody ever answers
        fast = FastReader(Endpoint(path=str(path)), timeout_s=0.2, fallback=recorder)
        try:
            assert not await fast.connect()
            assert isinstance(await outcome_of(submit(fast, ["h:1"], [b"a"])), FellBack)
        finally:
            await fast.aclose()
    assert recorder.batches == [[b"a"]]


class Misbehaving:
    """A unix-socket server that greets like Redis, then answers every HGET with ``answer``."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.handlers: set[asyncio.Task[None]] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        parser = hiredis.Reader()
        try:
            while data := await reader.read(65536):
                parser.feed(data)
                while (command := parser.gets()) is not False:
                    writer.write(self.answer if command[0] == b"HGET" else b"+OK\r\n")
        except ConnectionError:
            pass
        finally:
            writer.close()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [(b"&not a reply type\r\n", None), (b"$1\r\nx\r\n+OK\r\n", [b"x"])],  # the extra reply comes after
    ids=["malformed", "one-too-many"],
)
async def test_out_of_step_replies_drop_the_link(
    tmp_path: Path, recorder: Recorder, answer: bytes, expected: RawValues | None
) -> None:
    path, odd = str(tmp_path / "odd.sock"), Misbehaving(answer)
    server = await asyncio.start_unix_server(odd.serve, path)
    fast = FastReader(Endpoint(path=path), timeout_s=5.0, fallback=recorder)
    try:
        assert await fast.connect()
        got = await outcome_of(submit(fast, ["h:1"], [b"a"]))
        assert got == expected if expected is not None else isinstance(got, FellBack)
        assert await fast.connect()
        assert len(odd.handlers) == 2  # the out-of-step link was dropped and a new one made
        assert recorder.batches == ([] if expected is not None else [[b"a"]])
    finally:
        await fast.aclose()  # the server sees every link close and its handlers return
        server.close()
        await asyncio.wait_for(asyncio.gather(*odd.handlers), 10)
        await server.wait_closed()


async def test_frozen_server_batches_fall_back_by_the_deadline(
    redis_launcher: Callable[..., RedisProcess], recorder: Recorder
) -> None:
    server = redis_launcher()
    fast = FastReader(endpoint(server.url), timeout_s=0.3, fallback=recorder)
    try:
        assert await fast.connect()
        os.kill(server.pid, signal.SIGSTOP)
        try:
            futures = [submit(fast, ["h:1"], [b"%d" % i]) for i in range(3)]
            for future in futures:
                assert isinstance(await outcome_of(future), FellBack)
            assert not fast.connected
        finally:
            os.kill(server.pid, signal.SIGCONT)
        assert await fast.connect()  # and it comes back once the server answers again
        assert await outcome_of(submit(fast, ["h:1"], [b"a"])) == [None]
    finally:
        await fast.aclose()
    assert sorted(recorder.batches) == [[b"0"], [b"1"], [b"2"]]


async def test_close_lets_batches_in_flight_finish(redis_url: str, recorder: Recorder) -> None:
    fast = FastReader(endpoint(redis_url), timeout_s=5.0, fallback=recorder)
    assert await fast.connect()
    futures = [submit(fast, ["h:1"] * 50, [b"a"] * 50) for _ in range(5)]
    await fast.aclose()
    for future in futures:
        assert await outcome_of(future) == [None] * 50
    assert isinstance(await outcome_of(submit(fast, ["h:1"], [b"a"])), FellBack)  # closed: the slow path
    assert not await fast.connect()  # and it stays closed


async def test_close_on_a_frozen_server_hands_batches_over(
    redis_launcher: Callable[..., RedisProcess], recorder: Recorder
) -> None:
    server = redis_launcher()
    fast = FastReader(endpoint(server.url), timeout_s=0.3, fallback=recorder)
    assert await fast.connect()
    os.kill(server.pid, signal.SIGSTOP)
    try:
        futures = [submit(fast, ["h:1"], [b"a"]) for _ in range(3)]
        await fast.aclose()
        for future in futures:
            assert isinstance(await outcome_of(future), FellBack)
    finally:
        os.kill(server.pid, signal.SIGCONT)
    assert len(recorder.batches) == 3


def test_commands_are_what_redis_py_packs() -> None:
    conn = aioredis.Connection()
    args = (b"HGET", b"r:1f", "88.1/\u00e9".encode())
    assert pack_command(*args) == b"".join(conn.pack_command(*args))
    fast = FastReader(Endpoint(), timeout_s=1.0, fallback=Recorder())
    keys, fields = ["r:1f", "r:\u00e9"], [b"88.1/a", b"\x00\xff"]
    expected = b"".join(pack_command(b"HGET", k.encode(), f) for k, f in zip(keys, fields, strict=True))
    assert fast._pack(keys, fields) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("unix:///run/r.sock?db=2", Endpoint(path="/run/r.sock", db=2)),
        ("redis://u:p@h:7000/5", Endpoint(host="h", port=7000, db=5, username="u", password="p")),  # noqa: S106
        ("redis://h", Endpoint(host="h", port=6379)),
        ("rediss://h:7000/0", None),  # TLS: the pooled path only
    ],
)
def test_endpoint_of_a_pool(url: str, expected: Endpoint | None) -> None:
    pool = aioredis.ConnectionPool.from_url(url)
    assert endpoint_of(pool.connection_class, pool.connection_kwargs) == expected

