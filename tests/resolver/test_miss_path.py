"""The fused cold-miss path (``HandleResponder.answer_read``, issue 4) over a real Redis: the same answers as
the general path, the entry cached with the record's TTL and the answer kept (not for TTL 0), a write during
the read, entry hits that leave the values undecoded, the RC 3 a UDP worker sheds at its cap, and the RC 2 a
requester hears when answering it hits a bug."""

from __future__ import annotations

import asyncio

from protocol.bodies import ValuesBody
from protocol.constants import OpCode, Permission, ResponseCode
from protocol.fastpath import decode_resolution_request
from protocol.filtering import public_only
from protocol.messages import decode_message, encode_error, encode_response
from protocol.values import HandleValue
from resolver.client import resolution_request
from resolver.demo_data import DEMO_PREFIX
from resolver.handler import INTERNAL_ERROR, HandleResponder, Pending, internal_error
from resolver.udp import HandleUdpProtocol
from storage.records import StoredRecord
from tests.resolver.test_transports import FakeUdpTransport

VALUES = [
    HandleValue(1, "URL", b"https://example.cn/miss", ttl=120),
    HandleValue(2, "SECRET", b"s", permissions=Permission.ADMIN_READ | Permission.ADMIN_WRITE),
    HandleValue(3, "EMAIL", b"m@example.cn"),
]


async def read_answer(
    responder: HandleResponder, pending: Pending, now: float, *, write_during_read: bool = False
) -> bytes:
    """Answer ``pending`` through its read; optionally a write to its handle lands while the read is out."""
    heard: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    responder.respond_deferred(pending, now, heard.set_result)
    if write_during_read:
        responder.cache.invalidate(pending.ident.key)  # what the change feed does for a write
    return await asyncio.wait_for(heard, 10)


def expected(request: bytes, handle: str) -> bytes:
    body = ValuesBody(handle, public_only(VALUES))
    return encode_response(decode_message(request), ResponseCode.SUCCESS, body)


async def test_a_miss_is_cached_and_kept_hot(responder: HandleResponder) -> None:
    handle = f"{DEMO_PREFIX}/miss-hot"
    await responder.resolver.store.create(handle, VALUES, actor="test")
    cache, now = responder.cache, asyncio.get_running_loop().time()
    first = resolution_request(handle, request_id=1)
    pending = responder.respond_now(first, now)
    assert isinstance(pending, Pending)
    assert await read_answer(responder, pending, now) == expected(first, handle)
    hot_before = cache.stats.hot_hits
    second = resolution_request(handle, request_id=2)
    assert responder.respond_now(second, now) == expected(second, handle)  # no read: the kept answer
    assert cache.stats.hot_hits == hot_before + 1
    entry = cache.get(pending.ident.key, now)
    assert entry is not None and isinstance(entry.record, StoredRecord)
    assert entry.expires_at == now + 120  # the smallest relative TTL of the record


async def test_a_record_with_ttl_0_is_answered_but_not_kept(responder: HandleResponder) -> None:
    handle = f"{DEMO_PREFIX}/miss-ttl0"
    await responder.resolver.store.create(handle, [HandleValue(1, "URL", b"u", ttl=0)], actor="test")
    now = asyncio.get_running_loop().time()
    for request_id in (1, 2):  # both read: neither the entry nor the answer is kept
        pending = responder.respond_now(resolution_request(handle, request_id=request_id), now)
        assert isinstance(pending, Pending)
        await read_answer(responder, pending, now)
    assert responder.cache.stats.hot_hits == 0


async def test_an_entry_hit_does_not_decode_the_values(responder: HandleResponder) -> None:
    handle = f"{DEMO_PREFIX}/miss-lazy"
    await responder.resolver.store.create(handle, VALUES, actor="test")
    now = asyncio.get_running_loop().time()
    pending = responder.respond_now(resolution_request(handle, request_id=1), now)
    assert isinstance(pending, Pending)
    await read_answer(responder, pending, now)
    entry = responder.cache.get(pending.ident.key, now)
    assert entry is not None and isinstance(entry.record, StoredRecord)
    assert entry.record._values is None  # still only its wire form: get() must not decode it


async def test_a_write_during_the_read_is_answered_but_not_kept(responder: HandleResponder) -> None:
    handle = f"{DEMO_PREFIX}/miss-write"
    await responder.resolver.store.create(handle, VALUES, actor="test")
    now = asyncio.get_running_loop().time()
    request = resolution_request(handle, request_id=1)
    pending = responder.respond_now(request, now)
    assert isinstance(pending, Pending)
    assert await read_answer(responder, pending, now, write_during_read=True) == expected(request, handle)
    assert responder.cache.get(pending.ident.key, now) is None
    assert isinstance(responder.respond_now(resolution_request(handle, request_id=2), now), Pending)


async def test_udp_over_its_cap_sheds_with_rc_3(responder: HandleResponder) -> None:
    proto = HandleUdpProtocol(responder, max_message_bytes=262_144, max_partial=16, max_in_flight=0)
    transport = FakeUdpTransport()
    proto.connection_made(transport)
    request = resolution_request(f"{DEMO_PREFIX}/miss-shed", request_id=9)
    proto.datagram_received(request, ("127.0.0.1", 1))
    [answer] = await transport.wait_for(1)
    query = decode_resolution_request(request)
    assert answer == encode_error(query, ResponseCode.SERVER_TOO_BUSY, "server busy")
    assert proto.in_flight == 0


async def test_a_bug_after_the_read_still_answers_its_requester(responder: HandleResponder) -> None:
    """Whatever the read hands back that no requester expects (here an exception outside StorageError, as a
    bug in the storage layer would deliver) is answered RC 2 under the request's own RequestId, not silence
    a client would wait out."""
    request = resolution_request(f"{DEMO_PREFIX}/miss-bug", request_id=77)
    pending = responder.respond_now(request, asyncio.get_running_loop().time())
    assert isinstance(pending, Pending)
    heard: list[bytes] = []
    pending.now, pending.generation, pending.reply = 0.0, responder.cache.generation, heard.append
    pending.answer(RuntimeError("a bug"))
    pending.answer(RuntimeError("a bug"))  # answered once, whatever happens
    [response] = heard
    query = decode_resolution_request(request)
    assert response == encode_error(query, ResponseCode.ERROR, INTERNAL_ERROR)
    assert decode_message(response).envelope.request_id == 77
    assert responder.cache.get(pending.ident.key, 0.0) is None  # nothing kept


def test_internal_error_answers_by_the_raw_request_ids() -> None:
    request = resolution_request(f"{DEMO_PREFIX}/x", request_id=5)
    response = internal_error(request)
    assert response is not None
    message = decode_message(response)
    assert (message.envelope.request_id, message.header.response_code) == (5, ResponseCode.ERROR)
    assert message.header.opcode == OpCode.RESOLUTION  # read from the request without decoding it
    assert internal_error(request[:30]) is None  # too short to carry ids: nothing to answer
