"""BENCHMARKS.md: the scenarios of the benchmark of record, the machine, the date and the command.

One table row per scenario: the maximum answered rate, its ratio to the scenario it is compared with (the bare
baseline of the same transport, or the warm cache for a cold-cache row) next to the issue's target ratio,
latencies at half the maximum rate next to the p99 target (the median of several runs, with their range:
on a shared machine one run's p99 swings several-fold), the share of answers the node's cache served, what
the machine took from the server's core meanwhile, and what the maximum means per day.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

from loadtest.clients import Scheme
from loadtest.processes import CacheLookups, LoopDelays
from loadtest.report import TARGET_PER_DAY, ms, per_day
from loadtest.seed import SeedResult
from loadtest.session import RunResult


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    scheme: Scheme
    server: str  # "node" or a baseline kind
    keys: str  # "zipf:1.1" or "uniform"
    compare_to: str | None  # the scenario whose rate this one's ratio is taken against
    min_ratio: float = 0.0  # the target for that ratio
    p99_target_ms: float = 0.0  # the p99 target at half the maximum rate
    # A bare server (a baseline kind) run at this row's half rate too, after each half run: the p99 this
    # machine gives a server that does nothing but answer (or read Redis and answer) at that rate.
    latency_floor: str = ""


@dataclass(frozen=True, slots=True)
class HalfRun:
    """One run at half the maximum rate, with what the machine and the node did meanwhile."""

    result: RunResult
    wall_s: float
    # Seconds the server was runnable but its core ran something else (schedstat): latency other load on
    # the core added, as opposed to the server's own work and stalls.
    server_wait_s: float = 0.0
    stolen_s: float = 0.0  # seconds the hypervisor took the server's core away (steal): the machine's share
    cache: CacheLookups | None = None  # the node's cache lookups in the run (None: baseline, metrics off)
    loop: LoopDelays | None = None  # how long the node's event loop was held (None: baseline, metrics off)
    # CPU seconds the server used in the run: "half the maximum" rate is not half the load where the maximum
    # was reached by batching (a saturated server reads many requests per wake-up; at half, about one).
    server_cpu_s: float = 0.0
    floor_p99_us: int | None = None  # the scenario's ``latency_floor`` server's p99 at the same rate


@dataclass(frozen=True, slots=True)
class Measurement:
    scenario: Scenario
    probe: RunResult  # overload probe: also tells what the generator could send
    peak: RunResult  # the run that answered the most, from 1.1x the probe's rate up (bench.find_peak)
    halves: tuple[HalfRun, ...]  # the runs at half the maximum, one after another: the latencies
    max_rate: float
    server_cpu: float  # cores the server used during the peak run: near 1.0 means the server was the limit
    searches: tuple[float, ...] = ()  # each search's maximum (bench.PEAK_SEARCHES); max_rate is the best

    @property
    def half(self) -> RunResult:
        """The half run with the median p99 (the worse middle one of an even count): the row's latencies."""
        ranked = sorted(self.halves, key=lambda h: h.result.summary.p99_us)
        return ranked[len(ranked) // 2].result

    @property
    def p99_range_us(self) -> tuple[int, int]:
        p99s = [h.result.summary.p99_us for h in self.halves]
        return min(p99s), max(p99s)

    @property
    def floor_p99_us(self) -> int | None:
        """The median of the latency floor's p99s at this row's half rate (None: the row has no floor)."""
        p99s = sorted(h.floor_p99_us for h in self.halves if h.floor_p99_us is not None)
        return p99s[len(p99s) // 2] if p99s else None

    @property
    def server_wait_at_half(self) -> float:
        """Share of the half runs' wall time the server waited for its core."""
        wall = sum(h.wall_s for h in self.halves)
        return sum(h.server_wait_s for h in self.halves) / wall if wall > 0 else 0.0

    @property
    def server_cpu_at_half(self) -> float:
        """Cores the server used during the half runs."""
        wall = sum(h.wall_s for h in self.halves)
        return sum(h.server_cpu_s for h in self.halves) / wall if wall > 0 else 0.0

    @property
    def stolen_at_half(self) -> float:
        """Share of the half runs' wall time the hypervisor took the server's core (steal)."""
        wall = sum(h.wall_s for h in self.halves)
        return sum(h.stolen_s for h in self.halves) / wall if wall > 0 else 0.0

    @property
    def cache_share(self) -> float | None:
        """Share of the half runs' cache lookups answered from the cache (None: unknown)."""
        counted = [h.cache for h in self.halves if h.cache is not None]
        return sum(counted, CacheLookups()).share if counted else None

    @property
    def loop_at_half(self) -> tuple[float, float] | None:
        """Share of the half runs' wall time the node's event loop was held past its watch tick, and stalls
        over 10 ms per run (None: unknown)."""
        counted = [h for h in self.halves if h.loop is not None]
        wall = sum(h.wall_s for h in counted)
        if not counted or wall <= 0:
            return None
        loop = sum((h.loop for h in counted if h.loop is not None), LoopDelays())
        return loop.held_s / wall, loop.stalls / len(counted)

    @property
    def failed_at_half(self) -> float:
        sent = sum(h.result.tally.sent for h in self.halves)
        failed = sum(h.result.tally.errors + h.result.tally.timeouts for h in self.halves)
        return failed / sent if sent else 0.0


@dataclass(frozen=True, slots=True)
class BenchReport:
    command: str
    machine: dict[str, str]
    seeded: SeedResult
    measurements: tuple[Measurement, ...]
    scenario_s: float
    codec: dict[str, float] = field(default_factory=dict)
    storage: str = ""
    redis_cpus: tuple[int, ...] = (0,)  # where the bench pinned Redis (loadtest.bench.REDIS_CPUS)
    half_s: float = 0.0  # seconds of each run at half the maximum (0: scenario_s)
    node_memory: dict[str, int] = field(default_factory=dict)  # node name -> RSS bytes once every row ran
    compiled_modules: str = ""  # the node's idnode_config_info{key="compiled_modules"} ("": not shown)
    # ns per dependent random lookup on the servers' core (loadtest.memprobe), before the first search and
    # after the last half run; empty when not probed (--quick)
    memory_ns: tuple[float, ...] = ()
    search_window: int = 0  # requests in flight per TCP/HTTP connection in the searches (0: unbounded)
    date: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))


