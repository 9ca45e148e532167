"""Registration and administration routes: Handle REST writes, the SNMS-compatible API, admin endpoints.

``setup(app)`` runs in ``build_app`` before the proxy catch-all. The shared ``WriteContext`` is built at
application start-up from the app's store and settings. When the node has a separate admin listener
(``--admin-listen``), the admin routes go only on the app made by ``build_admin_app``.
"""

from __future__ import annotations

from aiohttp import web

from resolver.http.admin_api import setup_admin_routes
from resolver.http.keys import SETTINGS, STORE
from resolver.http.rest_writes import setup_rest_writes
from resolver.http.snms import setup_snms_routes
from resolver.http.templates_api import setup_template_routes
from resolver.http.write_ctx import CONTEXT, build_context
from resolver.settings import Settings
from storage.api import HandleStore


async def _start(app: web.Application) -> None:
    if CONTEXT not in app:
        app[CONTEXT] = build_context(app[STORE], app[SETTINGS])


def setup(app: web.Application) -> None:
    """Add the write and admin routes to a worker's public application."""
    app.on_startup.append(_start)
    setup_rest_writes(app)
    setup_snms_routes(app)
    setup_template_routes(app)
    if app[SETTINGS].listen.admin is None:
        setup_admin_routes(app)


def build_admin_app(settings: Settings, store: HandleStore) -> web.Application:
    """The admin API alone, for the separate admin listener."""
    app = web.Application(client_max_size=settings.limits.max_body_bytes)
    app[STORE] = store
    app[SETTINGS] = settings
    app.on_startup.append(_start)
    setup_admin_routes(app)
    return app
