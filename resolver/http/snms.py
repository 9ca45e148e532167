"""The SNMS-compatible identifier API (http-apis.md §2.2-§2.4): token login, detail, create, update, delete
and the three batch operations, each registration validated against the template named by
``templateVersion`` (resolver/templates.py)."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from protocol.errors import InvalidHandle
from protocol.handle import Identifier, parse_identifier
from protocol.values import HandleValue
from resolver.auth.principal import Principal, may_read_restricted, owns_prefix
from resolver.http.snms_common import (
    BUSY,
    SnmsError,
    Status,
    body_object,
    charge_writes,
    envelope,
    field_str,
    require_login,
    snms_body,
    snms_route,
)
from resolver.http.templates_api import load_template
from resolver.http.write_ctx import MAX_BATCH_ITEMS, WriteContext, context
from resolver.templates import (
    MAX_TYPE_LENGTH,
    MAX_VALUE_LENGTH,
    MAX_VERSION_LENGTH,
    TEMPLATE_INDEX,
    AttributeValue,
    validate_registration,
)
from storage import api as st

log = logging.getLogger(__name__)

MAX_HANDLE_CHARS = 255  # http-apis.md §2.3
LOGIN_FAILED = "用户名/密码错误！"  # http-apis.md §2.2
OBJECT_MEMBERS = frozenset(("handle", "templateVersion", "value", "prefix"))
VALUE_MEMBERS = frozenset(("index", "type", "auth", "data"))
BATCH_CONCURRENCY = 16  # ours: store round trips in flight for one batch call


@dataclass(frozen=True, slots=True)
class Registration:
    ident: Identifier
    version: str
    values: tuple[AttributeValue, ...]


# --- login ----------------------------------------------------------------------------------------------


async def _login(request: web.Request, *, hashed: bool) -> web.Response:
    ctx = context(request)
    wait = ctx.logins.acquire(request.remote or "-", ctx.clock())
    if wait > 0:
        raise SnmsError(
            Status.FAILURE, "请求过于频繁 (too many login attempts)", 429, str(max(1, int(wait) + 1))
        )
    body = body_object(await snms_body(request))
    username = field_str(body, "username", 50)
    password = field_str(body, "password", 64)
    if hashed:
        principal = await ctx.accounts.login_hashed(username, password, ctx.clock())
    else:
        principal = await ctx.accounts.login_password(username, password)
    if principal is None:
        raise SnmsError(Status.FAILURE, LOGIN_FAILED)
    token = await ctx.accounts.issue_token(principal, ctx.clock(), actor=principal.actor)
    return envelope({"token": token})


@snms_route
async def token_plain(request: web.Request) -> web.Response:
    return await _login(request, hashed=False)


@snms_route
async def token_hashed(request: web.Request) -> web.Response:
    return await _login(request, hashed=True)


# --- parsing the identifier object ------------------------------------------------------------------------


def _ident(ctx: WriteContext, handle: str) -> Identifier:
    try:
        ident = parse_identifier(handle, ctx.identifier_limits)
    except InvalidHandle as exc:
        raise SnmsError(Status.FAILURE, f"标识格式错误: handle ({exc})") from None
    if ident.is_prefix_handle:
        raise SnmsError(Status.FAILURE, "标识格式错误: handle (must be prefix/suffix)")
    return ident


def _attribute(obj: Any, where: str) -> AttributeValue:
    item = body_object(obj, where)
    unknown = sorted(set(item) - VALUE_MEMBERS)
    if unknown:
        raise SnmsError(Status.FAILURE, f"未知参数: {where}.{unknown[0]}")
    index = item.get("index")
    if isinstance(index, str) and index.isdigit():
        index = int(index)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 < index < 10**11:
        raise SnmsError(Status.FAILURE, f"参数类型错误: {where}.index (an integer of at most 11 digits)")
    data = body_object(item.get("data"), f"{where}.data")
    fmt = data.get("format", "string")
    return AttributeValue(
        index=index,
        type=field_str(item, "type", MAX_TYPE_LENGTH, where=f"{where}."),
        value=_text(data.get("value"), f"{where}.data.value"),
        format=fmt if isinstance(fmt, str) else repr(fmt),
        auth=str(item.get("auth") or ""),
    )


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise SnmsError(Status.FAILURE, f"参数类型错误: {where} (must be a string)")
    if len(value) > MAX_VALUE_LENGTH:
        raise SnmsError(Status.FAILURE, f"参数过长: {where} (longer than {MAX_VALUE_LENGTH} characters)")
    return value


def parse_registration(ctx: WriteContext, obj: Any) -> Registration:
    body = body_object(obj)
    unknown = sorted(set(body) - OBJECT_MEMBERS)
    if unknown:
        raise SnmsError(Status.FAILURE, f"未知参数: {unknown[0]} (unknown field)")
    ident = _ident(ctx, field_str(body, "handle", MAX_HANDLE_CHARS))
    version = field_str(body, "templateVersion", MAX_VERSION_LENGTH)
    raw_values = body.get("value")
    if not isinstance(raw_values, list) or not raw_values:
        raise SnmsError(Status.FAILURE, "缺少必要的请求参数: value (a non-empty array)")
    values = tuple(_attribute(item, f"value[{i}]") for i, item in enumerate(raw_values))
    return Registration(ident, version, values)


# --- the operations ---------------------------------------------------------------------------------------


async def _owned(ctx: WriteContext, principal: Principal, ident: Identifier) -> None:
    if not await owns_prefix(ctx.store, principal, ident.naming_prefix):
        raise SnmsError(
            Status.NO_PERMISSION, f"无权限 ({principal.actor} may not write under {ident.naming_prefix})"
        )


async def _validated_values(ctx: WriteContext, reg: Registration) -> list[HandleValue]:
    template = await load_template(ctx.store, reg.ident.naming_prefix, reg.version)
    if template is None:
        raise SnmsError(
            Status.FAILURE, f"模板不存在: templateVersion {reg.version} (no such template for prefix)"
        )
    problems = validate_registration(template, reg.values)
    if problems:
        raise SnmsError(Status.FAILURE, "; ".join(problems))
    now = int(ctx.clock())
    head = HandleValue(TEMPLATE_INDEX, "TEMPLATE", reg.version.encode("utf-8"), timestamp=now)
    return [head, *(HandleValue(v.index, v.type, v.value.encode("utf-8"), timestamp=now) for v in reg.values)]


async def create_one(ctx: WriteContext, principal: Principal, obj: Any) -> str:
    reg = parse_registration(ctx, obj)
    await _owned(ctx, principal, reg.ident)
    values = await _validated_values(ctx, reg)
    try:
        await ctx.store.create(reg.ident.key, values, actor=principal.actor)
    except st.HandleAlreadyExists:
        raise SnmsError(Status.FAILURE, "标识已存在") from None
    return reg.ident.text


async def update_one(ctx: WriteContext, principal: Principal, obj: Any) -> str:
    reg = parse_registration(ctx, obj)
    await _owned(ctx, principal, reg.ident)
    values = await _validated_values(ctx, reg)
    current = await ctx.store.get(reg.ident.key)
    if current is None:
        raise SnmsError(Status.FAILURE, "标识不存在")
    # Values below the template range (HS_ADMIN at 100, URLs...) survive an update; attributes are replaced.
    kept = [v for v in current if v.index < TEMPLATE_INDEX]
    await ctx.store.overwrite(reg.ident.key, [*kept, *values], actor=principal.actor)
    return reg.ident.text


async def delete_one(ctx: WriteContext, principal: Principal, handle: Any, *, missing: str) -> str:
    if not isinstance(handle, str) or not handle:
        raise SnmsError(Status.FAILURE, "缺少必要的请求参数: handle")
    ident = _ident(ctx, handle)
    await _owned(ctx, principal, ident)
    try:
        await ctx.store.delete(ident.key, actor=principal.actor)
    except st.HandleNotFound:
        raise SnmsError(Status.FAILURE, missing) from None
    return ident.text


# --- detail -----------------------------------------------------------------------------------------------


def _value_json(value: HandleValue) -> dict[str, Any]:
    try:
        data = {"format": "string", "value": value.data.decode("utf-8")}
    except UnicodeDecodeError:
        data = {"format": "base64", "value": base64.b64encode(value.data).decode("ascii")}
    kind = "TEMPLATE" if value.index == TEMPLATE_INDEX else value.type
    return {"index": value.index, "type": kind, "auth": "1", "data": data}


def detail_json(ident: Identifier, record: st.Record, show_restricted: bool) -> dict[str, Any]:
    shown = sorted((v for v in record if show_restricted or v.public_read), key=lambda v: v.index)
    version = next((v.data.decode("utf-8", "replace") for v in record if v.index == TEMPLATE_INDEX), "")
    return {
        "prefix": ident.prefix,
        "handle": ident.text,
        "templateVersion": version,
        "value": [_value_json(v) for v in shown],
    }


@snms_route
async def detail(request: web.Request) -> web.Response:
    principal = await require_login(request, write=False)
    ctx = context(request)
    ident = _ident(ctx, field_str(dict(request.query), "handle", MAX_HANDLE_CHARS))
    record = await ctx.store.get(ident.key)
    if record is None:
        raise SnmsError(Status.FAILURE, "标识不存在")
    # Values without PUBLIC_READ only for the owner (handle-protocol.md §11.1).
    restricted = await may_read_restricted(ctx.store, principal, ident.naming_prefix)
    return envelope(detail_json(ident, record, restricted))


# --- single writes ----------------------------------------------------------------------------------------


def audited(name: str, op: ItemOp) -> ItemOp:
    """``op`` on one item; a refusal or failure goes to the audit stream naming the item's identifier, and
    a storage failure is logged with its cause and becomes the INTERNAL envelope (http-apis.md §2.1)."""

    async def run(ctx: WriteContext, principal: Principal, item: Any) -> str:
        try:
            return await op(ctx, principal, item)
        except SnmsError as exc:
            err = exc
        except st.StorageError as exc:
            log.warning("SNMS %s of %r failed in storage: %s", name, _item_handle(item), exc, exc_info=exc)
            err = SnmsError(Status.INTERNAL, BUSY)
        await ctx.audit.record(
            principal.actor, principal.actor, name, _item_handle(item), err.audit_status, err.message
        )
        err.audited = True
        raise err

    return run


async def _delete_single(ctx: WriteContext, principal: Principal, handle: Any) -> str:
    return await delete_one(ctx, principal, handle, missing="没有找到标识")


async def _delete_item(ctx: WriteContext, principal: Principal, handle: Any) -> str:
    return await delete_one(ctx, principal, handle, missing="标识不存在")


_create = audited("snms-create", create_one)
_update = audited("snms-update", update_one)
_delete = audited("snms-delete", _delete_single)
_batch_delete_one = audited("snms-delete", _delete_item)


@snms_route
async def create(request: web.Request) -> web.Response:
    principal = await require_login(request, write=True)
    await _create(context(request), principal, await snms_body(request))
    return envelope(True)


@snms_route
async def update(request: web.Request) -> web.Response:
    principal = await require_login(request, write=True)
    await _update(context(request), principal, await snms_body(request))
    return envelope(True)


@snms_route
async def delete(request: web.Request) -> web.Response:
    principal = await require_login(request, write=True)
    body = body_object(await snms_body(request))
    await _delete(context(request), principal, body.get("handle"))
    return envelope(True)


# --- batches: one result per item, the envelope succeeds even when items fail (http-apis.md §2.3) --------

ItemOp = Callable[[WriteContext, Principal, Any], Awaitable[str]]


def _batch_items(body: Any, *, lenient_key: str = "") -> list[Any]:
    if lenient_key and isinstance(body, dict) and isinstance(body.get(lenient_key), list):
        body = body[lenient_key]
    if not isinstance(body, list) or not body:
        raise SnmsError(Status.FAILURE, "参数类型错误: body (a non-empty JSON array)")
    if len(body) > MAX_BATCH_ITEMS:
        raise SnmsError(Status.FAILURE, f"超出批量操作上限: {len(body)} > {MAX_BATCH_ITEMS} items")
    return body


def _item_handle(item: Any) -> str:
    handle = item.get("handle") if isinstance(item, dict) else item
    return handle if isinstance(handle, str) else ""


async def _run_batch(ctx: WriteContext, principal: Principal, items: list[Any], op: ItemOp) -> list[str]:
    """Each item's message: "success" or the reason it failed. A storage failure fails only its item."""
    gate = asyncio.Semaphore(BATCH_CONCURRENCY)

    async def one(item: Any) -> str:
        async with gate:
            try:
                await op(ctx, principal, item)
            except SnmsError as err:  # already in the audit stream (``audited``)
                return err.message
            return "success"

    return list(await asyncio.gather(*(one(item) for item in items)))


