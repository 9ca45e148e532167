"""SNMS data-template endpoints ``/snms/api/{v3,v5}/template`` (http-apis.md §2.5).

GET reads (v3 and v5; v3 answers without ``idIndex``/``state``), POST creates, PUT (v5 only) edits
incrementally, DELETE removes. Writes need a token whose tenant owns the template's prefix.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from aiohttp import web

from protocol.errors import InvalidHandle
from protocol.handle import parse_identifier
from resolver.auth.principal import Principal, owns_prefix
from resolver.http.snms_common import (
    SnmsError,
    Status,
    body_object,
    envelope,
    field_str,
    require_login,
    snms_body,
    snms_route,
)
from resolver.http.write_ctx import WriteContext, context
from resolver.templates import (
    MAX_PREFIX_LENGTH,
    MAX_VERSION_LENGTH,
    Template,
    TemplateError,
    apply_edit,
    parse_template,
    template_from_doc,
    template_json,
    template_key,
)
from storage.api import HandleStore

TEMPLATE_DOC = "template"
NOT_FOUND = "模板不存在"


def canonical_template_prefix(ctx: WriteContext, prefix: str) -> str:
    try:
        parsed = parse_identifier(prefix, ctx.identifier_limits)
    except InvalidHandle as exc:
        raise SnmsError(Status.FAILURE, f"参数错误: prefix ({exc})") from None
    if not parsed.is_prefix_handle:
        raise SnmsError(Status.FAILURE, f"参数错误: prefix ({prefix!r} is not a prefix)")
    return parsed.naming_prefix


async def load_template(store: HandleStore, prefix: str, version: str) -> Template | None:
    doc = await store.get_doc(TEMPLATE_DOC, template_key(prefix, version))
    return None if doc is None else template_from_doc(doc)


async def _save(ctx: WriteContext, template: Template, actor: str) -> None:
    doc = template_json(template, v5=True)
    await ctx.store.put_doc(TEMPLATE_DOC, template_key(template.prefix, template.version), doc, actor=actor)


def _template_id(prefix: str, version: str) -> int:
    """A stable positive id for responses (http-apis.md §2.5 ``id``: server-assigned)."""
    digest = hashlib.sha256(template_key(prefix, version).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _is_v5(request: web.Request) -> bool:
    return request.match_info["api"] == "v5"


async def _owner_check(request: web.Request, principal: Principal, prefix: str) -> str:
    if not await owns_prefix(context(request).store, principal, prefix):
        raise SnmsError(Status.NO_PERMISSION, f"无权限 ({principal.actor} does not own prefix {prefix})")
    return principal.actor


def _parse(obj: Any, *, v5: bool) -> Template:
    try:
        return parse_template(obj, v5=v5)
    except TemplateError as exc:
        raise SnmsError(Status.FAILURE, str(exc)) from None


@snms_route
async def get_template(request: web.Request) -> web.Response:
    await require_login(request, write=False)
    ctx = context(request)
    prefix = canonical_template_prefix(ctx, field_str(dict(request.query), "prefix", MAX_PREFIX_LENGTH))
    version = field_str(dict(request.query), "version", MAX_VERSION_LENGTH)
    template = await load_template(ctx.store, prefix, version)
    if template is None:
        raise SnmsError(Status.FAILURE, NOT_FOUND)
    return envelope(template_json(template, v5=_is_v5(request)))


@snms_route
async def create_template(request: web.Request) -> web.Response:
    ctx = context(request)
    principal = await require_login(request, write=True)
    parsed = _parse(body_object(await snms_body(request)), v5=_is_v5(request))
    prefix = canonical_template_prefix(ctx, parsed.prefix)
    actor = await _owner_check(request, principal, prefix)
    if await load_template(ctx.store, prefix, parsed.version) is not None:
        raise SnmsError(Status.FAILURE, f"模板已存在 (template {parsed.version} exists for {prefix})")
    template = dataclasses.replace(parsed, prefix=prefix, id=_template_id(prefix, parsed.version))
    await _save(ctx, template, actor)
    return envelope(True)


@snms_route
async def edit_template(request: web.Request) -> web.Response:
    ctx = context(request)
    principal = await require_login(request, write=True)
    body = body_object(await snms_body(request))
    prefix = canonical_template_prefix(ctx, field_str(body, "prefix", MAX_PREFIX_LENGTH))
    version = field_str(body, "version", MAX_VERSION_LENGTH)
    actor = await _owner_check(request, principal, prefix)
    current = await load_template(ctx.store, prefix, version)
    if current is None:
        raise SnmsError(Status.FAILURE, NOT_FOUND)
    try:
        edited = apply_edit(current, body)
    except TemplateError as exc:
        raise SnmsError(Status.FAILURE, str(exc)) from None
    await _save(ctx, edited, actor)
    return envelope(True)


@snms_route
async def delete_template(request: web.Request) -> web.Response:
    ctx = context(request)
    principal = await require_login(request, write=True)
    body = body_object(await snms_body(request))
    prefix = canonical_template_prefix(ctx, field_str(body, "prefix", MAX_PREFIX_LENGTH))
    version = field_str(body, "version", MAX_VERSION_LENGTH)
    actor = await _owner_check(request, principal, prefix)
    if not await ctx.store.delete_doc(TEMPLATE_DOC, template_key(prefix, version), actor=actor):
        raise SnmsError(Status.FAILURE, NOT_FOUND)
    return envelope(True)


def setup_template_routes(app: web.Application) -> None:
    path = "/snms/api/{api:v3|v5}/template"
    app.router.add_get(path, get_template)
    app.router.add_post(path, create_template)
    app.router.add_put("/snms/api/{api:v5}/template", edit_template)
    app.router.add_delete(path, delete_template)
