"""A Handle answer never exceeds the protocol's message length (handle-protocol.md §1.5: 262,144 bytes,
which clients refuse past): a record stored bigger than that answers RC 2 saying how to ask instead, and
the same record asked for one value answers it. Over TCP and UDP, read from storage and then hot."""

from __future__ import annotations

from protocol.bodies import ErrorBody, ValuesBody
from protocol.framing import UdpReassembler
from protocol.messages import Message, decode_message
from protocol.values import HandleValue
from resolver.client import resolution_request
from resolver.demo_data import DEMO_PREFIX
from resolver.handler import HandleResponder
from tests.resolver.test_transports import PEER, tcp_pair, udp_pair

BIG = f"{DEMO_PREFIX}/oversized"
VALUES = [HandleValue(index=i, type="DESC", data=bytes([64 + i]) * 60_000) for i in range(1, 6)]  # ~300 KB


async def store_big(responder: HandleResponder) -> None:
    await responder.resolver.store.create(BIG, VALUES, actor="test")


def assert_too_large(message: Message, request_id: int) -> None:
    assert (message.envelope.request_id, int(message.header.response_code)) == (request_id, 2)
    assert isinstance(message.body, ErrorBody)
    assert "longer than a Handle message may be (262144)" in message.body.message


async def test_tcp_oversized_answer_is_rc2_and_one_value_is_answered(responder: HandleResponder) -> None:
    await store_big(responder)
    proto, transport = tcp_pair(responder)
    proto.data_received(resolution_request(BIG, request_id=1))  # a miss: answered after the read
    proto.data_received(resolution_request(BIG, indexes=[3], request_id=2))
    await transport.wait_for(2)
    proto.data_received(resolution_request(BIG, request_id=3))  # the same ask again: hot
    first, one, again = sorted(await transport.wait_for(3), key=lambda m: m.envelope.request_id)
    assert_too_large(first, 1)
    assert_too_large(again, 3)
    assert isinstance(one.body, ValuesBody) and [v.data for v in one.body.values] == [VALUES[2].data]
    proto.connection_lost(None)


async def test_udp_oversized_answer_is_one_rc2_datagram(responder: HandleResponder) -> None:
    await store_big(responder)
    proto, transport = udp_pair(responder)
    proto.datagram_received(resolution_request(BIG, request_id=7), PEER)
    (only,) = await transport.wait_for(1)
    whole = UdpReassembler().feed(only, 0.0)
    assert whole is not None
    assert_too_large(decode_message(whole), 7)
