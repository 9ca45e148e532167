"""Connection limits for the HTTP listeners: a per-worker cap on open connections and a header read timeout.

aiohttp bounds the body (``resolver.http.jsonbody``) and idle keep-alive connections (``keepalive_timeout``),
but not the time a request's headers may take: a slowloris client that sends a header byte a second holds a
connection for ever, and nothing caps how many connections a worker holds. ``GuardedSockSite`` serves a
runner on an inherited socket like ``web.SockSite`` but with ``GuardedHandler`` connections:

* past ``max_connections`` open connections (per worker and listener), or ``max_per_address`` from one
  client address, a new connection gets a bare ``503`` with ``Connection: close`` and is closed before any
  of it is read (one address must not take every slot, as on Handle TCP: resolver/tcp.py);
* from the first byte of a request until its header block is complete at most ``header_timeout_s`` may pass,
  else the connection is closed. Body time is bounded separately (``http_body_timeout_s``).

It relies on two attributes of aiohttp's ``RequestHandler`` (``_messages``, the queue of parsed requests,
and ``_current_request``), present from 3.9 to 3.14; ``tests/integration/test_admin_conn_limits.py`` breaks
if a release changes them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from resolver.address_counts import AddressCounts, peer_address
from resolver.logs import LogThrottle
from resolver.settings import Settings

log = logging.getLogger(__name__)
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"
)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_connections: int = 1024  # 0: no cap
    header_timeout_s: float = 10.0  # 0: no header timeout
    max_per_address: int = 256  # 0: no cap


def connection_limits(settings: Settings) -> ConnectionLimits:
    limits = settings.limits
    return ConnectionLimits(limits.http_max_connections, limits.http_header_timeout_s,
                            limits.http_max_connections_per_address)


class Admission:
    """Whether one HTTP listener takes a new connection, shared by its fast lane and its aiohttp handlers:
    the limits, the open connections by client address (a connection the lane hands over keeps its slot),
    and the refusals' log (a connection flood logs one line per interval per listener and worker)."""

    __slots__ = ("addresses", "limits", "refused_log")

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.addresses = AddressCounts(limits.max_per_address)
        self.refused_log = LogThrottle()

    def refusal(self, open_now: int, address: str) -> str:
        """Why a new connection from ``address`` is refused ("" when it is not), ``open_now`` being open on
        the listener."""
        cap = self.limits.max_connections
        if cap and open_now >= cap:
            return f"{open_now} open, the listener's cap (http_max_connections)"
        if self.addresses.full(address):
            held = self.addresses.held(address)
            return f"{held} open from {address}, the cap per address (http_max_connections_per_address)"
        return ""

    def refuse(self, transport: asyncio.BaseTransport, reason: str) -> None:
        """A bare 503, and the connection closed before any of it is read; ``reason`` is logged, unless it
        is "" (the graceful stop refuses every new connection)."""
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(REFUSAL)
        transport.close()
        if reason:
            self.refused_log.emit(log, logging.WARNING, "refusing HTTP connections: %s", reason)


class GuardedHandler(RequestHandler):
    """aiohttp's request handler with the listener's admission (its connection caps) and the header timer."""

    def __init__(self, manager: web.Server, admission: Admission, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._limits = admission.limits
        self._admission = admission  # the listener's, shared with its fast lane
        self._address: str | None = None  # the client address whose slot this connection holds
        self._header_timer: asyncio.TimerHandle | None = None
        self._refused = False

    def adopt(self, address: str) -> None:
        """Take over a connection whose address slot is already held (the fast lane's hand-over): call
        before ``connection_made``, which then neither checks nor takes one."""
        self._address = address

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._address is None:  # a connection of its own, not one the fast lane handed over
            address = peer_address(transport)
            open_now = len(self._manager.connections) if self._manager is not None else 0
            reason = self._admission.refusal(open_now, address)
            if reason:
                self._refused = True
                self._admission.refuse(transport, reason)
                return
            self._admission.addresses.add(address)
            self._address = address
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_header_timer()
        if self._address is not None:
            self._admission.addresses.discard(self._address)
            self._address = None
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
# HTTP fast lane, resolver/http/fastlane.py, which hands connections it does not answer to such a handler,
# adopting the address slot it took: ``GuardedSockSite``'s ``admission`` is the lane's).
FrontProtocol = Callable[[Callable[[], GuardedHandler]], Callable[[], asyncio.Protocol]]


class GuardedSockSite(web.SockSite):
    """``web.SockSite`` whose connections are ``GuardedHandler``s (or ``front``'s protocol, when given)."""

    def __init__(
        self, runner: web.BaseRunner, sock: Any, limits: ConnectionLimits, *,
        front: FrontProtocol | None = None, admission: Admission | None = None, **kwargs: Any,
    ) -> None:
        """``admission``: its ``front``'s, which admits connections too (else the site has its own)."""
        super().__init__(runner, sock, **kwargs)
        self._limits = limits
        self._front = front
        self._admission = Admission(limits) if admission is None else admission

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner (what SockSite.start does first)
        server = self._runner.server
        if server is None:
            raise RuntimeError("GuardedSockSite started before its runner was set up")
        loop = asyncio.get_running_loop()
        options = dict(server._kwargs)  # the handler options the runner was given (keepalive_timeout, ...)

        def make() -> GuardedHandler:
            return GuardedHandler(server, self._admission, loop=loop, **options)

        factory: Callable[[], asyncio.Protocol] = make if self._front is None else self._front(make)
        self._server = await loop.create_server(
            factory, sock=self._sock, ssl=self._ssl_context, backlog=self._backlog
        )
