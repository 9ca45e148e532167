"""The operators' view of a running node: /metrics counters move over UDP, TCP and HTTP (on the HTTP port and
on ``--metrics-listen``), the cache and storage metrics move, the access log samples, ``/readyz`` and
``resolver status`` report a Redis stopped by its PID, rate limiting is counted, and ``--no-metrics`` works.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from protocol.bodies import ValuesBody
from protocol.values import HandleValue
from resolver.client import resolution_request, resolve_http, resolve_tcp, resolve_udp
from resolver.demo_data import DEMO_PREFIX, load_demo
from resolver.settings import Settings
from storage import open_store
from storage.api import StorageConfig
from tests.conftest import RedisProcess
from tests.integration.node import Node, start_node

pytestmark = pytest.mark.slow
HOST = "127.0.0.1"
WAIT_S = 20.0
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - our own loopback node
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        with exc:  # it holds the response's socket
            return exc.code, exc.read()


def scrape(port: int) -> Samples:
    status, body = get(f"http://{HOST}:{port}/metrics")
    assert status == 200, body
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def wait_metrics(port: int, done: Callable[[Samples], bool]) -> Samples:
    """Scrape until ``done`` (each worker flushes its counters once a second), bounded by WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    samples = scrape(port)
    while not done(samples) and time.monotonic() < deadline:
        time.sleep(0.2)  # polling the node's own endpoint for a condition; bounded by the deadline
        samples = scrape(port)
    return samples


async def load(node: Node, handles: list[str], rounds: int) -> None:
    port, http_port = node.handle_port, node.http_port
    for _ in range(rounds):
        for handle in handles:
            await resolve_udp(HOST, port, handle)
            await resolve_tcp(HOST, port, handle)
            await resolve_http(HOST, http_port, handle)


def not_found_twice_on_one_connection(port: int, handle: str) -> list[int]:
    """Two filtered lookups of a missing handle on one kept-alive connection, so on one worker: each query is
    a hot answer of its own, so the second finds the negative entry the first left (or found) there."""
    conn = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        statuses = []
        for index in (1, 2):
            conn.request("GET", f"/api/handles/{handle}?index={index}")
            with conn.getresponse() as resp:
                resp.read()
                statuses.append(resp.status)
        return statuses
    finally:
        conn.close()


async def seed(url: str, handle_port: int = 2641) -> None:
    store = await open_store(StorageConfig(redis_url=url))
    try:
        await load_demo(store, handle_port)
    finally:
        await store.aclose()


async def write_one(url: str, handle: str) -> None:
    store = await open_store(StorageConfig(redis_url=url))
    try:
        await store.create(handle, (HandleValue(1, "URL", b"https://example.com/x"),), actor="test")
    finally:
        await store.aclose()


@pytest.fixture
def redis_private(redis_launcher: Callable[..., RedisProcess]) -> RedisProcess:
    server = redis_launcher()
    asyncio.run(seed(server.url))
    return server


@pytest.fixture
def node(redis_private: RedisProcess, tmp_path: Path) -> Iterator[Node]:
    running = start_node(tmp_path / "node", redis_private.url, "--metrics-listen", "127.0.0.1:0",
                         "--access-log-sample", "1")
    yield running
    assert running.stop() == 0, running.log()


