"""The worker's aiohttp application: REST reads, the write/admin routes, and the proxy catch-all last."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from resolver.http import handles_api, proxy, writes
from resolver.http.keys import RESOLVER, SETTINGS, STORE
from resolver.http.observe import FRONT_COUNTS
from resolver.service import Resolver
from resolver.settings import Settings
from storage.api import HandleStore


def build_app(
    settings: Settings,
    store: HandleStore,
    resolver: Resolver,
    *,
    more_routes: Callable[[web.Application], None] | None = None,
) -> web.Application:
    """Routes in this order: /api reads, ``writes.setup`` (registration and admin), ``more_routes`` (the ops
    endpoints /metrics, /healthz, /readyz), and last the ``GET /{handle}`` proxy catch-all, so all others win.
    Serve it behind ``resolver.http.front.open_front_door``: the front door answers repeated reads and
    counts the requests (``observe.FRONT_COUNTS``: no counting middleware).
    """
    app = web.Application(client_max_size=settings.limits.max_body_bytes)
    app[FRONT_COUNTS] = True
    app[STORE] = store
    app[RESOLVER] = resolver
    app[SETTINGS] = settings
    handles_api.setup(app)
    writes.setup(app)
    if more_routes is not None:
        more_routes(app)
    proxy.setup(app)  # must stay last
    return app
