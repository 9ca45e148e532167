"""The Handle TCP and UDP protocol classes, driven through small fake transports (STYLE #24) against the
real store on a real Redis. Misses await Redis, so tests wait for the answers an event says have arrived."""

from __future__ import annotations

import asyncio
from typing import Any

from protocol.bodies import ErrorBody, ReferralBody, ResolutionRequest, ValuesBody
from protocol.constants import OpCode, ResponseCode
from protocol.framing import TcpFramer, UdpReassembler, split_for_udp
from protocol.messages import Message, build_request, decode_message, encode_message
from resolver.client import resolution_request
from resolver.demo_data import DEMO_PREFIX
from resolver.handler import HandleResponder
from resolver.metrics import TransportStats
from resolver.tcp import WRITE_HIGH_BYTES, WRITE_LOW_BYTES, ConnectionTracker, HandleTcpProtocol
from resolver.udp import HandleUdpProtocol

URL_HANDLE = f"{DEMO_PREFIX}/demo-url"
PEER = ("127.0.0.1", 40000)


class FakeTcpTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.framer = TcpFramer()
        self.messages: list[Message] = []
        self.arrived = asyncio.Event()
        self.paused = 0
        self.resumed = 0
        self.closed = False
        self.closed_event = asyncio.Event()

    def write(self, data: Any) -> None:
        self.framer.receive_data(bytes(data))
        while isinstance(raw := self.framer.next_message(), bytes):
            self.messages.append(decode_message(raw))
        self.arrived.set()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.limits = (high, low)

    def pause_reading(self) -> None:
        self.paused += 1

    def resume_reading(self) -> None:
        self.resumed += 1

    def close(self) -> None:
        self.closed = True
        self.closed_event.set()

    async def wait_for(self, count: int) -> list[Message]:
        while len(self.messages) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 10)
        return self.messages


class FakeUdpTransport(asyncio.DatagramTransport):
    def __init__(self) -> None:
        super().__init__()
        self.datagrams: list[tuple[bytes, Any]] = []
        self.arrived = asyncio.Event()

    def sendto(self, data: Any, addr: Any = None) -> None:
        self.datagrams.append((bytes(data), addr))
        self.arrived.set()

    def close(self) -> None:
        pass

    async def wait_for(self, count: int) -> list[bytes]:
        while len(self.datagrams) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 10)
        return [d for d, _ in self.datagrams]


def tcp_pair(
    responder: HandleResponder, max_in_flight: int = 64, idle_timeout_s: float = 60.0
) -> tuple[HandleTcpProtocol, FakeTcpTransport]:
    proto = HandleTcpProtocol(responder, ConnectionTracker(), max_in_flight=max_in_flight,
                              idle_timeout_s=idle_timeout_s, max_message_bytes=262_144)
    transport = FakeTcpTransport()
    proto.connection_made(transport)
    return proto, transport


def udp_pair(responder: HandleResponder) -> tuple[HandleUdpProtocol, FakeUdpTransport]:
    proto = HandleUdpProtocol(responder, max_message_bytes=262_144, max_partial=16)
    transport = FakeUdpTransport()
    proto.connection_made(transport)
    return proto, transport


async def test_tcp_pipelined_answers_by_request_id(responder: HandleResponder) -> None:
    proto, transport = tcp_pair(responder)
    handles = [URL_HANDLE, f"{DEMO_PREFIX}/missing", "99.1/x", f"{DEMO_PREFIX}/demo-text"]
    proto.data_received(b"".join(resolution_request(h, request_id=10 + i) for i, h in enumerate(handles)))
    messages = await transport.wait_for(4)
    codes = {m.envelope.request_id: int(m.header.response_code) for m in messages}
    assert codes == {10: 1, 11: 100, 12: 301, 13: 1}
    proto.connection_lost(None)


async def test_tcp_byte_by_byte_then_hot_path_answers_synchronously(responder: HandleResponder) -> None:
    proto, transport = tcp_pair(responder)
    for byte in resolution_request(URL_HANDLE, request_id=1):
        proto.data_received(bytes([byte]))
    first = (await transport.wait_for(1))[0]
    assert isinstance(first.body, ValuesBody) and first.body.handle == URL_HANDLE
    proto.data_received(resolution_request(URL_HANDLE, request_id=2))
    assert len(transport.messages) == 2  # answered inside data_received: no await on a hit
    second = transport.messages[1]
    assert second.envelope.request_id == 2 and second.body == first.body
    proto.connection_lost(None)


async def test_tcp_errors_are_answered(responder: HandleResponder) -> None:
    proto, transport = tcp_pair(responder)
    unsupported = encode_message(build_request(ResolutionRequest(URL_HANDLE), opcode=OpCode.LIST_HANDLES,
                                               request_id=5))
    proto.data_received(unsupported + resolution_request("88..1/x", request_id=6))
    messages = await transport.wait_for(2)
    assert [int(m.header.response_code) for m in messages] == [5, 102]
    assert isinstance(messages[1].body, ErrorBody) and "empty dot segment" in messages[1].body.message
    assert not transport.closed


async def test_tcp_framing_error_answers_rc4_and_closes(responder: HandleResponder) -> None:
    proto, transport = tcp_pair(responder)
    oversized = bytes([2, 10, 0, 0]) + b"\x00" * 12 + (10**7).to_bytes(4, "big")
    proto.data_received(oversized)
    message = transport.messages[0]
    assert message.header.response_code == ResponseCode.PROTOCOL_ERROR
    assert message.header.opcode == 0 and transport.closed


