"""The HTTP fast lane in a real node: SIGTERM while a REST miss is in flight (its Redis paused, so the read
must wait) answers it, closes the idle keep-alive connection, and the node exits cleanly; the setting turns
the lane off (a node without it answers the same bytes)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from resolver.demo_data import DEMO_PREFIX, load_demo
from resolver.settings import load_settings
from storage import open_store
from storage.api import StorageConfig
from tests.conftest import RedisProcess
from tests.integration.node import start_node
from tests.resolver.fastlane_rig import HOST, READ_TIMEOUT_S, URL_HANDLE, exchange, get, read_response

REST = f"/api/handles/{URL_HANDLE}"


async def _load(url: str) -> None:
    store = await open_store(StorageConfig(redis_url=url))
    await load_demo(store)
    await store.aclose()


@pytest.mark.slow
async def test_sigterm_answers_the_miss_in_flight(
    redis_launcher: Callable[..., RedisProcess], tmp_path: Path
) -> None:
    server = redis_launcher()
    await _load(server.url)
    node = start_node(tmp_path / "node", server.url, workers=1)
    try:
        idle_reader, idle_writer = await asyncio.open_connection(HOST, node.http_port)
        idle_writer.write(get(REST))
        assert (await read_response(idle_reader, "GET")).startswith(b"HTTP/1.1 200 OK")
        with redis.Redis.from_url(server.url) as client:
            client.execute_command("CLIENT", "PAUSE", "1000")  # the miss below waits for its read
        reader, writer = await asyncio.open_connection(HOST, node.http_port)
        writer.write(get(f"/api/handles/{DEMO_PREFIX}/demo-text"))
        # An answer on a later connection: the worker has read the miss (one worker, one loop, in order).
        await exchange(node.http_port, get("/api/prefixes"), ["GET"])
        os.kill(node.pid, signal.SIGTERM)
        answer = await read_response(reader, "GET")
        assert answer.startswith(b"HTTP/1.1 200 OK") and b"\r\nConnection: close\r\n" in answer
        assert b'"handle":"88.100.1/demo-text"' in answer
        assert await asyncio.wait_for(reader.read(), READ_TIMEOUT_S) == b""
        assert await asyncio.wait_for(idle_reader.read(), READ_TIMEOUT_S) == b""
        assert await asyncio.to_thread(node.proc.wait, 30) == 0
        for w in (idle_writer, writer):
            w.close()
    finally:
        node.stop()


@pytest.mark.slow
async def test_the_lane_can_be_switched_off(redis_url: str, tmp_path: Path) -> None:
    await _load(redis_url)
    on = start_node(tmp_path / "on", redis_url, workers=1)
    off = start_node(tmp_path / "off", redis_url, "--http-fast-lane", "false", workers=1)
    try:
        data = get(REST) + get(REST + "?pretty") + get("/api/prefixes") + get(REST, "Connection: close")
        methods = ["GET"] * 4
        for _ in range(2):
            assert await exchange(on.http_port, data, methods) == await exchange(off.http_port, data, methods)
    finally:
        on.stop()
        off.stop()


def test_the_setting_reads_from_flags_and_environment() -> None:
    assert load_settings({}, {}).http_fast_lane is True
    assert load_settings({"http_fast_lane": "false"}, {}).http_fast_lane is False
    assert load_settings({}, {"IDNODE_HTTP_FAST_LANE": "0"}).http_fast_lane is False
