"""The worker's front door: the request handler aiohttp's server calls for every request to the public app.

A GET or HEAD whose exact path and query were answered before is answered here from the worker's
pre-encoded copy, before aiohttp routes it (issue 4: routing, the middleware chain and the route's own
checks were a third of a cached answer's cost). Every other request goes to the app, counted here (in
flight, 429 refusals, writes by operation and result: ``observe.count_routed``) instead of in a middleware.

Only the read routes store pre-encoded answers, under keys naming the route ("A" + raw path: the REST read,
``handles_api.rest_key``; "P" + kind + raw path: the QR proxy, ``proxy.proxy_key``); aiohttp routes on the
method and the path alone, so a key found here proves which route the app would have chosen. That route's
checks run here in its order: a REST read with ``Authorization`` goes to the app (owner reads,
resolver/http/read_guard.py), and the per-client rate limit is charged once, here, and its outcome handed
on (``read_guard.CHARGED``) when the app answers after all (a refusal, or a copy that went stale).

On the worker's plain-HTTP listener the fast lane (resolver/http/fastlane.py) answers these reads before
aiohttp even parses them; the front door answers them on TLS listeners, with ``http_fast_lane`` off, and on
connections the lane handed to aiohttp.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import cast

from aiohttp import web

from resolver.cache import ResolutionCache
from resolver.http.answers import json_response
from resolver.http.handles_api import rest_key
from resolver.http.keys import RESOLVER
from resolver.http.observe import ACCESS, STATS, count_routed
from resolver.http.proxy import proxy_key, respond
from resolver.http.read_guard import CHARGED, charge_resolution
from resolver.http.write_ctx import CONTEXT
from resolver.metrics import WorkerStats

RequestHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
_READS = frozenset(("GET", "HEAD"))  # add_get routes HEAD to the GET handler (allow_head)
_API = "/api/"  # REST paths: a proxy answer kept for one is rare, so the proxy key is not even built


class FrontDoor:
    """Answers pre-encoded hits of one app's read routes; hands everything else to ``routed`` (the app)."""

    __slots__ = ("_access", "_app", "_cache", "_context", "_loop", "_routed", "_stats")

    def __init__(self, app: web.Application, routed: RequestHandler) -> None:
        """``app`` has started (its write context exists); ``routed`` is the server's handler (the app's)."""
        self._app = app
        self._routed = routed
        self._cache: ResolutionCache = app[RESOLVER].cache
        self._stats: WorkerStats | None = app.get(STATS)
        self._access = app.get(ACCESS)
        context = app.get(CONTEXT)  # set at start-up (resolver/http/writes.py)
        limited = context is not None and not context.resolutions.unlimited
        self._context = context if limited else None  # None: no resolution rate limit to charge
        self._loop = asyncio.get_running_loop()

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        started = perf_counter()  # ops work: resolution latency, as the routes measure it
        if request.method in _READS and "Expect" not in request.headers:  # the app answers 100-continue
            key = rest_key(request)
            if key in self._cache.hot:
                answered = self._rest(request, key)
            elif request.raw_path.startswith(_API):
                answered = None
            else:
                answered = self._proxy(request)
            if answered is not None:
                response, code = answered
                seconds = perf_counter() - started  # observe.finish_resolution, for an answer given here
                if self._stats is not None:
                    self._stats.http.finish(code, seconds)
                if self._access is not None and self._access.sampled():
                    await self._log_access(request, code, seconds)
                return response
        if self._stats is None:  # metrics off
            return await self._routed(request)
        return await count_routed(self._stats, cast(web.Request, request), self._routed)

    def _rest(self, request: web.BaseRequest, key: str) -> tuple[web.Response, int] | None:
        """``handles_api.get_handle`` for a kept answer: rate limit, then the copy (None: the app answers)."""
        if "Authorization" in request.headers:
            return None  # the owner may see more than the public copy: the route decides
        if self._context is not None:
            wait = charge_resolution(self._context, request)
            if wait > 0:
                request[CHARGED] = wait
                return None  # refused: the route answers the 429 naming the handle it routed
        hot = self._cache.lookup_hot(key, self._loop.time())
        if hot is None:
            if self._context is not None:
                request[CHARGED] = 0.0  # went stale: the route resolves again, not charged twice
            return None
        return json_response(hot.payload, hot.status), hot.code

    def _proxy(self, request: web.BaseRequest) -> tuple[web.Response, int] | None:
        """``proxy.get_proxy`` for a kept answer (the proxy has no rate limit and no owner reads)."""
        key = proxy_key(request)
        if key not in self._cache.hot:
            return None
        hot = self._cache.lookup_hot(key, self._loop.time())
        if hot is None:
            return None
        return respond(hot.payload, hot.status), hot.code

    async def _log_access(self, request: web.BaseRequest, code: int, seconds: float) -> None:
        """A sampled access line for an answer given here, with the handle the route would have logged
        (read from the router's own match: only for the sampled few)."""
        if self._access is not None:
            match = await self._app.router.resolve(cast(web.Request, request))
            self._access.log("http", request.remote or "", match.get("handle", ""), code, seconds)


def open_front_door(runner: web.AppRunner) -> FrontDoor:
    """Put a ``FrontDoor`` before ``runner``'s app; call after ``runner.setup()`` and before any site
    starts (each connection takes the server's handler when it opens)."""
    server = runner.server
    if server is None:
        raise RuntimeError("open_front_door before the runner was set up")
    front = FrontDoor(runner.app, server.request_handler)
    server.request_handler = front
    return front
