"""Serve-stale (resolver/cache.py, RFC 8767): a real node whose Redis is stopped by its PID still answers
what it had read, after those entries expired, over UDP, TCP and HTTP, with the record it read, and after one
failed read it stops waiting on storage for them (``service.STALE_RECHECK_S``); what it never read is RC 2,
and a node started with ``--cache-max-stale-s 0`` answers RC 2 for everything."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from resolver.client import resolve_http, resolve_tcp, resolve_udp
from resolver.demo_data import DEMO_PREFIX
from tests.conftest import RedisProcess
from tests.integration.node import Node, start_node
from tests.integration.test_metrics_node import HOST, seed, value, wait_metrics

pytestmark = pytest.mark.slow
URL_HANDLE = f"{DEMO_PREFIX}/demo-url"
MISSING = f"{DEMO_PREFIX}/no-such-thing"
TTL_S = "1"  # the cache's TTL cap and negative TTL: everything read has expired 1 s later


async def answers(node: Node, handle: str) -> tuple[int, int, int, list[object]]:
    """The response code over UDP and TCP, the HTTP status, and the values HTTP answered."""
    udp = await resolve_udp(HOST, node.handle_port, handle)
    tcp = await resolve_tcp(HOST, node.handle_port, handle)
    status, body = await resolve_http(HOST, node.http_port, handle)
    return int(udp.header.response_code), int(tcp.header.response_code), status, body.get("values", [])


def test_a_stopped_redis_leaves_what_was_read_answered(
    redis_launcher: Callable[..., RedisProcess], tmp_path: Path
) -> None:
    redis = redis_launcher()
    asyncio.run(seed(redis.url))
    flags = ("--cache-max-ttl-s", TTL_S, "--cache-negative-ttl-s", TTL_S, "--metrics-listen", "127.0.0.1:0")
    node = start_node(tmp_path / "stale", redis.url, *flags, workers=1)
    strict = start_node(tmp_path / "strict", redis.url, *flags, "--cache-max-stale-s", "0", workers=1)
    try:
        before = asyncio.run(answers(node, URL_HANDLE))
        assert before[:3] == (1, 1, 200) and before[3], before
        assert asyncio.run(answers(node, MISSING))[:3] == (100, 100, 404)
        assert asyncio.run(answers(strict, URL_HANDLE))[:3] == (1, 1, 200)
        redis.stop()  # by PID
        time.sleep(float(TTL_S) + 0.5)  # every entry has expired

        assert asyncio.run(answers(node, URL_HANDLE)) == before  # the record it read, on every transport
        assert asyncio.run(answers(node, MISSING))[:3] == (100, 100, 404)  # "does not exist" too
        assert asyncio.run(answers(node, URL_HANDLE)) == before
        metrics = wait_metrics(int(node.ports()["metrics_port"]),
                               lambda s: value(s, "idnode_cache_lookups_total", result="stale") >= 9)
        # One read failed (the first), and for the next STALE_RECHECK_S the rest were answered without one.
        assert value(metrics, "idnode_storage_errors_total", op="read") == 1
        assert asyncio.run(answers(node, f"{DEMO_PREFIX}/never-read"))[:3] == (2, 2, 500)
        assert asyncio.run(answers(strict, URL_HANDLE))[:3] == (2, 2, 500)
        assert "storage read failed" in node.log()
    finally:
        for running in (node, strict):
            assert running.stop() == 0, running.log()
