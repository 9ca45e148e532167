"""A stored record the node cannot read fails only its own requests, with a clear answer: RC 2 (ERROR) and a
message on the Handle transports; the requests read in the same storage batch get their records, and nothing
is cached for it (the next ask reads again). HTTP (a JSON 500, the pipeline goes on): test_fastlane_guards."""

from __future__ import annotations

from protocol.bodies import ErrorBody, ValuesBody
from protocol.messages import decode_message
from resolver.client import resolution_request
from resolver.demo_data import DEMO_PREFIX
from resolver.handler import HandleResponder
from storage import keys
from storage.redis_store import RedisStore
from tests.resolver.test_transports import PEER, tcp_pair, udp_pair

BAD = f"{DEMO_PREFIX}/damaged"
NEIGHBOURS = [f"{DEMO_PREFIX}/demo-url", f"{DEMO_PREFIX}/demo-text"]


async def damage(store: object, handle: str = BAD) -> None:
    """An unknown version byte where ``handle``'s record lives: its read fails (RecordFormatError)."""
    assert isinstance(store, RedisStore)
    await store.client.hset(keys.record_key(handle, store.buckets), keys.record_field(handle), b"\x09junk")


async def test_tcp_damaged_record_answers_rc2_and_its_batch_neighbours_their_records(
    responder: HandleResponder,
) -> None:
    await damage(responder.resolver.store)
    proto, transport = tcp_pair(responder)
    handles = [BAD, *NEIGHBOURS]  # one read of the connection: every miss joins one storage batch
    proto.data_received(b"".join(resolution_request(h, request_id=20 + i) for i, h in enumerate(handles)))
    messages = {m.envelope.request_id: m for m in await transport.wait_for(3)}
    bad = messages[20]
    assert int(bad.header.response_code) == 2
    assert isinstance(bad.body, ErrorBody) and "cannot be read" in bad.body.message
    for request_id, handle in ((21, NEIGHBOURS[0]), (22, NEIGHBOURS[1])):
        assert int(messages[request_id].header.response_code) == 1
        body = messages[request_id].body
        assert isinstance(body, ValuesBody) and body.handle == handle
    assert not transport.closed
    assert responder.cache.get(BAD, 0.0) is None  # not cached: a repaired record is read at the next ask
    proto.connection_lost(None)


async def test_udp_damaged_record_is_answered_not_dropped(responder: HandleResponder) -> None:
    await damage(responder.resolver.store)
    proto, transport = udp_pair(responder)
    proto.datagram_received(resolution_request(BAD, request_id=31), PEER)
    proto.datagram_received(resolution_request(NEIGHBOURS[0], request_id=32), PEER)
    replies = {m.envelope.request_id: m for m in map(decode_message, await transport.wait_for(2))}
    assert int(replies[31].header.response_code) == 2 and int(replies[32].header.response_code) == 1

