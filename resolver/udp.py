"""Handle protocol over UDP (handle-protocol.md §1.4): one ``DatagramProtocol`` per worker.

Multi-packet requests (TC set) are reassembled with bounds and an expiry; responses over 492 data bytes go
out as numbered fragments. A datagram that does not decode gets no reply (STYLE #10, as aioquic does).
At ``max_in_flight`` misses waiting on storage, a further miss is answered RC 3 (RC_SERVER_TOO_BUSY, the
protocol's back-pressure signal, handle-protocol.md §6) instead of queueing without bound.

A source address is a claim over UDP: a 50-byte request naming a victim's address may ask for an answer of
hundreds of datagrams (up to 256 KiB). So the datagrams of multi-packet answers are charged to a token bucket
per address (``packets``, settings.udp_packets_per_s); past it the address gets one RC 3 datagram that says
to ask over TCP, as DNS answers a truncated reply. One-packet answers, most of them, are never charged.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from time import perf_counter
from typing import Final, cast

from protocol.bodies import ErrorBody, encode_body
from protocol.constants import MAX_UDP_PACKET_SIZE, ResponseCode
from protocol.errors import ProtocolError
from protocol.framing import ReassemblyLimits, UdpReassembler, split_for_udp
from protocol.messages import decode_message, encode_error, encode_reply_bytes
from resolver.handler import HandleResponder, Pending, internal_error
from resolver.logs import AccessLog, log_handle_access
from resolver.metrics import TransportStats
from resolver.ratelimit import RateLimiter

log: Final = logging.getLogger(__name__)
_TC_BYTE: Final = 0x20  # TC in envelope byte 2 (§3)
Address = tuple[str, int] | tuple[str, int, int, int]
_SERVER_BUSY: Final = int(ResponseCode.SERVER_TOO_BUSY)
# encode_error's body for RC 3, encoded once: at saturation a shed answer is a share of every second's work.
_BUSY_BODY: Final = encode_body(ErrorBody("server busy"))
_TOO_MANY_PACKETS: Final = "too many UDP datagrams to this address: ask over TCP"


class HandleUdpProtocol(asyncio.DatagramProtocol):
    """Answers datagrams; cache hits inside ``datagram_received``, misses from their read's callback."""

    def __init__(
        self, responder: HandleResponder, *, max_message_bytes: int, max_partial: int,
        max_in_flight: int = 1024, stats: TransportStats | None = None, access: AccessLog | None = None,
        packets: RateLimiter | None = None,
    ) -> None:
        self.responder = responder
        self.packets = packets if packets is not None and not packets.unlimited else None
        self.max_in_flight = max_in_flight
        self.stats = stats  # ops work: None when metrics are off
        self.access = access  # ops work: None when the access log is off
        self.reassembler = UdpReassembler(ReassemblyLimits(max_message_bytes, max_partial))
        self.transport: asyncio.DatagramTransport | None = None
        self.in_flight = 0
        self.drained = asyncio.Event()
        self.drained.set()
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def datagram_received(self, data: bytes, addr: Address) -> None:
        now = self._loop.time()
        stats, access = self.stats, self.access
        started = perf_counter() if stats is not None or access is not None else 0.0
        if len(data) > 2 and data[2] & _TC_BYTE:
            try:
                whole = self.reassembler.feed(data, now, addr)
            except ProtocolError:
                return  # a fragment that cannot be one: no reply
            if whole is None:
                return
            data = whole
        try:
            result = self.responder.respond_now(data, now, answer_garbage=False, client=addr[0])
        except Exception:  # never let a bug take the worker down (STYLE #10)
            log.exception("unexpected error answering a UDP request")
            result = internal_error(data)
        if isinstance(result, bytes):
            self._send(result, addr, data)  # a finished Handle/UDP resolution (hot or without I/O)
            if stats is not None:
                stats.finish_message(result, started)
            if access is not None and access.sampled():
                log_handle_access(access, "udp", addr[0], data, result, started)
        elif result is None:
            return
        elif self.in_flight < self.max_in_flight:
            self._start(result, addr, now, started)
        else:
            self._shed(result, addr, started)

    def _shed(self, pending: Pending, addr: Address, started: float) -> None:
        """Over the in-flight cap: RC 3 now (§6), counted with the rate-limit refusals (shed load)."""
        response = encode_reply_bytes(pending.query, _SERVER_BUSY, _BUSY_BODY)
        self._send(response, addr)
        if self.stats is not None:
            self.stats.rate_limited += 1
            self.stats.finish_message(response, started)

    def _start(self, pending: Pending, addr: Address, now: float, started: float) -> None:
        self.in_flight += 1
        if self.in_flight == 1:  # _answer_later sets it again when the count is back at 0
            self.drained.clear()
        # No task per miss: the batch's read calls back (resolver/loader.py, issue 4).
        reply = partial(self._answer_later, pending, addr, started)
        self.responder.respond_deferred(pending, now, reply)

    def _answer_later(self, pending: Pending, addr: Address, started: float, response: bytes) -> None:
        try:
            self._send(response, addr, pending.query.data)  # a Handle/UDP resolution after a storage read
            if self.stats is not None:
                self.stats.finish_message(response, started)
            if self.access is not None and self.access.sampled():
                log_handle_access(self.access, "udp", addr[0], pending.query.data, response, started)
        except Exception:
            log.exception("unexpected error answering a UDP request")
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self.drained.set()

    def _send(self, response: bytes, addr: Address, request: bytes = b"") -> None:
        """``response`` to ``addr``, fragmented (§1.4) within the address's datagram budget (module doc)."""
        transport = self.transport
        if transport is None:
            return
        if len(response) <= MAX_UDP_PACKET_SIZE:
            transport.sendto(response, addr)
            return
        packets = split_for_udp(response)
        if self.packets is not None and self.packets.acquire(addr[0], self._loop.time(), len(packets)):
            self._too_many_packets(request, addr)
            return
        for packet in packets:
            transport.sendto(packet, addr)

    def _too_many_packets(self, request: bytes, addr: Address) -> None:
        """One RC 3 datagram instead of a large answer (counted with the rate-limit refusals)."""
        if self.stats is not None:
            self.stats.rate_limited += 1
        try:
            refusal = encode_error(decode_message(request), _SERVER_BUSY, _TOO_MANY_PACKETS)
        except ProtocolError:
            return  # cannot happen for a request that was answered; never send the large answer instead
        if self.transport is not None:
            self.transport.sendto(refusal, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP errors for earlier replies: nothing to do for a connectionless server
