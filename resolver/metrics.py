"""Every metric of the node, defined once, and the cheap per-worker counters the hot path touches.

On multiprocess (mmap) values a prometheus_client ``inc()`` plus ``observe()`` measured 3.9 us here, 20% of a
request at 50k requests/s per core. So the hot path only bumps plain Python ints and a local histogram array
in ``WorkerStats`` (about 0.3 us with its clock read); ``MetricsFlusher`` folds them into the
prometheus_client metrics about once a second and at shutdown. Label values come only from closed sets
(STYLE #18): transport, a named response code or "other", a write operation and result. Never an identifier
or a prefix.

Metrics are built by ``NodeMetrics()`` / ``SupervisorMetrics()`` after
``resolver.multiproc.prepare_multiproc_dir`` has chosen multiprocess mode, never at import.
"""

from __future__ import annotations

import asyncio
import platform
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from importlib import metadata
from time import perf_counter
from typing import Final

from prometheus_client import Counter, Gauge, Histogram

from protocol.constants import ENVELOPE_SIZE, HEADER_SIZE, ResponseCode

PREFIX: Final = "idnode_"
# The tuples are typed ``tuple[T, ...]``: compiled, a fixed-length Final tuple is an unboxed C struct, boxed
# into a new tuple at every read (and this mypyc checks a float one's "not set" sentinel wrongly).
TRANSPORTS: Final[tuple[str, ...]] = ("udp", "tcp", "http")

# 50 us to 1 s (issue 6): the warm path answers in tens of microseconds, a cold read in about a millisecond.
LATENCY_BUCKETS_S: Final[tuple[float, ...]] = (
    50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0,
)
# How late the event-loop watch fired (resolver/loopwatch.py): 2 ms (its floor) to seconds.
LOOP_DELAY_BUCKETS_S: Final[tuple[float, ...]] = (
    2e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0, 2.5,
)
# How long a garbage-collector pass held the worker (resolver/gctune.py): young passes take well under a
# millisecond at moderate load, a full pass over a full cache hundreds of milliseconds.
GC_PAUSE_BUCKETS_S: Final[tuple[float, ...]] = (
    250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1.0,
)
# Same-tick batching (storage) groups at most a few hundred keys per pipeline.
BATCH_BUCKETS: Final[tuple[int, ...]] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

# The closed set of response-code labels: the named codes of protocol.constants; anything else is "other".
CODE_LABELS: Final[dict[int, str]] = {int(rc): rc.name.lower() for rc in ResponseCode}
WRITE_OPERATIONS: Final = frozenset({
    "create", "overwrite", "add", "modify", "remove", "delete", "home", "unhome", "delegate",
    "doc_put", "doc_delete", "import",
})
WRITE_RESULTS: Final = frozenset(
    {"ok", "conflict", "not_found", "invalid", "forbidden", "rate_limited", "unavailable", "error"}
)
STORAGE_OPS: Final = frozenset({"read", "write", "ping", "feed"})
# The fast paths that give work to a general fallback (a closed set of label values): storage read batches the
# fast read link (storage.fastread) hands to the redis-py pipeline, HTTP connections the fast lane
# (resolver/http/fastlane.py) hands to aiohttp.
HANDOFF_PATHS: Final = frozenset({"storage_read", "http_connection"})
OTHER: Final = "other"


def code_label(code: int) -> str:
    """The label for a Handle response code: its lower-case name, or "other" outside the closed set."""
    return CODE_LABELS.get(code, OTHER)


# RFC 3652 2.2.2: the header follows the envelope and starts with OpCode (4 bytes), then ResponseCode (4).
_CODE_AT: Final = ENVELOPE_SIZE + 4
_CODE_END: Final = _CODE_AT + 4
_CODE_HI: Final = _CODE_AT + 2
_CODE_LO: Final = _CODE_AT + 3


def response_code_of(message: bytes) -> int:
    """The response code of an encoded Handle message (or its first UDP packet)."""
    return int.from_bytes(message[_CODE_AT:_CODE_END], "big")


