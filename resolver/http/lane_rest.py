"""What the fast lane (resolver/http/fastlane.py) answers, and how: the route's own steps, without aiohttp.

``GET``/``HEAD /api/handles/{handle}`` follows ``handles_api.get_handle``: rate limit (``read_guard``), a
request with ``Authorization`` is the route's (owner reads), the pre-encoded answer kept under
``handles_api.rest_key``'s "A" + raw path, else the resolution: ``Resolver.answer_now`` or a storage read
whose batch calls back (``Pending``, like resolver/handler.py ``_Deferred``: no task or future per miss),
encoded by ``handles_api.rest_payload`` and kept like the route keeps it. Path and query are decoded by yarl
exactly as aiohttp decodes them for the router (``URL.build(..., encoded=True)``, ``path_safe``, the route's
pattern), on a miss or a refusal only: a hit needs the raw path alone. Proxy hits follow ``front.FrontDoor``:
a ``proxy.proxy_key`` found kept proves the proxy route. Every other request is ``HANDOVER``: aiohttp's.
"""

from __future__ import annotations

import asyncio
import logging
import re
from time import perf_counter
from typing import TYPE_CHECKING, Final

from aiohttp import web

from protocol.constants import ResponseCode
from protocol.errors import ProtocolError
from protocol.handle import parse_identifier
from protocol.http1 import RequestHead
from resolver.cache import HotResponse
from resolver.http.answers import dump_json, query_flag, values_payload
from resolver.http.handles_api import rest_payload
from resolver.http.keys import RESOLVER, SETTINGS
from resolver.http.lane_targets import (
    HANDOVER,
    NO_QUERY,
    PROXY_ROUTE,
    REST_PREFIX,
    REST_ROUTE,
    Handover,
    decode_target,
    proxy_kind,
)
from resolver.http.lane_wire import (
    HTML_TYPE,
    JSON_TYPE,
    REDIRECT,
    DateLine,
    body_response,
    ending,
    redirect_response,
    status_line,
    too_many,
)
from resolver.http.observe import ACCESS, STATS
from resolver.http.write_ctx import CONTEXT
from resolver.loader import Outcome
from resolver.service import http_status
from storage.record_json import public_json
from storage.records import StoredRecord

if TYPE_CHECKING:
    from resolver.http.lane_conn import LaneConnection

log: Final = logging.getLogger(__name__)
_SAFE_LOCATION: Final = re.compile(r"[!-~]+")  # a Location aiohttp writes as is (else aiohttp answers)
_SUCCESS: Final = int(ResponseCode.SUCCESS)
_OK: Final = http_status(ResponseCode.SUCCESS)  # 200


