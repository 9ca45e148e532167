"""Handle answers from stored wire bytes (issue 4) are byte-identical to the general encoder's: cold misses,
entry-cache hits and hot hits, with and without index/type filters, for records with non-public values,
references, absolute TTLs and nothing public, over a real Redis."""

from __future__ import annotations

import asyncio

import pytest

from protocol.bodies import ErrorBody, ValuesBody
from protocol.constants import Permission, ResponseCode, TTLType
from protocol.filtering import public_only, select_values
from protocol.handle import parse_identifier
from protocol.messages import decode_message, encode_response
from protocol.values import HandleValue, ValueReference
from resolver.client import resolution_request
from resolver.demo_data import DEMO_PREFIX
from resolver.handler import HandleResponder, Pending

PRIVATE = Permission.ADMIN_READ | Permission.ADMIN_WRITE
RECORDS: dict[str, list[HandleValue]] = {
    "plain": [HandleValue(1, "URL", b"https://example.cn/p"), HandleValue(2, "EMAIL", b"a@example.cn")],
    "mixed": [
        HandleValue(1, "URL", b"https://example.cn/m"),
        HandleValue(2, "SECRET", b"s", permissions=PRIVATE),
        HandleValue(3, "DESC", "\u8bf4\u660e".encode(), ttl=60),
    ],
    "references": [
        HandleValue(1, "URL", b"u"),
        HandleValue(2, "HS_VLIST", b"", references=(ValueReference(f"{DEMO_PREFIX}/x", 300),)),
    ],
    "absolute": [HandleValue(1, "URL", b"u", ttl=1_900_000_000, ttl_type=TTLType.ABSOLUTE)],
    "hidden": [HandleValue(1, "SECRET", b"s", permissions=PRIVATE)],
}
Query = tuple[tuple[int, ...], tuple[str, ...]]
QUERIES: list[Query] = [((), ()), ((1,), ()), ((), ("URL",)), ((2,), ("DESC",))]


async def answer(responder: HandleResponder, request: bytes) -> bytes:
    now = asyncio.get_running_loop().time()
    result = responder.respond_now(request, now)
    if isinstance(result, bytes):
        return result
    assert isinstance(result, Pending)
    heard: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
    responder.respond_deferred(result, now, heard.set_result)
    response = await asyncio.wait_for(heard, 10)
    assert response is not None
    return response


def expected(request: bytes, handle: str, items: list[HandleValue], query: Query) -> bytes:
    """What the general object model answers: select, drop non-public values, encode the whole body."""
    message = decode_message(request)
    values = public_only(select_values(items, *query))
    if not values:
        return encode_response(message, ResponseCode.VALUES_NOT_FOUND, ErrorBody("Values not found"))
    return encode_response(message, ResponseCode.SUCCESS, ValuesBody(handle, values))


@pytest.mark.parametrize("name", sorted(RECORDS))
async def test_answers_equal_the_general_encoders(responder: HandleResponder, name: str) -> None:
    handle = f"{DEMO_PREFIX}/wire-{name}"
    await responder.resolver.store.create(handle, RECORDS[name], actor="test")
    request_id = 0
    for query in [QUERIES[0], *QUERIES]:  # the first twice: a cold miss, then a hot hit
        for _ in range(2):  # again with another RequestId: answered from the cache
            request_id += 1
            request = resolution_request(handle, *query, request_id=request_id)
            assert await answer(responder, request) == expected(request, handle, RECORDS[name], query)


async def test_http_callers_still_read_the_answered_values(responder: HandleResponder) -> None:
    handle = f"{DEMO_PREFIX}/wire-values"
    await responder.resolver.store.create(handle, RECORDS["mixed"], actor="test")
    resolver = responder.resolver
    ident = parse_identifier(handle)
    now = asyncio.get_running_loop().time()
    answer_ = await resolver.resolve(ident, (), (), now)
    assert answer_.code == ResponseCode.SUCCESS and answer_.wire is not None
    assert answer_.values == public_only(RECORDS["mixed"])
    assert answer_.entry.values == tuple(RECORDS["mixed"])
