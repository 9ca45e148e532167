"""A stored record is read no further than its outer array until a reader asks (storage.records.StoredRecord,
issue 4): the Handle miss makes its wire form, the HTTP miss only its JSON (storage/record_json.py). These
tests drive both through real Redis and real sockets: a value damaged inside a sound outer array still
answers RC 2 (HTTP 500) and is not cached, and an entry an HTTP miss cached answers Handle requests with the
bytes a fresh Handle miss writes (and the reverse), with the record's TTL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgpack

from protocol.bodies import ErrorBody
from protocol.handle import IdentifierLimits
from protocol.messages import decode_message
from protocol.values import HandleValue
from resolver.client import resolution_request
from resolver.demo_data import DEMO_PREFIX
from resolver.handler import HandleResponder, Pending
from storage import keys
from storage.records import StoredRecord
from storage.redis_store import RedisStore
from tests.resolver.fastlane_rig import exchange, get, serving_pair
from tests.resolver.test_miss_path import read_answer
from tests.resolver.test_transports import PEER, udp_pair

BAD = f"{DEMO_PREFIX}/damaged-value"
# A sound outer array whose one value has text where its data bytes belong: decode_record refuses it.
DAMAGED_VALUE = b"\x01" + msgpack.packb([1, msgpack.packb(["URL", "text, not bytes"])], use_bin_type=False)


async def damage(store: object) -> None:
    assert isinstance(store, RedisStore)
    await store.client.hset(keys.record_key(BAD, store.buckets), keys.record_field(BAD), DAMAGED_VALUE)


async def test_udp_damaged_value_answers_rc2_and_is_not_cached(responder: HandleResponder) -> None:
    await damage(responder.resolver.store)
    proto, transport = udp_pair(responder)
    for request_id in (41, 42):  # the second asks again: nothing was kept
        proto.datagram_received(resolution_request(BAD, request_id=request_id), PEER)
        reply = decode_message((await transport.wait_for(request_id - 40))[-1])
        assert int(reply.header.response_code) == 2
        assert isinstance(reply.body, ErrorBody) and "cannot be read" in reply.body.message
    assert responder.cache.get(BAD, 0.0) is None and responder.cache.stats.hot_hits == 0


async def test_http_damaged_value_answers_500_on_both_lanes(redis_url: str, tmp_path: Path) -> None:
    async with serving_pair(redis_url, tmp_path) as (on, off):
        await damage(on.resolver.store)
        data = get(f"/api/handles/{BAD}") + get(f"/api/handles/{DEMO_PREFIX}/demo-text")
        lane = await exchange(on.port, data, ["GET", "GET"])
        assert lane == await exchange(off.port, data, ["GET", "GET"])
        assert lane[0][0].startswith(b"HTTP/1.1 500")
        assert lane[0][0].endswith(b'"message":"stored record cannot be read"}')
        assert lane[0][1].startswith(b"HTTP/1.1 200")


async def test_an_http_miss_leaves_the_wire_to_the_first_handle_ask(redis_url: str, tmp_path: Path) -> None:
    handle = f"{DEMO_PREFIX}/lazy-wire"
    values = [HandleValue(1, "URL", b"https://example.cn/lazy", ttl=90), HandleValue(2, "EMAIL", b"a@b.cn")]
    async with serving_pair(redis_url, tmp_path) as (on, off):
        await on.resolver.store.create(handle, values, actor="test")
        ((http_answer,), _) = await exchange(on.port, get(f"/api/handles/{handle}"), ["GET"])
        assert http_answer.startswith(b"HTTP/1.1 200") and b"https://example.cn/lazy" in http_answer
        now = asyncio.get_running_loop().time()
        entry = on.resolver.cache.get(handle, now)
        assert entry is not None and isinstance(entry.record, StoredRecord)
        assert (entry.record.public_count, entry.record.ttl_s) == (2, 90)  # learnt by the JSON pass
        assert entry.record._wired is False  # and no wire form made for it
        assert entry.expires_at <= now + 90
        # A Handle ask now hits that entry: the same bytes as a miss in a cache that never saw HTTP.
        request = resolution_request(handle, request_id=7)
        warm_side, cold_side = (HandleResponder(s.resolver, IdentifierLimits(), 262_144) for s in (on, off))
        hit, cold = warm_side.respond_now(request, now), cold_side.respond_now(request, now)
        assert isinstance(hit, bytes) and isinstance(cold, Pending)
        assert hit == await read_answer(cold_side, cold, now)
