"""Handle REST resolutions over HTTP/1.1 keep-alive connections, pipelined (http-apis.md §1.2).

A raw client over ``asyncio.Protocol`` rather than aiohttp's ClientSession, whose per-request overhead (a
task, a response object, header parsing) would make the generator the ceiling it is meant to measure.
HTTP/1.1 answers pipelined requests in order, so each connection keeps a FIFO of intended send times.
Responses must carry Content-Length (aiohttp's json responses do); anything else is a framing error. One
body in ``SAMPLE_EVERY`` is parsed as JSON and must carry ``responseCode``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from typing import cast
from urllib.parse import quote

from loadtest.clients import Target
from loadtest.handlewire import Sampler
from loadtest.tally import Tally

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_MAX_HEAD = 65_536
MALFORMED = -1  # status stand-in for a body the sampled check rejected


def _json_object(body: bytes) -> bool:
    """Every answer of the Handle REST API is a JSON object with a responseCode (http-apis.md §1.1)."""
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and "responseCode" in doc


class _Connection(asyncio.Protocol):
    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.fifo: deque[list[float]] = deque()  # [intended, 1.0 once counted as a timeout]
        self.live = 0  # entries of the FIFO not yet counted as timed out
        self.sampler = Sampler()
        self.buffer = bytearray()
        self.outgoing: list[bytes] = []
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buf = self.buffer
        buf += data
        start = 0
        while True:
            head_end = buf.find(b"\r\n\r\n", start)
            if head_end < 0:
                if len(buf) - start > _MAX_HEAD:
                    self._fail(now, "http-framing")
                    return
                break
            match = _CONTENT_LENGTH.search(buf, start, head_end + 2)
            if match is None or buf[start : start + 5] != b"HTTP/":
                self._fail(now, "http-framing")
                return
            end = head_end + 4 + int(match.group(1))
            if len(buf) < end:
                break
            status = int(buf[start + 9 : start + 12])
            if self.sampler.due() and not _json_object(bytes(buf[head_end + 4 : end])):
                status = MALFORMED
            self._on_response(status, now)
            start = end
        del buf[:start]

    def _on_response(self, status: int, now: float) -> None:
        if not self.fifo:
            self.tally.on_error(now, "http-unexpected-response")
            return
        intended, timed_out = self.fifo.popleft()
        if timed_out:
            return
        self.live -= 1
        if status == MALFORMED:
            self.tally.on_error(now, "malformed-response")
        else:
            self.tally.on_answer(intended, now, f"HTTP {status}")

    def _fail(self, now: float, kind: str) -> None:
        self.live = 0
        while self.fifo:
            if not self.fifo.popleft()[1]:
                self.tally.on_error(now, kind)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(time.monotonic(), "connection-lost")

    def time_out(self, entry: list[float], tally: Tally, now: float) -> None:
        if not entry[1]:
            entry[1] = 1.0
            self.live -= 1
            tally.on_timeout(now)


class HttpClient:
    def __init__(self, target: Target, tally: Tally, connections: int, timeout_s: float) -> None:
        self.target = target
        self.tally = tally
        self.timeout_s = timeout_s
        self.connections: list[_Connection] = []
        self._count = max(1, connections)
        self._host = f"Host: {target.host}:{target.port}\r\n\r\n".encode()
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
        conn.fifo.append([intended, 0.0])
        conn.live += 1
        path = quote(name, safe="/.-_~")
        conn.outgoing.append(b"GET /api/handles/" + path.encode() + b" HTTP/1.1\r\n" + self._host)

    def flush(self) -> None:
        for conn in self.connections:
            if conn.outgoing:
                if conn.transport is not None and not conn.closed:
                    conn.transport.write(b"".join(conn.outgoing))
                conn.outgoing.clear()

    def expire(self, now: float) -> None:
        # Answers come in order, so a timed-out request stays in the FIFO (flagged) until its answer arrives.
        cutoff = now - self.timeout_s
        for conn in self.connections:
            for entry in conn.fifo:
                if entry[0] > cutoff:
                    break
                conn.time_out(entry, self.tally, now)

    def in_flight(self) -> int:
        return sum(c.live for c in self.connections)

    def abandon(self, now: float) -> None:
        for conn in self.connections:
            for entry in conn.fifo:
                conn.time_out(entry, self.tally, now)

    async def aclose(self) -> None:
        for conn in self.connections:
            if conn.transport is not None:
                conn.transport.close()
