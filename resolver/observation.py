"""A worker's share of the operators' view: its counters, the flusher task, the access log, the ops routes.

Built once per worker from the settings (``WorkerObservation(settings)``); with ``metrics_enabled`` False
``stats`` is None, so the transports count nothing and /metrics answers 404. The levels (open connections,
in-flight requests, cache size) are read from the worker's own objects once per flush, never per request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aiohttp import web

from resolver.cache import ResolutionCache
from resolver.http.observe import install
from resolver.http.ops import build_ops_app, setup_ops_routes
from resolver.logs import AccessLog
from resolver.loopwatch import LoopWatch
from resolver.metrics import CacheCounts, MetricsFlusher, NodeMetrics, TransportStats, WorkerStats
from resolver.settings import Settings

Ping = Callable[[], Awaitable[None]]
Levels = Callable[[WorkerStats], None]
FLUSH_INTERVAL_S = 1.0


def cache_counts(cache: ResolutionCache) -> CacheCounts:
    """The cache's counters as the metrics see them: a pre-encoded answer is a hit too."""
    s = cache.stats
    return CacheCounts(s.hits + s.hot_hits, s.misses, s.negative_hits, s.evictions, s.stale_hits, s.refused)


class WorkerObservation:
    """What one worker counts and serves about itself."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stats = WorkerStats() if settings.metrics_enabled else None
        sample = settings.log.access_log_sample
        self.access = AccessLog(sample) if sample > 0 else None
        self.flusher: MetricsFlusher | None = None
        self._task: asyncio.Task[None] | None = None
        self._watch: LoopWatch | None = None  # the loop's delays (resolver/loopwatch.py), with the metrics

    def transport(self, name: str) -> TransportStats | None:
        return self.stats.transport(name) if self.stats is not None else None

    def start(self, cache: ResolutionCache, levels: Levels) -> None:
        """Build the prometheus metrics (multiprocess mode was chosen by the supervisor) and flush every
        second; ``levels`` copies the worker's gauges into ``stats`` before each flush."""
        if self.stats is None:
            return
        self.flusher = MetricsFlusher(self.stats, NodeMetrics(), cache=lambda: cache_counts(cache),
                                      before_flush=levels)
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self.flusher.run(FLUSH_INTERVAL_S))
        self._watch = LoopWatch(self.stats.loop_delay.observe)
        self._watch.start(loop)

    async def aclose(self) -> None:
        """Stop the flusher; its last flush (at cancellation) keeps everything counted until now."""
        if self._watch is not None:
            self._watch.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def routes(self, ping: Ping) -> Callable[[web.Application], None]:
        """``build_app``'s ``more_routes``: request counting (``observe.install``: the front door counts the
        public app's requests, a middleware any other's) and the ops endpoints."""

        def add(app: web.Application) -> None:
            install(app, self.stats, self.access)
            setup_ops_routes(app, ping=ping, data_dir=self.settings.data_dir, before_scrape=self._flush(),
                             metrics_enabled=self.stats is not None)

        return add

    def count_requests(self, app: web.Application) -> None:
        """Count another app's requests (the admin listener's): writes, rate limiting, in flight."""
        install(app, self.stats, None)

    def ops_app(self, ping: Ping) -> web.Application:
        """The app for the ``--metrics-listen`` socket: only /metrics, /healthz, /readyz."""
        return build_ops_app(ping=ping, data_dir=self.settings.data_dir, before_scrape=self._flush(),
                             metrics_enabled=self.stats is not None)

    def _flush(self) -> Callable[[], None] | None:
        return self.flusher.flush if self.flusher is not None else None
