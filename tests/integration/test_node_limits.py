"""Back-pressure and process lifecycle of a real node: a TCP client that never reads, the UDP in-flight cap
(RC 3, handle-protocol.md §6), workers that die with a SIGKILLed supervisor, SIGTERM during a restart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from protocol.messages import decode_message
from resolver.client import resolution_request, resolve_tcp, resolve_udp
from resolver.demo_data import DEMO_PREFIX, load_demo
from resolver.health import WorkersState, read_workers_state
from storage import open_store
from storage.api import StorageConfig
from tests.conftest import RedisProcess
from tests.integration.node import Node, start_node

HOST = "127.0.0.1"
SEND_BOUND_BYTES = 64 * 1024 * 1024  # far more than every buffer between client and worker when they bound
RSS_GROWTH_BOUND_KB = 32 * 1024  # measured: +1.3 MiB with back-pressure, +100 MiB without (one connection)


async def _demo(url: str) -> None:
    store = await open_store(StorageConfig(redis_url=url))
    await load_demo(store)
    await store.aclose()


@pytest.fixture
def demo_redis(redis_launcher: Callable[..., RedisProcess]) -> RedisProcess:
    """A private redis-server with the demo records (tests here pause it)."""
    server = redis_launcher()
    asyncio.run(_demo(server.url))
    return server


@contextlib.contextmanager
def paused(server: RedisProcess) -> Iterator[None]:
    """Redis answers nothing (stopped by PID with SIGSTOP) until the block ends: storage reads stay in flight.
    (CLIENT PAUSE ALL would also hold the CLIENT UNPAUSE meant to end it, in 6.2.)"""
    os.kill(server.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.pid, signal.SIGCONT)


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def _pipeline_until_blocked(port: int) -> tuple[socket.socket, int]:
    """Pipeline requests for a cached ~1 KB record and never read; returns the socket and the bytes sent."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small receive window
    sock.connect((HOST, port))
    sock.setblocking(False)
    batch = b"".join(resolution_request(f"{DEMO_PREFIX}/demo-big", request_id=i + 1) for i in range(1000))
    sent = 0
    while sent < SEND_BOUND_BYTES:
        try:
            sent += sock.send(batch)
        except BlockingIOError:
            # Full for now; a worker that still reads frees room soon. Not writable for a whole second:
            # it stopped reading (select bounds the wait; it is not a timing assertion).
            _, writable, _ = select.select([], [sock], [], 1.0)
            if not writable:
                return sock, sent
    return sock, sent


@pytest.mark.slow
async def test_tcp_client_that_never_reads_is_stopped(redis_url: str, tmp_path: Path) -> None:
    node = start_node(tmp_path / "node", redis_url, workers=1)
    await _demo(redis_url)
    worker = int(node.ports()["workers"][0])
    sock = None
    try:
        warm = await resolve_tcp(HOST, node.handle_port, f"{DEMO_PREFIX}/demo-big")
        assert warm.header.response_code == 1
        before_kb = _rss_kb(worker)
        sock, sent = await asyncio.to_thread(_pipeline_until_blocked, node.handle_port)
        assert sent < SEND_BOUND_BYTES, "the worker kept reading a client that never reads"
        grown_kb = _rss_kb(worker) - before_kb
        assert grown_kb < RSS_GROWTH_BOUND_KB, f"worker memory grew {grown_kb} KiB for one unread connection"
        for _ in range(3):  # the same worker still serves everyone else
            assert (await resolve_tcp(HOST, node.handle_port, "99.1/x")).header.response_code == 301
            assert (await resolve_udp(HOST, node.handle_port, "99.1/x")).header.response_code == 301
    finally:
        if sock is not None:
            sock.close()
        assert node.stop() == 0, node.log()


async def _served(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request_id: int) -> int:
    """Resolve on an open connection: the response code (the connection is tracked by the worker)."""
    writer.write(resolution_request("99.1/x", request_id=request_id))
    head = await asyncio.wait_for(reader.readexactly(20), 10)
    body = await asyncio.wait_for(reader.readexactly(int.from_bytes(head[16:20], "big")), 10)
    return int(decode_message(head + body).header.response_code)