async def _batch(request: web.Request, op: ItemOp) -> web.Response:
    ctx = context(request)
    principal = await require_login(request, write=False)  # who first: anonymous bodies are not parsed
    items = _batch_items(await snms_body(request))
    charge_writes(request, principal, len(items))
    messages = await _run_batch(ctx, principal, items, op)
    return envelope([{"handle": _item_handle(i), "msg": m} for i, m in zip(items, messages, strict=True)])


@snms_route
async def batch_create(request: web.Request) -> web.Response:
    return await _batch(request, _create)


@snms_route
async def batch_update(request: web.Request) -> web.Response:
    return await _batch(request, _update)


@snms_route
async def batch_delete(request: web.Request) -> web.Response:
    ctx = context(request)
    principal = await require_login(request, write=False)
    items = _batch_items(await snms_body(request), lenient_key="handles")
    charge_writes(request, principal, len(items))
    messages = await _run_batch(ctx, principal, items, _batch_delete_one)
    results = [
        {"handle": _item_handle(item), "code": 1 if msg == "success" else -2, "msg": msg}
        for item, msg in zip(items, messages, strict=True)
    ]
    return envelope(results)


def setup_snms_routes(app: web.Application) -> None:
    app.router.add_post("/identity/token", token_plain)
    app.router.add_post("/identity/token/v1", token_hashed)
    app.router.add_get("/identityv2/data/detail", detail)
    app.router.add_post("/identityv2/data", create)
    app.router.add_put("/identityv2/data", update)
    app.router.add_delete("/identityv2/data", delete)
    app.router.add_post("/identityv2/data/batchCreate", batch_create)
    app.router.add_put("/identityv2/data/batchUpdate", batch_update)
    app.router.add_delete("/identityv2/data/batchDelete", batch_delete)