# RFC 3652 3.1: a request body starts with the handle, a UTF8-String (4-byte length, then the bytes).
_HANDLE_AT: Final = ENVELOPE_SIZE + HEADER_SIZE + 4
_LOGGED_HANDLE_MAX: Final = 1024  # bytes of a handle an access-log line shows


def request_handle(message: bytes) -> str:
    """The handle a Handle request asks for, for a sampled access-log line (never on the per-request path)."""
    length = min(int.from_bytes(message[_HANDLE_AT - 4 : _HANDLE_AT], "big"), _LOGGED_HANDLE_MAX)
    return message[_HANDLE_AT : _HANDLE_AT + length].decode("utf-8", "replace")


def closed_label(value: str, allowed: frozenset[str]) -> str:
    """``value`` when it is in ``allowed`` (dashes read as underscores), else "other"."""
    value = value.replace("-", "_")
    return value if value in allowed else OTHER


class LocalHistogram:
    """Bucket counts and a sum kept in plain Python; ``observe`` is one bisect and two adds."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # bisect_left: the first bound >= value, which is Prometheus's "le" bucket.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    def take(self) -> tuple[list[int], float]:
        """The counts and sum since the last take, and start again from zero."""
        counts, total = self.counts, self.sum
        self.counts = [0] * len(counts)
        self.sum = 0.0
        return counts, total


class TransportStats:
    """What one transport of one worker counts. The node holds one per transport and calls ``finish``."""

    __slots__ = ("codes", "connections", "inflight", "latency", "rate_limited")

    def __init__(self) -> None:
        self.codes: dict[int, int] = {}  # response code -> resolutions; mapped to labels at flush
        self.latency = LocalHistogram(LATENCY_BUCKETS_S)
        self.inflight = 0  # a level, set by ``before_flush`` from the protocol objects' own counts
        self.connections = 0  # a level: open TCP / HTTP connections, set the same way
        self.rate_limited = 0

    def finish(self, code: int, seconds: float) -> None:
        """One resolution answered with ``code`` after ``seconds``: the hot-path call."""
        codes = self.codes
        codes[code] = codes.get(code, 0) + 1
        latency = self.latency
        latency.counts[bisect_left(LATENCY_BUCKETS_S, seconds)] += 1
        latency.sum += seconds

    def finish_message(self, message: bytes, started: float) -> None:
        """One Handle answer ``message`` sent, for a request that arrived at ``perf_counter()`` ``started``.

        The cheapest form for UDP/TCP: the code is read from the low two bytes of the header's ResponseCode
        (no allocation); every code the node sends is below 65536 (protocol.constants.ResponseCode).
        """
        seconds = perf_counter() - started
        code = message[_CODE_HI] << 8 | message[_CODE_LO]
        codes = self.codes
        codes[code] = codes.get(code, 0) + 1
        latency = self.latency
        latency.counts[bisect_left(LATENCY_BUCKETS_S, seconds)] += 1
        latency.sum += seconds

    def finish_batch(self, answers: list[bytes], started: float) -> None:
        """Handle answers sent in one write (pipelined TCP) for requests read at ``started``: they share one
        clock read and one latency, which is also the truth, since they leave together."""
        seconds = perf_counter() - started
        codes = self.codes
        for message in answers:
            code = message[_CODE_HI] << 8 | message[_CODE_LO]
            codes[code] = codes.get(code, 0) + 1
        n = len(answers)
        latency = self.latency
        latency.counts[bisect_left(LATENCY_BUCKETS_S, seconds)] += n
        latency.sum += seconds * n

    def take_codes(self) -> dict[int, int]:
        """Resolutions by response code since the last take."""
        codes, self.codes = self.codes, {}
        return codes


@dataclass(frozen=True, slots=True)
class CacheCounts:
    """The cache's own cumulative counters (it keeps plain ints); the flusher turns them into deltas."""

    hits: int = 0
    misses: int = 0
    negative_hits: int = 0
    evictions: int = 0
    stale_hits: int = 0
    refused: int = 0


