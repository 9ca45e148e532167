"""HTTP connection limits with real sockets: a slowloris client is cut off while others are served, and
connections past the cap are refused; in-process (the admin app on the real store) and through a real node."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from resolver.http.conn_guard import REFUSAL, ConnectionLimits, GuardedSockSite
from resolver.http.writes import build_admin_app
from storage.open import open_store
from tests.integration.admin_app import settings_for
from tests.integration.node import start_node

REQUEST = b"GET /api/admin/tenants HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"p" * 200 + b"\r\n\r\n"
MAX_SLOW_BYTES = 150  # the slow client gives up (the test fails) after this many bytes
SLOW_STEP_S = 0.05


@contextlib.asynccontextmanager
async def guarded_app(redis_url: str, tmp_path: Path, limits: ConnectionLimits) -> AsyncIterator[int]:
    settings = settings_for(redis_url, tmp_path)
    store = await open_store(settings.storage)
    runner = web.AppRunner(build_admin_app(settings, store), access_log=None, keepalive_timeout=60)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        await GuardedSockSite(runner, sock, limits).start()
        yield int(sock.getsockname()[1])
    finally:
        await runner.cleanup()
        sock.close()
        await store.aclose()


async def served(port: int) -> bytes:
    """One whole request on a new connection; the status line of the answer (b"" if closed unanswered)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(REQUEST)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()


async def slowloris(port: int) -> int:
    """Send the request a byte at a time; how many bytes went out before the server closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    sent = 0
    try:
        for byte in REQUEST[:MAX_SLOW_BYTES]:
            if reader.at_eof():
                break
            writer.write(bytes([byte]))
            await writer.drain()
            sent += 1
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(reader.read(1), SLOW_STEP_S) == b"":
                    break  # closed by the server
    except ConnectionError:
        pass
    finally:
        writer.close()
    return sent


async def test_slowloris_is_cut_off_and_others_served(redis_url: str, tmp_path: Path) -> None:
    async with guarded_app(redis_url, tmp_path, ConnectionLimits(100, header_timeout_s=0.5)) as port:
        slow = asyncio.ensure_future(slowloris(port))
        answers = [await served(port) for _ in range(5)]  # while the slow client dribbles
        sent = await slow
        assert sent < MAX_SLOW_BYTES  # cut off long before its headers were complete
        assert all(a.startswith(b"HTTP/1.1 401") for a in answers)  # served (the admin API wants a token)
        assert (await served(port)).startswith(b"HTTP/1.1 401")


async def test_connections_over_the_cap_are_refused(redis_url: str, tmp_path: Path) -> None:
    async with guarded_app(redis_url, tmp_path, ConnectionLimits(3, header_timeout_s=30)) as port:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        for _reader, writer in held:  # make sure each was accepted and registered: one answered request
            writer.write(REQUEST)
        for reader, _writer in held:
            assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"HTTP/1.1 401")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        refused = await asyncio.wait_for(reader.read(), 10)  # the server closes it at once
        writer.close()
        assert refused == REFUSAL
        held[0][1].close()  # one held connection goes away: a new client is served again
        for _ in range(100):  # bounded: until the server has seen the close
            if (answer := await served(port)).startswith(b"HTTP/1.1 401"):
                break
            assert answer in (b"HTTP/1.1 503 Service Unavailable\r\n", b"")
        assert answer.startswith(b"HTTP/1.1 401")
        for _reader, writer in held[1:]:
            writer.close()


async def test_node_applies_the_http_limits(redis_url: str, tmp_path: Path) -> None:
    node = start_node(
        tmp_path / "node",
        redis_url,
        "--http-header-timeout-s",
        "0.5",
        "--http-max-connections",
        "50",
        "--http-keepalive-timeout-s",
        "30",
        workers=1,
    )
    try:
        port = node.http_port
        slow = asyncio.ensure_future(slowloris(port))
        answers = [await served(port) for _ in range(3)]
        assert await slow < MAX_SLOW_BYTES
        assert all(a.startswith(b"HTTP/1.1 ") and not a.startswith(b"HTTP/1.1 5") for a in answers)
    finally:
        assert node.stop() == 0
