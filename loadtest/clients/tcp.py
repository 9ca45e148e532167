"""Handle resolutions over TCP: many pipelined requests per connection, replies matched by RequestId.

Each message is a 20-byte envelope followed by MessageLength bytes (handle-protocol.md §1.3); the server may
answer in any order. Requests due in the same scheduler tick go out in one write per connection.
"""

from __future__ import annotations

import time

from loadtest.clients import Target
from loadtest.clients.pending import Pending, RequestIds, code_label
from loadtest.clients.pool import StreamConnection, StreamPool
from loadtest.handlewire import encode_resolution_request, peek_reply, request_id_of, well_formed
from loadtest.tally import Tally
from protocol.constants import ENVELOPE_SIZE, MAX_MESSAGE_LENGTH

_LENGTH_OFFSET = 16  # MessageLength in the envelope (§3)


class _Connection(StreamConnection):
    def __init__(self, tally: Tally) -> None:
        super().__init__(tally)
        self.pending = Pending()

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

    def expire(self, cutoff: float, now: float) -> None:
        self.pending.expire(cutoff, self.tally, now)

    def in_flight(self) -> int:
        return len(self.pending.intended)

    def abandon(self, now: float) -> None:
        self.pending.timeout_all(self.tally, now)


class TcpClient(StreamPool[_Connection]):
    def __init__(self, target: Target, tally: Tally, connections: int, timeout_s: float) -> None:
        super().__init__(target, tally, connections, timeout_s)
        self.ids = RequestIds()

    def _new_connection(self) -> _Connection:
        return _Connection(self.tally)

    def _request(self, conn: _Connection, name: str, intended: float) -> bytes:
        request_id = self.ids.take()
        conn.pending.intended[request_id] = intended
        return encode_resolution_request(name, request_id)
