"""Guards of the public read route ``GET /api/handles/{handle}``: the per-client resolution rate limit
(429 + Retry-After, RC 3), and authenticated reads where the owner of a handle's prefix (or an operator) sees
values without PUBLIC_READ (handle-protocol.md §9 steps 7-9, §11.1; http-apis.md §1.2 ``publicOnly``).

``owner_read`` is called only when the request carries ``Authorization``; it answers None whenever the
ordinary public path should answer instead (anonymous, not the owner, ``publicOnly=true``, no such handle),
so the shared pre-encoded public answers never contain restricted values.
"""

from __future__ import annotations

import json

from aiohttp import web

from protocol.errors import ProtocolError
from protocol.filtering import select_values
from protocol.handle import parse_identifier
from protocol.jsonfmt import values_to_json
from resolver.auth.principal import may_read_restricted
from resolver.http.authn import AuthError, authenticate
from resolver.http.write_ctx import CONTEXT, WriteContext, context
from resolver.ratelimit import retry_after_header

# The front door (resolver/http/front.py) charged this request already: the wait it was told (0: allowed).
CHARGED = web.RequestKey("resolution_rate_charged", float)


def charge_resolution(ctx: WriteContext, request: web.BaseRequest) -> float:
    """Take one resolution from the client's bucket: 0.0 when allowed, else the seconds to wait."""
    return ctx.resolutions.acquire(request.remote or "-", ctx.clock())


def read_rate_refusal(request: web.Request) -> web.Response | None:
    """429 with Retry-After and RC 3 when the client is over its resolution rate (None: go ahead)."""
    if CONTEXT not in request.app:
        return None
    wait = request.get(CHARGED)
    if wait is None:
        wait = charge_resolution(context(request), request)
    if wait <= 0:
        return None
    resp = web.json_response(rate_refusal_body(request.match_info.get("handle", "")), status=429)
    resp.headers["Retry-After"] = retry_after_header(wait)
    return resp


def rate_refusal_body(handle: str) -> dict[str, object]:
    """The 429's JSON entity (RC 3): the route's and the fast lane's (resolver/http/lane_wire.py)."""
    return {"responseCode": 3, "handle": handle, "message": "rate limit exceeded"}


def _filters(request: web.Request) -> tuple[list[int], list[str]]:
    indexes = [int(i) for i in request.query.getall("index", ())]
    return indexes, list(request.query.getall("type", ()))


async def owner_read(request: web.Request) -> web.Response | None:
    # publicOnly defaults to false for an authenticated call; an explicit true keeps the public answer.
    public_only = request.query.get("publicOnly")
    if CONTEXT not in request.app or (public_only is not None and public_only.lower() in ("", "true", "1")):
        return None
    text = request.match_info["handle"]
    ctx = context(request)
    try:
        principal = await authenticate(request)
        ident = parse_identifier(text, ctx.identifier_limits)
        indexes, types = _filters(request)
    except AuthError as err:
        body = {"responseCode": 403, "handle": text, "message": err.message}
        return web.json_response(body, status=err.status)
    except (ProtocolError, ValueError):
        return None
    if ident.is_prefix_handle or not await may_read_restricted(ctx.store, principal, ident.naming_prefix):
        return None
    record = await ctx.store.get(ident.key)
    if record is None:
        return None
    selected = select_values(record, indexes, types)
    body = {"responseCode": 1 if selected else 200, "handle": text, "values": values_to_json(selected)}
    resp = web.Response(body=json.dumps(body, ensure_ascii=False), content_type="application/json")
    resp.headers["Cache-Control"] = "private, no-store"  # restricted values must not sit in shared caches
    return resp
