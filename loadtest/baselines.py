"""The floor of the machine: bare uvloop UDP and TCP echo servers and a bare aiohttp app (and, in
``loadtest.miss_floor``, the same echoes after a Redis read of each request's record: the floor of a miss).

Each answers the generator's own requests with a reply of the size of a real answer, so the node and its
baseline are driven by the same client in the same way. The Handle echoes copy the request's envelope and
header (same RequestId), set RC_SUCCESS and pad the body to ``reply_bytes``; the HTTP baseline answers every
GET with one constant JSON body shaped like a resolution. ``--delay-ms`` holds every answer back by a known
amount: the tests use it to check that the generator measures latency correctly.

Run one as a process: ``python -m loadtest.baselines udp-echo --listen 127.0.0.1:0``; it prints ``PORT <n>``
once it is listening (the readiness signal) and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import struct
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal, cast

import uvloop
from aiohttp import web

from loadtest.miss_floor import TcpMissFloor, UdpMissFloor, open_record_reader
from protocol.constants import ENVELOPE_SIZE, HEADER_SIZE, MAX_MESSAGE_LENGTH, ResponseCode
from resolver.udpbuffer import DEFAULT_RECEIVE_BUFFER_BYTES, size_receive_buffer

Kind = Literal["udp-echo", "tcp-echo", "http-hello", "udp-floor", "tcp-floor"]
KINDS: tuple[Kind, ...] = ("udp-echo", "tcp-echo", "http-hello", "udp-floor", "tcp-floor")
FLOOR_KINDS: tuple[Kind, ...] = ("udp-floor", "tcp-floor")  # these need the node's Redis (``redis_url``)
DEFAULT_REPLY_BYTES = 420  # about the size of a seeded record's resolution response (loadtest.seed)

_U32 = struct.Struct(">I")
_MIN_REPLY = ENVELOPE_SIZE + HEADER_SIZE + 8 + 4  # envelope, header, empty handle + count, credential


@dataclass(frozen=True, slots=True)
class BaselineOptions:
    kind: Kind
    host: str = "127.0.0.1"
    port: int = 0
    reply_bytes: int = DEFAULT_REPLY_BYTES
    delay_s: float = 0.0
    redis_url: str = ""  # the miss floors read records from here


def echo_reply(request: bytes, reply_bytes: int) -> bytes | None:
    """A response-sized answer to a Handle request: its envelope and header, RC_SUCCESS, and a valid
    resolution body (a handle of filler bytes, no values: §8.4) so the generator's sampled decode accepts it.
    """
    if len(request) < ENVELOPE_SIZE + HEADER_SIZE:
        return None  # unparseable: no reply, as the node does for UDP (STYLE 10)
    length = max(reply_bytes, _MIN_REPLY) - ENVELOPE_SIZE
    body_length = length - HEADER_SIZE - 4
    filler = body_length - 8
    reply = bytearray(request[: ENVELOPE_SIZE + HEADER_SIZE])
    _U32.pack_into(reply, 16, length)  # envelope MessageLength (handle-protocol.md §3)
    _U32.pack_into(reply, ENVELOPE_SIZE + 4, ResponseCode.SUCCESS)  # header ResponseCode (§4)
    _U32.pack_into(reply, ENVELOPE_SIZE + 20, body_length)  # header BodyLength
    body = _U32.pack(filler) + b"x" * filler + _U32.pack(0)  # UTF8 handle, value count 0
    return bytes(reply) + body + _U32.pack(0)  # CredentialLength 0 (§10)


class _Delayer:
    """Calls ``send`` now or after the configured delay."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def later(self, send: Callable[[], None]) -> None:
        if self.delay_s > 0:
            asyncio.get_running_loop().call_later(self.delay_s, send)
        else:
            send()


class UdpEcho(asyncio.DatagramProtocol):
    def __init__(self, options: BaselineOptions) -> None:
        self.options = options
        self.delayer = _Delayer(options.delay_s)
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = echo_reply(data, self.options.reply_bytes)
        transport = self.transport
        if reply is not None and transport is not None:
            self.delayer.later(lambda: transport.sendto(reply, addr))


