"""What the route, the front door and the connection guard do still holds on the fast lane: idle and header
timeouts, the connection caps (in all and per address), long pipelines (reading pauses while a miss is
read), the sampled access log, the connection gauge, and the graceful stop with a miss in flight (Redis
paused: the read must wait)."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from aiohttp import web

from resolver.demo_data import DEMO_PREFIX
from resolver.http import conn_guard
from resolver.http.conn_guard import REFUSAL, ConnectionLimits
from resolver.http.fastlane import open_public_site
from resolver.logs import ACCESS_LOGGER, AccessLog
from resolver.settings import LimitSettings, Settings
from storage import keys
from storage.redis_store import RedisStore
from tests.conftest import RedisProcess
from tests.resolver.fastlane_rig import (
    HOST,
    READ_TIMEOUT_S,
    URL_HANDLE,
    exchange,
    get,
    read_response,
    serving_pair,
)

REST = f"/api/handles/{URL_HANDLE}"


def _limits(**changes: Any) -> Settings:
    return Settings(limits=replace(LimitSettings(), **changes))


async def _until(check: Callable[[], bool]) -> None:
    """Poll in-process state the lane changes from its callbacks; bounded by READ_TIMEOUT_S."""
    deadline = time.monotonic() + READ_TIMEOUT_S
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_an_idle_connection_is_closed_after_keepalive(redis_url: str, tmp_path: Path) -> None:
    async with serving_pair(redis_url, tmp_path, _limits(http_keepalive_timeout_s=0.2)) as (on, _):
        reader, writer = await asyncio.open_connection(HOST, on.port)
        writer.write(get(REST))
        assert (await read_response(reader, "GET")).startswith(b"HTTP/1.1 200 OK")
        assert await asyncio.wait_for(reader.read(), READ_TIMEOUT_S) == b""  # closed by the node
        writer.close()
        assert on.lane is not None
        await _until(lambda: not on.lane.connections if on.lane else False)
        assert on.lane.handed_over == 0


async def test_a_slow_head_is_cut_off(redis_url: str, tmp_path: Path) -> None:
    async with serving_pair(redis_url, tmp_path, _limits(http_header_timeout_s=0.2)) as (on, _):
        reader, writer = await asyncio.open_connection(HOST, on.port)
        writer.write(get(REST) + b"GET /api/handles/x HTTP/1.1\r\nHost")  # one answer, then a stall
        assert (await read_response(reader, "GET")).startswith(b"HTTP/1.1 200 OK")
        assert await asyncio.wait_for(reader.read(), READ_TIMEOUT_S) == b""
        writer.close()


async def test_the_connection_cap_counts_both_sides(redis_url: str, tmp_path: Path) -> None:
    async with serving_pair(redis_url, tmp_path, _limits(http_max_connections=2)) as (on, _):
        assert on.lane is not None
        kept = [await asyncio.open_connection(HOST, on.port) for _ in range(2)]
        kept[0][1].write(get(REST))  # stays on the lane
        kept[1][1].write(get("/api/prefixes"))  # handed to aiohttp
        for reader, _ in kept:
            assert (await read_response(reader, "GET")).startswith(b"HTTP/1.1 200 OK")
        assert len(on.lane.connections) == 1 and len(on.lane.server.connections) == 1
        reader, writer = await asyncio.open_connection(HOST, on.port)
        assert await asyncio.wait_for(reader.read(), READ_TIMEOUT_S) == REFUSAL
        for _, kept_writer in [*kept, (reader, writer)]:
            kept_writer.close()


async def _answered(port: int, source: str = HOST) -> bool:
    """Does a new connection from ``source`` get its GET answered (or the cap's bare 503)?"""
    reader, writer = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
    try:
        writer.write(get(REST))
        status = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_S)
        assert status in (b"HTTP/1.1 200 OK\r\n", REFUSAL.split(b"\n")[0] + b"\n"), status
        return status.startswith(b"HTTP/1.1 200")
    finally:
        writer.close()


