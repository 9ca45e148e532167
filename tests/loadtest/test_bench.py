"""The benchmark of record's measurement and its Markdown, on a baseline (the full bench is `make bench`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.bench import REDIS_CPUS, SCENARIOS, SERVER_CPUS, BenchOptions, measure, start_redis
from loadtest.bench_markdown import BenchReport, machine_info, redis_placement, write_markdown
from loadtest.processes import Server, process_sched_wait_s, stop_process
from loadtest.seed import SeedResult


def test_a_baseline_scenario_is_measured_and_written_as_a_table_row(udp_echo: Server, tmp_path: Path) -> None:
    options = BenchOptions(output=tmp_path / "BENCHMARKS.md", quick=True, count=100, scenario_s=1.0,
                           probe_rate=2_000.0, connections=2)
    scenario = SCENARIOS[0]
    assert scenario.server == "udp-echo"
    m = measure(options, scenario, {"udp-echo": udp_echo})
    assert m.max_rate > 0
    assert m.half.spec.rate == max(m.max_rate / 2, 10.0)
    for run in (m.probe, m.peak, m.half):
        assert run.consistent
    report = BenchReport("loadtest bench --quick", machine_info(), SeedResult(100, 1.0), (m,), 1.0,
                         codec={"request_decode_fast_per_s": 123456.0, "ratio": 0.25})
    write_markdown(report, options.output)
    text = options.output.read_text()
    assert "| UDP echo (bare uvloop) |" in text
    assert "(baseline)" in text
    assert "`loadtest bench --quick`" in text
    assert "| request_decode_fast_per_s | 123,456 |" in text
    assert machine_info()["cores"] in text
    assert "server waited for its core at half |" in text
    assert 0.0 <= m.server_wait_at_half <= 1.0
    assert f"| {m.server_wait_at_half:.1%} |" in text
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
