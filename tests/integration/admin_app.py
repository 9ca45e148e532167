"""A worker's write/admin routes built in-process on a real store (real redis-server), for fast tests.

This is the production code path (``resolver.http.writes.setup`` with real settings and a real
``RedisStore``), only served by aiohttp's TestServer instead of the supervisor's socket.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from resolver.auth.tenants import TenantCredentials
from resolver.http import writes
from resolver.http.keys import SETTINGS, STORE
from resolver.http.write_ctx import CONTEXT, WriteContext, build_context
from resolver.settings import RateLimitSettings, Settings
from storage.api import StorageConfig
from storage.open import open_store
from storage.redis_store import RedisStore

OPERATOR = "ops"


@dataclass
class AdminApp:
    client: TestClient[web.Request, web.Application]
    store: RedisStore
    ctx: WriteContext
    operator_token: str

    def operator(self) -> dict[str, str]:
        return bearer(self.operator_token)

    async def tenant(self, name: str, prefix: str, password: str | None = None) -> TenantCredentials:
        return await self.ctx.tenants.create(name, prefix, password, self.ctx.clock(), actor="operator:test")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(user: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def settings_for(redis_url: str, data_dir: Path, **rate: Any) -> Settings:
    settings = Settings(workers=1, storage=StorageConfig(redis_url=redis_url, data_dir=data_dir))
    return dataclasses.replace(settings, rate=RateLimitSettings(**rate)) if rate else settings


@contextlib.asynccontextmanager
async def admin_app(
    settings: Settings, clock: Callable[[], float] | None = None, **context_fields: Any
) -> AsyncIterator[AdminApp]:
    """``clock`` replaces the wall clock (time is a parameter, STYLE 7): token expiry, dated logins.
    ``context_fields`` set other ``WriteContext`` parameters (``body_timeout_s``)."""
    store = await open_store(settings.storage)
    app = web.Application(client_max_size=settings.limits.max_body_bytes)
    app[STORE] = store
    app[SETTINGS] = settings
    if clock is not None or context_fields:
        ctx = dataclasses.replace(build_context(store, settings), **context_fields)
        app[CONTEXT] = ctx if clock is None else dataclasses.replace(ctx, clock=clock)
    writes.setup(app)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        ctx = app[CONTEXT]
        token = await ctx.tenants.new_operator_token(OPERATOR, ctx.clock(), actor="operator:test")
        yield AdminApp(client, store, ctx, token)
    finally:
        await client.close()
        await store.aclose()