async def test_tcp_in_flight_cap_pauses_and_resumes(responder: HandleResponder) -> None:
    proto, transport = tcp_pair(responder, max_in_flight=2)
    requests = [resolution_request(f"{DEMO_PREFIX}/cold-{i}", request_id=i + 1) for i in range(6)]
    proto.data_received(b"".join(requests))
    assert transport.paused == 1 and proto.in_flight == 2
    messages = await transport.wait_for(6)
    assert sorted(m.envelope.request_id for m in messages) == [1, 2, 3, 4, 5, 6]
    assert transport.resumed >= 1


async def test_udp_answers_and_fragments(responder: HandleResponder) -> None:
    proto, transport = udp_pair(responder)
    proto.datagram_received(resolution_request(f"{DEMO_PREFIX}/demo-big", request_id=7), PEER)
    datagrams = await transport.wait_for(2)
    assert len(datagrams) > 1 and all(len(d) <= 512 for d in datagrams)
    reassembler = UdpReassembler()
    whole = [reassembler.feed(d, 0.0) for d in datagrams][-1]
    assert whole is not None
    message = decode_message(whole)
    assert message.envelope.request_id == 7
    assert isinstance(message.body, ValuesBody) and len(message.body.values) == 8


async def test_udp_garbage_gets_no_reply_then_good_request_does(responder: HandleResponder) -> None:
    proto, transport = udp_pair(responder)
    good = resolution_request(URL_HANDLE, request_id=3)
    oversized = good[:16] + (10**6).to_bytes(4, "big") + good[20:]
    for junk in (b"", b"\x02", b"\xff" * 60, good[:30], good[:-10], oversized):
        proto.datagram_received(junk, PEER)
    proto.datagram_received(good, PEER)
    datagrams = await transport.wait_for(1)
    assert len(datagrams) == 1 and decode_message(datagrams[0]).envelope.request_id == 3


async def test_udp_multi_packet_request_and_referral(responder: HandleResponder) -> None:
    proto, transport = udp_pair(responder)
    types = tuple(f"TYPE_{i:03d}" for i in range(60))  # a request longer than one datagram
    request = encode_message(build_request(ResolutionRequest("88.100.2/x", (), types), request_id=9))
    fragments = split_for_udp(request)
    assert len(fragments) > 1
    for fragment in reversed(fragments):
        proto.datagram_received(fragment, PEER)
    message = decode_message((await transport.wait_for(1))[0])
    assert message.header.response_code == ResponseCode.PREFIX_REFERRAL
    assert isinstance(message.body, ReferralBody) and message.body.handle == "0.NA/88.100.2"


async def test_tcp_idle_connection_is_closed(responder: HandleResponder) -> None:
    proto, transport = tcp_pair(responder, idle_timeout_s=0.05)
    proto.data_received(resolution_request(URL_HANDLE, request_id=1))
    await transport.wait_for(1)
    await asyncio.wait_for(transport.closed_event.wait(), 10)
    assert proto.in_flight == 0


async def test_tcp_full_write_buffer_stops_reading_until_it_drains(responder: HandleResponder) -> None:
    proto, transport = tcp_pair(responder)
    assert transport.limits == (WRITE_HIGH_BYTES, WRITE_LOW_BYTES)
    proto.data_received(resolution_request(URL_HANDLE, request_id=1))
    await transport.wait_for(1)  # now a hot hit: answered without I/O
    proto.pause_writing()  # what the transport says once its buffer passes the high-water mark
    assert transport.paused == 1
    proto.data_received(b"".join(resolution_request(URL_HANDLE, request_id=i) for i in range(2, 6)))
    assert len(transport.messages) == 1  # hits wait in the framer while the writes cannot drain
    proto.resume_writing()
    assert transport.resumed == 1
    assert [m.envelope.request_id for m in transport.messages] == [1, 2, 3, 4, 5]


async def test_tcp_one_read_of_many_hits_is_cut_at_the_high_water_mark(responder: HandleResponder) -> None:
    proto, transport = tcp_pair(responder)
    big = f"{DEMO_PREFIX}/demo-big"
    proto.data_received(resolution_request(big, request_id=1))
    reply_bytes = len(encode_message((await transport.wait_for(1))[0]))
    count = 2 * WRITE_HIGH_BYTES // reply_bytes
    proto.data_received(b"".join(resolution_request(big, request_id=i + 2) for i in range(count)))
    assert transport.paused == 1 and len(transport.messages) < count  # stopped at the mark
    await transport.wait_for(count + 1)  # the fake's writes drain at once, so reading resumes
    assert transport.resumed >= 1


async def test_udp_misses_over_the_cap_get_rc_3(responder: HandleResponder) -> None:
    stats = TransportStats()
    proto = HandleUdpProtocol(responder, max_message_bytes=262_144, max_partial=16, max_in_flight=2,
                              stats=stats)
    transport = FakeUdpTransport()
    proto.connection_made(transport)
    for i in range(5):  # cold identifiers: each a storage read; all arrive before any read finishes
        proto.datagram_received(resolution_request(f"{DEMO_PREFIX}/cold-{i}", request_id=i + 1), PEER)
    assert proto.in_flight == 2 and stats.rate_limited == 3
    replies = [decode_message(d) for d in await transport.wait_for(5)]
    codes = {m.envelope.request_id: int(m.header.response_code) for m in replies}
    assert codes == {1: 100, 2: 100, 3: 3, 4: 3, 5: 3}
