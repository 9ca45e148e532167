"""Handle resolutions over TCP: many pipelined requests per connection, replies matched by RequestId.

Each message is a 20-byte envelope followed by MessageLength bytes (handle-protocol.md §1.3); the server may
answer in any order. Requests due in the same scheduler tick go out in one write per connection.
"""

from __future__ import annotations

import asyncio
import time
from typing import cast

from loadtest.clients import Target
from loadtest.clients.pending import Pending, RequestIds, code_label
from loadtest.handlewire import Sampler, encode_resolution_request, peek_reply, request_id_of, well_formed
from loadtest.tally import Tally
from protocol.constants import ENVELOPE_SIZE, MAX_MESSAGE_LENGTH

_LENGTH_OFFSET = 16  # MessageLength in the envelope (§3)


class _Connection(asyncio.Protocol):
    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.pending = Pending()
        self.buffer = bytearray()
        self.outgoing: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.sampler = Sampler()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buf = self.buffer
        buf += data
        start = 0
        while len(buf) - start >= ENVELOPE_SIZE:
            length = int.from_bytes(buf[start + _LENGTH_OFFSET : start + ENVELOPE_SIZE], "big")
            if length > MAX_MESSAGE_LENGTH:
                self._framing_error(now)
                return
            end = start + ENVELOPE_SIZE + length
            if len(buf) < end:
                break
            if self.sampler.due() and not well_formed(bytes(buf[start:end])):
                self._on_malformed(bytes(buf[start : start + ENVELOPE_SIZE]), now)
            else:
                self._on_message(bytes(buf[start : start + ENVELOPE_SIZE + 8]), now)
            start = end
        del buf[:start]

    def _on_message(self, head: bytes, now: float) -> None:
        peek = peek_reply(head)
        if peek is None:
            return
        intended = self.pending.intended.pop(peek.request_id, None)
        if intended is not None:
            self.tally.on_answer(intended, now, code_label(peek.response_code))

    def _on_malformed(self, head: bytes, now: float) -> None:
        if self.pending.intended.pop(request_id_of(head), None) is not None:
            self.tally.on_error(now, "malformed-response")

    def _framing_error(self, now: float) -> None:
        self.pending.fail_all(self.tally, now, "tcp-framing")
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pending.fail_all(self.tally, time.monotonic(), "connection-lost")


class TcpClient:
    def __init__(self, target: Target, tally: Tally, connections: int, timeout_s: float) -> None:
        self.target = target
        self.tally = tally
        self.timeout_s = timeout_s
        self.connections: list[_Connection] = []
        self._count = max(1, connections)
        self.ids = RequestIds()
        self._turn = 0

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(self._count):
            _, conn = await loop.create_connection(
                lambda: _Connection(self.tally), self.target.host, self.target.port
            )
            self.connections.append(conn)

    def send(self, name: str, intended: float, now: float) -> None:
        conn = self.connections[self._turn]
        self._turn = (self._turn + 1) % len(self.connections)
        self.tally.on_sent(now, intended)
        if conn.closed or conn.transport is None:
            self.tally.on_error(now, "connection-closed")
            return
        request_id = self.ids.take()
        conn.pending.intended[request_id] = intended
        conn.outgoing.append(encode_resolution_request(name, request_id))

    def flush(self) -> None:
        for conn in self.connections:
            if conn.outgoing:
                if conn.transport is not None and not conn.closed:
                    conn.transport.write(b"".join(conn.outgoing))
                conn.outgoing.clear()

    def expire(self, now: float) -> None:
        cutoff = now - self.timeout_s
        for conn in self.connections:
            conn.pending.expire(cutoff, self.tally, now)

    def in_flight(self) -> int:
        return sum(len(c.pending.intended) for c in self.connections)

    def abandon(self, now: float) -> None:
        for conn in self.connections:
            conn.pending.timeout_all(self.tally, now)

    async def aclose(self) -> None:
        for conn in self.connections:
            if conn.transport is not None:
                conn.transport.close()
