"""Registration and administration routes: Handle REST writes, the SNMS-compatible API, admin endpoints."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Add the write and admin routes to a worker's application (filled in by the admin work)."""
