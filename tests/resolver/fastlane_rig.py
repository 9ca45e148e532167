"""Two copies of the worker's public HTTP listener on one real store: one behind the fast lane, one
without (aiohttp alone), each with its own resolver, cache and counters, started as the worker starts them
(``open_front_door``, then ``fastlane.open_public_site``); and a raw HTTP/1.x client to compare bytes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from resolver.demo_data import DEMO_PREFIX, load_demo
from resolver.http.app import build_app
from resolver.http.conn_guard import connection_limits
from resolver.http.fastlane import FastLane, open_public_site
from resolver.http.front import open_front_door
from resolver.http.observe import install
from resolver.logs import AccessLog
from resolver.metrics import WorkerStats
from resolver.registry import PrefixRegistry
from resolver.service import Resolver
from resolver.settings import Settings
from resolver.worker import make_resolver
from storage import open_store
from storage.api import HandleStore, StorageConfig

HOST = "127.0.0.1"
URL_HANDLE = f"{DEMO_PREFIX}/demo-url"
READ_TIMEOUT_S = 10.0  # a bound on every read, so a missing answer fails the test instead of hanging it


@dataclass
class Served:
    port: int
    stats: WorkerStats
    resolver: Resolver
    lane: FastLane | None


async def _serve_one(
    stack: AsyncExitStack, settings: Settings, store: HandleStore, fast_lane: bool, access: AccessLog | None
) -> Served:
    resolver = make_resolver(settings, store, PrefixRegistry(await store.list_prefixes()))
    stack.push_async_callback(resolver.loader.aclose)
    stats = WorkerStats()
    app = build_app(settings, store, resolver, more_routes=lambda a: install(a, stats, access))
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, keepalive_timeout=settings.limits.http_keepalive_timeout_s
    )
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    open_front_door(runner)
    sock = socket.create_server((HOST, 0))
    sock.setblocking(False)
    limits = connection_limits(settings)
    lane = await open_public_site(
        runner, sock, limits, settings.limits.http_keepalive_timeout_s, fast_lane=fast_lane
    )
    if lane is not None:
        stack.push_async_callback(lane.aclose, 1.0)
    return Served(sock.getsockname()[1], stats, resolver, lane)


@asynccontextmanager
async def serving_pair(
    redis_url: str, tmp_path: Path, settings: Settings | None = None, access: AccessLog | None = None
) -> AsyncIterator[tuple[Served, Served]]:
    """(fast lane on, fast lane off) over the demo records."""
    config = StorageConfig(redis_url=redis_url, data_dir=tmp_path)
    base = settings or Settings(workers=1)
    settings = Settings(
        workers=1, storage=config, rate=base.rate, limits=base.limits, http_fast_lane=base.http_fast_lane
    )
    store = await open_store(config)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(store.aclose)
        await load_demo(store)
        on = await _serve_one(stack, settings, store, True, access)
        off = await _serve_one(stack, settings, store, False, access)
        yield on, off


async def read_response(reader: asyncio.StreamReader, method: str) -> bytes:
    """One response, Date line left out (the only bytes that may differ); a body without Content-Length
    runs to the end of the stream."""
    status = 100
    while 100 <= status < 200:  # an interim answer (100 Continue) comes before the response
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
    length = None
    for line in lines[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    kept = b"\r\n".join(line for line in lines if not line.startswith(b"Date: "))
    if method == "HEAD" or status in (204, 304):
        return kept
    if length is None:
        return kept + await asyncio.wait_for(reader.read(), READ_TIMEOUT_S)
    return kept + await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT_S)


async def exchange(port: int, data: bytes, methods: list[str]) -> tuple[list[bytes], bytes | None]:
    """Send ``data`` on a new connection and read one response per method; then, if the last response
    closes the connection (Connection: close, HTTP/1.0 without keep-alive), what follows (b"": closed)."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(data)
        answers = [await read_response(reader, method) for method in methods]
        tail = None
        if answers and _closes(answers[-1]):
            tail = await asyncio.wait_for(reader.read(), READ_TIMEOUT_S)
        return answers, tail
    finally:
        writer.close()


def _closes(response: bytes) -> bool:
    head = response.split(b"\r\n\r\n", 1)[0]
    if b"\r\nConnection: close" in head:
        return True
    return head.startswith(b"HTTP/1.0") and b"\r\nConnection: keep-alive" not in head


def get(target: str, *fields: str, method: str = "GET", version: str = "1.1") -> bytes:
    """A request head: ``Host`` first on 1.1, then ``fields`` ("Name: value")."""
    lines = [f"{method} {target} HTTP/{version}"]
    if version == "1.1":
        lines.append("Host: localhost")
    lines.extend(fields)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
