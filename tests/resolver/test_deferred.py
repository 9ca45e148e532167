"""Misses answered from their storage read's callback (no task per request, issue 4): a connection that goes
away mid-read neither breaks the read other requesters share nor leaks its in-flight count."""

from __future__ import annotations

import asyncio
from typing import Any

from protocol.bodies import ValuesBody
from resolver.client import resolution_request
from resolver.demo_data import DEMO_PREFIX
from resolver.handler import HandleResponder
from resolver.tcp import ConnectionTracker, HandleTcpProtocol
from tests.resolver.test_transports import FakeTcpTransport, FakeUdpTransport, udp_pair

URL_HANDLE = f"{DEMO_PREFIX}/demo-url"


class CountingTransport(FakeTcpTransport):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: Any) -> None:
        self.writes += 1
        super().write(data)


def connect(
    responder: HandleResponder, tracker: ConnectionTracker
) -> tuple[HandleTcpProtocol, CountingTransport]:
    proto = HandleTcpProtocol(
        responder, tracker, max_in_flight=64, idle_timeout_s=60.0, max_message_bytes=262_144
    )
    transport = CountingTransport()
    proto.connection_made(transport)
    return proto, transport


async def test_a_closed_connection_does_not_break_the_read_others_share(responder: HandleResponder) -> None:
    tracker = ConnectionTracker()
    gone, gone_transport = connect(responder, tracker)
    stays, stays_transport = connect(responder, tracker)
    gone.data_received(resolution_request(URL_HANDLE, request_id=1))
    stays.data_received(resolution_request(URL_HANDLE, request_id=2))
    assert gone.in_flight == stays.in_flight == 1 and not tracker.idle.is_set()
    gone.connection_lost(None)  # mid-read: its answer has nowhere to go
    answer = (await stays_transport.wait_for(1))[0]
    assert answer.envelope.request_id == 2 and isinstance(answer.body, ValuesBody)
    assert gone.in_flight == 0 and not gone_transport.messages
    stays.connection_lost(None)
    assert tracker.idle.is_set()


async def test_one_reads_answers_to_a_connection_leave_in_one_write(responder: HandleResponder) -> None:
    proto, transport = connect(responder, ConnectionTracker())
    handles = [f"{DEMO_PREFIX}/demo-text", f"{DEMO_PREFIX}/missing-1", f"{DEMO_PREFIX}/missing-2"]
    proto.data_received(b"".join(resolution_request(h, request_id=i) for i, h in enumerate(handles)))
    messages = await transport.wait_for(3)
    assert sorted(m.envelope.request_id for m in messages) == [0, 1, 2]
    assert transport.writes == 1 and proto.in_flight == 0
    proto.connection_lost(None)


async def test_udp_misses_are_answered_and_drain(responder: HandleResponder) -> None:
    proto, transport = udp_pair(responder)
    assert isinstance(transport, FakeUdpTransport)
    for i in range(20):
        request = resolution_request(f"{DEMO_PREFIX}/none-{i % 5}", request_id=i)
        proto.datagram_received(request, ("127.0.0.1", 1))
    assert proto.in_flight == 20 and not proto.drained.is_set()
    await asyncio.wait_for(proto.drained.wait(), 30)
    assert len(await transport.wait_for(20)) == 20 and proto.in_flight == 0