async def test_one_address_cannot_take_every_slot(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``http_max_connections_per_address`` on both sides: with the lane, a connection it answers and one
    it handed to aiohttp count together; without it, aiohttp's own count. Another address still gets in,
    a closed connection gives its slot back, and each listener logs its first refusal."""
    caplog.set_level(logging.WARNING, logger=conn_guard.__name__)
    async with serving_pair(redis_url, tmp_path, _limits(http_max_connections_per_address=2)) as (on, off):
        assert on.lane is not None
        for served in (on, off):
            kept = [await asyncio.open_connection(HOST, served.port) for _ in range(2)]
            kept[0][1].write(get(REST))  # stays on the lane (when there is one)
            kept[1][1].write(get("/api/prefixes"))  # handed to aiohttp: its slot goes with it
            for reader, _ in kept:
                assert (await read_response(reader, "GET")).startswith(b"HTTP/1.1 200 OK")
            caplog.clear()
            assert not await _answered(served.port)  # a third from 127.0.0.1: refused
            assert "refusing HTTP connections: 2 open from 127.0.0.1, the cap per address" in caplog.text
            assert await _answered(served.port, "127.0.0.2")  # another address: served
            kept[1][1].close()
            deadline = time.monotonic() + READ_TIMEOUT_S
            while not await _answered(served.port):  # until the node has seen it close
                assert time.monotonic() < deadline, "the closed connection's slot never came back"
                await asyncio.sleep(0.01)
            kept[0][1].close()
        await _until(lambda: on.lane is not None and not on.lane.admission.addresses.open)


async def test_a_long_pipeline_of_misses_is_answered_in_order(redis_url: str, tmp_path: Path) -> None:
    # Over 64 KiB of requests behind misses: the lane pauses reading while a miss is read, then resumes.
    requests = [get(f"/api/handles/{DEMO_PREFIX}/cold-{i}", "X-Pad: " + "p" * 200) for i in range(300)]
    requests += [get(REST)] * 50
    data = b"".join(requests)
    assert len(data) > 65_536
    methods = ["GET"] * len(requests)
    async with serving_pair(redis_url, tmp_path) as (on, off):
        assert await exchange(on.port, data, methods) == await exchange(off.port, data, methods)
        assert on.stats.http.codes == off.stats.http.codes == {100: 300, 1: 50}
        assert on.lane is not None and on.lane.handed_over == 0


async def test_sampled_access_lines_name_the_routed_handle(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    targets = [f"/api/handles/{DEMO_PREFIX}/%E4%BA%A7%E5%93%81-001", f"/{URL_HANDLE}", REST + "?pretty"]
    async with serving_pair(redis_url, tmp_path, access=AccessLog(1.0)) as (on, off):
        logged = []
        for port in (on.port, off.port):
            caplog.clear()
            for target in targets:
                for _ in range(2):
                    await exchange(port, get(target), ["GET"])
            logged.append([(getattr(r, "handle", None), getattr(r, "code", None))
                           for r in caplog.records if r.name == ACCESS_LOGGER])

    assert logged[0] == logged[1]
    assert [handle for handle, _ in logged[0]][:2] == [f"{DEMO_PREFIX}/产品-001"] * 2


async def test_graceful_stop_answers_the_miss_in_flight(
    redis_launcher: Callable[..., RedisProcess], tmp_path: Path
) -> None:
    server = redis_launcher()
    async with serving_pair(server.url, tmp_path) as (on, _):
        assert on.lane is not None
        idle_reader, idle_writer = await asyncio.open_connection(HOST, on.port)
        idle_writer.write(get(REST))
        await read_response(idle_reader, "GET")  # an idle keep-alive connection: closed at the stop
        with redis.Redis.from_url(server.url) as client:
            client.execute_command("CLIENT", "PAUSE", "500")  # reads wait: the miss below stays in flight
        reader, writer = await asyncio.open_connection(HOST, on.port)
        writer.write(get(f"/api/handles/{DEMO_PREFIX}/demo-text"))
        await _until(lambda: on.stats.http.inflight == 1)
        closing = asyncio.ensure_future(on.lane.aclose(READ_TIMEOUT_S))
        assert await asyncio.wait_for(idle_reader.read(), READ_TIMEOUT_S) == b""
        answer = await read_response(reader, "GET")
        assert answer.startswith(b"HTTP/1.1 200 OK") and b"\r\nConnection: close\r\n" in answer
        assert await asyncio.wait_for(reader.read(), READ_TIMEOUT_S) == b""
        await closing
        assert not on.lane.connections and on.stats.http.inflight == 0
        late_reader, late_writer = await asyncio.open_connection(HOST, on.port)
        assert await asyncio.wait_for(late_reader.read(), READ_TIMEOUT_S) == REFUSAL  # new ones refused
        for w in (idle_writer, writer, late_writer):
            w.close()



async def test_nothing_follows_an_answer_that_closes_at_the_graceful_stop(
    redis_launcher: Callable[..., RedisProcess], tmp_path: Path
) -> None:
    """A pipelined hit answered while a miss before it is read waits in the queue with a keep-alive answer;
    the stop begins, and the miss is answered with Connection: close. That answer is the last (RFC 9112
    §9.6): the hit's is not written after it, and its client asks again elsewhere."""
    server = redis_launcher()
    async with serving_pair(server.url, tmp_path) as (on, _):
        assert on.lane is not None
        assert (await exchange(on.port, get(REST), ["GET"]))[0][0].startswith(b"HTTP/1.1 200")  # now a hit
        with redis.Redis.from_url(server.url) as client:
            client.execute_command("CLIENT", "PAUSE", "500")  # the miss below stays in flight
        reader, writer = await asyncio.open_connection(HOST, on.port)
        writer.write(get(f"/api/handles/{DEMO_PREFIX}/demo-text") + get(REST))
        await _until(lambda: on.stats.http.inflight == 1)  # read together: the hit waits behind the miss
        await on.lane.aclose(READ_TIMEOUT_S)
        answer = await read_response(reader, "GET")
        assert answer.startswith(b"HTTP/1.1 200 OK") and b"\r\nConnection: close\r\n" in answer
        assert b"demo-text" in answer
        assert await asyncio.wait_for(reader.read(), READ_TIMEOUT_S) == b""
        writer.close()


async def test_a_tls_listener_has_no_lane() -> None:
    runner = web.AppRunner(web.Application(), handle_signals=False)
    await runner.setup()
    try:
        sock = socket.create_server((HOST, 0))
        sock.setblocking(False)
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        assert await open_public_site(runner, sock, ConnectionLimits(), 15.0, ssl_context=tls) is None
    finally:
        await runner.cleanup()


async def test_pipelined_misses_are_read_at_once_and_answered_in_order(
    redis_launcher: Callable[..., RedisProcess], tmp_path: Path
) -> None:
    server = redis_launcher()
    handles = ["demo-url", "demo-text", "nope-1", "demo-private", "demo-big", "nope-2"]
    data = b"".join(get(f"/api/handles/{DEMO_PREFIX}/{h}") for h in handles)
    data += get("/api/prefixes") + get(REST)  # aiohttp takes over once the misses are answered
    methods = ["GET"] * (len(handles) + 2)
    async with serving_pair(server.url, tmp_path) as (on, off):
        assert on.lane is not None
        with redis.Redis.from_url(server.url) as client:
            client.execute_command("CLIENT", "PAUSE", "500")  # reads wait: the misses stay in flight
        reader, writer = await asyncio.open_connection(HOST, on.port)
        writer.write(data)
        await _until(lambda: on.stats.http.inflight == len(handles))  # all read at once
        answers = [await read_response(reader, method) for method in methods]
        writer.close()
        assert (answers, None) == await exchange(off.port, data, methods)
        assert on.lane.handed_over == 1 and on.stats.http.inflight == 0


async def test_a_damaged_record_in_a_pipeline_answers_500_in_order_and_the_pipeline_goes_on(
    redis_url: str, tmp_path: Path
) -> None:
    bad = f"{DEMO_PREFIX}/damaged"
    data = get(REST) + get(f"/api/handles/{bad}") + get(f"/api/handles/{DEMO_PREFIX}/demo-text")
    async with serving_pair(redis_url, tmp_path) as (on, off):
        store = on.resolver.store
        assert isinstance(store, RedisStore)
        # A record with an unknown version byte: its read fails alone (RC 2, HTTP 500 with the JSON error).
        await store.client.hset(keys.record_key(bad, store.buckets), keys.record_field(bad), b"\x09junk")
        for port in (on.port, off.port):  # the first answer is kept: the misses after it share a read
            await exchange(port, get(REST), ["GET"])
        lane = await exchange(on.port, data, ["GET", "GET", "GET"])
        assert lane == await exchange(off.port, data, ["GET", "GET", "GET"])
        statuses = [answer.split(b" ", 2)[1] for answer in lane[0]]
        assert statuses == [b"200", b"500", b"200"] and lane[1] is None  # still open
        assert lane[0][1].endswith(b'"responseCode":2,"handle":"%s","message":"stored record cannot be read"}'
                                   % bad.encode())
        assert on.lane is not None and on.lane.handed_over == 0 and on.stats.http.inflight == 0