@dataclass(slots=True)
class WorkerStats:
    """All the per-worker numbers; the node increments the fields, the flusher reads and resets them.

    It also satisfies ``storage.api.StorageObserver`` (``on_roundtrip``), so the store can report its Redis
    round trips without knowing about metrics.
    """

    udp: TransportStats = field(default_factory=TransportStats)
    tcp: TransportStats = field(default_factory=TransportStats)
    http: TransportStats = field(default_factory=TransportStats)
    cache_entries: int = 0  # a level, set by ``before_flush`` from the cache's size
    cache_bytes: int = 0  # a level: what the cache's entries and answers are charged (resolver/cache.py)
    feed_lag_s: float = 0.0  # a level: now minus the commit time of the last change-feed entry applied
    writes: dict[tuple[str, str], int] = field(default_factory=dict)
    storage: dict[str, LocalHistogram] = field(default_factory=dict)
    storage_errors: dict[str, int] = field(default_factory=dict)
    batch_keys: LocalHistogram = field(default_factory=lambda: LocalHistogram(BATCH_BUCKETS))
    batch_errors: int = 0
    loop_delay: LocalHistogram = field(default_factory=lambda: LocalHistogram(LOOP_DELAY_BUCKETS_S))
    gc_pause: LocalHistogram = field(default_factory=lambda: LocalHistogram(GC_PAUSE_BUCKETS_S))
    # Levels, set by ``before_flush``: what each fast path (HANDOFF_PATHS) handed to its fallback so far.
    handoffs: dict[str, int] = field(default_factory=dict)

    def transport(self, name: str) -> TransportStats:
        """The stats of ``udp``, ``tcp`` or ``http``; bind it once per protocol object, not per request."""
        stats: TransportStats = getattr(self, name)
        return stats

    def count_write(self, operation: str, result: str) -> None:
        """A write finished (writes are rare: labels are checked here, not at flush)."""
        key = (closed_label(operation, WRITE_OPERATIONS), closed_label(result, WRITE_RESULTS))
        self.writes[key] = self.writes.get(key, 0) + 1

    def on_roundtrip(self, op: str, keys: int, seconds: float, ok: bool) -> None:
        """One Redis round trip of ``keys`` keys (a pipeline is one round trip)."""
        op = closed_label(op, STORAGE_OPS)
        hist = self.storage.get(op)
        if hist is None:
            hist = self.storage[op] = LocalHistogram(LATENCY_BUCKETS_S)
        hist.observe(seconds)
        if op == "read":
            self.batch_keys.observe(keys)
        if not ok:
            self.storage_errors[op] = self.storage_errors.get(op, 0) + 1
            if op == "read":
                self.batch_errors += 1


def _name(short: str) -> str:
    return PREFIX + short


# registry=None: /metrics renders the multiprocess files, never a registry, so a worker (or a test) can build
# these more than once in one process without "Duplicated timeseries" errors from the default registry.
_Counter = partial(Counter, registry=None)
_Gauge = partial(Gauge, registry=None)
_Histogram = partial(Histogram, registry=None)


