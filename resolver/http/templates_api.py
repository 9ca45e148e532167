"""SNMS data-template endpoints ``/snms/api/{v3,v5}/template`` (http-apis.md §2.5).

GET reads (v3 and v5; v3 answers without ``idIndex``/``state``), POST creates, PUT (v5 only) edits
incrementally, DELETE removes. Writes need a token whose tenant owns the template's prefix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Iterator
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


@contextlib.contextmanager
def _template_errors() -> Iterator[None]:
    """A template the request describes badly is an SNMS failure carrying the reason."""
    try:
        yield
    except TemplateError as exc:
        raise SnmsError(Status.FAILURE, str(exc)) from None


def _named(ctx: WriteContext, fields: dict[str, Any]) -> tuple[str, str]:
    """The (canonical prefix, version) a query or body names a template by."""
    prefix = canonical_template_prefix(ctx, field_str(fields, "prefix", MAX_PREFIX_LENGTH))
    return prefix, field_str(fields, "version", MAX_VERSION_LENGTH)


@dataclasses.dataclass(frozen=True, slots=True)
class _Change:
    """A PUT or DELETE: the body, the template it names, and the owner of its prefix who asks."""

    ctx: WriteContext
    body: dict[str, Any]
    prefix: str
    version: str
    actor: str


async def _owned_change(request: web.Request) -> _Change:
    ctx = context(request)
    principal = await require_login(request, write=True)
    body = body_object(await snms_body(request))
    prefix, version = _named(ctx, body)
    actor = await _owner_check(request, principal, prefix)
    return _Change(ctx, body, prefix, version, actor)


@snms_route
async def get_template(request: web.Request) -> web.Response:
    await require_login(request, write=False)
    ctx = context(request)
    prefix, version = _named(ctx, dict(request.query))
    template = await load_template(ctx.store, prefix, version)
    if template is None:
        raise SnmsError(Status.FAILURE, NOT_FOUND)
    return envelope(template_json(template, v5=_is_v5(request)))


@snms_route
async def create_template(request: web.Request) -> web.Response:
    ctx = context(request)
    principal = await require_login(request, write=True)
    with _template_errors():
        parsed = parse_template(body_object(await snms_body(request)), v5=_is_v5(request))
    prefix = canonical_template_prefix(ctx, parsed.prefix)
    actor = await _owner_check(request, principal, prefix)
    if await load_template(ctx.store, prefix, parsed.version) is not None:
        raise SnmsError(Status.FAILURE, f"模板已存在 (template {parsed.version} exists for {prefix})")
    template = dataclasses.replace(parsed, prefix=prefix, id=_template_id(prefix, parsed.version))
    await _save(ctx, template, actor)
    return envelope(True)


@snms_route
async def edit_template(request: web.Request) -> web.Response:
    change = await _owned_change(request)
    current = await load_template(change.ctx.store, change.prefix, change.version)
    if current is None:
        raise SnmsError(Status.FAILURE, NOT_FOUND)
    with _template_errors():
        edited = apply_edit(current, change.body)
    await _save(change.ctx, edited, change.actor)
    return envelope(True)


@snms_route
async def delete_template(request: web.Request) -> web.Response:
    change = await _owned_change(request)
    key = template_key(change.prefix, change.version)
    if not await change.ctx.store.delete_doc(TEMPLATE_DOC, key, actor=change.actor):
        raise SnmsError(Status.FAILURE, NOT_FOUND)
    return envelope(True)


def setup_template_routes(app: web.Application) -> None:
    path = "/snms/api/{api:v3|v5}/template"
    app.router.add_get(path, get_template)
    app.router.add_post(path, create_template)
    app.router.add_put("/snms/api/{api:v5}/template", edit_template)
    app.router.add_delete(path, delete_template)