class LaneContext:
    """The worker's resolver, cache and counters as the fast lane uses them (one per listener)."""

    __slots__ = ("access", "cache", "closing", "date", "identifier", "limiter", "loop", "resolver", "stats")

    def __init__(self, app: web.Application) -> None:
        """``app`` has started (its write context exists)."""
        self.resolver = app[RESOLVER]
        self.cache = self.resolver.cache
        self.identifier = app[SETTINGS].limits.identifier
        self.stats = app.get(STATS)
        self.access = app.get(ACCESS)
        context = app.get(CONTEXT)
        limited = context is not None and not context.resolutions.unlimited
        self.limiter = context if limited else None  # None: no resolution rate limit to charge
        self.loop = asyncio.get_running_loop()
        self.date = DateLine()
        self.closing = False  # the graceful stop began: every answer closes its connection

    def answer(self, head: RequestHead, peer: str, conn: LaneConnection) -> bytes | Pending | Handover:
        method = head.method
        if method != "GET" and method != "HEAD":
            return HANDOVER
        target = head.target
        if target.startswith("/api/"):
            if target.startswith(REST_PREFIX) and not head.authorization:
                return self._rest(head, peer, conn)
            return HANDOVER
        return self._proxy(head, peer)

    def _rest(self, head: RequestHead, peer: str, conn: LaneConnection) -> bytes | Pending | Handover:
        started = perf_counter()
        key = "A" + head.target
        charged = False
        limiter = self.limiter
        # A kept key proves the route (only it stores "A" keys): charge then, else after decoding the path.
        if limiter is None or key in self.cache.hot:
            if limiter is not None:
                wait = limiter.resolutions.acquire(peer, limiter.clock())
                if wait > 0:
                    return self._refuse(head, wait)
                charged = True
            hot = self.cache.lookup_hot(key, self.loop.time())
            if hot is not None:
                self._finished(head, peer, hot.code, started)
                return self._json(head, hot.payload, hot.status)
        return self._miss(head, peer, conn, key, started, charged)

    def _miss(
        self, head: RequestHead, peer: str, conn: LaneConnection, key: str, started: float, charged: bool
    ) -> bytes | Pending | Handover:
        decoded = decode_target(head.target)
        if decoded is None:
            return HANDOVER  # not the route's: aiohttp routes it (404, or the proxy)
        text, query = decoded
        if self.limiter is not None and not charged:
            wait = self.limiter.resolutions.acquire(peer, self.limiter.clock())
            if wait > 0:
                return self._refuse(head, wait, text)
        plain = query is NO_QUERY  # the usual request: no filter, not pretty
        pretty = False if plain else query_flag(query, "pretty")
        try:
            ident = parse_identifier(text, self.identifier)
            indexes = () if plain else tuple(int(i) for i in query.getall("index", ()))
        except ValueError:  # handles_api.query_filters
            return self._error(head, text, ProtocolError("index must be an integer"), pretty)
        except ProtocolError as exc:
            return self._error(head, text, exc, pretty)
        types = () if plain else tuple(query.getall("type", ()))
        now = self.loop.time()
        answer = self.resolver.answer_now(ident, indexes, types, now)
        if answer is not None:
            payload, status = rest_payload(text, answer, pretty)
            self.cache.store_hot(key, answer.entry, payload, status, answer.code)
            self._finished(head, peer, answer.code, started, text)
            return self._json(head, payload, status)
        keys = (key, ident.key, text)
        pending = Pending(self, conn, head, peer, keys, pretty, indexes, types, now, started)
        self.resolver.loader.submit(ident.key, pending.answer)
        if self.stats is not None:
            self.stats.http.inflight += 1
        return pending

    def _proxy(self, head: RequestHead, peer: str) -> bytes | Handover:
        """``front.FrontDoor._proxy``: a kept answer of the proxy route (no rate limit, no owner reads)."""
        if not head.minor:
            return HANDOVER  # aiohttp's HTTP/1.0 redirect has no Content-Length: left to aiohttp
        started = perf_counter()
        target = head.target
        kind = proxy_kind(head.accept, target)
        hot = self.cache.lookup_hot("P" + kind + target, self.loop.time())
        if hot is None:
            return HANDOVER
        response = self._proxy_response(head, hot)
        if response is None:
            return HANDOVER
        self._finished(head, peer, hot.code, started, route=PROXY_ROUTE)
        return response

    def _proxy_response(self, head: RequestHead, hot: HotResponse) -> bytes | None:
        """``proxy.respond`` (None: a Location aiohttp would write differently; aiohttp answers it)."""
        end = ending(head.minor, self.keeps_open(head))
        if hot.status == REDIRECT:
            location = hot.payload.decode("utf-8", "replace")
            if _SAFE_LOCATION.fullmatch(location) is None:
                return None
            line = status_line(1, REDIRECT)
            return redirect_response(line, hot.payload, self.date.get(), end, head.method != "HEAD")
        kind = JSON_TYPE if hot.payload[:1] == b"{" else HTML_TYPE
        head_line = status_line(1, hot.status)
        return body_response(head_line, kind, hot.payload, self.date.get(), end, head.method != "HEAD")

    def keeps_open(self, head: RequestHead) -> bool:
        """Does the answer to ``head`` keep its connection: the client asks to, and no graceful stop began?"""
        return head.keep_alive and not self.closing

    def _json(self, head: RequestHead, payload: bytes, status: int) -> bytes:
        end = ending(head.minor, self.keeps_open(head))
        line = status_line(head.minor, status)
        return body_response(line, JSON_TYPE, payload, self.date.get(), end, head.method != "HEAD")

    def _error(self, head: RequestHead, text: str, exc: ProtocolError, pretty: bool) -> bytes:
        """``answers.protocol_error_json``: refused before resolution, not kept, not counted."""
        code = int(exc.response_code)
        body = {"responseCode": code, "handle": text, "message": str(exc)}
        return self._json(head, dump_json(body, pretty), http_status(code))

    def _refuse(self, head: RequestHead, wait: float, text: str | None = None) -> bytes:
        if text is None:
            decoded = decode_target(head.target)
            text = decoded[0] if decoded is not None else ""
        if self.stats is not None:
            self.stats.http.rate_limited += 1
        end = ending(head.minor, self.keeps_open(head))
        return too_many(head.minor, text, wait, self.date.get(), end, head.method != "HEAD")

    def _finished(
        self, head: RequestHead, peer: str, code: int, started: float, text: str | None = None,
        route: re.Pattern[str] = REST_ROUTE,
    ) -> None:
        """``observe.finish_resolution``: the counters, and the sampled access line (handle decoded then)."""
        seconds = perf_counter() - started
        if self.stats is not None:
            self.stats.http.finish(code, seconds)
        access = self.access
        if access is not None and access.sampled():
            if text is None:
                decoded = decode_target(head.target, route)
                text = decoded[0] if decoded is not None else ""
            access.log("http", peer, text, code, seconds)


