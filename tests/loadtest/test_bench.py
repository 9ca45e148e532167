"""The benchmark of record's measurement and its Markdown, on a baseline (the full bench is `make bench`)."""

from __future__ import annotations

from pathlib import Path

from loadtest.bench import SCENARIOS, BenchOptions, measure
from loadtest.bench_markdown import BenchReport, machine_info, write_markdown
from loadtest.processes import Server
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