class TcpEcho(asyncio.Protocol):
    """Answers each framed message (handle-protocol.md §1.3); replies of one read go out in one write."""

    def __init__(self, options: BaselineOptions) -> None:
        self.options = options
        self.delayer = _Delayer(options.delay_s)
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies = []
        start = 0
        while len(self.buffer) - start >= ENVELOPE_SIZE:
            length = _U32.unpack_from(self.buffer, start + 16)[0]
            end = start + ENVELOPE_SIZE + length
            if length > MAX_MESSAGE_LENGTH or len(self.buffer) < end:
                break
            reply = echo_reply(bytes(self.buffer[start:end]), self.options.reply_bytes)
            if reply is not None:
                replies.append(reply)
            start = end
        del self.buffer[:start]
        transport = self.transport
        if replies and transport is not None:
            out = b"".join(replies)
            self.delayer.later(lambda: None if transport.is_closing() else transport.write(out))


def hello_body() -> bytes:
    """A constant JSON body shaped like a resolution of a seeded identifier (http-apis.md §1.2)."""
    from loadtest.seed import typical_values, value_json  # the same record `seed` writes

    handle = "88.100.1/lt-00000000"
    values = [value_json(v) for v in typical_values(handle)]
    return json.dumps({"responseCode": 1, "handle": handle, "values": values}).encode()


def hello_app(options: BaselineOptions) -> web.Application:
    body = hello_body()

    async def hello(request: web.Request) -> web.Response:
        if options.delay_s > 0:
            await asyncio.sleep(options.delay_s)
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", hello)
    return app


async def serve(options: BaselineOptions, on_port: Callable[[int], None]) -> None:
    """Serve until SIGTERM or SIGINT; ``on_port`` is called with the bound port once listening."""
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    close = await _listen(options, on_port)
    try:
        await stopped.wait()
    finally:
        await close()


async def _listen(options: BaselineOptions, on_port: Callable[[int], None]) -> Callable[[], Awaitable[None]]:
    loop = asyncio.get_running_loop()
    if options.kind in ("udp-echo", "udp-floor"):
        transport, _ = await loop.create_datagram_endpoint(
            await _udp_factory(options), local_addr=(options.host, options.port)
        )
        # The node's receive buffer, so the comparison is of the code and not of the kernel's queue.
        size_receive_buffer(transport.get_extra_info("socket"), DEFAULT_RECEIVE_BUFFER_BYTES)
        on_port(transport.get_extra_info("sockname")[1])
        return _closer(transport.close)
    if options.kind in ("tcp-echo", "tcp-floor"):
        server = await loop.create_server(await _tcp_factory(options), options.host, options.port)
        on_port(server.sockets[0].getsockname()[1])
        return _closer(server.close)
    runner = web.AppRunner(hello_app(options), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, options.host, options.port)
    await site.start()
    on_port(runner.addresses[0][1])
    return runner.cleanup


async def _udp_factory(options: BaselineOptions) -> Callable[[], asyncio.DatagramProtocol]:
    if options.kind == "udp-echo":
        return lambda: UdpEcho(options)
    reader = await open_record_reader(options.redis_url)
    return lambda: UdpMissFloor(reader, partial(echo_reply, reply_bytes=options.reply_bytes))


async def _tcp_factory(options: BaselineOptions) -> Callable[[], asyncio.Protocol]:
    if options.kind == "tcp-echo":
        return lambda: TcpEcho(options)
    reader = await open_record_reader(options.redis_url)
    return lambda: TcpMissFloor(reader, partial(echo_reply, reply_bytes=options.reply_bytes))


def _closer(close: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def aclose() -> None:
        close()

    return aclose


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.baselines", description=__doc__)
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (port 0 picks a free one)")
    parser.add_argument("--reply-bytes", type=int, default=DEFAULT_REPLY_BYTES)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="hold every answer back this long")
    parser.add_argument("--redis-url", default="", help="the seeded node's Redis (udp-floor, tcp-floor)")
    args = parser.parse_args(argv)
    if args.kind in FLOOR_KINDS and not args.redis_url:
        parser.error(f"{args.kind} reads records: give --redis-url")
    host, _, port = args.listen.rpartition(":")
    options = BaselineOptions(args.kind, host.strip("[]") or "127.0.0.1", int(port), args.reply_bytes,
                              args.delay_ms / 1000.0, args.redis_url)
    uvloop.run(serve(options, lambda p: print(f"PORT {p}", flush=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
