"""The Handle TCP connection bounds (resolver/tcp.py): per-worker and per-address connection caps, and a
message that must arrive whole within ``message_timeout_s`` of its first byte (slowloris), without closing a
client that pipelines steadily with every read ending inside a message. Driven like test_transports (a small
fake transport, STYLE #24) against the real store on a real Redis; a real node is in tests/integration."""

from __future__ import annotations

import asyncio
from typing import Any

from resolver.client import resolution_request
from resolver.demo_data import DEMO_PREFIX
from resolver.handler import HandleResponder
from resolver.tcp import ConnectionTracker, HandleTcpProtocol
from tests.resolver.test_transports import FakeTcpTransport

URL_HANDLE = f"{DEMO_PREFIX}/demo-url"


class PeerTransport(FakeTcpTransport):
    """The fake transport of test_transports, from a given client address."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return (self.address, 40000) if name == "peername" else default


def connect(
    responder: HandleResponder, tracker: ConnectionTracker, *, max_connections: int = 0,
    max_per_address: int = 0, message_timeout_s: float = 0.0, address: str = "192.0.2.1",
) -> tuple[HandleTcpProtocol, FakeTcpTransport]:
    proto = HandleTcpProtocol(responder, tracker, max_in_flight=64, idle_timeout_s=60.0,
                              max_message_bytes=262_144, max_connections=max_connections,
                              max_per_address=max_per_address, message_timeout_s=message_timeout_s)
    transport = PeerTransport(address)
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


async def test_one_address_cannot_take_every_slot(responder: HandleResponder) -> None:
    tracker = ConnectionTracker()
    held = [connect(responder, tracker, max_connections=10, max_per_address=2) for _ in range(2)]
    _, refused = connect(responder, tracker, max_connections=10, max_per_address=2)
    _, other = connect(responder, tracker, max_connections=10, max_per_address=2, address="198.51.100.2")
    assert refused.closed and not other.closed and not any(t.closed for _, t in held)
    assert tracker.per_address.open == {"192.0.2.1": 2, "198.51.100.2": 1}
    held[0][0].connection_lost(None)
    _, again = connect(responder, tracker, max_connections=10, max_per_address=2)
    assert not again.closed and tracker.per_address.held("192.0.2.1") == 2
    for proto in list(tracker.connections):
        proto.connection_lost(None)
    assert tracker.per_address.open == {} and not tracker.connections


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