def machine_info() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": model, "cores": str(os.cpu_count()), "kernel": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "redis": _redis_version()}


def _redis_version() -> str:
    from storage.embedded import find_redis_server, server_version

    try:
        return ".".join(map(str, server_version(find_redis_server())))
    except (OSError, RuntimeError, ValueError):
        return "unknown"


def _ratio_cell(m: Measurement, by_name: dict[str, Measurement]) -> str:
    other = by_name.get(m.scenario.compare_to or "")
    if other is None or not other.max_rate:
        return "(baseline)"
    ratio = m.max_rate / other.max_rate
    return f"{ratio:.2f} of {other.scenario.name.split(' (')[0]}{_verdict(ratio, m.scenario.min_ratio)}"


def _verdict(ratio: float, target: float) -> str:
    """`` (meets >= 0.5)`` against the issue's target; nothing for a row that has none (a miss floor)."""
    if not target:
        return ""
    return f" ({'meets' if ratio >= target else 'MISSES'} >= {target:g})"


def _p99_cell(m: Measurement) -> str:
    p99 = m.half.summary.p99_us
    if not m.scenario.p99_target_ms:
        return ms(p99)
    verdict = "meets" if p99 <= m.scenario.p99_target_ms * 1000 else "MISSES"
    return f"{ms(p99)} ({verdict} <= {m.scenario.p99_target_ms:g})"


def _floor_cell(m: Measurement) -> str:
    p99 = m.floor_p99_us
    return "-" if p99 is None else f"{ms(p99)} ({m.scenario.latency_floor})"


def per_core(m: Measurement) -> float:
    """Answered requests per second of server CPU in the maximum run: what one saturated core would carry.

    Unlike the answered rate, this is not capped by the generator (one Python process can send only so much),
    so it is the fair figure to compare a server with a baseline that the generator cannot saturate.
    """
    return m.peak.steady_throughput / m.server_cpu if m.server_cpu > 0.01 else 0.0


def _per_core_ratio_cell(m: Measurement, by_name: dict[str, Measurement]) -> str:
    other = by_name.get(m.scenario.compare_to or "")
    if other is None or not per_core(other) or not per_core(m):
        return "-"
    ratio = per_core(m) / per_core(other)
    return f"{ratio:.2f}{_verdict(ratio, m.scenario.min_ratio)}"


