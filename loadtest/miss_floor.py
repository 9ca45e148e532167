"""The floor of a cache miss: bare uvloop UDP and TCP echo servers that read each request's record first.

A cold-cache answer costs the node a Redis read plus the work of turning the record into a response. These
baselines keep only the first part: each request's identifier is read out of its body, its record is fetched
with ``HGET`` from the node's own key layout (``storage.keys``) over one pipelined Redis connection (one write
per event-loop tick, replies parsed by hiredis, as the node's fast read link does), and the answer is the
echo of ``loadtest.baselines`` once the record is back. No decode, no cache, no encode: what remains of a
miss in Python when nothing of the node's own work is left. The benchmark compares the node's cold rows with
these (``loadtest.bench``): how much of a miss is the node's and how much the read's.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import cast
from urllib.parse import urlsplit

import hiredis

from protocol.constants import ENVELOPE_SIZE, HEADER_SIZE, MAX_MESSAGE_LENGTH
from storage.keys import META, bucket_key, bucket_of

_BODY_AT = ENVELOPE_SIZE + HEADER_SIZE
Answer = Callable[[], None]
Address = tuple[str | int, ...]


class RedisPipe(asyncio.Protocol):
    """One pipelined Redis connection: commands queued in a tick go out in one write; replies in order."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader()
        self._waiting: deque[Callable[[object], None]] = deque()
        self._queued: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            self._waiting.popleft()(reply)

    def command(self, done: Callable[[object], None], *args: bytes) -> None:
        if not self._queued:
            asyncio.get_running_loop().call_soon(self._flush)
        parts = [b"*%d\r\n" % len(args)]
        parts.extend(b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in args)
        self._queued.append(b"".join(parts))
        self._waiting.append(done)

    def _flush(self) -> None:
        queued, self._queued = self._queued, []
        if self.transport is not None:
            self.transport.write(b"".join(queued))


class RecordReader:
    """Reads a record by identifier, as the node finds it (bucket hash, field = the handle)."""

    def __init__(self, pipe: RedisPipe, buckets: int) -> None:
        self.pipe = pipe
        self.buckets = buckets

    def read(self, request: bytes, answer: Answer) -> None:
        """Call ``answer`` once the record of the identifier in ``request`` is back (at once if none)."""
        if len(request) < _BODY_AT + 4:
            answer()
            return
        length = int.from_bytes(request[_BODY_AT : _BODY_AT + 4], "big")
        handle = request[_BODY_AT + 4 : _BODY_AT + 4 + length]
        key = bucket_key(bucket_of(handle.decode("utf-8", "replace"), self.buckets)).encode()
        self.pipe.command(lambda _reply: answer(), b"HGET", key, handle)


async def open_record_reader(redis_url: str) -> RecordReader:
    """Connect to ``redis_url`` (``unix:///path`` or ``redis://host:port``) and learn its bucket count."""
    loop = asyncio.get_running_loop()
    url = urlsplit(redis_url)
    if url.scheme == "unix":
        _, pipe = await loop.create_unix_connection(RedisPipe, url.path)
    else:
        _, pipe = await loop.create_connection(RedisPipe, url.hostname or "127.0.0.1", url.port or 6379)
    buckets = loop.create_future()
    pipe.command(buckets.set_result, b"HGET", META.encode(), b"buckets")
    raw = await buckets
    if not isinstance(raw, bytes):
        raise RuntimeError(f"no bucket count in {redis_url}: is it a node's Redis, seeded?")
    return RecordReader(pipe, int(raw))


class UdpMissFloor(asyncio.DatagramProtocol):
    def __init__(self, reader: RecordReader, reply: Callable[[bytes], bytes | None]) -> None:
        self.reader = reader
        self.reply = reply
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        reply = self.reply(data)
        if reply is not None:
            self.reader.read(data, partial(self._send, reply, addr))

    def _send(self, reply: bytes, addr: Address) -> None:
        if self.transport is not None:
            self.transport.sendto(reply, addr)


class TcpMissFloor(asyncio.Protocol):
    """Framed requests (handle-protocol.md §1.3); answers that come back in one tick leave in one write."""

    def __init__(self, reader: RecordReader, reply: Callable[[bytes], bytes | None]) -> None:
        self.reader = reader
        self.reply = reply
        self.buffer = bytearray()
        self.out: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        start = 0
        while len(self.buffer) - start >= ENVELOPE_SIZE:
            length = int.from_bytes(self.buffer[start + 16 : start + 20], "big")
            end = start + ENVELOPE_SIZE + length
            if length > MAX_MESSAGE_LENGTH or len(self.buffer) < end:
                break
            request = bytes(self.buffer[start:end])
            reply = self.reply(request)
            if reply is not None:
                self.reader.read(request, partial(self._queue, reply))
            start = end
        del self.buffer[:start]

    def _queue(self, reply: bytes) -> None:
        if not self.out:
            asyncio.get_running_loop().call_soon(self._flush)
        self.out.append(reply)

    def _flush(self) -> None:
        out, self.out = self.out, []
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(out))
