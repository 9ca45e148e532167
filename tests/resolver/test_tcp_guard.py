"""The Handle TCP connection bounds (resolver/tcp.py): a per-worker connection cap, and a message that must
arrive whole within ``message_timeout_s`` of its first byte (slowloris), without closing a client that
pipelines steadily with every read ending inside a message. Driven like test_transports (a small fake
transport, STYLE #24) against the real store on a real Redis; a real node is in tests/integration."""

from __future__ import annotations

import asyncio

from resolver.client import resolution_request
from resolver.demo_data import DEMO_PREFIX
from resolver.handler import HandleResponder
from resolver.tcp import ConnectionTracker, HandleTcpProtocol
from tests.resolver.test_transports import FakeTcpTransport

URL_HANDLE = f"{DEMO_PREFIX}/demo-url"


def connect(
    responder: HandleResponder, tracker: ConnectionTracker, *, max_connections: int = 0,
    message_timeout_s: float = 0.0,
) -> tuple[HandleTcpProtocol, FakeTcpTransport]:
    proto = HandleTcpProtocol(responder, tracker, max_in_flight=64, idle_timeout_s=60.0,
                              max_message_bytes=262_144, max_connections=max_connections,
                              message_timeout_s=message_timeout_s)
    transport = FakeTcpTransport()
    proto.connection_made(transport)
    return proto, transport


async def test_connections_over_the_cap_are_closed_at_once(responder: HandleResponder) -> None:
    tracker = ConnectionTracker()
    first, second = (connect(responder, tracker, max_connections=2) for _ in range(2))
    _, refused = connect(responder, tracker, max_connections=2)
    assert refused.closed and not first[1].closed and not second[1].closed
    assert len(tracker.connections) == 2
    first[0].connection_lost(None)  # one goes: there is room again
    _, admitted = connect(responder, tracker, max_connections=2)
    assert not admitted.closed and len(tracker.connections) == 2
    for proto in (second[0], *tracker.connections):
        proto.connection_lost(None)


async def test_a_message_dribbled_past_the_timeout_closes_the_connection(responder: HandleResponder) -> None:
    proto, transport = connect(responder, ConnectionTracker(), message_timeout_s=0.2)
    request = resolution_request(URL_HANDLE, request_id=1)
    proto.data_received(request[:10])
    proto.data_received(request[10:12])  # bytes keep coming, but the message does not finish
    await asyncio.wait_for(transport.closed_event.wait(), 10)
    assert transport.messages == []
    proto.connection_lost(None)


async def test_steady_pipelining_split_across_reads_is_not_closed(responder: HandleResponder) -> None:
    proto, transport = connect(responder, ConnectionTracker(), message_timeout_s=0.4)
    requests = [resolution_request(URL_HANDLE, request_id=i) for i in range(1, 17)]
    stream, step = b"".join(requests), len(requests[0]) + 7
    # Every read finishes a message and ends inside the next one, for about twice the timeout in all (a
    # gap between two reads may stretch to the timeout on a loaded machine before this test goes wrong).
    for start in range(0, len(stream), step):
        proto.data_received(stream[start:start + step])
        await asyncio.sleep(0.05)  # pacing the client, not waiting for the node
    await transport.wait_for(16)
    assert not transport.closed
    proto.connection_lost(None)


async def test_an_idle_connection_between_whole_messages_is_not_a_partial_one(
    responder: HandleResponder,
) -> None:
    proto, transport = connect(responder, ConnectionTracker(), message_timeout_s=0.1)
    proto.data_received(resolution_request(URL_HANDLE, request_id=1))
    await transport.wait_for(1)
    await asyncio.sleep(0.3)  # quiet, with nothing unfinished: only the idle timeout may close it
    assert not transport.closed
    proto.data_received(resolution_request(URL_HANDLE, request_id=2))
    assert len(await transport.wait_for(2)) == 2
    proto.connection_lost(None)
