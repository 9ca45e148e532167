"""What every transport client shares: its sockets opened up front, sends dealt out round-robin, and the
timeouts, the end of the run and closing handed on to each socket.

``Pool`` serves all three clients; ``StreamPool`` adds what the TCP and HTTP clients share: a connection that
buffers the requests of one scheduler tick (``StreamConnection``) and writes them out in one go.
"""

from __future__ import annotations

import asyncio
from typing import Generic, Protocol, TypeVar, cast

from loadtest.clients import Target
from loadtest.handlewire import Sampler
from loadtest.tally import Tally


class Endpoint(Protocol):
    """One connection or UDP socket and the requests in flight on it."""

    @property
    def transport(self) -> asyncio.BaseTransport | None: ...

    def expire(self, cutoff: float, now: float) -> None:
        """Count requests intended before ``cutoff`` as timeouts."""

    def in_flight(self) -> int: ...

    def abandon(self, now: float) -> None:
        """Count everything still in flight as a timeout (end of the run)."""


E = TypeVar("E", bound=Endpoint)


class Pool(Generic[E]):
    """``connections`` endpoints to one target, used in turn; the ``Client`` interface but ``send``."""

    def __init__(self, target: Target, tally: Tally, connections: int, timeout_s: float) -> None:
        self.target = target
        self.tally = tally
        self.timeout_s = timeout_s
        self.connections: list[E] = []
        self._count = max(1, connections)
        self._turn = 0

    async def open(self) -> None:
        for _ in range(self._count):
            self.connections.append(await self._connect())

    async def _connect(self) -> E:
        raise NotImplementedError

    def _next(self) -> E:
        conn = self.connections[self._turn]
        self._turn = (self._turn + 1) % len(self.connections)
        return conn

    def flush(self) -> None:
        return None

    def expire(self, now: float) -> None:
        cutoff = now - self.timeout_s
        for conn in self.connections:
            conn.expire(cutoff, now)

    def in_flight(self) -> int:
        return sum(c.in_flight() for c in self.connections)

    def abandon(self, now: float) -> None:
        for conn in self.connections:
            conn.abandon(now)

    async def aclose(self) -> None:
        for conn in self.connections:
            if conn.transport is not None:
                conn.transport.close()


class StreamConnection(asyncio.Protocol):
    """A TCP connection: a receive buffer, and the requests of this scheduler tick waiting for ``flush``."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.sampler = Sampler()
        self.buffer = bytearray()
        self.outgoing: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def flush(self) -> None:
        if self.outgoing:
            if self.transport is not None and not self.closed:
                self.transport.write(b"".join(self.outgoing))
            self.outgoing.clear()

    def expire(self, cutoff: float, now: float) -> None:
        raise NotImplementedError

    def in_flight(self) -> int:
        raise NotImplementedError

    def abandon(self, now: float) -> None:
        raise NotImplementedError


S = TypeVar("S", bound=StreamConnection)


class StreamPool(Pool[S]):
    """Connections that send what a tick wrote in one write each; subclasses say how a request looks."""

    async def _connect(self) -> S:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(self._new_connection, self.target.host, self.target.port)
        return conn

    def _new_connection(self) -> S:
        raise NotImplementedError

    def _request(self, conn: S, name: str, intended: float) -> bytes:
        """The request for ``name``, recorded as in flight on ``conn``."""
        raise NotImplementedError

    def send(self, name: str, intended: float, now: float) -> None:
        conn = self._next()
        self.tally.on_sent(now, intended)
        if conn.closed or conn.transport is None:
            self.tally.on_error(now, "connection-closed")
            return
        conn.outgoing.append(self._request(conn, name, intended))

    def flush(self) -> None:
        for conn in self.connections:
            conn.flush()
