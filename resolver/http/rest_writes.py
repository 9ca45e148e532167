"""Handle REST writes (http-apis.md §1.2): PUT/DELETE ``/api/handles/{handle}``, GET ``/api/handles?prefix=``.

Every write needs a credential (§1.6 Basic identity, or a bearer token) whose tenant owns the handle's prefix;
anything else is 401/403 and changes nothing. A write is answered only after the store (Redis) confirmed it;
storage errors map to their response codes (§1.5), StorageUnavailable to RC 2 / HTTP 500 with nothing done.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from protocol.constants import MAX_HANDLE_VALUES
from protocol.errors import InvalidHandle, ProtocolError
from protocol.handle import Identifier, parse_identifier
from protocol.jsonfmt import values_from_json
from protocol.values import HandleValue
from resolver.auth.principal import Principal, owns_prefix
from resolver.http.authn import AuthError, authenticate
from resolver.http.jsonbody import BodyError, read_json
from resolver.http.rest_common import RC, RestError, query_bool, query_int, rest_answer, rest_error
from resolver.http.write_ctx import audit_refusal, context
from resolver.ratelimit import retry_after_header
from storage import api as st

MAX_VALUE_DATA_BYTES = 65_536  # ours: one value's data; a whole record must still fit a 256 KiB message
MAX_LIST_PAGE = 10_000  # ours: handles per listing page when the client asks for "all"
VALUE_MEMBERS = frozenset(("index", "type", "data", "ttl", "timestamp", "permissions", "references"))
ENTITY_MEMBERS = frozenset(("values", "handle", "responseCode"))

Handler = Callable[[web.Request], Awaitable[web.Response]]
log = logging.getLogger(__name__)


def _storage_error(exc: st.StorageError) -> RestError:
    if isinstance(exc, st.HandleAlreadyExists):
        return RestError(RC.HANDLE_ALREADY_EXISTS, "handle already exists")
    if isinstance(exc, st.HandleNotFound):
        return RestError(RC.HANDLE_NOT_FOUND, "handle not found")
    if isinstance(exc, st.ValueAlreadyExists):
        return RestError(RC.VALUE_ALREADY_EXISTS, str(exc))
    if isinstance(exc, st.ValueNotFound):
        return RestError(RC.VALUES_NOT_FOUND, str(exc))
    return RestError(RC.ERROR, "storage unavailable: nothing was written", status=503)


def guarded(handler: Callable[[web.Request, Identifier | None], Awaitable[web.Response]]) -> Handler:
    """Turn every refusal into the REST error answer, echoing the handle from the URL; a write that was
    refused or failed goes to the audit stream (``resolver.audit.record_refusal``)."""

    async def wrapper(request: web.Request) -> web.Response:
        raw = request.match_info.get("handle")
        try:
            ident = _identifier(request, raw) if raw is not None else None
            return await handler(request, ident)
        except (RestError, BodyError, AuthError, st.StorageError) as exc:
            err = _rest_error(exc)
        if request.method != "GET":
            target = raw or ""
            operation = f"{request.method} /api/handles"
            await audit_refusal(request, operation, target, err.status, err.message)
        return rest_error(err, raw)

    return wrapper


def _rest_error(exc: RestError | BodyError | AuthError | st.StorageError) -> RestError:
    if isinstance(exc, RestError):
        return exc
    if isinstance(exc, BodyError):
        code = RC.INVALID_VALUE if exc.status == 400 else RC.PROTOCOL_ERROR
        return RestError(code, exc.message, status=exc.status)
    if isinstance(exc, AuthError):
        code = RC.AUTHENTICATION_FAILED if exc.status == 401 else RC.SERVER_TOO_BUSY
        return RestError(code, exc.message, status=exc.status, retry_after=exc.retry_after)
    err = _storage_error(exc)
    if err.status >= 500:  # the cause (Redis down, a corrupt record) must be findable in the log
        log.warning("REST write failed in storage: %s", exc, exc_info=exc)
    return err


def _identifier(request: web.Request, raw: str) -> Identifier:
    if query_bool(request, "mintNewSuffix", False):
        # http-apis.md §1.2 MINT: the URL handle ends with "/" and the server appends a random suffix.
        raw = (raw if raw.endswith("/") else raw + "/") + secrets.token_hex(8).upper()
    try:
        return parse_identifier(raw, context(request).identifier_limits)
    except InvalidHandle as exc:
        raise RestError(RC.INVALID_HANDLE, str(exc)) from None


async def authorise_write(request: web.Request, prefix: str) -> Principal:
    """The caller, if it may write under ``prefix`` (rate-limited per caller); else 401/403/429."""
    ctx = context(request)
    principal = await authenticate(request)
    if principal is None:
        raise RestError(RC.AUTHENTICATION_NEEDED, "authentication needed: send Basic or Bearer credentials")
    wait = ctx.writes.acquire(principal.actor, ctx.clock())
    if wait > 0:
        raise RestError(RC.SERVER_TOO_BUSY, "write rate limit exceeded", 429, retry_after_header(wait))
    if not await owns_prefix(ctx.store, principal, prefix):
        raise RestError(RC.INSUFFICIENT_PERMISSIONS, f"{principal.actor} may not write under prefix {prefix}")
    return principal


def _writable(ident: Identifier | None) -> Identifier:
    if ident is None:
        raise RestError(RC.INVALID_HANDLE, "Empty handle invalid")
    if ident.is_prefix_handle:
        raise RestError(RC.INSUFFICIENT_PERMISSIONS, "prefix handles (0.NA/...) are managed by the admin API")
    return ident


def entity_values(obj: Any, handle: str) -> list[HandleValue]:
    """The three PUT entity forms (http-apis.md §1.2): array, ``{values: [...]}``, one value object."""
    if isinstance(obj, dict) and "values" not in obj and {"index", "type", "data"} <= obj.keys():
        obj = [obj]
    elif isinstance(obj, dict):
        unknown = sorted(set(obj) - ENTITY_MEMBERS)
        if unknown:
            raise RestError(RC.INVALID_VALUE, f"unknown member {unknown[0]!r} in the entity")
        if "handle" in obj and obj["handle"] != handle:
            raise RestError(RC.INVALID_VALUE, "Mismatched handle")
        obj = obj.get("values")
    return _checked_values(obj)


def _checked_values(obj: Any) -> list[HandleValue]:
    if not isinstance(obj, list) or not obj:
        raise RestError(RC.INVALID_VALUE, "values: a non-empty array of values is required")
    if len(obj) > MAX_HANDLE_VALUES:
        raise RestError(RC.INVALID_VALUE, f"values: more than {MAX_HANDLE_VALUES} values")
    for position, item in enumerate(obj):
        unknown = sorted(set(item) - VALUE_MEMBERS) if isinstance(item, dict) else []
        if unknown:
            raise RestError(RC.INVALID_VALUE, f"values[{position}]: unknown member {unknown[0]!r}")
    try:
        values = values_from_json(obj)
    except ProtocolError as exc:
        raise RestError(RC.INVALID_VALUE, str(exc)) from None
    _check_sizes(values)
    return values


def _check_sizes(values: list[HandleValue]) -> None:
    seen: set[int] = set()
    for position, value in enumerate(values):
        if value.index in seen:
            raise RestError(RC.INVALID_VALUE, f"values[{position}].index: index {value.index} given twice")
        seen.add(value.index)
        if len(value.data) > MAX_VALUE_DATA_BYTES:
            raise RestError(RC.INVALID_VALUE, f"values[{position}].data: over {MAX_VALUE_DATA_BYTES} bytes")


def _stamp(values: list[HandleValue], now_s: float) -> list[HandleValue]:
    """The server sets each value's timestamp to the time of the write (handle-protocol.md §11)."""
    return [dataclasses.replace(value, timestamp=int(now_s)) for value in values]


