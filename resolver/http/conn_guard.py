"""Connection limits for the HTTP listeners: a per-worker cap on open connections and a header read timeout.

aiohttp bounds the body (``resolver.http.jsonbody``) and idle keep-alive connections (``keepalive_timeout``),
but not the time a request's headers may take: a slowloris client that sends a header byte a second holds a
connection for ever, and nothing caps how many connections a worker holds. ``GuardedSockSite`` serves a
runner on an inherited socket like ``web.SockSite`` but with ``GuardedHandler`` connections:

* past ``max_connections`` open connections (per worker and listener) a new connection gets a bare
  ``503`` with ``Connection: close`` and is closed before any of it is read;
* from the first byte of a request until its header block is complete at most ``header_timeout_s`` may pass,
  else the connection is closed. Body time is bounded separately (``http_body_timeout_s``).

It relies on two attributes of aiohttp's ``RequestHandler`` (``_messages``, the queue of parsed requests,
and ``_current_request``), present from 3.9 to 3.14; ``tests/integration/test_admin_conn_limits.py`` breaks
if a release changes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from resolver.settings import Settings

REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_connections: int = 1024  # 0: no cap
    header_timeout_s: float = 10.0  # 0: no header timeout


def connection_limits(settings: Settings) -> ConnectionLimits:
    limits = settings.limits
    return ConnectionLimits(limits.http_max_connections, limits.http_header_timeout_s)


class GuardedHandler(RequestHandler):
    """aiohttp's request handler with the connection cap and the header timer."""

    def __init__(self, manager: web.Server, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._limits = limits
        self._header_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cap = self._limits.max_connections
        if cap and self._manager is not None and len(self._manager.connections) >= cap:
            self._refused = True
            if isinstance(transport, asyncio.WriteTransport):
                transport.write(REFUSAL)
            transport.close()
            return
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_header_timer()
        if not self._refused:
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        parsed = len(self._messages)
        super().data_received(data)
        if len(self._messages) > parsed:  # a whole header block arrived
            if self._header_timer is not None:  # inline test: this runs for every pipelined batch
                self._stop_header_timer()
        elif self._header_timer is None and self._between_requests() and self._limits.header_timeout_s > 0:
            loop = asyncio.get_running_loop()
            self._header_timer = loop.call_later(self._limits.header_timeout_s, self._on_header_timeout)

    def _between_requests(self) -> bool:
        """No request is being handled or queued: bytes now are the start of a new request's headers."""
        return self._current_request is None and not self._messages

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if self._between_requests():  # the header block never completed
            self.force_close()

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None


# Given the listener's ``GuardedHandler`` factory, the protocol factory that serves connections first (the
# HTTP fast lane, resolver/http/fastlane.py, which hands connections it does not answer to such a handler).
FrontProtocol = Callable[[Callable[[], GuardedHandler]], Callable[[], asyncio.Protocol]]


class GuardedSockSite(web.SockSite):
    """``web.SockSite`` whose connections are ``GuardedHandler``s (or ``front``'s protocol, when given)."""

    def __init__(
        self, runner: web.BaseRunner, sock: Any, limits: ConnectionLimits, *,
        front: FrontProtocol | None = None, **kwargs: Any,
    ) -> None:
        super().__init__(runner, sock, **kwargs)
        self._limits = limits
        self._front = front

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner (what SockSite.start does first)
        server = self._runner.server
        if server is None:
            raise RuntimeError("GuardedSockSite started before its runner was set up")
        loop = asyncio.get_running_loop()
        options = dict(server._kwargs)  # the handler options the runner was given (keepalive_timeout, ...)

        def make() -> GuardedHandler:
            return GuardedHandler(server, self._limits, loop=loop, **options)

        factory: Callable[[], asyncio.Protocol] = make if self._front is None else self._front(make)
        self._server = await loop.create_server(
            factory, sock=self._sock, ssl=self._ssl_context, backlog=self._backlog
        )
