"""What the HTTP apps count: finished resolutions (called by the read routes), and for every routed request
the requests in flight, the refusals by rate limiting (HTTP 429) and the writes by operation and result:
on the worker's public app in its front door (``resolver.http.front``, no middleware on the hot path), on
any other app (the admin listener's) in the ``count_requests`` middleware.

Writes are counted here, from the route and the answer, so the write routes need no metrics code: the
operation comes from the route (a closed table below), the result from the HTTP status or, for the
SNMS-compatible API which answers failures with HTTP 200, from its envelope's ``status`` (http-apis.md §2.1).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from time import perf_counter

from aiohttp import web

from resolver.logs import AccessLog
from resolver.metrics import WorkerStats

STATS = web.AppKey("worker_stats", WorkerStats)
ACCESS = web.AppKey("access_log", AccessLog)
# Set by ``build_app``: the app is served behind ``resolver.http.front.FrontDoor``, which counts its requests.
FRONT_COUNTS = web.AppKey("front_door_counts", bool)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger(__name__)

_ADMIN = "/api/admin/tenants"
_SNMS = "/identityv2/data"
_TEMPLATE = "/snms/api/{api}/template"
# (method, canonical route) -> operation; the REST handle routes are decided by ``_rest_operation``.
_WRITE_ROUTES: dict[tuple[str, str], str] = {
    ("POST", _SNMS): "create", ("PUT", _SNMS): "overwrite", ("DELETE", _SNMS): "delete",
    ("POST", _SNMS + "/batchCreate"): "create", ("PUT", _SNMS + "/batchUpdate"): "overwrite",
    ("DELETE", _SNMS + "/batchDelete"): "delete",
    ("POST", _TEMPLATE): "doc_put", ("PUT", _TEMPLATE): "doc_put", ("DELETE", _TEMPLATE): "doc_delete",
    ("POST", _ADMIN): "doc_put", ("DELETE", _ADMIN + "/{name}"): "doc_delete",
    ("POST", _ADMIN + "/{name}/prefixes"): "home", ("DELETE", _ADMIN + "/{name}/prefixes/{prefix}"): "unhome",
    ("POST", _ADMIN + "/{name}/delegations"): "delegate", ("POST", _ADMIN + "/{name}/tokens"): "doc_put",
    ("POST", _ADMIN + "/{name}/credentials"): "doc_put",
}
_STATUS_RESULTS = {400: "invalid", 401: "forbidden", 403: "forbidden", 404: "not_found", 409: "conflict",
                   413: "invalid", 429: "rate_limited", 500: "error", 503: "unavailable"}
# The SNMS envelope's status (resolver/http/snms_common.py Status): 1 ok, -1/-3 refused, -2 failure,
# -4 internal.
_SNMS_RESULTS = {1: "ok", -1: "forbidden", -3: "forbidden", -2: "invalid", -4: "unavailable"}


def install(app: web.Application, stats: WorkerStats | None, access: AccessLog | None) -> None:
    """Count this app's requests into ``stats`` and sample them into ``access`` (either may be off, None).
    Call before the app starts (in ``build_app``'s ``more_routes``). An app served behind the front door
    (``FRONT_COUNTS``) is counted there; any other gets the ``count_requests`` middleware."""
    if access is not None:
        app[ACCESS] = access
    if stats is not None:
        app[STATS] = stats
        if not app.get(FRONT_COUNTS, False):
            app.middlewares.append(count_requests)


def finish_resolution(request: web.Request, code: int, started: float) -> None:
    """One HTTP resolution answered with Handle response ``code``; ``started`` is its ``perf_counter()``."""
    seconds = perf_counter() - started
    stats = request.app.get(STATS)
    if stats is not None:  # None: metrics off
        stats.http.finish(code, seconds)
    access = request.app.get(ACCESS)
    if access is not None and access.sampled():
        access.log("http", request.remote or "", request.match_info.get("handle", ""), code, seconds)


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    return await count_routed(request.app[STATS], request, handler)


async def count_routed(stats: WorkerStats, request: web.Request, handler: Handler) -> web.StreamResponse:
    """``handler``'s answer to ``request``, counted: in flight, refused by rate limiting, writes."""
    http = stats.http
    http.inflight += 1
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _count_write(stats, request, exc.status, None)
        raise
    finally:
        http.inflight -= 1
    if response.status == 429:
        http.rate_limited += 1
    if request.method != "GET":
        _count_write(stats, request, response.status, response)
    return response


def write_operation(request: web.Request) -> str | None:
    """The write a request asks for, or None when it is not a write route."""
    info = request.match_info
    canonical = info.route.resource.canonical if info.route.resource is not None else ""
    if canonical == "/api/handles/{handle}":
        return _rest_operation(request)
    return _WRITE_ROUTES.get((request.method, canonical))


def _rest_operation(request: web.Request) -> str | None:
    """http-apis.md §1.2: PUT with ``index`` adds values, ``overwrite=false`` creates; DELETE with ``index``
    removes values."""
    indexed = "index" in request.query
    if request.method == "PUT":
        if indexed:
            return "add"
        return "create" if request.query.get("overwrite", "true").lower() == "false" else "overwrite"
    if request.method == "DELETE":
        return "remove" if indexed else "delete"
    return None


def _count_write(
    stats: WorkerStats, request: web.Request, status: int, response: web.StreamResponse | None
) -> None:
    operation = write_operation(request) if request.method != "GET" else None
    if operation is None:
        return
    result = _STATUS_RESULTS.get(status, "ok" if status < 400 else "error")
    if result == "ok" and isinstance(response, web.Response) and request.path.startswith(_SNMS):
        result = _snms_result(response)
    stats.count_write(operation, result)


def _snms_result(response: web.Response) -> str:
    try:
        body = json.loads(response.body) if isinstance(response.body, bytes) else {}
    except ValueError:
        return "error"
    status = body.get("status") if isinstance(body, dict) else None
    return _SNMS_RESULTS.get(status, "error") if isinstance(status, int) else "error"