class NodeMetrics:
    """The prometheus_client metrics a worker writes. Gauges sum ("livesum") or max over live workers."""

    def __init__(self) -> None:
        self.resolutions = _Counter(_name("resolutions_total"), "Resolutions answered, by response code.",
                                    ["transport", "code"])
        self.latency = _Histogram(_name("resolution_duration_seconds"), "Time from request to answer.",
                                  ["transport"], buckets=LATENCY_BUCKETS_S)
        self.inflight = _Gauge(_name("inflight_requests"), "Requests being answered.", ["transport"],
                               multiprocess_mode="livesum")
        self.connections = _Gauge(_name("open_connections"), "Open client connections.", ["transport"],
                                  multiprocess_mode="livesum")
        self.rate_limited = _Counter(_name("rate_limited_total"), "Requests refused by rate limiting.",
                                     ["transport"])
        self.cache = _Counter(_name("cache_lookups_total"), "Cache lookups, by result.", ["result"])
        self.evictions = _Counter(_name("cache_evictions_total"), "Entries evicted from the cache.")
        self.refused = _Counter(_name("cache_refused_total"),
                                "Storage reads not cached: an identifier's first miss in a full cache.")
        self.cache_entries = _Gauge(_name("cache_entries"), "Entries in the caches.",
                                    multiprocess_mode="livesum")
        self.cache_bytes = _Gauge(_name("cache_bytes"),
                                  "Estimated memory of the cached records and pre-encoded answers.",
                                  multiprocess_mode="livesum")
        self.storage = _Histogram(_name("storage_roundtrip_seconds"), "Redis round-trip time.", ["op"],
                                  buckets=LATENCY_BUCKETS_S)
        self.storage_errors = _Counter(_name("storage_errors_total"), "Failed Redis round trips.", ["op"])
        self.batch_keys = _Histogram(_name("storage_batch_keys"), "Keys per batched Redis read.",
                                     buckets=BATCH_BUCKETS)
        self.batch_errors = _Counter(_name("storage_batch_errors_total"), "Batched reads that failed.")
        self.writes = _Counter(_name("writes_total"), "Writes, by operation and result.",
                               ["operation", "result"])
        self.feed_lag = _Gauge(_name("change_feed_lag_seconds"), "Age of the last change-feed entry applied.",
                               multiprocess_mode="livemax")
        self.loop_lag = _Gauge(_name("event_loop_lag_seconds"), "How late the worker's 1 s tick fired.",
                               multiprocess_mode="livemax")
        self.loop_delay = _Histogram(
            _name("event_loop_delay_seconds"),
            "How late the worker's 10 ms watch tick fired, when 2 ms or more: the loop was busy or blocked.",
            buckets=LOOP_DELAY_BUCKETS_S,
        )
        self.gc_pause = _Histogram(
            _name("gc_pause_seconds"),
            "How long each garbage-collector pass held the worker's loop (resolver/gctune.py).",
            buckets=GC_PAUSE_BUCKETS_S,
        )
        self.handoffs = _Counter(
            _name("fast_path_handoffs_total"),
            "Work a fast path gave its general fallback: storage read batches (fast link down or failing), "
            "HTTP connections the fast lane handed to aiohttp.",
            ["path"],
        )


class SupervisorMetrics:
    """The metrics the supervisor writes: worker restarts and liveness, build and config info."""

    def __init__(self) -> None:
        self.restarts = _Counter(_name("worker_restarts_total"), "Workers restarted after they died.")
        self.workers_up = _Gauge(_name("workers_up"), "Workers running.", multiprocess_mode="livemax")
        self.workers_expected = _Gauge(_name("workers_expected"), "Workers configured.",
                                       multiprocess_mode="livemax")
        self.build = _Gauge(_name("build_info"), "Version of the node.", ["version", "python"],
                            multiprocess_mode="livemax")
        self.config = _Gauge(_name("config_info"), "Settings of the node (bounded values only).",
                             ["key", "value"], multiprocess_mode="livemax")
        # resolver/udpbuffer.py: read from the kernel (SO_MEMINFO) every half second by the supervisor.
        self.udp_drops = _Counter(_name("udp_receive_drops_total"),
                                  "Datagrams the kernel dropped: a UDP socket's receive buffer was full.")
        self.udp_queue_fill = _Gauge(_name("udp_receive_queue_fill_ratio"),
                                     "How full the fullest UDP receive buffer was at the last look (0 to 1).",
                                     multiprocess_mode="livemax")

    def describe(self, config: Mapping[str, str]) -> None:
        """Set build_info and config_info. ``config`` must hold bounded values (counts, modes), no secrets."""
        self.build.labels(version=_version(), python=platform.python_version()).set(1)
        for key, value in sorted(config.items()):
            self.config.labels(key=key, value=value).set(1)


def _version() -> str:
    try:
        return metadata.version("idnode")
    except metadata.PackageNotFoundError:
        return "unknown"


def _add_histogram(child: Histogram, counts: list[int], total: float) -> None:
    # prometheus_client has no bulk observe; its per-bucket values are non-cumulative (metrics.py observe()),
    # so adding n to bucket i is exactly n observations that fell in it.
    for i, n in enumerate(counts):
        if n:
            child._buckets[i].inc(n)
    child._sum.inc(total)


def _delta(now: int, last: int) -> int:
    return now - last if now >= last else now  # a counter that went down was reset (a new cache)


