"""Handle resolutions over UDP: one datagram per request, replies matched by RequestId.

A reply larger than 492 data bytes arrives as several datagrams with TC set (handle-protocol.md §1.4); the
request counts as answered when all of them are in. Lost datagrams surface as timeouts.
"""

from __future__ import annotations

import asyncio
import time
from typing import cast

from loadtest.clients import Target
from loadtest.clients.pending import Pending, RequestIds, code_label
from loadtest.clients.pool import Pool
from loadtest.handlewire import Sampler, encode_resolution_request, peek_reply, well_formed
from loadtest.tally import Tally
from resolver.udpbuffer import DEFAULT_RECEIVE_BUFFER_BYTES, size_receive_buffer


class _Socket(asyncio.DatagramProtocol):
    """One UDP socket and the requests sent on it."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.pending = Pending()
        self.fragments: dict[int, set[int]] = {}  # RequestId -> sequence numbers seen so far
        self.codes: dict[int, int] = {}  # RequestId -> response code from fragment 0
        self.transport: asyncio.DatagramTransport | None = None
        self.sampler = Sampler()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        now = time.monotonic()
        peek = peek_reply(data)
        if peek is None:
            self.tally.on_error(now, "short-datagram")
            return
        intended = self.pending.intended.get(peek.request_id)
        if intended is None:
            return  # late (already counted as a timeout) or a duplicate
        code = peek.response_code
        if not peek.truncated and self.sampler.due() and not well_formed(data):
            del self.pending.intended[peek.request_id]
            self.tally.on_error(now, "malformed-response")
            return
        if peek.truncated:
            seen = self.fragments.setdefault(peek.request_id, set())
            seen.add(peek.sequence)
            if peek.sequence == 0:
                self.codes[peek.request_id] = code
            if len(seen) < peek.fragments:
                return
            del self.fragments[peek.request_id]
            code = self.codes.pop(peek.request_id, -1)
        del self.pending.intended[peek.request_id]
        self.tally.on_answer(intended, now, code_label(code) if code >= 0 else "RC ? (no fragment 0)")

    def error_received(self, exc: Exception) -> None:
        # An ICMP error (port unreachable) cannot be tied to a request: that request ends as a timeout.
        return None

    def expire(self, cutoff: float, now: float) -> None:
        for request_id in self.pending.expire(cutoff, self.tally, now):
            self.fragments.pop(request_id, None)
            self.codes.pop(request_id, None)

    def in_flight(self) -> int:
        return len(self.pending.intended)

    def abandon(self, now: float) -> None:
        self.pending.timeout_all(self.tally, now)


class UdpClient(Pool[_Socket]):
    def __init__(self, target: Target, tally: Tally, connections: int, timeout_s: float) -> None:
        super().__init__(target, tally, connections, timeout_s)
        self.ids = RequestIds()

    async def _connect(self) -> _Socket:
        loop = asyncio.get_running_loop()
        transport, sock = await loop.create_datagram_endpoint(
            lambda: _Socket(self.tally), remote_addr=(self.target.host, self.target.port)
        )
        # Answers wait here while the generator sends: a full buffer would drop them and count them lost.
        size_receive_buffer(transport.get_extra_info("socket"), DEFAULT_RECEIVE_BUFFER_BYTES)
        return sock

    def send(self, name: str, intended: float, now: float) -> None:
        sock = self._next()
        request_id = self.ids.take()
        self.tally.on_sent(now, intended)
        if sock.transport is None or sock.transport.is_closing():
            self.tally.on_error(now, "socket-closed")
            return
        sock.pending.intended[request_id] = intended
        sock.transport.sendto(encode_resolution_request(name, request_id))