class Pending:
    """A REST miss waiting on its storage read; the read's batch calls ``answer``, which leaves the
    response in ``response`` (``done``) for its connection to write in request order (lane_conn.py)."""

    __slots__ = (
        "closes", "conn", "context", "done", "generation", "head", "ident_key", "indexes", "key", "now",
        "peer", "pretty", "response", "started", "text", "types",
    )

    def __init__(
        self, context: LaneContext, conn: LaneConnection, head: RequestHead, peer: str,
        keys: tuple[str, str, str], pretty: bool, indexes: tuple[int, ...], types: tuple[str, ...],
        now: float, started: float,
    ) -> None:
        """``keys``: the hot key, the record's key and the handle as the route decoded it."""
        self.context, self.conn, self.head, self.peer = context, conn, head, peer
        self.key, self.ident_key, self.text = keys
        self.pretty, self.indexes, self.types = pretty, indexes, types
        self.now, self.started = now, started
        self.generation = context.cache.generation  # the cache's, when the request missed: Resolver.settle
        self.done = False
        self.response: bytes | None = None  # once done: the answer, or None for a 500
        self.closes = False  # once done: the answer says Connection: close (the graceful stop began)

    def answer(self, outcome: Outcome) -> None:
        ctx = self.context
        response = None
        try:
            usual = self._usual(outcome) if type(outcome) is StoredRecord else None
            if usual is None:
                answer = ctx.resolver.settle(
                    self.ident_key, outcome, self.generation, self.now, self.indexes, self.types
                )
                payload, status = rest_payload(self.text, answer, self.pretty)
                ctx.cache.store_hot(self.key, answer.entry, payload, status, answer.code)
                ctx._finished(self.head, self.peer, answer.code, self.started, self.text)
                usual = ctx._json(self.head, payload, status)
            response = usual
        except Exception:  # a bug: logged; the client hears a 500 (STYLE #10)
            log.exception("unexpected error answering an HTTP read after its storage read")
        if ctx.stats is not None:
            ctx.stats.http.inflight -= 1
        self.closes = not ctx.keeps_open(self.head)  # as ``_json`` decided, in this same tick
        self.response, self.done = response, True
        self.conn.finish(self)

    def _usual(self, record: StoredRecord) -> bytes | None:
        """The usual miss (no filter, compact, no write since its read began, public values) answered from
        the stored bytes in one pass that also gives the record's facts (``record_json.public_json``: no wire
        form, no ``Resolution``), cached and kept as ``settle`` and ``rest_payload`` would; None for any other
        (damage too): those take the general steps (issue 4)."""
        ctx = self.context
        cache = ctx.cache
        if self.indexes or self.types or self.pretty or self.generation != cache.generation:
            return None
        values = public_json(record)
        if values is None or not record.public_count:
            return None
        payload = values_payload(self.text, values)
        if payload is None:
            return None
        entry = cache.put(self.ident_key, record, self.now)
        cache.store_hot(self.key, entry, payload, _OK, _SUCCESS)
        ctx._finished(self.head, self.peer, _SUCCESS, self.started, self.text)
        return ctx._json(self.head, payload, _OK)
