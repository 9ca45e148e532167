"""One worker process: ``uvloop.run(serve(...))`` on sockets the supervisor bound.

It opens one store, loads the prefix registry, follows the change feed (invalidating its cache), and serves
Handle TCP, Handle UDP and HTTP on the inherited sockets. SIGTERM/SIGINT: stop accepting, let in-flight
requests finish within the deadline, then cancel what is left and close the store. A signal that arrives
before the worker serves ends it at once (its supervisor is stopping; there is nothing to drain). A worker
whose supervisor is gone (its parent pid changed) stops itself: the fallback for PR_SET_PDEATHSIG.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import uvloop
from aiohttp import web

from resolver.cache import ResolutionCache
from resolver.gctune import YoungOnlyCollector
from resolver.handler import HandleResponder
from resolver.http.app import build_app
from resolver.http.conn_guard import GuardedSockSite, connection_limits
from resolver.http.fastlane import FastLane, open_public_site
from resolver.http.front import open_front_door
from resolver.http.tls import server_ssl_context
from resolver.http.write_ctx import node_rate
from resolver.http.writes import build_admin_app
from resolver.logs import setup_logging
from resolver.metrics import WorkerStats
from resolver.observation import Levels, WorkerObservation
from resolver.ratelimit import RateLimiter
from resolver.registry import PrefixRegistry
from resolver.service import Resolver
from resolver.settings import Settings
from resolver.tcp import ConnectionTracker, HandleTcpProtocol
from resolver.udp import HandleUdpProtocol
from storage.api import HandleStore, InvalidationKind, StorageError

if TYPE_CHECKING:
    from storage.fastread import FastReader

log = logging.getLogger(__name__)
_FEED_RETRY_S = 0.5
_PARENT_CHECK_S = 1.0
# A step of the graceful stop that takes longer is named in the log: a stop that hangs says where.
_SLOW_STOP_STEP_S = 1.0


@dataclass(frozen=True, slots=True)
class WorkerSockets:
    """The listening sockets every worker shares (bound once by the supervisor)."""

    tcp: socket.socket
    udp: socket.socket
    http: socket.socket
    admin: socket.socket | None = None  # admin work: the separate admin API listener (--admin-listen)
    metrics: socket.socket | None = None  # ops work: the separate /metrics listener (--metrics-listen)


def run_worker(
    settings: Settings, sockets: WorkerSockets, on_ready: Callable[[], None], *, parent_pid: int | None = None
) -> None:
    """The body of a worker process; ``parent_pid`` is the supervisor it must not outlive."""
    try:
        uvloop.run(serve(settings, sockets, on_ready, parent_pid=parent_pid))
    except asyncio.CancelledError:
        log.info("worker %d stopped before it was ready", os.getpid())


async def watch_parent(parent_pid: int, stop: asyncio.Event) -> None:
    """Stop the worker when its supervisor is gone (reparented: getppid changes). Owned task (STYLE #13)."""
    while True:  # polling: the kernel gives no event for "my parent changed" besides PDEATHSIG
        await asyncio.sleep(_PARENT_CHECK_S)
        if os.getppid() != parent_pid:
            break
    log.warning("worker %d: supervisor %d is gone; stopping", os.getpid(), parent_pid)
    stop.set()


def make_resolver(settings: Settings, store: HandleStore, registry: PrefixRegistry) -> Resolver:
    c = settings.cache
    cache = ResolutionCache(
        c.max_entries, c.max_ttl_s, c.negative_ttl_s, c.max_hot_responses, settings.cache_bytes_per_worker(),
        c.max_stale_s,
    )
    return Resolver(store, cache, registry, read_window_s=c.read_window_s)


async def follow_changes(store: HandleStore, resolver: Resolver, stats: WorkerStats | None = None) -> None:
    """Apply the change feed to this worker's cache and registry until cancelled (STYLE #13: owned task)."""
    while True:
        try:
            async for change in store.invalidations():
                if stats is not None and change.at_ms:  # ops work: change-feed lag (commit to applied)
                    stats.feed_lag_s = max(0.0, time.time() - change.at_ms / 1000)
                if change.kind is InvalidationKind.HANDLE:
                    resolver.cache.invalidate(change.key)
                else:  # PREFIX or ALL (after a reconnect): reload prefixes and forget everything
                    resolver.registry.replace_all(await store.list_prefixes())
                    resolver.cache.clear()
        except StorageError as exc:
            log.warning("change feed interrupted, resubscribing: %s", exc)
        except Exception:  # a bug here must not leave the cache stale for ever: log, resubscribe
            log.exception("change feed failed; resubscribing")
        resolver.cache.clear()  # whatever we missed meanwhile is gone with it
        await asyncio.sleep(_FEED_RETRY_S)


class _Servers:
    """What ``serve`` started, so the stop sequence can close it in order."""

    def __init__(self) -> None:
        self.tcp: asyncio.Server | None = None
        self.udp: HandleUdpProtocol | None = None
        self.udp_transport: asyncio.BaseTransport | None = None
        self.runner: web.AppRunner | None = None
        self.admin_runner: web.AppRunner | None = None
        self.ops_runner: web.AppRunner | None = None  # ops work: the --metrics-listen app
        self.lane: FastLane | None = None  # issue 4: the public listener's HTTP fast lane (None: off)
        self.tracker = ConnectionTracker()

    def levels(self, cache: ResolutionCache, fast_reader: FastReader | None) -> Levels:
        """Ops work: copy open connections, in-flight requests, cache size and what the fast paths handed to
        their fallbacks into the stats (each flush)."""

        def copy(stats: WorkerStats) -> None:
            conns = self.tracker.connections
            stats.tcp.connections = len(conns)
            stats.tcp.inflight = sum(c.in_flight for c in conns)
            stats.udp.inflight = self.udp.in_flight if self.udp is not None else 0
            server = self.runner.server if self.runner is not None else None
            lane = len(self.lane.connections) if self.lane is not None else 0
            stats.http.connections = lane + (len(server.connections) if server is not None else 0)
            stats.cache_entries = len(cache)
            stats.cache_bytes = cache.total_bytes
            if fast_reader is not None:
                stats.handoffs["storage_read"] = fast_reader.handed_off
            if self.lane is not None:
                stats.handoffs["http_connection"] = self.lane.handed_over

        return copy


async def _start_servers(
    settings: Settings, sockets: WorkerSockets, resolver: Resolver, out: _Servers, obs: WorkerObservation
) -> None:
    loop = asyncio.get_running_loop()
    limits = settings.limits
    rate = settings.rate  # admin work: per-client resolution rate limit on TCP and UDP
    limiter = None
    if rate.resolutions_per_s > 0:
        limiter = RateLimiter(node_rate(rate.resolutions_per_s, rate.burst, settings.worker_count()))
    # Datagrams of large UDP answers per source address: a forged source must not make the node a reflector.
    workers = settings.worker_count()
    udp_packets = RateLimiter(node_rate(rate.udp_packets_per_s, rate.udp_packets_burst, workers))
    # Ops work: one responder per transport, so rate-limit refusals are counted by transport.
    tcp_stats, udp_stats = obs.transport("tcp"), obs.transport("udp")
    tcp_responder = HandleResponder(resolver, limits.identifier, limits.max_message_bytes, limiter, tcp_stats)
    udp_responder = HandleResponder(resolver, limits.identifier, limits.max_message_bytes, limiter, udp_stats)
    out.tcp = await loop.create_server(
        lambda: HandleTcpProtocol(
            tcp_responder, out.tracker, max_in_flight=limits.tcp_max_in_flight,
            idle_timeout_s=limits.tcp_idle_timeout_s, max_message_bytes=limits.max_message_bytes,
            stats=tcp_stats, access=obs.access, max_connections=limits.tcp_max_connections,
            max_per_address=limits.tcp_max_connections_per_address,
            message_timeout_s=limits.tcp_message_timeout_s,
        ),
        sock=sockets.tcp,
    )
    out.udp_transport, out.udp = await loop.create_datagram_endpoint(
        lambda: HandleUdpProtocol(
            udp_responder, max_message_bytes=limits.max_message_bytes, max_partial=limits.udp_max_partial,
            max_in_flight=limits.udp_max_in_flight, stats=udp_stats, access=obs.access,
            packets=udp_packets,
        ),
        sock=sockets.udp,
    )
    out.runner = web.AppRunner(
        build_app(settings, resolver.store, resolver, more_routes=obs.routes(resolver.store.ping)),
        access_log=None, handle_signals=False,
        shutdown_timeout=settings.shutdown_deadline_s,
        keepalive_timeout=limits.http_keepalive_timeout_s,  # admin work: idle keep-alive close
    )
    await out.runner.setup()
    open_front_door(out.runner)  # issue 4: repeated reads answered before routing; requests counted there
    # Admin work: HTTPS when tls_cert/tls_key are set, and the admin API on its own listener if configured.
    tls = server_ssl_context(settings)
    guard = connection_limits(settings)  # admin work: connection cap and header timeout (slowloris)
    out.lane = await open_public_site(  # issue 4: reads answered on the HTTP fast lane (plain HTTP only)
        out.runner, sockets.http, guard, limits.http_keepalive_timeout_s, fast_lane=settings.http_fast_lane,
        ssl_context=tls,
    )
    if sockets.admin is not None:
        admin_app = build_admin_app(settings, resolver.store)
        obs.count_requests(admin_app)  # ops work: writes and rate limiting on the admin listener too
        out.admin_runner = web.AppRunner(admin_app, access_log=None,
                                         handle_signals=False, shutdown_timeout=settings.shutdown_deadline_s,
                                         keepalive_timeout=limits.http_keepalive_timeout_s)
        await out.admin_runner.setup()
        await GuardedSockSite(out.admin_runner, sockets.admin, guard, ssl_context=tls).start()
    if sockets.metrics is not None:  # ops work: /metrics, /healthz, /readyz on their own (plain HTTP) socket
        ops_app = obs.ops_app(resolver.store.ping)
        out.ops_runner = web.AppRunner(ops_app, access_log=None, handle_signals=False,
                                       keepalive_timeout=limits.http_keepalive_timeout_s)
        await out.ops_runner.setup()
        await GuardedSockSite(out.ops_runner, sockets.metrics, guard).start()


async def _stop_servers(servers: _Servers, deadline_s: float) -> None:
    """Stop accepting, drain in-flight Handle and fast-lane requests within the deadline, then close
    everything."""
    if servers.tcp is not None:
        servers.tcp.close()  # no new connections; open ones keep being served while they drain
    waits = [servers.tracker.idle.wait()]
    if servers.udp is not None:
        waits.append(servers.udp.drained.wait())
    if servers.lane is not None:  # HTTP fast lane: answer what is in flight, close idle connections
        servers.lane.begin_close()
        waits.append(servers.lane.idle.wait())
    try:
        await asyncio.wait_for(asyncio.gather(*waits), deadline_s)
    except TimeoutError:
        log.warning("shutdown deadline passed with %s; closing them", _still_open(servers))
    for conn in list(servers.tracker.connections):
        conn.close()
    if servers.udp_transport is not None:
        servers.udp_transport.close()
    if servers.lane is not None:
        servers.lane.abort()  # past the deadline only: the wait above saw every lane connection go
    if servers.runner is not None:  # aiohttp's own graceful stop, bounded by shutdown_timeout
        await _stop_step("stopping the HTTP server", servers.runner.cleanup())
    if servers.admin_runner is not None:
        await _stop_step("stopping the admin HTTP server", servers.admin_runner.cleanup())
    if servers.ops_runner is not None:
        await _stop_step("stopping the ops HTTP server", servers.ops_runner.cleanup())


def _still_open(servers: _Servers) -> str:
    """What the graceful stop still waits for, for the log line at its deadline."""
    connections = servers.tracker.connections
    parts = [f"{sum(c.in_flight for c in connections)} Handle TCP requests on {len(connections)} connections"]
    if servers.udp is not None:
        parts.append(f"{servers.udp.in_flight} Handle UDP misses")
    if servers.lane is not None:
        parts.append(f"{len(servers.lane.connections)} HTTP fast-lane connections")
    return ", ".join(parts)


async def _stop_step(name: str, step: Awaitable[object]) -> None:
    """Await one step of the stop; one that takes over ``_SLOW_STOP_STEP_S`` is logged by name."""
    started = time.monotonic()
    try:
        await step
    finally:
        took = time.monotonic() - started
        if took > _SLOW_STOP_STEP_S:
            log.warning("worker %d: %s took %.1f s", os.getpid(), name, took)


async def serve(
    settings: Settings, sockets: WorkerSockets, on_ready: Callable[[], None] = lambda: None, *,
    parent_pid: int | None = None,
) -> None:
    """Run one worker until SIGTERM/SIGINT."""
    from storage import open_store  # storage's factory; imported here so tests can build pieces alone

    setup_logging(settings.log.format)  # ops work: the worker's own handler, from the settings
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    main, ready = asyncio.current_task(), False

    def on_signal() -> None:
        if ready or main is None:
            stop.set()
        else:
            main.cancel()  # still starting (e.g. Redis slow): nothing to drain, do not wait for it

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    parent = None
    if parent_pid is not None:
        parent = loop.create_task(watch_parent(parent_pid, stop), name="supervisor watch")
    obs = WorkerObservation(settings)  # ops work: metrics (None when off), access log, ops routes
    store = await open_store(settings.storage, observer=obs.stats)
    servers = _Servers()
    slots = settings.cache.max_entries + settings.cache.max_hot_responses
    collector = YoungOnlyCollector(slots, settings.cache_bytes_per_worker(),
                                   obs.stats.gc_pause.observe if obs.stats is not None else None)
    feed: asyncio.Task[None] | None = None
    resolver: Resolver | None = None
    try:
        if store.fast_reader is not None:  # up before the first miss: a handoff to its fallback means trouble
            await store.fast_reader.connect()
        resolver = make_resolver(settings, store, PrefixRegistry(await store.list_prefixes()))
        feed = loop.create_task(follow_changes(store, resolver, obs.stats), name="change feed")
        obs.start(resolver.cache, servers.levels(resolver.cache, store.fast_reader))
        await _start_servers(settings, sockets, resolver, servers, obs)
        collector.start(loop)  # issue 4: gc passes were p99 stalls and a tenth of a cold worker's CPU
        log.info("worker %d ready", os.getpid())
        ready = True
        on_ready()
        await stop.wait()
        log.info("worker %d stopping", os.getpid())
        await _stop_servers(servers, settings.shutdown_deadline_s)
    finally:
        collector.stop()
        for task in (feed, parent):
            if task is not None:
                task.cancel()
                stopped = asyncio.gather(task, return_exceptions=True)
                await _stop_step(f"stopping the {task.get_name()}", stopped)
        await _stop_step("the last metrics flush", obs.aclose())  # ops work: nothing counted is lost
        if resolver is not None:
            await _stop_step("answering the misses still waiting", resolver.loader.aclose())
        await _stop_step("closing the store", store.aclose())
