"""/metrics, /healthz and /readyz served by aiohttp on a real socket, against a real Redis."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from resolver.health import (
    WorkersState,
    WorkerState,
    check_workers,
    fetch_readyz,
    read_workers_state,
    write_workers_state,
)
from resolver.http.ops import build_ops_app

Ping = Callable[[], Awaitable[None]]


def redis_ping(url: str) -> Ping:
    async def ping() -> None:
        client = aioredis.from_url(url)
        try:
            await client.ping()
        finally:
            await client.aclose()

    return ping


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens there any more


def ready_state(pid: int, expected: int = 1) -> WorkersState:
    return WorkersState(supervisor_pid=os.getpid(), expected=expected, workers=(WorkerState(0, pid, "up"),))


async def serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def node(redis_url: str, tmp_path: Path) -> AsyncIterator[tuple[str, list[int]]]:
    (tmp_path / "metrics").mkdir()
    write_workers_state(tmp_path, ready_state(os.getpid()))
    scrapes: list[int] = []
    app = build_ops_app(ping=redis_ping(redis_url), data_dir=tmp_path, metrics_dir=tmp_path / "metrics",
                        before_scrape=lambda: scrapes.append(1))
    async for url in serve(app):
        yield url, scrapes


async def test_healthz_readyz_and_metrics(node: tuple[str, list[int]]) -> None:
    node_url, scrapes = node
    async with aiohttp.ClientSession() as http:
        async with http.get(node_url + "/healthz") as resp:
            assert resp.status == 200
            assert await resp.json() == {"status": "ok"}
        async with http.get(node_url + "/readyz") as resp:
            body = await resp.json()
            assert resp.status == 200, body
            assert body["status"] == "ready"
            assert body["failed"] == []
        async with http.get(node_url + "/metrics") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain; version=")
    assert scrapes == [1]  # the answering worker flushed its own numbers first


async def test_readyz_names_an_unreachable_redis(tmp_path: Path) -> None:
    write_workers_state(tmp_path, ready_state(os.getpid()))
    app = build_ops_app(ping=redis_ping(f"redis://127.0.0.1:{closed_port()}"), data_dir=tmp_path)
    async for url in serve(app):
        async with aiohttp.ClientSession() as http, http.get(url + "/readyz") as resp:
            body = await resp.json()
        assert resp.status == 503
        assert body["failed"] == ["redis"]
        assert body["checks"]["redis"]["detail"]


async def test_readyz_names_missing_workers(redis_url: str, tmp_path: Path) -> None:
    app = build_ops_app(ping=redis_ping(redis_url), data_dir=tmp_path)
    async for url in serve(app):
        async with aiohttp.ClientSession() as http, http.get(url + "/readyz") as resp:
            body = await resp.json()
        assert resp.status == 503
        assert body["failed"] == ["workers"]


def test_a_dead_worker_pid_makes_the_node_not_ready(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(30)  # a pid that existed and is gone
    workers = (WorkerState(0, os.getpid(), "up"), WorkerState(1, proc.pid, "up", 3))
    state = WorkersState(os.getpid(), 2, workers)
    write_workers_state(tmp_path, state)
    assert read_workers_state(tmp_path) is not None
    check = check_workers(tmp_path)
    assert not check.ok
    assert "1 of 2" in check.detail
    assert "[1]" in check.detail


def test_workers_state_round_trips(tmp_path: Path) -> None:
    state = WorkersState(123, 2, (WorkerState(0, 10, "up"), WorkerState(1, 11, "starting", 2)), 5.0)
    write_workers_state(tmp_path, state)
    assert read_workers_state(tmp_path) == state
    (tmp_path / "workers.json").write_text("{not json")
    assert read_workers_state(tmp_path) is None


async def test_fetch_readyz_for_the_status_command(node: tuple[str, list[int]]) -> None:
    node_url = node[0]
    status, body = await asyncio.to_thread(fetch_readyz, node_url)
    assert status == 200
    assert body["status"] == "ready"
    status, body = await asyncio.to_thread(fetch_readyz, f"http://127.0.0.1:{closed_port()}")
    assert status == 0
    assert body["status"] == "unreachable"


async def test_readyz_can_leave_a_shared_check_out(tmp_path: Path) -> None:
    """``?exclude=redis``: what the Kubernetes manifest probes, so an outage of the Redis every replica shares
    does not take them all out of the Service while they still answer what they cached (serve-stale)."""
    write_workers_state(tmp_path, ready_state(os.getpid()))
    app = build_ops_app(ping=redis_ping(f"redis://127.0.0.1:{closed_port()}"), data_dir=tmp_path)
    async for url in serve(app):
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/readyz?exclude=redis") as resp:
                body = await resp.json()
                assert resp.status == 200, body
                assert list(body["checks"]) == ["workers"]
            async with http.get(url + "/readyz?exclude=redis&exclude=workers") as resp:
                assert resp.status == 200 and (await resp.json())["checks"] == {}
            async with http.get(url + "/readyz?exclude=redsi") as resp:  # a typo is refused, not ignored
                body = await resp.json()
                assert resp.status == 400
                assert body["error"] == "unknown readiness check 'redsi'; the checks are: redis, workers"
            async with http.get(url + "/readyz") as resp:
                assert resp.status == 503  # without it, Redis still counts
