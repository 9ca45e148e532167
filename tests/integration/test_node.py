"""The node end to end: ``resolver serve`` with 2 workers on port 0 against a real Redis, over UDP, TCP and
HTTP; a write seen by every worker; fragmentation; pipelining; garbage; SIGTERM; a killed worker replaced."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from protocol.bodies import ReferralBody, ValuesBody
from protocol.framing import UdpReassembler
from protocol.messages import Message, decode_message
from protocol.values import HandleValue
from resolver.client import resolution_request, resolve_http, resolve_tcp, resolve_udp
from resolver.demo_data import DEMO_PREFIX, load_demo
from storage import open_store
from storage.api import HandleStore, StorageConfig
from tests.conftest import RedisProcess
from tests.integration.node import Node, start_node

HOST = "127.0.0.1"
URL_HANDLE = f"{DEMO_PREFIX}/demo-url"


def summary(message: Message) -> tuple[int, tuple[HandleValue, ...]]:
    body = message.body
    values = body.values if isinstance(body, ValuesBody | ReferralBody) else ()
    return int(message.header.response_code), values or ()


@pytest.mark.slow
async def test_same_answer_on_every_transport(node: Node, store: HandleStore) -> None:
    cases = {URL_HANDLE: (1, 200), f"{DEMO_PREFIX}/missing": (100, 404), "99.1/x": (301, 400),
             f"{DEMO_PREFIX}/demo-private": (1, 200), "88.100.2/x": (303, 300)}
    for handle, (code, status) in cases.items():
        udp = summary(await resolve_udp(HOST, node.handle_port, handle))
        tcp = summary(await resolve_tcp(HOST, node.handle_port, handle))
        http_status, body = await resolve_http(HOST, node.http_port, handle)
        assert udp == tcp and udp[0] == code, handle
        assert (http_status, body["responseCode"]) == (status, code), handle
        assert len(body.get("values", [])) == len(udp[1]), handle
    private = summary(await resolve_tcp(HOST, node.handle_port, f"{DEMO_PREFIX}/demo-private"))
    assert [v.type for v in private[1]] == ["DESC"]  # the non-public value never leaves the node


@pytest.mark.slow
async def test_http_proxy(node: Node, store: HandleStore) -> None:
    base = f"http://{HOST}:{node.http_port}"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/{URL_HANDLE}", allow_redirects=False) as resp:
            assert resp.status == 302
            assert resp.headers["Location"] == "https://example.com/products/demo-url"
        utf8 = quote(f"{DEMO_PREFIX}/产品-001")
        async with session.get(f"{base}/{utf8}", allow_redirects=False) as resp:
            assert resp.status == 302 and resp.headers["Location"].endswith("/001")
        html_accept = {"Accept": "text/html,application/xhtml+xml"}
        async with session.get(f"{base}/{DEMO_PREFIX}/demo-text", headers=html_accept) as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            assert "quality@example.com" in await resp.text()
        async with session.get(f"{base}/{URL_HANDLE}?noredirect", allow_redirects=False) as resp:
            assert resp.status == 200 and "demo-url" in await resp.text()
        json_accept = {"Accept": "application/json"}
        async with session.get(f"{base}/{URL_HANDLE}", headers=json_accept, allow_redirects=False) as resp:
            assert resp.status == 200 and (await resp.json())["responseCode"] == 1
        async with session.get(f"{base}/api/handles/{URL_HANDLE}?type=URL&pretty") as resp:
            body = await resp.json()
            assert [v["type"] for v in body["values"]] == ["URL"]
            assert "\n" in await resp.text()
        async with session.get(f"{base}/api/prefixes") as resp:
            assert DEMO_PREFIX in (await resp.json())["prefixes"]


async def _all_see(node: Node, handle: str, expected: bytes, rounds: int = 40) -> bool:
    """Resolve over fresh TCP connections and UDP sockets (the kernel spreads them over both workers)."""
    for _ in range(rounds):
        for message in (await resolve_tcp(HOST, node.handle_port, handle),
                        await resolve_udp(HOST, node.handle_port, handle)):
            _, values = summary(message)
            if not values or values[0].data != expected:
                return False
    return True


@pytest.mark.slow
async def test_write_is_seen_by_every_worker(node: Node, store: HandleStore) -> None:
    handle = f"{DEMO_PREFIX}/changing"
    await store.overwrite(handle, [HandleValue(1, "URL", b"https://example.com/v1")], actor="test")
    deadline = time.monotonic() + 30
    while not await _all_see(node, handle, b"https://example.com/v1"):  # warms both workers' caches
        assert time.monotonic() < deadline
    await store.overwrite(handle, [HandleValue(1, "URL", b"https://example.com/v2")], actor="test")
    while not await _all_see(node, handle, b"https://example.com/v2"):
        assert time.monotonic() < deadline, "a worker kept the old record"


@pytest.mark.slow
async def test_udp_fragmentation(node: Node, store: HandleStore) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        sock.sendto(resolution_request(f"{DEMO_PREFIX}/demo-big", request_id=77), (HOST, node.handle_port))
        reassembler, whole, sizes = UdpReassembler(), None, []
        while whole is None:
            datagram = sock.recv(2048)
            sizes.append(len(datagram))
            whole = reassembler.feed(datagram, 0.0)
    assert len(sizes) > 1 and max(sizes) == 512
    message = decode_message(whole)
    assert message.envelope.request_id == 77 and len(summary(message)[1]) == 8


async def _read_responses(reader: asyncio.StreamReader, count: int) -> list[Message]:
    messages = []
    for _ in range(count):
        head = await asyncio.wait_for(reader.readexactly(20), 20)
        rest = await reader.readexactly(int.from_bytes(head[16:20], "big"))
        messages.append(decode_message(head + rest))
    return messages


@pytest.mark.slow
async def test_pipelined_tcp(node: Node, store: HandleStore) -> None:
    reader, writer = await asyncio.open_connection(HOST, node.handle_port)
    handles = [URL_HANDLE, f"{DEMO_PREFIX}/nope", f"{DEMO_PREFIX}/demo-big"] * 30
    writer.write(b"".join(resolution_request(h, request_id=1000 + i) for i, h in enumerate(handles)))
    messages = await _read_responses(reader, len(handles))
    writer.close()
    codes = {m.envelope.request_id: int(m.header.response_code) for m in messages}
    assert codes == {1000 + i: (100 if "nope" in h else 1) for i, h in enumerate(handles)}


@pytest.mark.slow
async def test_garbage_then_a_good_answer(node: Node, store: HandleStore) -> None:
    good = resolution_request(URL_HANDLE, request_id=5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        oversized = good[:16] + (10**7).to_bytes(4, "big") + good[20:]
        for junk in (b"\x00", os.urandom(300), good[:-8], oversized, b"\xff" * 600):
            sock.sendto(junk, (HOST, node.handle_port))
        sock.sendto(good, (HOST, node.handle_port))
        assert decode_message(sock.recv(2048)).envelope.request_id == 5  # the only reply
    reader, writer = await asyncio.open_connection(HOST, node.handle_port)
    writer.write(good[:16] + (10**7).to_bytes(4, "big"))
    (error,) = await _read_responses(reader, 1)
    assert error.header.response_code == 4 and error.header.opcode == 0
    assert await reader.read() == b""  # closed after a framing error
    writer.close()
    assert summary(await resolve_tcp(HOST, node.handle_port, URL_HANDLE))[0] == 1


@pytest.mark.slow
async def test_sigterm_finishes_requests_in_flight(redis_server: RedisProcess, tmp_path: Path) -> None:
    own = start_node(tmp_path / "node", redis_server.url)
    try:
        store = await open_store(StorageConfig(redis_url=redis_server.url))
        await load_demo(store)
        await store.aclose()
        reader, writer = await asyncio.open_connection(HOST, own.handle_port)
        count = 300  # cache misses: each needs a Redis read when SIGTERM arrives
        writer.write(b"".join(resolution_request(f"{DEMO_PREFIX}/cold-{i}", request_id=i + 1)
                              for i in range(count)))
        first = await _read_responses(reader, 1)
        os.kill(own.pid, signal.SIGTERM)
        rest = await _read_responses(reader, count - 1)
        writer.close()
        assert {m.envelope.request_id for m in first + rest} == set(range(1, count + 1))
        assert await asyncio.to_thread(own.proc.wait, 30) == 0
        assert "ports.json" not in os.listdir(own.data_dir)
    finally:
        own.stop()


def _wait_for_new_worker(node: Node, dead: int) -> list[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers: list[Any] = node.ports()["workers"]
        if dead not in workers and len(workers) == 2:
            return [int(w) for w in workers]
        time.sleep(0.05)  # polling a file the supervisor rewrites; bounded by the deadline
    raise AssertionError(f"worker {dead} was not replaced:\n{node.log()}")


@pytest.mark.slow
async def test_killed_worker_is_replaced(redis_server: RedisProcess, tmp_path: Path) -> None:
    own = start_node(tmp_path / "node", redis_server.url)
    try:
        victim = own.ports()["workers"][0]
        os.kill(victim, signal.SIGKILL)
        workers = await asyncio.to_thread(_wait_for_new_worker, own, victim)
        for pid in workers:
            os.kill(pid, 0)  # alive
        assert "restarting" in own.log()
        for _ in range(10):
            assert summary(await resolve_udp(HOST, own.handle_port, "99.1/x"))[0] == 301
    finally:
        assert own.stop() == 0