@pytest.mark.slow
async def test_tcp_connections_over_the_cap_and_a_dribbling_client_are_closed(
    redis_url: str, tmp_path: Path
) -> None:
    node = start_node(tmp_path / "node", redis_url, "--tcp-max-connections", "2", "--tcp-message-timeout-s",
                      "0.5", workers=1)
    held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        for i in range(2):
            held.append(await asyncio.open_connection(HOST, node.handle_port))
            assert await _served(*held[-1], request_id=i + 1) == 301
        reader, writer = await asyncio.open_connection(HOST, node.handle_port)
        assert await asyncio.wait_for(reader.read(), 10) == b""  # the third: closed at once, unread
        writer.close()
        assert await _served(*held[0], request_id=3) == 301  # the two held ones are still served
        held[1][1].write(resolution_request("99.1/x", request_id=4)[:10])  # and never the rest of it
        assert await asyncio.wait_for(held[1][0].read(), 10) == b""
        assert "refusing TCP connections: 2 open" in node.log()
        assert "no whole message within 0.5 s" in node.log()
    finally:
        for _, writer in held:
            writer.close()
        assert node.stop() == 0, node.log()


def _metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=5) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def _await_metric(port: int, name: str, at_least: float) -> float:
    deadline = time.monotonic() + 20
    value = _metric(port, name)
    while value < at_least and time.monotonic() < deadline:
        time.sleep(0.1)  # the workers flush counters about once a second; bounded by the deadline
        value = _metric(port, name)
    return value


@pytest.mark.slow
async def test_udp_misses_over_the_cap_get_rc_3(demo_redis: RedisProcess, tmp_path: Path) -> None:
    node = start_node(tmp_path / "node", demo_redis.url, "--udp-max-in-flight", "2", workers=1)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            with paused(demo_redis):
                for i in range(20):  # cold identifiers: each needs a storage read, and Redis is stopped
                    sock.sendto(resolution_request(f"{DEMO_PREFIX}/cold-{i}", request_id=i + 1),
                                (HOST, node.handle_port))
                busy = [decode_message(await asyncio.to_thread(sock.recv, 2048)) for _ in range(18)]
            late = [decode_message(await asyncio.to_thread(sock.recv, 2048)) for _ in range(2)]
        assert {int(m.header.response_code) for m in busy} == {3}
        assert [int(m.header.response_code) for m in late] == [100, 100]  # the two in flight, Redis back
        shed = _await_metric(node.http_port, 'idnode_rate_limited_total{transport="udp"}', 18)
        assert shed >= 18
    finally:
        assert node.stop() == 0, node.log()


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie holds no sockets
    except FileNotFoundError:
        return True