class MetricsFlusher:
    """Folds a worker's ``WorkerStats`` into ``NodeMetrics``: every second from ``run``, and at shutdown."""

    def __init__(
        self,
        stats: WorkerStats,
        metrics: NodeMetrics,
        *,
        cache: Callable[[], CacheCounts] | None = None,
        before_flush: Callable[[WorkerStats], None] | None = None,
    ) -> None:
        """``cache`` reads the cache's counters; ``before_flush`` copies levels (open connections, in-flight
        requests, cache size, feed lag) from the worker's own objects into ``stats``.
        """
        self.stats = stats
        self.metrics = metrics
        self._cache = cache
        self._before_flush = before_flush
        self._last_cache = CacheCounts()
        self._last_handoffs: dict[str, int] = {}

    def flush(self) -> None:
        if self._before_flush is not None:
            self._before_flush(self.stats)
        for name in TRANSPORTS:
            self._flush_transport(name, self.stats.transport(name))
        self._flush_cache()
        self._flush_storage()
        self._flush_writes()
        self._flush_handoffs()
        self.metrics.feed_lag.set(self.stats.feed_lag_s)
        for local, node in ((self.stats.loop_delay, self.metrics.loop_delay),
                            (self.stats.gc_pause, self.metrics.gc_pause)):
            counts, total = local.take()
            if any(counts):
                _add_histogram(node, counts, total)

    def _flush_transport(self, name: str, t: TransportStats) -> None:
        m = self.metrics
        for code, n in t.take_codes().items():
            m.resolutions.labels(transport=name, code=code_label(code)).inc(n)
        counts, total = t.latency.take()
        if any(counts):
            _add_histogram(m.latency.labels(transport=name), counts, total)
        m.inflight.labels(transport=name).set(t.inflight)
        m.connections.labels(transport=name).set(t.connections)
        limited, t.rate_limited = t.rate_limited, 0
        m.rate_limited.labels(transport=name).inc(limited)

    def _flush_cache(self) -> None:
        m = self.metrics
        m.cache_entries.set(self.stats.cache_entries)
        m.cache_bytes.set(self.stats.cache_bytes)
        if self._cache is None:
            return
        now, last = self._cache(), self._last_cache
        self._last_cache = now
        m.cache.labels(result="hit").inc(_delta(now.hits, last.hits))
        m.cache.labels(result="miss").inc(_delta(now.misses, last.misses))
        m.cache.labels(result="negative_hit").inc(_delta(now.negative_hits, last.negative_hits))
        m.cache.labels(result="stale").inc(_delta(now.stale_hits, last.stale_hits))
        m.evictions.inc(_delta(now.evictions, last.evictions))
        m.refused.inc(_delta(now.refused, last.refused))

    def _flush_storage(self) -> None:
        s, m = self.stats, self.metrics
        for op, hist in s.storage.items():
            counts, total = hist.take()
            if any(counts):
                _add_histogram(m.storage.labels(op=op), counts, total)
        errors, s.storage_errors = s.storage_errors, {}
        for op, n in errors.items():
            m.storage_errors.labels(op=op).inc(n)
        counts, total = s.batch_keys.take()
        if any(counts):
            _add_histogram(m.batch_keys, counts, total)
        m.batch_errors.inc(s.batch_errors)
        s.batch_errors = 0

    def _flush_handoffs(self) -> None:
        last = self._last_handoffs
        for path, now in self.stats.handoffs.items():
            added = _delta(now, last.get(path, 0))
            last[path] = now
            if added:
                self.metrics.handoffs.labels(path=closed_label(path, HANDOFF_PATHS)).inc(added)

    def _flush_writes(self) -> None:
        writes, self.stats.writes = self.stats.writes, {}
        for (operation, result), n in writes.items():
            self.metrics.writes.labels(operation=operation, result=result).inc(n)

    async def run(self, interval_s: float = 1.0) -> None:
        """Flush every ``interval_s`` until cancelled (the worker owns this task), measuring loop lag."""
        try:
            while True:
                due = time.monotonic() + interval_s
                await asyncio.sleep(interval_s)
                self.metrics.loop_lag.set(max(0.0, time.monotonic() - due))
                self.flush()
        finally:
            self.flush()  # at shutdown: nothing counted is lost
