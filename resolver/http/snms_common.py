"""The SNMS envelope ``{status, message, data}`` and its status codes (http-apis.md §2.1).

Answers are HTTP 200 with the outcome in ``status`` (the documents show no other HTTP status), except that
an oversize body is 413 and a rate-limited call 429 with Retry-After, so generic HTTP tooling sees them too.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from resolver.auth.principal import Principal
from resolver.http.authn import AuthError, authenticate
from resolver.http.jsonbody import BodyError, read_json
from resolver.http.write_ctx import audit_refusal, context
from resolver.ratelimit import retry_after_header
from storage.api import StorageError

log = logging.getLogger(__name__)


class Status(enum.IntEnum):
    SUCCESS = 1
    NOT_LOGGED_IN = -1
    FAILURE = -2
    NO_PERMISSION = -3
    INTERNAL = -4


class SnmsError(Exception):
    def __init__(self, status: Status, message: str, http: int = 200, retry_after: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.http = http
        self.retry_after = retry_after
        self.audited = False  # set once the refusal is in the audit stream (per item, by resolver.http.snms)

    @property
    def audit_status(self) -> int:
        """The HTTP status this refusal stands for in the audit stream (the envelope itself is HTTP 200)."""
        if self.http != 200:
            return self.http
        return _AUDIT_STATUS.get(self.status, 400)


_AUDIT_STATUS = {Status.NOT_LOGGED_IN: 401, Status.NO_PERMISSION: 403, Status.INTERNAL: 503}


MISSING_LOGIN = "未登录或登录已过期 (authentication required: send Authorization: Bearer <token>)"


def envelope(
    data: Any, status: Status = Status.SUCCESS, message: str = "success", http: int = 200
) -> web.Response:
    return web.json_response({"status": int(status), "message": message, "data": data}, status=http)


BUSY = "系统繁忙 (storage unavailable: nothing was written)"
_NOT_WRITES = frozenset(("/identity/token", "/identity/token/v1"))  # logins: refusals are logged only


def snms_route(
    handler: Callable[[web.Request], Awaitable[web.Response]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Every refusal becomes an envelope; nothing escapes as an HTML error page. A write refused before its
    items were looked at (not logged in, rate limited, bad body) goes to the audit stream here; refusals of
    one identifier are recorded where the identifier is known (``resolver.http.snms.audited``)."""

    async def wrapper(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except (SnmsError, BodyError, AuthError, StorageError) as exc:
            err = _snms_error(exc)
        if request.method != "GET" and request.path not in _NOT_WRITES and not err.audited:
            operation = f"{request.method} {request.path}"
            await audit_refusal(request, operation, "", err.audit_status, err.message)
        resp = envelope(None, err.status, err.message, err.http)
        if err.retry_after:
            resp.headers["Retry-After"] = err.retry_after
        return resp

    return wrapper


def _snms_error(exc: SnmsError | BodyError | AuthError | StorageError) -> SnmsError:
    if isinstance(exc, SnmsError):
        return exc
    if isinstance(exc, BodyError):
        return SnmsError(Status.FAILURE, exc.message, 413 if exc.status == 413 else 200)
    if isinstance(exc, AuthError):
        if exc.status == 429:
            return SnmsError(Status.FAILURE, exc.message, 429, exc.retry_after)
        return SnmsError(Status.NOT_LOGGED_IN, f"{MISSING_LOGIN}: {exc.message}")
    log.warning("SNMS request failed in storage: %s", exc, exc_info=exc)
    return SnmsError(Status.INTERNAL, BUSY)


async def snms_body(request: web.Request) -> Any:
    # SNMS clients always send JSON; a missing Content-Type is tolerated, the body must still parse.
    ctx = context(request)
    return await read_json(request, ctx.max_body_bytes, check_type=False, timeout_s=ctx.body_timeout_s)


async def require_login(request: web.Request, *, write: bool, cost: int = 1) -> Principal:
    principal = await authenticate(request)
    if principal is None:
        raise SnmsError(Status.NOT_LOGGED_IN, MISSING_LOGIN)
    if write:
        charge_writes(request, principal, cost)
    return principal


def charge_writes(request: web.Request, principal: Principal, cost: int) -> None:
    """Take ``cost`` write tokens from the caller's bucket, or refuse with 429 and Retry-After."""
    ctx = context(request)
    wait = ctx.writes.acquire(principal.actor, ctx.clock(), cost)
    if wait > 0:
        message = "请求过于频繁 (write rate limit exceeded)"
        raise SnmsError(Status.FAILURE, message, 429, retry_after_header(wait))


def field_str(obj: dict[str, Any], name: str, limit: int, *, where: str = "") -> str:
    value = obj.get(name)
    label = f"{where}{name}"
    if value is None or value == "":
        raise SnmsError(Status.FAILURE, f"缺少必要的请求参数: {label}")
    if not isinstance(value, str):
        raise SnmsError(Status.FAILURE, f"参数类型错误: {label} (must be a string)")
    if len(value) > limit:
        raise SnmsError(Status.FAILURE, f"参数过长: {label} (longer than {limit} characters)")
    return value


def body_object(obj: Any, where: str = "body") -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise SnmsError(Status.FAILURE, f"参数类型错误: {where} (must be a JSON object)")
    return obj
