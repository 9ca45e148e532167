"""Read routes of the Handle REST API (http-apis.md §1.2): ``GET /api/handles/{handle}``, ``/api/prefixes``.
(Listing, ``GET /api/handles?prefix=``, needs authentication and lives with the write routes.)

A repeated GET (same raw path and query) is answered from the pre-encoded JSON kept in the worker's cache,
with no await; a miss resolves like every other transport (``service.Resolver``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from time import perf_counter

from aiohttp import web

from protocol.errors import ProtocolError
from protocol.handle import parse_identifier
from resolver.http.answers import (
    dump_json,
    flag,
    json_response,
    protocol_error_json,
    resolution_json,
    stored_resolution_json,
)
from resolver.http.keys import RESOLVER, SETTINGS
from resolver.http.observe import finish_resolution
from resolver.http.read_guard import owner_read, read_rate_refusal
from resolver.service import Resolution, http_status


def query_filters(request: web.Request) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """``index=`` (repeatable, integers) and ``type=`` (repeatable) -> the §9 filter lists."""
    try:
        indexes = tuple(int(i) for i in request.query.getall("index", ()))
    except ValueError:
        raise ProtocolError("index must be an integer") from None
    return indexes, tuple(request.query.getall("type", ()))


async def resolve_request(request: web.Request, text: str) -> tuple[Resolution, bool] | web.Response:
    """Parse ``text`` and the filters and resolve; an error response if the input is refused."""
    pretty = flag(request, "pretty")
    settings = request.app[SETTINGS]
    try:
        ident = parse_identifier(text, settings.limits.identifier)
        indexes, types = query_filters(request)
    except ProtocolError as exc:
        return protocol_error_json(exc, text, pretty)
    answer = await request.app[RESOLVER].resolve(ident, indexes, types, asyncio.get_running_loop().time())
    return answer, pretty


async def get_handle(request: web.Request) -> web.Response:
    """GET /api/handles/{handle}: the record in the Handle REST shape."""
    started = perf_counter()  # ops work: resolution latency
    refused = read_rate_refusal(request)  # admin work: per-client resolution rate limit
    if refused is not None:
        return refused
    if "Authorization" in request.headers:
        # Admin work: the prefix owner also sees non-public values (resolver/http/read_guard.py).
        owned = await owner_read(request)
        if owned is not None:
            return owned
    answered = await answer_cached(request, rest_key(request), rest_payload, started)
    if isinstance(answered, web.Response):
        return answered
    return json_response(*answered)


def rest_key(request: web.BaseRequest) -> str:
    """The pre-encoded answer's key: the raw path with its query, so every filter and ``pretty`` has its own.
    Only this route stores "A" keys, so the front door (resolver/http/front.py) may trust one it finds."""
    return "A" + request.raw_path


def rest_payload(text: str, answer: Resolution, pretty: bool) -> tuple[bytes, int]:
    """The route's (payload, status) of a resolution; the fast lane (resolver/http/lane_rest.py) uses it."""
    if not pretty:
        stored = stored_resolution_json(text, answer)  # the usual answer, without decoding its values
        if stored is not None:
            return stored, 200
    return dump_json(resolution_json(text, answer), pretty), http_status(answer.code)


async def answer_cached(
    request: web.Request,
    key: str,
    build: Callable[[str, Resolution, bool], tuple[bytes, int]],
    started: float,
) -> tuple[bytes, int] | web.Response:
    """(payload, status) kept pre-encoded under ``key``; on a miss resolve, ``build`` it and keep it.

    Shared by the REST read route and the QR proxy: a repeated GET costs one dict lookup and no await.
    An input error comes back as the finished error response.
    """
    cache = request.app[RESOLVER].cache
    hot = cache.lookup_hot(key, asyncio.get_running_loop().time())
    if hot is not None:
        finish_resolution(request, hot.code, started)  # ops work: a finished HTTP resolution (hot)
        return hot.payload, hot.status
    text = request.match_info["handle"]
    result = await resolve_request(request, text)
    if isinstance(result, web.Response):
        return result
    answer, pretty = result
    payload, status = build(text, answer, pretty)
    cache.store_hot(key, answer.entry, payload, status, answer.code)
    finish_resolution(request, answer.code, started)  # ops work: a finished HTTP resolution
    return payload, status


async def get_prefixes(request: web.Request) -> web.Response:
    """GET /api/prefixes: the prefixes homed here (and those delegated from here, marked so)."""
    records = request.app[RESOLVER].registry.records()
    body = {
        "responseCode": 1,
        "prefixes": [r.prefix for r in records if r.status == "homed"],
        "delegated": [r.prefix for r in records if r.status == "delegated"],
    }
    return json_response(dump_json(body, flag(request, "pretty")), 200)


def setup(app: web.Application) -> None:
    # Admin work: GET /api/handles?prefix= (listing) needs the prefix owner's credentials (HSJ LIST_HANDLES),
    # so writes.setup adds it (resolver/http/rest_writes.py list_handles); get_no_handle is no longer routed.
    app.router.add_get("/api/handles/{handle:.+}", get_handle)
    app.router.add_get("/api/prefixes", get_prefixes)
