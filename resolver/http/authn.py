"""Turning a request's ``Authorization`` header into a ``Principal`` (http-apis.md §1.6, §2.1).

Accepted: ``Bearer <token>`` (SNMS and admin API), and ``Basic base64(user:secret)`` where the user is either
a Handle admin identity ``<index>:<handle>`` (URL-encoded by pyhandle/B2HANDLE, e.g. ``300%3A88.1/ADMIN``)
or a plain SNMS username. No header means anonymous (None); a header that does not verify is an error, so a
client with a wrong secret learns it instead of silently reading as anonymous.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from urllib.parse import unquote

from aiohttp import web

from resolver.auth.principal import Principal
from resolver.http.write_ctx import PRINCIPAL, Caller, context
from resolver.ratelimit import retry_after_header

BASIC_CACHE_TTL_S = 30.0  # ours: a changed or removed credential stops working within this time
_BASIC_CACHE_MAX = 10_000


class AuthError(Exception):
    """Credentials were presented but are unusable. ``status``: 401, or 429 for too many attempts."""

    def __init__(self, message: str, status: int = 401, retry_after: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


def split_basic_user(decoded: str) -> tuple[str, str]:
    """``user:secret`` where an unencoded identity user itself holds one ``:`` after its index."""
    head, sep, rest = decoded.partition(":")
    if not sep:
        raise AuthError("Basic credentials need user:secret")
    if head.isdigit() and ":" in rest:
        handle, _, secret = rest.partition(":")
        return f"{head}:{handle}", secret
    return head, rest


async def _basic(request: web.Request, payload: str) -> Principal | None:
    try:
        decoded = base64.b64decode(payload.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthError("Basic credentials are not Base64 UTF-8") from None
    user, secret = split_basic_user(decoded)
    user = unquote(user)
    accounts = context(request).accounts
    if ":" in user and user.partition(":")[0].isdigit():
        return await accounts.login_identity(user, secret)
    return await accounts.login_password(user, secret)


async def _basic_cached(request: web.Request, payload: str) -> Principal:
    """Handle clients send Basic on every call: a verified header is remembered briefly so that only the
    first call of a burst pays the slow hash (and the login rate limit)."""
    ctx = context(request)
    key = hashlib.sha256(payload.encode("utf-8", "surrogatepass")).digest()
    now = ctx.clock()
    hit = ctx.basic_cache.get(key)
    if hit is not None and hit[1] > now:
        return hit[0]
    _login_allowed(request)
    principal = await _basic(request, payload)
    if principal is None:
        raise AuthError("authentication failed: unknown identity or wrong secret")
    if len(ctx.basic_cache) >= _BASIC_CACHE_MAX:
        ctx.basic_cache.clear()
    ctx.basic_cache[key] = (principal, now + BASIC_CACHE_TTL_S)
    return principal


def _login_allowed(request: web.Request) -> None:
    ctx = context(request)
    wait = ctx.logins.acquire(request.remote or "-", ctx.clock())
    if wait > 0:
        raise AuthError("too many authentication attempts", status=429, retry_after=retry_after_header(wait))


async def authenticate(request: web.Request) -> Principal | None:
    """The caller, None when no credentials were sent; AuthError for bad ones. Cached on the request."""
    if PRINCIPAL in request:
        return request[PRINCIPAL].principal
    header = request.headers.get("Authorization", "")
    scheme, _, payload = header.partition(" ")
    principal: Principal | None = None
    if scheme.lower() == "bearer" and payload.strip():
        principal = await context(request).accounts.principal_for_token(
            payload.strip(), context(request).clock()
        )
        if principal is None:
            raise AuthError("token is invalid or has expired")
    elif scheme.lower() == "basic":
        principal = await _basic_cached(request, payload)
    elif header:
        raise AuthError(f"unsupported Authorization scheme {scheme!r}: use Bearer or Basic")
    request[PRINCIPAL] = Caller(principal)
    return principal