def _await_gone(pids: list[int], timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := [p for p in pids if not _gone(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling /proc: the workers are not our children; bounded by the deadline
    return left


@pytest.mark.slow
def test_workers_die_with_a_killed_supervisor(redis_url: str, tmp_path: Path) -> None:
    # A worker that loses its supervisor still drains what is in flight, for up to the shutdown deadline: a
    # short one here, well inside the wait below. At the default 10 s the two raced: in one full-suite run a
    # worker was still in its graceful stop when the 10 s wait ran out.
    node = start_node(tmp_path / "first", redis_url, "--shutdown-deadline-s", "2")
    ports = node.ports()
    workers = [int(p) for p in ports["workers"]]
    try:
        os.kill(node.pid, signal.SIGKILL)
        node.proc.wait(10)
        assert _await_gone(workers, 10) == [], f"workers outlived their supervisor:\n{node.log()}"
    finally:
        for pid in workers:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
        node.stop()
    again = start_node(tmp_path / "second", redis_url, "--handle-listen", f"{HOST}:{ports['handle_port']}",
                       "--http-listen", f"{HOST}:{ports['http_port']}")
    try:
        assert again.handle_port == ports["handle_port"]
        assert asyncio.run(resolve_udp(HOST, again.handle_port, "99.1/x")).header.response_code == 301
    finally:
        assert again.stop() == 0, again.log()


def _await_workers(node: Node, accept: Callable[[WorkersState], bool], what: str) -> WorkersState:
    """The first workers.json state that ``accept`` takes (the supervisor rewrites it at every fork)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = read_workers_state(node.data_dir)
        if state is not None and accept(state):
            return state
        time.sleep(0.05)  # polling a file the supervisor rewrites; bounded by the deadline
    raise AssertionError(f"workers.json never showed {what}:\n{node.log()}")


def _await_starting(node: Node, dead: int) -> int:
    """The replacement's pid once workers.json shows it "starting" (written at fork, before it is ready)."""
    def replaced(state: WorkersState) -> bool:
        return any(w.phase == "starting" and w.pid != dead for w in state.workers)

    state = _await_workers(node, replaced, "a replacement starting")
    return next(w.pid for w in state.workers if w.phase == "starting" and w.pid != dead)


def _sigterm_exit_code(node: Node, timeout_s: float = 20) -> int | None:
    """SIGTERM the supervisor; its exit code, or None if it is still running after ``timeout_s``."""
    os.kill(node.pid, signal.SIGTERM)
    try:
        return node.proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        return None


@pytest.mark.slow
def test_sigterm_during_a_restart_stops_promptly(demo_redis: RedisProcess, tmp_path: Path) -> None:
    # A replacement that cannot get ready (Redis paused, long socket timeout) must not hold SIGTERM up.
    node = start_node(tmp_path / "node", demo_redis.url, "--storage-socket-timeout-s", "60",
                      "--shutdown-deadline-s", "1")
    try:
        with paused(demo_redis):
            victim = int(node.ports()["workers"][0])
            os.kill(victim, signal.SIGKILL)
            _await_starting(node, victim)
            code = _sigterm_exit_code(node)  # while Redis is still paused
        assert code == 0, node.log()
    finally:
        node.stop()


@pytest.mark.slow
def test_a_stop_past_its_deadline_says_what_it_waited_for(demo_redis: RedisProcess, tmp_path: Path) -> None:
    # A miss whose read never returns (Redis stopped): the stop closes it at the deadline, and the log says
    # what was still in flight (as it names any later step that takes over a second), so a stop that hangs
    # can be read from the log alone.
    node = start_node(tmp_path / "node", demo_redis.url, "--shutdown-deadline-s", "1", workers=1)
    try:
        with paused(demo_redis), socket.create_connection((HOST, node.handle_port)) as sock:
            sock.sendall(resolution_request(f"{DEMO_PREFIX}/cold-1", request_id=1))
            time.sleep(0.5)  # for the worker to read it: loopback takes microseconds, nothing else to poll
            code = _sigterm_exit_code(node)  # while Redis is still stopped
        assert code == 0, node.log()
        log = node.log()
        assert "shutdown deadline passed with 1 Handle TCP requests on 1 connections" in log, log
    finally:
        node.stop()


@pytest.mark.slow
def test_sigterm_during_the_first_start_stops_promptly(demo_redis: RedisProcess, tmp_path: Path) -> None:
    # Workers that cannot get ready (Redis accepts connections and never answers) must not hold SIGTERM up
    # for the 60 s readiness timeout.
    with paused(demo_redis):
        node = start_node(tmp_path / "node", demo_redis.url, "--storage-socket-timeout-s", "60", ready=False)
        try:
            def all_starting(state: WorkersState) -> bool:
                return len(state.workers) == 2 and all(w.phase == "starting" and w.pid for w in state.workers)

            state = _await_workers(node, all_starting, "every worker starting")  # right after the first fork
            workers = [w.pid for w in state.workers]
            assert _sigterm_exit_code(node) == 0, node.log()  # while Redis is still paused
            assert _await_gone(workers, 10) == [], f"workers outlived their supervisor:\n{node.log()}"
        finally:
            node.stop()
