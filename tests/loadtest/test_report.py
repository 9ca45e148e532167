"""Reports: JSON that parses and agrees with the run, an HTML page with the plots inline, real PNG files."""

from __future__ import annotations

import json
from pathlib import Path

from loadtest.capacity import Slo, find_capacity
from loadtest.capacity_report import write_capacity_report
from loadtest.clients import Target
from loadtest.processes import Server
from loadtest.report import format_summary, write_report
from loadtest.runner import RunSpec
from loadtest.session import run_load
from loadtest.workloads import KeySpec

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_a_run_report_is_written_and_well_formed(udp_echo: Server, tmp_path: Path) -> None:
    spec = RunSpec(Target("udp", udp_echo.host, udp_echo.ports["port"]), 200.0, 1.5, keys=KeySpec(count=100))
    result = run_load(spec)
    files = write_report(result, tmp_path / "report")
    data = json.loads(files.json.read_text())
    assert data["sent"] == data["answered"] + data["errors"] + data["timeouts"] == 300
    assert data["consistent"] is True
    assert data["latency"]["count"] == 300
    assert data["spectrum"][-1][0] == 100.0
    assert sum(row["sent"] for row in data["timeline"]) == 300
    assert len(files.pngs) == 3
    for png in files.pngs:
        assert png.read_bytes().startswith(PNG_MAGIC)
    page = files.html.read_text()
    assert page.startswith("<!doctype html>")
    assert page.count('src="data:image/png;base64,') == 3
    assert "throughput" in format_summary(result)


def test_capacity_finds_a_rate_and_writes_its_report(tcp_echo: Server, tmp_path: Path) -> None:
    base = RunSpec(Target("tcp", tcp_echo.host, tcp_echo.ports["port"]), 100.0, 1.0, keys=KeySpec(count=100),
                   connections=2)
    # A generous SLO and two short steps: this checks the search and the report, not the machine.
    result = find_capacity(base, Slo.parse("p99=500ms"), start_rate=100.0, factor=2.0, max_steps=2)
    assert [s.rate for s in result.steps] == [100.0, 200.0]
    assert result.best is not None
    page = write_capacity_report(result, tmp_path)
    assert json.loads((tmp_path / "capacity.json").read_text())["steps"][0]["rate"] == 100.0
    assert "data:image/png;base64," in page.read_text()


def test_slo_parsing() -> None:
    assert Slo.parse("p99=5ms") == Slo(99.0, 5_000)
    assert Slo.parse("p99.9=250us") == Slo(99.9, 250)
    assert Slo.parse("p50=1s") == Slo(50.0, 1_000_000)