def scenario_rows(report: BenchReport) -> list[str]:
    by_name = {m.scenario.name: m for m in report.measurements}
    runs = max((len(m.halves) for m in report.measurements), default=1)
    rows = ["| scenario | resolutions/s (max) | maximum of each search | ratio | per CPU-second | "
            "ratio per CPU-second | p50 ms | "
            f"p99 ms (median of {runs}) | p99 range ms | bare server's p99 ms at the same rate | p99.9 ms | "
            "resolutions/day | found | "
            "answers from cache | failed at half | server CPU at max | server CPU at half | "
            "generator send lag p99 ms | "
            "server waited for its core at half | core stolen by the host at half | "
            "worker loop held at half (stalls > 10 ms per run) |",
            "|---|---:|---:|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in report.measurements:
        s = m.half.summary
        low, high = m.p99_range_us
        share = "-" if m.cache_share is None else f"{m.cache_share:.1%}"
        send_lag = ms(m.half.tally.send_lag.percentile(99))
        searches = " / ".join(f"{rate:,.0f}" for rate in m.searches) or "-"
        rows.append(f"| {m.scenario.name} | {m.max_rate:,.0f} | {searches} | {_ratio_cell(m, by_name)} | "
                    f"{per_core(m):,.0f} | {_per_core_ratio_cell(m, by_name)} | {ms(s.p50_us)} | "
                    f"{_p99_cell(m)} | {ms(low)}-{ms(high)} | {_floor_cell(m)} | {ms(s.p999_us)} | "
                    f"{per_day(m.max_rate):,.0f} | "
                    f"{_found(m):.1%} | {share} | {m.failed_at_half:.2%} | "
                    f"{m.server_cpu:.0%} | {m.server_cpu_at_half:.0%} | {send_lag} | "
                    f"{m.server_wait_at_half:.1%} | {m.stolen_at_half:.1%} | {_loop_cell(m)} |")
    return rows


def _loop_cell(m: Measurement) -> str:
    loop = m.loop_at_half
    return "-" if loop is None else f"{loop[0]:.1%} ({loop[1]:.1f})"


def metrics_cost_line(report: BenchReport, on: str, off: str) -> str:
    """Issue 6: the cost of metrics on the hot path, from CPU per answered request with metrics on and off."""
    by_name = {m.scenario.name: m for m in report.measurements}
    with_metrics, without = by_name.get(on), by_name.get(off)
    if with_metrics is None or without is None or not per_core(with_metrics) or not per_core(without):
        return ""
    cost = per_core(without) / per_core(with_metrics) - 1.0
    verdict = "meets" if cost < 0.05 else "MISSES"
    return (f"Metrics cost on the hot path: {cost:+.1%} CPU per answered request (`{on}` against `{off}`, "
            f"the same node started with `--no-metrics`; {verdict} the < 5 % target). Both are one noisy "
            "measurement each: differences of a few per cent are within this machine's noise.")


def _found(m: Measurement) -> float:
    """Share of the half runs' answers that were the record (RC 1 / HTTP 200), so fast error answers cannot
    pass as speed."""
    found = answered = 0
    for h in m.halves:
        codes = h.result.tally.codes
        found += codes.get("RC 1 SUCCESS", 0) + codes.get("HTTP 200", 0)
        answered += h.result.tally.answered
    return found / answered if answered else 0.0


def generator_rows(report: BenchReport) -> list[str]:
    rows = ["| baseline | answered/s | generator sent/s in the overload probe | probe offered/s |",
            "|---|---:|---:|---:|"]
    for m in report.measurements:
        if not m.scenario.server.startswith("node"):
            sent_rate = m.probe.tally.sent / m.probe.elapsed_s if m.probe.elapsed_s else 0.0
            offered = m.probe.spec.rate
            rows.append(f"| {m.scenario.name} | {m.max_rate:,.0f} | {sent_rate:,.0f} | {offered:,.0f} |")
    return rows


def redis_placement(cpus: tuple[int, ...]) -> str:
    """Where Redis ran, in the set-up sentence: it is neither the node nor the load."""
    where = "CPU " + ", ".join(map(str, cpus))
    if cpus == (0,):
        return (f"Redis on {where}, sharing the worker's core (in production Redis has cores of its own; "
                "its CPU is not counted as the node's; beside the generator, which polls its core, Redis "
                "answered late)")
    return f"Redis on {where}, beside the generator (whose polling delays Redis's answers)"


def compiled_text(count: str) -> str:
    if not count:
        return ""
    if count == "0":
        return " (pure Python: no compiled modules)"
    return f" ({count} of its modules compiled by mypyc, setup.py)"


def _searches(report: BenchReport) -> int:
    return max((len(m.searches) for m in report.measurements), default=1)


def setup_text(report: BenchReport) -> str:
    runs = max((len(m.halves) for m in report.measurements), default=1)
    return (
        f"Set-up: {report.seeded.count:,} identifiers seeded through the bulk path in "
        f"{report.seeded.elapsed_s:.1f}s ({report.seeded.rate:,.0f}/s); `resolver serve --workers 1`"
        f"{compiled_text(report.compiled_modules)} and the baselines pinned to CPU 0, "
        "the generator (one Python process, open loop, latency from the intended "
        f"send time) on CPU 1; {redis_placement(report.redis_cpus)}; {report.scenario_s:g}s per measurement, "
        "16 connections/sockets. Maximum = the best of "
        f"{_searches(report)} searches, in rounds across the rows (round i holds search i of every row: this "
        "machine's speed swings for minutes at a time, and noise only ever slows a server down); a search "
        "takes the highest answered/s of runs offered 1.1x an overload probe's "
        "answered rate and then 1.25x more while a run shed nothing and its answered rate still rose, or, "
        "when that first run shed requests, 0.8x less until one shed nothing (an overloaded server's late "
        "answers count as lost); the probe's own rate counts only when the search went up and its best run "
        f"shed nothing;{_window_text(report.search_window)} every scenario, search and run draws its own "
        "keys; warm-cache scenarios run after a warm-up. "
        f"Latencies: {runs} runs of {report.half_s or report.scenario_s:g}s each at half that maximum, in "
        "rounds across the rows (round i holds run i of every row, so a noisy minute lands on one run of "
        "several rows, not on every run of one), every one with fresh keys; the cold rows run on a node of "
        "their own, so their keys never evict the warm rows' cache; the row shows the run with the "
        "median p99, and the range of the p99 over all of them (the machine's own spread: compare the "
        "baselines' ranges). The 300,000,000/day target averages "
        f"{TARGET_PER_DAY / 86_400:,.0f}/s.")


def _window_text(window: int) -> str:
    if not window:
        return ""
    return (f" in the searches a TCP or HTTP client keeps at most {window} requests in flight per connection "
            "and sheds the rest at once, as a pipelining SDK does (unbounded, an overloaded server's backlog "
            "outgrew the 2 s timeout and its answered rate collapsed);")


HOW_TO_READ = (
    "How to read it: *ratio* is this row's maximum over the named row's, measured minutes apart in this "
    "run, against the issue's target (>= 0.5 UDP/TCP, >= 0.8 HTTP, cold >= 0.5 of warm). "
    "*per CPU-second* is the maximum answered rate divided by the server CPU it used (node: supervisor "
    "and worker, not Redis): the rate one saturated core would carry, which the generator's ceiling "
    "cannot cap; its ratio is the fair comparison where the generator could not saturate a baseline. "
    "A *miss floor* row is the bare echo answering only after a Redis read of the request's record (the "
    "node's key layout, one pipelined connection, hiredis; `loadtest.miss_floor`), with no decode, cache "
    "or encode: its ratio to the cold row says how much of a miss is the read and how much the node's own "
    "work. The *pure Python* row is the cold row on a node of its own that runs the sources of the modules "
    "setup.py compiles (`IDNODE_PURE_PYTHON=1`): its ratio to the cold row is what the compiled modules "
    "save. "
    "Latencies are from the runs at half the maximum, against the p99 target (2 ms UDP/TCP, 5 ms HTTP): "
    "p50 and p99.9 from the median run; *found* is the share of their answers that carried the record "
    "(RC 1 / HTTP 200). *bare server's p99 at the same rate* is the median p99 of a bare server run "
    "right after each half run, at the same rate with the same keys: the echo for a warm row, the miss "
    "floor (the echo after a Redis read) for a cold UDP/TCP row, the constant aiohttp app for HTTP (above "
    "its own maximum it sheds, and its p99 is the backlog's): what this machine gives a server that does "
    "nothing else at that rate, so the part of a row's p99 above it is the node's own. "
    "*answers from cache* is the node's own count (`idnode_cache_lookups_total`, hits "
    "over lookups during the half runs): a \"warm\" row's misses are the Zipf tail's first-time keys, "
    "read from Redis. *server CPU at max* is the cores the server (node: supervisor and worker) used "
    "during the maximum run: well under 100 % while requests failed means the server was starved by other "
    "load on the machine or waited on something else (Redis, its own queues); *server CPU at half* is the "
    "same during the half runs: a server that reaches its maximum by batching (many requests per wake-up "
    "when saturated, about one at half the rate) is far busier than half there, and queues more. "
    "*generator send lag* is how "
    "late requests left against their schedule: latency includes it, so a large lag means the machine, "
    "not the server, set that latency. *server waited for its core* is the share of the half runs the "
    "server (node: supervisor and worker) was ready to run while its core ran something else (/proc "
    "schedstat): latency from other load on the machine (Redis shares the core); *core stolen by the "
    "host* is the share the hypervisor gave the server's core to other machines (steal, /proc/stat). The "
    "server's own stalls (a garbage-collector pass, a backlog) show as a high p99 with both shares near "
    "zero; *worker loop held* measures them: the share of the half runs by which the worker's event loop "
    "ran late (its 10 ms watch tick fired 2 ms or more late: `idnode_event_loop_delay_seconds`, "
    "resolver/loopwatch.py), and in brackets how many times per run it was late by more than 10 ms.")


def memory_probe_text(memory_ns: tuple[float, ...]) -> str:
    """The machine's memory latency around the run (loadtest.memprobe), or "" when it was not probed."""
    if len(memory_ns) != 2:
        return ""
    before, after = memory_ns
    return (f" Its memory, timed on CPU 0 as a chain of dependent random lookups (`loadtest.memprobe`): "
            f"{before:,.0f} ns a step before the first search, {after:,.0f} ns after the last half run. The "
            "cold rows wait on memory at every miss and the echo rows hardly at all, so a slower memory "
            "lowers the cold ratios with nothing else changed.")


def memory_line(report: BenchReport) -> str:
    """The nodes' resident memory once every row has run: a cache that is full stays at its size, so a node
    that served far more misses standing far above the others would be leaking."""
    if not report.node_memory:
        return ""
    shown = ", ".join(f"`{name}` {rss / 1e6:,.0f} MB" for name, rss in report.node_memory.items())
    return (f"Node memory at the end (RSS, supervisor and worker; each worker's cache is bounded by "
            f"`cache_max_entries` and `cache_max_hot_responses`): {shown}. The cold rows' node read far more "
            "records than the warm rows' node: with both caches full, a node well above the other would be "
            "keeping what it should have freed.")


def write_markdown(report: BenchReport, path: Path) -> None:
    mc = report.machine
    lines = [
        "# Benchmarks of record", "",
        f"Written by `{report.command}` on {report.date}. Regenerate with `make bench`.", "",
        f"Machine: {mc['cpu']}, {mc['cores']} cores, {mc['kernel']}, Python {mc['python']}, "
        f"Redis {mc['redis']}. The machine is shared and noisy: compare ratios taken in the same run, not "
        f"absolute numbers across runs.{memory_probe_text(report.memory_ns)}", "",
        setup_text(report), "",
        "## Scenarios", "", *scenario_rows(report), "",
        metrics_cost_line(report, "UDP warm cache (Zipf 1.1)", "UDP warm cache, metrics off"), "",
        *([memory_line(report), ""] if report.node_memory else []),
        HOW_TO_READ, "",
        "## The generator's own ceiling", "",
        "If a baseline's answered rate is close to what the generator could send, the baseline figure is a "
        "floor set by the generator, and the node's ratio to it is an upper bound.", "",
        *generator_rows(report), "",
    ]
    if report.codec:
        lines += ["## Codec (loadtest.codecbench, one core)", "", "| operation | per second |", "|---|---:|",
                  *[f"| {k} | {_figure(v)} |" for k, v in report.codec.items()], ""]
    if report.storage:
        lines += ["## Storage (loadtest.storagebench)", "", "```", report.storage, "```", ""]
    path.write_text("\n".join(lines))


def _figure(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
