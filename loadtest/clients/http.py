"""Handle REST resolutions over HTTP/1.1 keep-alive connections, pipelined (http-apis.md §1.2).

A raw client over ``asyncio.Protocol`` rather than aiohttp's ClientSession, whose per-request overhead (a
task, a response object, header parsing) would make the generator the ceiling it is meant to measure.
HTTP/1.1 answers pipelined requests in order, so each connection keeps a FIFO of intended send times.
Responses must carry Content-Length (aiohttp's json responses do); anything else is a framing error. One
body in ``SAMPLE_EVERY`` is parsed as JSON and must carry ``responseCode``.
"""

from __future__ import annotations

import json
import re
import time
from collections import deque
from urllib.parse import quote

from loadtest.clients import Target
from loadtest.clients.pool import StreamConnection, StreamPool
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


class _Connection(StreamConnection):
    def __init__(self, tally: Tally) -> None:
        super().__init__(tally)
        self.fifo: deque[list[float]] = deque()  # [intended, 1.0 once counted as a timeout]
        self.live = 0  # entries of the FIFO not yet counted as timed out

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

    def time_out(self, entry: list[float], now: float) -> None:
        if not entry[1]:
            entry[1] = 1.0
            self.live -= 1
            self.tally.on_timeout(now)

    def expire(self, cutoff: float, now: float) -> None:
        # Answers come in order, so a timed-out request stays in the FIFO (flagged) until its answer arrives.
        for entry in self.fifo:
            if entry[0] > cutoff:
                break
            self.time_out(entry, now)

    def in_flight(self) -> int:
        return self.live

    def abandon(self, now: float) -> None:
        for entry in self.fifo:
            self.time_out(entry, now)


class HttpClient(StreamPool[_Connection]):
    def __init__(self, target: Target, tally: Tally, connections: int, timeout_s: float) -> None:
        super().__init__(target, tally, connections, timeout_s)
        self._host = f"Host: {target.host}:{target.port}\r\n\r\n".encode()

    def _new_connection(self) -> _Connection:
        return _Connection(self.tally)

    def _request(self, conn: _Connection, name: str, intended: float) -> bytes:
        conn.fifo.append([intended, 0.0])
        conn.live += 1
        path = quote(name, safe="/.-_~")
        return b"GET /api/handles/" + path.encode() + b" HTTP/1.1\r\n" + self._host