def _requested_indexes(request: web.Request) -> list[str]:
    return [text for item in request.query.getall("index", []) for text in item.split(",") if text.strip()]


def _index_set(request: web.Request) -> set[int] | None:
    texts = _requested_indexes(request)
    if not texts:
        return None
    if [t.strip().lower() for t in texts] == ["various"]:
        return set()
    try:
        return {int(text) for text in texts}
    except ValueError:
        raise RestError(RC.PROTOCOL_ERROR, "index must be integers or 'various'") from None


@guarded
async def put_handle(request: web.Request, ident: Identifier | None) -> web.Response:
    ident = _writable(ident)
    principal = await authorise_write(request, ident.naming_prefix)
    ctx = context(request)
    overwrite = query_bool(request, "overwrite", True)
    wanted = _index_set(request)
    values = _stamp(
        entity_values(await read_json(request, ctx.max_body_bytes, timeout_s=ctx.body_timeout_s), ident.text),
        ctx.clock(),
    )
    store, actor = ctx.store, principal.actor
    if wanted is None:
        if overwrite:
            await store.overwrite(ident.key, values, actor=actor)
        else:
            await store.create(ident.key, values, actor=actor)
    else:
        if wanted and wanted != {v.index for v in values}:
            raise RestError(RC.INVALID_VALUE, "index parameters must equal the indexes of the values sent")
        await store.add_values(ident.key, values, actor=actor, replace=overwrite)
    # http-apis.md §1.5: RC 1 is 201 only for a create/add sent without OVRW.
    return rest_answer(RC.SUCCESS, 200 if overwrite else 201, handle=ident.text)


@guarded
async def delete_handle(request: web.Request, ident: Identifier | None) -> web.Response:
    ident = _writable(ident)
    principal = await authorise_write(request, ident.naming_prefix)
    wanted = _index_set(request)
    if wanted is not None and not wanted:
        raise RestError(RC.PROTOCOL_ERROR, "DELETE needs explicit index values, not 'various'")
    store = context(request).store
    if wanted:
        await store.remove_values(ident.key, sorted(wanted), actor=principal.actor)
    else:
        await store.delete(ident.key, actor=principal.actor)
    return rest_answer(RC.SUCCESS, 200, handle=ident.text)


@guarded
async def list_handles(request: web.Request, _ident: Identifier | None) -> web.Response:
    prefix_text = request.query.get("prefix", "").strip()
    if not prefix_text:
        raise RestError(RC.INVALID_HANDLE, "Empty handle invalid")
    try:
        prefix = parse_identifier(prefix_text, context(request).identifier_limits).naming_prefix
    except InvalidHandle as exc:
        raise RestError(RC.INVALID_HANDLE, f"prefix: {exc}") from None
    await authorise_write(request, prefix)
    store = context(request).store
    page, size = query_int(request, "page", 0), query_int(request, "pageSize", -1)
    if page < 0:
        raise RestError(RC.PROTOCOL_ERROR, "page must be 0 or more")
    total = await store.count_handles(prefix)
    handles: list[str] = []
    if size != 0:
        handles = await store.list_handles(prefix, page, size if size > 0 else MAX_LIST_PAGE)
    return rest_answer(RC.SUCCESS, 200, prefix=prefix_text, totalCount=total, handles=handles)


def setup_rest_writes(app: web.Application) -> None:
    app.router.add_put("/api/handles/{handle:.+}", put_handle)
    app.router.add_delete("/api/handles/{handle:.+}", delete_handle)
    app.router.add_get("/api/handles", list_handles)
