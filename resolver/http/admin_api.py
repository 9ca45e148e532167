"""The operator's admin API under ``/api/admin``: tenants, their prefixes, credentials, tokens, audit.

Every call needs an operator bearer token (``resolver token create --operator``). Answers are plain JSON;
errors are ``{"error": "<message>"}`` with a 4xx status that says what went wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from protocol.errors import ProtocolError
from protocol.jsonfmt import values_from_json
from resolver.audit import entry_json
from resolver.auth import secrets as sec
from resolver.auth.principal import Principal
from resolver.auth.tenants import TenantError, admin_identity
from resolver.http.authn import AuthError, authenticate
from resolver.http.jsonbody import BodyError, read_json
from resolver.http.write_ctx import context
from storage.api import StorageError

Handler = Callable[[web.Request], Awaitable[web.Response]]
MAX_AUDIT_COUNT = 1_000
log = logging.getLogger(__name__)


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def admin_route(handler: Callable[[web.Request, Principal], Awaitable[web.Response]]) -> Handler:
    """Operator-only; a refused or failed change goes to the audit stream (``record_refusal``)."""

    async def wrapper(request: web.Request) -> web.Response:
        principal: Principal | None = None
        try:
            principal = await authenticate(request)
            if principal is None:
                raise AdminError(401, "operator token required: Authorization: Bearer <token>")
            if not principal.is_operator:
                raise AdminError(403, f"{principal.actor} is not an operator")
            return await handler(request, principal)
        except (AdminError, BodyError, AuthError) as exc:
            status, message = exc.status, exc.message
        except TenantError as exc:
            status, message = exc.status, str(exc)
        except StorageError as exc:
            log.warning("admin request failed in storage: %s", exc, exc_info=exc)
            status, message = 503, "storage unavailable: nothing was changed"
        if request.method != "GET":
            actor = principal.actor if principal is not None else ""
            target = "/".join(request.match_info.values())
            operation = f"{request.method} {request.path}"
            await context(request).audit.record(
                actor or (request.remote or "-"), actor, operation, target, status, message
            )
        return _error(status, message)

    return wrapper


async def _body(request: web.Request) -> dict[str, Any]:
    ctx = context(request)
    obj = await read_json(request, ctx.max_body_bytes, timeout_s=ctx.body_timeout_s)
    if not isinstance(obj, dict):
        raise AdminError(400, "body must be a JSON object")
    return obj


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise AdminError(400, f"{name}: a non-empty string is required")
    return value


def _only(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise AdminError(400, f"unknown field {unknown[0]!r}")


@admin_route
async def list_tenants(request: web.Request, _p: Principal) -> web.Response:
    return web.json_response({"tenants": await context(request).tenants.all()})


@admin_route
async def create_tenant(request: web.Request, operator: Principal) -> web.Response:
    ctx = context(request)
    body = await _body(request)
    _only(body, {"name", "prefix", "password"})
    name, prefix = _text(body, "name") or "", _text(body, "prefix") or ""
    creds = await ctx.tenants.create(
        name, prefix, _text(body, "password", required=False), ctx.clock(), actor=operator.actor
    )
    return web.json_response(creds.to_json(), status=201)


@admin_route
async def get_tenant(request: web.Request, _p: Principal) -> web.Response:
    doc = await context(request).tenants.get(request.match_info["name"])
    if doc is None:
        raise AdminError(404, f"no tenant {request.match_info['name']!r}")
    return web.json_response(doc)


@admin_route
async def delete_tenant(request: web.Request, operator: Principal) -> web.Response:
    await context(request).tenants.remove(request.match_info["name"], actor=operator.actor)
    return web.json_response({"deleted": request.match_info["name"]})


@admin_route
async def home_prefix(request: web.Request, operator: Principal) -> web.Response:
    body = await _body(request)
    _only(body, {"prefix"})
    prefix = await context(request).tenants.home(
        request.match_info["name"], _text(body, "prefix") or "", actor=operator.actor
    )
    return web.json_response({"tenant": request.match_info["name"], "prefix": prefix, "status": "homed"})


@admin_route
async def unhome_prefix(request: web.Request, operator: Principal) -> web.Response:
    name, prefix = request.match_info["name"], request.match_info["prefix"]
    canon = await context(request).tenants.unhome(name, prefix, actor=operator.actor)
    return web.json_response({"tenant": name, "prefix": canon, "status": "unhomed"})


@admin_route
async def delegate_prefix(request: web.Request, operator: Principal) -> web.Response:
    """Body ``{prefix, values: [...]}``: the HS_SITE / HS_SERV values of the enterprise node (REST JSON)."""
    body = await _body(request)
    _only(body, {"prefix", "values"})
    try:
        values = tuple(values_from_json(body.get("values")))
    except ProtocolError as exc:
        raise AdminError(400, str(exc)) from None
    name = request.match_info["name"]
    canon = await context(request).tenants.delegate(
        name, _text(body, "prefix") or "", values, actor=operator.actor
    )
    return web.json_response({"tenant": name, "prefix": canon, "status": "delegated"})


@admin_route
async def new_token(request: web.Request, operator: Principal) -> web.Response:
    ctx = context(request)
    token = await ctx.tenants.new_token(request.match_info["name"], ctx.clock(), actor=operator.actor)
    return web.json_response({"token": token, "expires_in_s": ctx.accounts.token_ttl_s}, status=201)


@admin_route
async def reset_password(request: web.Request, operator: Principal) -> web.Response:
    """Body ``{password?}``: replaces the tenant's secret (SNMS login and Handle Basic identity)."""
    ctx = context(request)
    name = request.match_info["name"]
    doc = await ctx.tenants.get(name)
    if doc is None:
        raise AdminError(404, f"no tenant {name!r}")
    body = await _body(request)
    _only(body, {"password"})
    password = _text(body, "password", required=False) or sec.new_secret()
    prefixes = list(doc.get("prefixes", []))
    identity = admin_identity(prefixes[0]) if prefixes else ""
    await ctx.accounts.add_credential(
        Principal("tenant", name, name), password, identity, actor=operator.actor
    )
    return web.json_response({"username": name, "password": password, "identity": identity}, status=201)


@admin_route
async def audit(request: web.Request, _p: Principal) -> web.Response:
    after = request.query.get("after", "0")
    try:
        count = min(MAX_AUDIT_COUNT, max(1, int(request.query.get("count", "100"))))
    except ValueError:
        raise AdminError(400, "count must be an integer") from None
    entries = await context(request).store.read_changes(after, count)
    return web.json_response({"entries": [entry_json(e) for e in entries]})


def setup_admin_routes(app: web.Application) -> None:
    base = "/api/admin"
    app.router.add_get(f"{base}/tenants", list_tenants)
    app.router.add_post(f"{base}/tenants", create_tenant)
    app.router.add_get(f"{base}/tenants/{{name}}", get_tenant)
    app.router.add_delete(f"{base}/tenants/{{name}}", delete_tenant)
    app.router.add_post(f"{base}/tenants/{{name}}/prefixes", home_prefix)
    app.router.add_delete(f"{base}/tenants/{{name}}/prefixes/{{prefix}}", unhome_prefix)
    app.router.add_post(f"{base}/tenants/{{name}}/delegations", delegate_prefix)
    app.router.add_post(f"{base}/tenants/{{name}}/tokens", new_token)
    app.router.add_post(f"{base}/tenants/{{name}}/credentials", reset_password)
    app.router.add_get(f"{base}/audit", audit)
