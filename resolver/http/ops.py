"""The operators' endpoints: ``/metrics`` (the whole node), ``/healthz`` (this process answers), ``/readyz``.

They go on the public HTTP app (before its catch-all ``GET /{handle}`` route) and, with
``--metrics-listen``, on a second small app of their own (``build_ops_app``), so Prometheus and the
orchestrator need not share a port with clients.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from resolver.health import Check, check_redis, check_workers, readiness_body
from resolver.multiproc import render_metrics

Ping = Callable[[], Awaitable[None]]
READINESS_CHECKS = ("redis", "workers")  # what /readyz checks; ?exclude=NAME leaves one out


def setup_ops_routes(
    app: web.Application,
    *,
    ping: Ping,
    data_dir: Path,
    metrics_dir: Path | None = None,
    before_scrape: Callable[[], None] | None = None,
    metrics_enabled: bool = True,
) -> None:
    """Add the three routes. ``ping`` is the worker's ``store.ping``; ``metrics_dir`` the multiprocess
    directory (default: ``$PROMETHEUS_MULTIPROC_DIR``); ``before_scrape`` (the worker's
    ``MetricsFlusher.flush``) makes the answering worker's own numbers current to the request;
    ``metrics_enabled`` False (the node counts nothing): /metrics answers 404.
    """

    async def metrics(_: web.Request) -> web.Response:
        if not metrics_enabled:
            return web.json_response({"error": "metrics are disabled (metrics_enabled = false)"}, status=404)
        if before_scrape is not None:
            before_scrape()
        body, content_type = render_metrics(metrics_dir)
        resp = web.Response(body=body)
        resp.headers["Content-Type"] = content_type  # has a version parameter aiohttp's content_type refuses
        return resp

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        # ``?exclude=redis`` (Kubernetes' own /readyz?exclude=etcd): every replica shares one Redis, so an
        # orchestrator that took a replica out on it would empty the Service at once in an outage, while each
        # replica still answers what it has read (serve-stale, resolver/cache.py). Metrics alert on Redis.
        excluded = set(request.query.getall("exclude", []))
        unknown = sorted(excluded - set(READINESS_CHECKS))
        if unknown:
            error = f"unknown readiness check {unknown[0]!r}; the checks are: {', '.join(READINESS_CHECKS)}"
            return web.json_response({"error": error}, status=400)
        checks: list[Check] = []
        if "redis" not in excluded:
            checks.append(await check_redis(ping))
        if "workers" not in excluded:
            checks.append(check_workers(data_dir))
        body = readiness_body(checks)
        return web.json_response(body, status=200 if not body["failed"] else 503)

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)


def build_ops_app(
    *,
    ping: Ping,
    data_dir: Path,
    metrics_dir: Path | None = None,
    before_scrape: Callable[[], None] | None = None,
    metrics_enabled: bool = True,
) -> web.Application:
    """An app with only the ops routes, for the ``--metrics-listen`` socket."""
    app = web.Application()
    setup_ops_routes(app, ping=ping, data_dir=data_dir, metrics_dir=metrics_dir, before_scrape=before_scrape,
                     metrics_enabled=metrics_enabled)
    return app
