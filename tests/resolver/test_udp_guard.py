"""The datagrams of multi-packet UDP answers are charged to their address (resolver/udp.py): past its budget
an address gets one RC 3 datagram saying to ask over TCP, whether the answer was hot or read from storage;
one-packet answers and other addresses are not affected. Driven like test_transports (a small fake
transport) against the real store on a real Redis."""

from __future__ import annotations

from protocol.bodies import ErrorBody, ValuesBody
from protocol.messages import decode_message
from resolver.client import resolution_request
from resolver.demo_data import DEMO_PREFIX
from resolver.handler import HandleResponder
from resolver.ratelimit import RateLimit, RateLimiter
from resolver.udp import HandleUdpProtocol
from tests.resolver.test_transports import FakeUdpTransport

BIG = f"{DEMO_PREFIX}/demo-big"  # eight values: an answer of several datagrams
VICTIM, OTHER = ("192.0.2.7", 40000), ("198.51.100.9", 40000)


def udp(
    responder: HandleResponder, packets: RateLimiter | None
) -> tuple[HandleUdpProtocol, FakeUdpTransport]:
    proto = HandleUdpProtocol(responder, max_message_bytes=262_144, max_partial=16, packets=packets)
    transport = FakeUdpTransport()
    proto.connection_made(transport)
    return proto, transport


def budget(datagrams: int) -> RateLimiter:
    """Each address may receive ``datagrams`` of large answers, and (almost) none more."""
    return RateLimiter(RateLimit(rate_per_s=1e-6, burst=datagrams))


async def datagrams_of_one_big_answer(responder: HandleResponder) -> int:
    proto, transport = udp(responder, None)
    proto.datagram_received(resolution_request(BIG, request_id=1), VICTIM)
    return len(await transport.wait_for(2))


async def test_past_its_budget_an_address_gets_one_rc3_datagram(responder: HandleResponder) -> None:
    size = await datagrams_of_one_big_answer(responder)  # also caches the record: the next answers are hot
    assert size > 1
    proto, transport = udp(responder, budget(size))
    proto.datagram_received(resolution_request(BIG, request_id=2), VICTIM)
    assert len(await transport.wait_for(size)) == size  # within the budget: the whole answer
    proto.datagram_received(resolution_request(BIG, request_id=3), VICTIM)
    refusal = decode_message((await transport.wait_for(size + 1))[size])
    assert (refusal.envelope.request_id, int(refusal.header.response_code)) == (3, 3)
    assert isinstance(refusal.body, ErrorBody) and "ask over TCP" in refusal.body.message
    proto.datagram_received(resolution_request(f"{DEMO_PREFIX}/demo-url", request_id=4), VICTIM)
    small = decode_message((await transport.wait_for(size + 2))[size + 1])
    assert isinstance(small.body, ValuesBody)  # a one-packet answer is never charged
    proto.datagram_received(resolution_request(BIG, request_id=5), OTHER)
    assert len(await transport.wait_for(2 * size + 2)) == 2 * size + 2  # another address has its own budget
    assert [addr for _, addr in transport.datagrams[-size:]] == [OTHER] * size


async def test_an_answer_read_from_storage_is_refused_alike(responder: HandleResponder) -> None:
    proto, transport = udp(responder, budget(2))
    proto.datagram_received(resolution_request(BIG, request_id=8), VICTIM)  # a miss: the whole answer
    size = len(await transport.wait_for(2))
    responder.cache.clear()  # so the next one is a miss too, answered from the read's callback
    proto.datagram_received(resolution_request(BIG, request_id=9), VICTIM)
    refusal = decode_message((await transport.wait_for(size + 1))[size])
    assert (refusal.envelope.request_id, int(refusal.header.response_code)) == (9, 3)
