"""The HTTP fast lane: a raw ``asyncio.Protocol`` on the worker's public plain-HTTP listener that answers the
read path itself and hands every other connection to aiohttp, unchanged (issue 4: a cached answer through
aiohttp's whole server cost as much as a bare aiohttp app's request; DNS servers answer from the socket).

It answers ``GET``/``HEAD /api/handles/{handle}`` (a kept answer or a resolved miss, lane_rest.py) and
proxy hits (``GET /{handle}`` whose ``proxy.proxy_key`` is kept). Anything else - another route or
method, ``Authorization`` on a REST read, a proxy miss, a head ``protocol.http1`` does not accept - is handed
over between requests: the listener's own aiohttp connection handler (``conn_guard.GuardedHandler``) takes
the transport and the unread bytes, and keeps the connection from then on. Pipelined requests are answered
in order; up to ``lane_conn.MAX_PENDING`` of their misses are read at once. The listener's connection cap,
header timeout and keep-alive timeout hold here as in aiohttp; ``FastLane.aclose`` is the graceful stop.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable

from aiohttp import web

from resolver.http.conn_guard import Admission, ConnectionLimits, GuardedHandler, GuardedSockSite
from resolver.http.lane_conn import LaneConnection
from resolver.http.lane_rest import LaneContext


async def open_public_site(
    runner: web.AppRunner, sock: socket.socket, limits: ConnectionLimits, keepalive_s: float, *,
    fast_lane: bool = True, ssl_context: ssl.SSLContext | None = None,
) -> FastLane | None:
    """Serve ``runner`` (set up, behind its front door) on ``sock``: through the fast lane unless it is off
    or the listener speaks TLS (the lane reads plain HTTP only). Returns the lane, for its gauge and stop."""
    server = runner.server
    if server is None:
        raise RuntimeError("open_public_site before the runner was set up")
    lane = FastLane(runner.app, server, limits, keepalive_s) if fast_lane and ssl_context is None else None
    front = lane.front if lane is not None else None
    admission = lane.admission if lane is not None else None
    site = GuardedSockSite(runner, sock, limits, ssl_context=ssl_context, front=front, admission=admission)
    await site.start()
    return lane


class FastLane:
    """What the fast-lane connections of one listener share: the answers, the aiohttp handler factory,
    the limits, and the open connections (for the cap, the gauge and the graceful stop)."""

    __slots__ = (
        "admission", "connections", "context", "handed_over", "idle", "keepalive_s", "limits", "make_handler",
        "server",
    )

    def __init__(
        self, app: web.Application, server: web.Server, limits: ConnectionLimits, keepalive_s: float
    ) -> None:
        """``app`` has started (its runner was set up); ``server`` is its runner's; ``keepalive_s`` aiohttp's
        ``keepalive_timeout``. Give ``front`` to the listener's ``GuardedSockSite``."""
        self.context = LaneContext(app)
        self.server = server
        self.make_handler: Callable[[], GuardedHandler] | None = None
        self.limits = limits
        self.admission = Admission(limits)  # the listener's, for both sides (the lane and aiohttp)
        self.keepalive_s = keepalive_s
        self.connections: set[LaneConnection] = set()
        self.handed_over = 0  # connections given to aiohttp (the tests' proof of which side answered)
        self.idle = asyncio.Event()  # set while no fast-lane connection is open (the graceful stop waits)
        self.idle.set()

    def front(self, make_handler: Callable[[], GuardedHandler]) -> Callable[[], LaneConnection]:
        """``conn_guard.FrontProtocol``: keep the listener's handler factory; serve ``LaneConnection``s."""
        self.make_handler = make_handler
        return self.protocol

    def protocol(self) -> LaneConnection:
        return LaneConnection(self)

    def open_now(self) -> int:
        """Open connections on this listener: the lane's and those aiohttp holds (its cap counts both)."""
        return len(self.connections) + len(self.server.connections)

    def begin_close(self) -> None:
        """The graceful stop begins: idle connections close now, busy ones after their answer, new ones
        are refused; ``idle`` is set once all are gone."""
        self.context.closing = True
        for conn in list(self.connections):
            conn.close_if_idle()

    def abort(self) -> None:
        """The deadline passed: drop what is still open."""
        for conn in list(self.connections):
            conn.abort()

    async def aclose(self, deadline_s: float) -> None:
        """``begin_close``, wait up to ``deadline_s`` for the connections to finish, then ``abort``."""
        self.begin_close()
        try:
            await asyncio.wait_for(self.idle.wait(), deadline_s)
        except TimeoutError:
            self.abort()

    def forget(self, conn: LaneConnection) -> None:
        """``conn`` closed or went to aiohttp."""
        self.connections.discard(conn)
        if not self.connections:
            self.idle.set()
