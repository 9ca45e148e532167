"""The benchmark of record's measurement and its Markdown, on a baseline (the full bench is `make bench`)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.bench import (
    COLD_NODE,
    HALF_RUNS,
    PEAK_BACKOFF,
    PEAK_SEARCHES,
    PEAK_STEP,
    PEAK_STEPS,
    REDIS_CPUS,
    SCENARIOS,
    SEARCH_WINDOW,
    SEEDS,
    SERVER_CPUS,
    BenchOptions,
    Peak,
    best_search,
    measure,
    next_peak_rate,
    round_order,
    scenario_spec,
    seed_of,
    start_redis,
)
from loadtest.bench_markdown import (
    BenchReport,
    HalfRun,
    Measurement,
    compiled_text,
    machine_info,
    memory_line,
    redis_placement,
    scenario_rows,
    setup_text,
    write_markdown,
)
from loadtest.clients import Target
from loadtest.memprobe import dependent_lookup_ns
from loadtest.processes import (
    CacheLookups,
    LoopDelays,
    Server,
    cache_lookups_from,
    config_info,
    cpu_stolen_s,
    loop_delays_from,
    process_rss_bytes,
    process_sched_wait_s,
    stop_process,
)
from loadtest.report import ms
from loadtest.runner import RunSpec
from loadtest.seed import SeedResult
from loadtest.session import RunResult
from loadtest.tally import Tally
from tests.loadtest.conftest import NODE_KEYS


def test_a_baseline_scenario_is_measured_and_written_as_a_table_row(udp_echo: Server, tmp_path: Path) -> None:
    options = BenchOptions(output=tmp_path / "BENCHMARKS.md", quick=True, count=100, scenario_s=1.0,
                           probe_rate=2_000.0, connections=2)
    scenario = SCENARIOS[0]
    assert scenario.server == "udp-echo"
    m = measure(options, scenario, {"udp-echo": udp_echo})
    assert m.max_rate > 0
    assert len(m.searches) == options.peak_searches == PEAK_SEARCHES == 2
    assert m.max_rate == max(m.searches)  # the best search
    assert len(m.halves) == options.half_runs == HALF_RUNS == 5
    assert {h.result.spec.rate for h in m.halves} == {max(m.max_rate / 2, 10.0)}
    assert len({h.result.spec.seed for h in m.halves}) == 5  # each run draws its own keys
    assert m.half in [h.result for h in m.halves]
    # An echo server far from its ceiling carries the first peak run, so the search offered more (PEAK_STEP).
    assert m.peak.spec.rate > 1.3 * m.probe.steady_throughput
    for run in (m.probe, m.peak, *(h.result for h in m.halves)):
        assert run.consistent
    assert m.cache_share is None  # a baseline has no cache
    report = BenchReport("loadtest bench --quick", machine_info(), SeedResult(100, 1.0), (m,), 1.0,
                         codec={"request_decode_fast_per_s": 123456.0, "ratio": 0.25},
                         half_s=options.half_seconds, search_window=SEARCH_WINDOW)
    write_markdown(report, options.output)
    text = options.output.read_text()
    assert f"keeps at most {SEARCH_WINDOW} requests in flight per connection" in text
    first, second = m.searches
    assert f"| UDP echo (bare uvloop) | {m.max_rate:,.0f} | {first:,.0f} / {second:,.0f} |" in text
    assert "Maximum = the best of 2 searches, in rounds across the rows" in text
    assert "(baseline)" in text
    assert "`loadtest bench --quick`" in text
    assert "| request_decode_fast_per_s | 123,456 |" in text
    assert machine_info()["cores"] in text
    assert "server waited for its core at half |" in text
    assert "| p99 ms (median of 5) | p99 range ms |" in text
    low, high = m.p99_range_us
    assert f"| {low / 1000:.2f}-{high / 1000:.2f} |" in text
    assert 0.0 <= m.server_wait_at_half <= 1.0
    assert 0.0 <= m.stolen_at_half <= 1.0
    assert f"| {m.server_wait_at_half:.1%} | {m.stolen_at_half:.1%} |" in text
    assert "5 runs of 0.4s each at half that maximum" in text
    assert "Redis on CPU 0, sharing the worker's core" in text  # the default placement (REDIS_CPUS)


def test_the_set_up_text_says_where_redis_ran() -> None:
    assert redis_placement((1,)).startswith("Redis on CPU 1, beside the generator")
    assert redis_placement((0,)).startswith("Redis on CPU 0, sharing the worker's core")


@pytest.mark.parametrize("cpus", [REDIS_CPUS, {1}], ids=["default-worker-core", "generator-core"])
def test_the_bench_redis_is_pinned_where_asked(cpus: set[int], tmp_path: Path) -> None:
    assert BenchOptions(output=tmp_path / "x.md").redis_cpus == REDIS_CPUS == SERVER_CPUS
    redis = start_redis(tmp_path / "redis", cpus)
    try:
        pinned = os.sched_getaffinity(redis.pid)
    finally:
        redis.stop()
    everything = os.sched_getaffinity(0)
    assert pinned == (cpus if everything >= cpus and len(everything) >= 2 else everything)


def test_run_queue_wait_is_read_for_a_live_process_and_zero_for_a_gone_one() -> None:
    # A busy child: it runs (and, on a shared machine, may wait) until stopped; then its PID is gone.
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"], stdin=subprocess.DEVNULL)
    try:
        assert process_sched_wait_s(proc.pid) >= 0.0
    finally:
        stop_process(proc, 5.0)
    assert process_sched_wait_s(proc.pid) == 0.0


def _run_with_p99(p99_ms: float, seed: int) -> RunResult:
    """A finished run whose 100 answers took ``p99_ms`` each (so its p99 is that)."""
    tally = Tally()
    for i in range(100):
        tally.on_sent(float(i), float(i))
        tally.on_answer(float(i), i + p99_ms / 1000, "RC 1 SUCCESS")
    spec = RunSpec(Target("udp", "127.0.0.1", 9), 100.0, 1.0, seed=seed)
    return RunResult(spec, tally, 1.0, 0.0, interrupted=False)


def _measurement(p99s_ms: list[float], caches: list[CacheLookups | None]) -> Measurement:
    halves = tuple(HalfRun(_run_with_p99(p99, i), wall_s=1.0, server_wait_s=0.1 * i, stolen_s=0.05, cache=c,
                           server_cpu_s=0.2 * i)
                   for i, (p99, c) in enumerate(zip(p99s_ms, caches, strict=True)))
    probe = _run_with_p99(1.0, 99)
    return Measurement(SCENARIOS[1], probe, probe, halves, 100.0, 0.5)


def test_the_row_shows_the_median_run_the_range_and_the_cache_share_of_all_runs() -> None:
    m = _measurement([9.0, 1.0, 4.0], [CacheLookups(80, 100), CacheLookups(70, 100), None])
    assert m.half is m.halves[2].result  # the median p99 (4 ms), not the mean of 1, 4 and 9
    low, high = m.p99_range_us
    assert low < 1_500 and high > 8_500  # histogram buckets: within a few per cent of 1 and 9 ms
    assert m.cache_share == pytest.approx(0.75)  # 150 hits of 200 lookups; the unknown run is left out
    assert m.server_wait_at_half == pytest.approx(0.1)  # 0.3 s waited in 3 s of runs
    assert m.stolen_at_half == pytest.approx(0.05)
    assert m.server_cpu_at_half == pytest.approx(0.2)  # 0.6 CPU-seconds in 3 s of runs
    # An even count takes the worse of the two middle runs: the median never flatters.
    assert _measurement([1.0, 6.0], [None, None]).half.summary.p99_us > 5_500
    report = BenchReport("loadtest bench", machine_info(), SeedResult(100, 1.0), (m,), 1.0)
    row = scenario_rows(report)[2]
    span = f"{low / 1000:.2f}-{high / 1000:.2f}"
    assert f"| {m.half.summary.p99_us / 1000:.2f} (MISSES <= 2) | {span} | - |" in row  # no floor measured
    floors = (3_000, None, 1_000)
    floored = dataclasses.replace(m, halves=tuple(
        dataclasses.replace(h, floor_p99_us=p99) for h, p99 in zip(m.halves, floors, strict=True)))
    assert floored.floor_p99_us == 3_000  # the worse middle of the runs that measured it (1 and 3 ms)
    assert f"| {span} | 3.00 (udp-echo) |" in scenario_rows(
        dataclasses.replace(report, measurements=(floored,)))[2]
    assert "| 100.0% | 75.0% |" in row  # found, then answers from cache
    assert "| 50% | 20% |" in row  # server CPU at the maximum, then at half


def test_the_peak_search_goes_up_while_runs_hold_and_down_after_a_first_run_that_shed() -> None:
    assert next_peak_rate([(1_000.0, 1_000.0, False)]) == pytest.approx(1_000.0 * PEAK_STEP)
    assert next_peak_rate([(1_000.0, 1_000.0, False), (1_250.0, 1_010.0, False)]) is None  # no longer rose
    assert next_peak_rate([(1_000.0, 1_000.0, False), (1_250.0, 1_200.0, True)]) is None  # past the ceiling
    going_up = [(1_000.0 * PEAK_STEP**i, 1_000.0 * PEAK_STEP**i, False) for i in range(PEAK_STEPS + 1)]
    assert next_peak_rate(going_up) is None  # at most PEAK_STEPS steps
    # A first run that shed: down until a run sheds nothing, whatever its answered rate.
    assert next_peak_rate([(24_000.0, 15_000.0, True)]) == pytest.approx(24_000.0 * PEAK_BACKOFF)
    coming_down = [(24_000.0, 15_000.0, True), (19_200.0, 19_000.0, True)]
    assert next_peak_rate(coming_down) == pytest.approx(19_200.0 * PEAK_BACKOFF)
    assert next_peak_rate([(24_000.0, 15_000.0, True), (19_200.0, 19_200.0, False)]) is None
    stuck = [(24_000.0 * PEAK_BACKOFF**i, 1.0, True) for i in range(PEAK_STEPS + 1)]
    assert next_peak_rate(stuck) is None


def test_the_maximum_search_bounds_the_stream_clients_window_and_the_latency_runs_do_not() -> None:
    options = BenchOptions(output=Path(os.devnull), connections=16)
    # Never started: a spec needs only where a server listens.
    listening = Server(None, "127.0.0.1", {"port": 1, "handle": 1, "http": 1})  # type: ignore[arg-type]
    servers = {s.server: listening for s in SCENARIOS}
    unbounded = RunSpec(Target("udp", "127.0.0.1", 1), 1.0, 1.0).in_flight_cap()
    for scenario in SCENARIOS:
        search = scenario_spec(options, scenario, servers, 1_000.0, 1.0, search=True).in_flight_cap()
        latency = scenario_spec(options, scenario, servers, 1_000.0, 1.0).in_flight_cap()
        assert latency == unbounded  # a latency run never drops what a stall delays
        # UDP's excess is dropped by the socket buffer; a stream client's would queue past its timeout.
        assert search == (unbounded if scenario.scheme == "udp" else SEARCH_WINDOW * 16), scenario.name


def test_the_compiled_module_count_is_read_from_the_config_info() -> None:
    text = (
        'idnode_config_info{key="workers",value="1"} 1.0\n'
        'idnode_config_info{key="compiled_modules",value="24"} 1.0\n'
    )
    assert config_info(text, "compiled_modules") == "24"
    assert config_info(text, "tls") is None
    assert config_info(None, "compiled_modules") is None  # a node that did not answer
    assert compiled_text("24") == " (24 of its modules compiled by mypyc, setup.py)"
    assert compiled_text("0") == " (pure Python: no compiled modules)"
    assert compiled_text("") == ""  # not read: nothing said


def test_cache_lookups_are_read_from_the_metrics_text() -> None:
    text = (
        "# TYPE idnode_cache_lookups_total counter\n"
        'idnode_cache_lookups_total{result="hit"} 90.0\n'
        'idnode_cache_lookups_total{result="miss"} 25.0\n'
        'idnode_cache_lookups_total{result="negative_hit"} 5.0\n'
        "idnode_cache_entries 30.0\n"
    )
    counts = cache_lookups_from(text)
    assert counts == CacheLookups(95, 120)
    assert cache_lookups_from("idnode_cache_entries 30.0\n") is None
    assert (CacheLookups(100, 130) - CacheLookups(95, 120)).share == pytest.approx(0.5)
    assert CacheLookups().share is None


def test_loop_delays_are_read_from_the_metrics_text_and_shown_per_run() -> None:
    text = (
        "# TYPE idnode_event_loop_delay_seconds histogram\n"
        'idnode_event_loop_delay_seconds_bucket{le="0.005"} 7.0\n'
        'idnode_event_loop_delay_seconds_bucket{le="0.01"} 9.0\n'
        'idnode_event_loop_delay_seconds_bucket{le="+Inf"} 12.0\n'
        "idnode_event_loop_delay_seconds_count 12.0\n"
        "idnode_event_loop_delay_seconds_sum 0.25\n"
    )
    delays = loop_delays_from(text)
    assert delays == LoopDelays(0.25, 3)  # 12 delays, 9 of them 10 ms or less
    assert loop_delays_from("idnode_cache_entries 30.0\n") is None
    m = _measurement([1.0, 2.0], [None, None])
    runs = tuple(dataclasses.replace(h, loop=LoopDelays(0.01 * i, 2 * i)) for i, h in enumerate(m.halves))
    m = dataclasses.replace(m, halves=runs)
    assert m.loop_at_half == pytest.approx((0.005, 1.0))  # 10 ms held in 2 s of runs; 2 stalls in 2 runs
    report = BenchReport("loadtest bench", machine_info(), SeedResult(100, 1.0), (m,), 1.0)
    assert scenario_rows(report)[2].endswith("| 0.5% (1.0) |")


def test_a_node_scenario_reports_the_share_of_answers_its_cache_served(
    node: Server, udp_echo: Server, tmp_path: Path
) -> None:
    options = BenchOptions(output=tmp_path / "BENCHMARKS.md", quick=True, count=NODE_KEYS, scenario_s=1.0,
                           probe_rate=1_000.0, connections=2, half_runs=2, peak_searches=1)
    scenario = SCENARIOS[1]
    assert (scenario.server, scenario.keys, scenario.latency_floor) == ("node", "zipf:1.1", "udp-echo")
    m = measure(options, scenario, {"node": node, "udp-echo": udp_echo})
    assert len(m.halves) == 2
    for h in m.halves:
        assert h.floor_p99_us is not None and h.floor_p99_us > 0  # the echo ran at the row's half rate too
        assert h.cache is not None
        assert h.cache.lookups >= h.result.tally.answered > 0  # every answer looked the cache up
        assert h.loop is not None and h.loop.stalls >= 0  # the node counts its event-loop delays
    assert m.cache_share is not None
    assert 0.5 < m.cache_share <= 1.0  # 500 keys, warmed up: the half runs are served mostly from the cache
    report = BenchReport("loadtest bench --quick", machine_info(), SeedResult(NODE_KEYS, 1.0), (m,), 1.0)
    assert f"| {m.cache_share:.1%} |" in scenario_rows(report)[2]
    assert m.floor_p99_us in {h.floor_p99_us for h in m.halves}
    assert f"| {ms(m.floor_p99_us or 0)} (udp-echo) |" in scenario_rows(report)[2]
    rss = node.rss_bytes()
    assert rss > process_rss_bytes(node.workers[0]) > 10_000_000  # supervisor and worker, both Python
    shown = memory_line(dataclasses.replace(report, node_memory={"node": rss, "node-cold": 2 * rss}))
    assert f"`node` {rss / 1e6:,.0f} MB, `node-cold` {2 * rss / 1e6:,.0f} MB." in shown
    assert memory_line(report) == ""  # no figures, no line


def test_the_memory_probe_times_a_chain_and_the_report_shows_it_around_the_run(tmp_path: Path) -> None:
    assert dependent_lookup_ns(entries=4_096, steps=10_000, repeats=2) > 0
    m = _measurement([1.0, 2.0], [None, None])
    report = BenchReport("loadtest bench", machine_info(), SeedResult(100, 1.0), (m,), 1.0,
                         memory_ns=(435.4, 1_270.0))
    write_markdown(report, tmp_path / "probed.md")
    assert ("435 ns a step before the first search, 1,270 ns after the last half run."
            in (tmp_path / "probed.md").read_text(encoding="utf-8"))
    write_markdown(dataclasses.replace(report, memory_ns=()), tmp_path / "quick.md")
    assert "memprobe" not in (tmp_path / "quick.md").read_text(encoding="utf-8")  # not probed: not shown


def test_stolen_time_is_read_for_this_machines_cpus() -> None:
    assert cpu_stolen_s(set(range(os.cpu_count() or 1))) >= cpu_stolen_s({0}) >= 0.0
    assert cpu_stolen_s({10_000}) == 0.0  # no such CPU


def test_the_cold_rows_never_share_a_node_with_the_warm_rows() -> None:
    cold = {s.server for s in SCENARIOS if s.keys == "uniform" and s.server.startswith("node")}
    warm = {s.server for s in SCENARIOS if s.keys.startswith("zipf") and s.server.startswith("node")}
    assert COLD_NODE in cold
    assert not cold & warm


def test_the_searches_and_the_half_runs_go_in_rounds_across_the_scenarios() -> None:
    order = round_order(SCENARIOS[:3], 2)
    assert [(s.name, i) for s, i in order] == [(s.name, i) for i in range(2) for s in SCENARIOS[:3]]


def test_a_row_keeps_its_best_search_and_shows_every_one() -> None:
    slow, fast = _run_with_p99(9.0, 1), _run_with_p99(1.0, 2)
    searches = [Peak(slow, slow, 17_000.0, 0.7), Peak(fast, fast, 31_000.0, 0.9),
                Peak(slow, slow, 20_000.0, 0.8)]
    best = best_search(searches)
    assert (best.peak, best.max_rate, best.server_cpu) == (fast, 31_000.0, 0.9)
    assert best.searches == (17_000.0, 31_000.0, 20_000.0)
    m = dataclasses.replace(_measurement([1.0], [None]), max_rate=best.max_rate, searches=best.searches)
    report = BenchReport("loadtest bench", machine_info(), SeedResult(100, 1.0), (m,), 1.0)
    assert "| 31,000 | 17,000 / 31,000 / 20,000 |" in scenario_rows(report)[2]
    assert "the best of 3 searches" in setup_text(report)


def test_no_two_runs_of_a_bench_draw_the_same_keys() -> None:
    # Up to five searches (the command line's limit) of up to PEAK_STEPS + 1 peak runs each.
    runs = range(max(HALF_RUNS, 5 * (PEAK_STEPS + 1)))
    seeds = [seed_of(s, phase, i) for s in SCENARIOS for phase in SEEDS for i in runs]
    assert len(seeds) == len(set(seeds))