def test_metrics_move_over_all_transports_and_readyz_sees_redis_stop(
    node: Node, redis_private: RedisProcess
) -> None:
    metrics_port = int(node.ports()["metrics_port"])
    handles = [f"{DEMO_PREFIX}/demo-url", f"{DEMO_PREFIX}/missing", "99.1/not-homed"]
    rounds = 3
    asyncio.run(load(node, handles, rounds))
    # The load alone may leave no negative hit: with two workers, the missing handle's Handle requests (which
    # share a hot answer) and its HTTP ones can land on different workers.
    assert not_found_twice_on_one_connection(node.http_port, f"{DEMO_PREFIX}/missing") == [404, 404]
    asyncio.run(write_one(redis_private.url, f"{DEMO_PREFIX}/new-one"))
    n = len(handles) * rounds
    counted = {"udp": n, "tcp": n, "http": n + 2}  # HTTP: the two lookups on one connection
    unauthenticated = urllib.request.Request(
        f"http://{HOST}:{node.http_port}/api/handles/{DEMO_PREFIX}/w", data=b'{"values": []}', method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unauthenticated, timeout=5)  # noqa: S310
    refused.value.close()  # the error holds the response's socket
    assert refused.value.code == 401

    def all_counted(s: Samples) -> bool:
        return (all(value(s, "idnode_resolution_duration_seconds_count", transport=t) == count
                    for t, count in counted.items()) and value(s, "idnode_change_feed_lag_seconds") > 0
                and value(s, "idnode_writes_total", operation="overwrite", result="forbidden") == 1
                and value(s, "idnode_fast_path_handoffs_total", path="http_connection") >= 1
                and value(s, "idnode_gc_pause_seconds_count") > 0)

    s = wait_metrics(metrics_port, all_counted)
    for transport, count in counted.items():
        missing = rounds + (count - n)
        assert value(s, "idnode_resolutions_total", transport=transport, code="success") == rounds, transport
        assert value(s, "idnode_resolutions_total", transport=transport, code="handle_not_found") == missing
        assert value(s, "idnode_resolutions_total", transport=transport, code="server_not_resp") == rounds
        assert value(s, "idnode_resolution_duration_seconds_count", transport=transport) == count
    assert value(s, "idnode_writes_total", operation="overwrite", result="forbidden") == 1
    assert value(s, "idnode_fast_path_handoffs_total", path="storage_read") == 0  # the fast link carried all
    assert value(s, "idnode_cache_lookups_total", result="miss") > 0
    assert value(s, "idnode_cache_lookups_total", result="hit") > 0
    assert value(s, "idnode_cache_lookups_total", result="negative_hit") > 0
    assert value(s, "idnode_cache_entries") > 0
    assert value(s, "idnode_cache_bytes") > 0
    assert value(s, "idnode_storage_roundtrip_seconds_count", op="read") > 0
    assert value(s, "idnode_storage_batch_keys_count") > 0
    assert ("idnode_event_loop_delay_seconds_count", frozenset()) in s  # resolver/loopwatch.py runs
    assert value(s, "idnode_gc_pause_seconds_count") > 0  # resolver/gctune.py's young passes, every 100 ms
    assert value(s, "idnode_change_feed_lag_seconds") > 0
    assert value(s, "idnode_workers_up") == 2 and value(s, "idnode_workers_expected") == 2
    assert value(s, "idnode_worker_restarts_total") == 0
    assert any(name == "idnode_build_info" for name, _ in s)
    budget = str(Settings(workers=2).cache_bytes_per_worker())  # cache_max_bytes 0: the automatic budget
    assert value(s, "idnode_config_info", key="cache_bytes_per_worker", value=budget) == 1
    # The same node on the HTTP listener; the access log sampled every resolution (rate 1).
    on_http_port = scrape(node.http_port)
    assert value(on_http_port, "idnode_resolutions_total", transport="udp", code="success") == rounds
    log = node.log()
    for transport in ("udp", "tcp", "http"):
        assert f"resolution transport={transport} peer=127.0.0.1 handle={DEMO_PREFIX}/demo-url code=1" in log

    status, body = get(f"http://{HOST}:{metrics_port}/readyz")
    assert status == 200 and json.loads(body)["failed"] == [], body
    redis_private.stop()  # by PID
    status, body = get(f"http://{HOST}:{node.http_port}/readyz")
    assert status == 503 and json.loads(body)["failed"] == ["redis"], body
    out = subprocess.run([sys.executable, "-m", "resolver", "status", "--data-dir", str(node.data_dir)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "workers: 2/2 alive" in out.stdout
    assert '/readyz: HTTP 503 {"status": "not ready", "failed": ["redis"]' in out.stdout
    assert "  redis: FAILED StorageUnavailable" in out.stdout
    assert "  workers: ok 2 of 2 workers up" in out.stdout
    assert f"metrics port {metrics_port}" in out.stdout
    s = wait_metrics(metrics_port, lambda s: value(s, "idnode_storage_errors_total", op="ping") > 0)
    assert value(s, "idnode_storage_errors_total", op="ping") > 0
    # A read that fails is answered RC 2, counted, and logged with its cause.
    message: Any = asyncio.run(resolve_udp(HOST, node.handle_port, f"{DEMO_PREFIX}/not-cached"))
    assert int(message.header.response_code) == 2
    s = wait_metrics(metrics_port, lambda s: value(s, "idnode_storage_errors_total", op="read") > 0)
    assert value(s, "idnode_storage_batch_errors_total") > 0
    # With Redis gone the fast read link hands its batches to the redis-py pipeline (which fails them).
    assert value(s, "idnode_fast_path_handoffs_total", path="storage_read") >= 1
    assert value(s, "idnode_resolutions_total", transport="udp", code="error") == 1
    assert re.search(r"storage read failed: .* \(0 more since the last line\)", node.log())
    assert "exc=Traceback" in node.log() and "ConnectionError" in node.log()


def test_rate_limited_requests_are_counted_by_transport(redis_url: str, tmp_path: Path) -> None:
    asyncio.run(seed(redis_url))
    node = start_node(tmp_path / "node", redis_url, "--resolutions-per-s", "0.001", "--rate-burst", "1",
                      workers=1)
    try:
        handle = f"{DEMO_PREFIX}/demo-url"
        asyncio.run(load(node, [handle], 3))  # one token per client: nearly all refused
        s = wait_metrics(node.http_port,
                         lambda s: value(s, "idnode_rate_limited_total", transport="http") >= 2)
        for transport in ("udp", "tcp", "http"):
            assert value(s, "idnode_rate_limited_total", transport=transport) >= 2, transport
        assert value(s, "idnode_resolutions_total", transport="udp", code="server_too_busy") >= 2
    finally:
        assert node.stop() == 0, node.log()


def test_no_metrics_still_serves_and_reports_health(redis_url: str, tmp_path: Path) -> None:
    asyncio.run(seed(redis_url))
    node = start_node(tmp_path / "node", redis_url, "--no-metrics", workers=1)
    try:
        message: Any = asyncio.run(resolve_udp(HOST, node.handle_port, f"{DEMO_PREFIX}/demo-url"))
        assert int(message.header.response_code) == 1
        assert get(f"http://{HOST}:{node.http_port}/metrics")[0] == 404
        assert get(f"http://{HOST}:{node.http_port}/healthz")[0] == 200
        status, body = get(f"http://{HOST}:{node.http_port}/readyz")
        assert status == 200, body
        assert not (node.data_dir / "metrics").exists()
    finally:
        assert node.stop() == 0, node.log()


def test_udp_datagrams_the_kernel_drops_are_counted_and_a_capped_buffer_is_logged(
    redis_url: str, tmp_path: Path
) -> None:
    """A stopped worker's UDP socket fills and the kernel drops the rest: the supervisor counts the drops
    (``idnode_udp_receive_drops_total``, from SO_MEMINFO). The buffer asked for is above what
    net.core.rmem_max allows, so the node also says it was capped."""
    asyncio.run(seed(redis_url))
    too_large = int(Path("/proc/sys/net/core/rmem_max").read_text()) + 4096
    node = start_node(tmp_path / "node", redis_url, "--udp-receive-buffer-bytes", str(too_large), workers=1)
    try:
        assert "UDP receive buffer capped" in node.log() and "net.core.rmem_max" in node.log()
        worker = node.ports()["workers"][0]
        request = resolution_request(f"{DEMO_PREFIX}/demo-url")
        sent = too_large // 256  # far more than fit: each waits charged at least 512 bytes
        os.kill(worker, signal.SIGSTOP)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                for _ in range(sent):
                    sender.sendto(request, (HOST, node.handle_port))
        finally:
            os.kill(worker, signal.SIGCONT)
        # Until the worker has answered its backlog the buffer stays full, and a new request would be dropped.
        s = wait_metrics(node.http_port, lambda s: value(s, "idnode_udp_receive_drops_total") > 0
                         and value(s, "idnode_udp_receive_queue_fill_ratio") == 0)
        assert 0 < value(s, "idnode_udp_receive_drops_total") < sent
        assert value(s, "idnode_udp_receive_queue_fill_ratio") == 0
        message: Any = asyncio.run(resolve_udp(HOST, node.handle_port, f"{DEMO_PREFIX}/demo-url"))
        assert int(message.header.response_code) == 1
    finally:
        assert node.stop() == 0, node.log()


BIG_DATA_BYTES = 30_000


async def write_big(url: str, count: int) -> None:
    store = await open_store(StorageConfig(redis_url=url))
    try:
        for i in range(count):
            data = f"https://example.com/{i}/".encode() + b"a" * BIG_DATA_BYTES
            await store.create(f"{DEMO_PREFIX}/big-{i}", (HandleValue(1, "URL", data),), actor="test")
    finally:
        await store.aclose()


async def resolve_big(node: Node, count: int) -> None:
    for i in range(count):
        handle = f"{DEMO_PREFIX}/big-{i}"
        message = await resolve_tcp(HOST, node.handle_port, handle)
        body = message.body
        assert isinstance(body, ValuesBody) and body.values[0].data.startswith(f"https://example.com/{i}/".encode())
        assert len(body.values[0].data) > BIG_DATA_BYTES
        status, answer = await resolve_http(HOST, node.http_port, handle)
        assert status == 200 and answer["values"][0]["data"]["value"].startswith(f"https://example.com/{i}/")


def test_the_cache_keeps_to_its_byte_budget_with_large_records(
    redis_private: RedisProcess, tmp_path: Path
) -> None:
    """Forty 30 KB records, each answered over TCP and HTTP twice, on a node given 1 MB of cache: every
    answer is right, and the cache's estimate stays within the budget by dropping its oldest entries."""
    budget = 1_000_000
    asyncio.run(write_big(redis_private.url, 40))
    node = start_node(tmp_path / "node", redis_private.url, "--cache-max-bytes", str(budget),
                      "--cache-max-entries", "1000", workers=1)
    try:
        asyncio.run(resolve_big(node, 40))
        asyncio.run(resolve_big(node, 40))  # answered again, from storage where the cache let them go
        s = wait_metrics(node.http_port, lambda s: value(s, "idnode_cache_evictions_total") > 0)
        assert 0 < value(s, "idnode_cache_bytes") <= budget
        assert value(s, "idnode_cache_evictions_total") > 0
        assert 0 < value(s, "idnode_cache_entries") < 40
    finally:
        node.stop()
