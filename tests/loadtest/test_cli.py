"""The `loadtest` command as a user runs it: a run with a report, and Ctrl-C that still writes the report."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
from pathlib import Path

from loadtest.processes import Server, start_baseline

LOADTEST = [sys.executable, "-m", "loadtest.cli"]


def test_run_prints_the_summary_and_writes_the_report(tcp_echo: Server, tmp_path: Path) -> None:
    target = f"tcp://127.0.0.1:{tcp_echo.ports['port']}"
    done = subprocess.run(
        [*LOADTEST, "run", "--target", target, "--rate", "100", "--duration", "1", "--key-count", "100",
         "--connections", "2", "--report", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "sent 100  answered 100  errors 0  timeouts 0" in done.stdout
    assert "p99.9" in done.stdout
    assert json.loads((tmp_path / "run.json").read_text())["answered"] == 100


def test_run_with_a_window_sheds_what_the_window_cannot_hold(tmp_path: Path) -> None:
    slow = start_baseline("tcp-echo", delay_ms=200.0)
    try:
        target = f"tcp://127.0.0.1:{slow.ports['port']}"
        run = [*LOADTEST, "run", "--target", target, "--rate", "200", "--duration", "1", "--key-count", "100",
               "--connections", "2"]
        done = subprocess.run([*run, "--window", "4"], capture_output=True, text=True, timeout=60,
                              check=False)
        assert done.returncode == 0, done.stderr
        counts = re.search(r"sent (\d+)  answered (\d+)  errors (\d+)  timeouts (\d+)", done.stdout)
        assert counts is not None, done.stdout
        sent, answered, errors, timeouts = (int(n) for n in counts.groups())
        assert (sent, timeouts) == (200, 0)
        assert 16 <= answered <= 64 and answered + errors == 200, done.stdout  # 2 x 4 in flight, 200 ms each
        for bad in ("0", "-3", "many"):
            refused = subprocess.run([*run, "--window", bad], capture_output=True, text=True, timeout=60,
                                     check=False)
            assert refused.returncode == 2 and "--window" in refused.stderr, refused.stderr  # a usage error
    finally:
        slow.stop()


def test_baseline_rates_prints_the_cost_per_answer_at_each_rate() -> None:
    # A real baseline process started and stopped by the command itself, at two low rates.
    done = subprocess.run([*LOADTEST, "baseline", "udp-echo", "--rates", "200,400", "--measure", "1"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("udp-echo at ")]
    assert [line.split(":")[0] for line in lines] == ["udp-echo at 200/s", "udp-echo at 400/s"]
    assert "answered 200, " in lines[0] and "answered 400, " in lines[1]
    assert all(" us of server CPU per answer, p99 " in line for line in lines)
    for bad in ("fast", "1000,-5"):
        refused = subprocess.run([*LOADTEST, "baseline", "udp-echo", "--rates", bad],
                                 capture_output=True, text=True, timeout=60, check=False)
        assert refused.returncode == 2 and "--rates" in refused.stderr, refused.stderr  # a usage error


def _interactive_sigint() -> None:
    """Ctrl-C as at a terminal: a shell running the suite in the background (``make test &``) hands its
    children SIGINT ignored, and Python then never installs its KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_cleanly_and_still_writes_the_report(udp_echo: Server, tmp_path: Path) -> None:
    target = f"udp://127.0.0.1:{udp_echo.ports['port']}"
    proc = subprocess.Popen(
        [*LOADTEST, "run", "--target", target, "--rate", "100", "--duration", "60", "--key-count", "100",
         "--report", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_interactive_sigint,
    )
    try:
        assert proc.stderr is not None
        # The first progress line says the run is under way.
        ready, _, _ = select.select([proc.stderr], [], [], 30)
        assert ready, "no progress line"
        assert "sent" in proc.stderr.readline()
        os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "(interrupted)" in out
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["interrupted"] is True
    assert 0 < data["sent"] < 6_000
    assert data["sent"] == data["answered"] + data["errors"] + data["timeouts"]


def test_day_runs_the_compressed_curve_and_scales_it_to_a_full_day(udp_echo: Server, tmp_path: Path) -> None:
    target = f"udp://127.0.0.1:{udp_echo.ports['port']}"
    done = subprocess.run(
        [*LOADTEST, "day", "--target", target, "--peak", "100", "--minutes", "0.05", "--key-count", "100",
         "--report", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "hour 23" in done.stdout
    # 100/s at the peak following the 24-hour profile, held for real hours: sum(shares) * 100 * 3600.
    assert "the same curve over a real day: 4,230,000 resolutions" in done.stdout
    data = json.loads((tmp_path / "day.json").read_text())
    assert data["sent"] == data["answered"] + data["errors"] + data["timeouts"] > 0
    assert "hour" in (tmp_path / "day.html").read_text()


def test_python_dash_m_loadtest_is_the_loadtest_command() -> None:
    done = subprocess.run([sys.executable, "-m", "loadtest", "--help"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0 and "bench" in done.stdout


def test_the_bench_command_runs_as_many_half_runs_as_the_bench_does_by_default() -> None:
    from loadtest.bench import HALF_RUNS
    from loadtest.cli import build_parser

    assert build_parser().parse_args(["bench"]).half_runs == HALF_RUNS


def test_each_seed_asks_for_its_own_identifiers() -> None:
    from loadtest.cli import build_parser, run_spec
    from loadtest.workloads import KeyDrawer

    def drawn(*flags: str) -> list[int]:
        args = build_parser().parse_args(["run", "--target", "udp://127.0.0.1:9", "--rate", "1",
                                          "--keys", "uniform", *flags])
        spec = run_spec(args, args.rate, args.duration)
        drawer = KeyDrawer(spec.keys, seed=spec.seed)
        return [drawer.draw_index() for _ in range(50)]

    assert drawn() == drawn("--seed", "1")  # the default is seed 1, as before the flag existed
    assert drawn("--seed", "7") != drawn()
