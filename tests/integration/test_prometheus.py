"""A real Prometheus scrapes a real 2-worker node under a little load; its HTTP API must show the node's
series with totals that add up over both workers, also across a worker killed and replaced.

Needs Debian's ``prometheus`` package (skipped with a reason where it is missing; ``.ci/run`` installs it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.mmap_dict import MmapedDict

from resolver.client import resolve_http, resolve_tcp, resolve_udp

PROMETHEUS = shutil.which("prometheus")
START_TIMEOUT_S = 60.0
SCRAPE_WAIT_S = 30.0

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.slow,
    pytest.mark.skipif(
        PROMETHEUS is None,
        reason="prometheus not found: install it with `apt-get install prometheus` (Debian); .ci/run does",
    ),
]


@dataclass
class Proc:
    """A process started by this test, its output drained by a thread (so it never blocks), stopped by PID."""

    proc: subprocess.Popen[str]
    log: deque[str]
    ready: threading.Event

    @classmethod
    def start(cls, argv: list[str], ready_text: str, **kwargs: Any) -> Proc:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
        started = cls(proc, deque(maxlen=300), threading.Event())
        threading.Thread(target=started._drain, args=(ready_text,), daemon=True).start()
        if not started.ready.wait(START_TIMEOUT_S) or proc.poll() is not None:
            started.stop()
            raise RuntimeError(f"{argv[0]} did not start:\n" + "".join(started.log))
        return started

    def _drain(self, ready_text: str) -> None:
        assert self.proc.stdout is not None
        with contextlib.suppress(ValueError, OSError):
            for line in self.proc.stdout:
                self.log.append(line)
                if ready_text in line:
                    self.ready.set()
        self.ready.set()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def node(redis_url: str, tmp_path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    data_dir = tmp_path / "node"
    argv = [sys.executable, "-m", "resolver", "serve", "--workers", "2", "--handle-listen", "127.0.0.1:0",
            "--http-listen", "127.0.0.1:0", "--redis-url", redis_url, "--data-dir", str(data_dir)]
    proc = Proc.start(argv, "resolver ready")
    try:
        yield data_dir, json.loads((data_dir / "ports.json").read_text())
    finally:
        proc.stop()


@pytest.fixture
def prometheus(node: tuple[Path, dict[str, Any]], tmp_path: Path) -> Iterator[str]:
    _, ports = node
    config = tmp_path / "prometheus.yml"
    target = f"127.0.0.1:{ports['http_port']}"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs: [{{job_name: idnode, static_configs: [{{targets: ['{target}']}}]}}]\n"
    )
    listen = f"127.0.0.1:{free_port()}"
    assert PROMETHEUS is not None
    argv = [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address={listen}", "--log.level=info"]
    proc = Proc.start(argv, "Server is ready to receive web requests", cwd=tmp_path)
    try:
        yield f"http://{listen}"
    finally:
        proc.stop()


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - our own loopback Prometheus
        doc = json.loads(resp.read())
    assert doc["status"] == "success", doc
    result: list[dict[str, Any]] = doc["data"]["result"]
    return result


def scalar(prometheus: str, promql: str) -> float | None:
    result = query(prometheus, promql)
    return float(result[0]["value"][1]) if result else None


def wait_for_value(prometheus: str, promql: str, expected: float) -> None:
    """Wait (bounded) until Prometheus has scraped a value equal to ``expected``: scrapes come each second."""
    deadline = time.monotonic() + SCRAPE_WAIT_S
    seen = None
    while time.monotonic() < deadline:
        seen = scalar(prometheus, promql)
        if seen == expected:
            return
        time.sleep(0.25)  # polling an external system for a condition; bounded by the deadline
    raise AssertionError(f"{promql}: expected {expected}, last seen {seen}")


async def load(ports: dict[str, Any], n: int, concurrency: int = 8) -> None:
    """``n`` resolutions per transport, each on a new socket, a few at a time: both workers take some."""
    host, port, http_port = "127.0.0.1", ports["handle_port"], ports["http_port"]

    async def one(i: int) -> None:
        handle = f"99.999.9/unknown-{i}"  # a prefix nobody homes: RC_SERVER_NOT_RESP, answered by any worker
        await resolve_udp(host, port, handle)
        await resolve_tcp(host, port, handle)
        await resolve_http(host, http_port, handle)

    for start in range(0, n, concurrency):
        await asyncio.gather(*(one(i) for i in range(start, min(n, start + concurrency))))


def resolutions_by_pid(data_dir: Path) -> dict[int, float]:
    """What each process's own counter file holds: proof of which workers answered."""
    totals: dict[int, float] = {}
    for path in (data_dir / "metrics").glob("counter_*.db"):
        pid = int(path.stem.rsplit("_", 1)[1])
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):  # type: ignore[no-untyped-call]
            if json.loads(key)[1] == "idnode_resolutions_total":
                totals[pid] = totals.get(pid, 0.0) + value
    return totals


def test_prometheus_sees_one_node_summed_over_both_workers(
    node: tuple[Path, dict[str, Any]], prometheus: str
) -> None:
    data_dir, ports = node
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['http_port']}/metrics", timeout=5) as resp:
        assert b"# TYPE idnode_" in resp.read(), "the node's /metrics has no idnode_ metrics"
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['http_port']}/readyz", timeout=5) as resp:
        assert json.loads(resp.read())["status"] == "ready"
    status = subprocess.run([sys.executable, "-m", "resolver", "status", "--data-dir", str(data_dir)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert status.returncode == 0, status.stdout + status.stderr
    assert '/readyz: HTTP 200 {"status": "ready"' in status.stdout
    n = 40
    asyncio.run(load(ports, n))
    total = 'sum(idnode_resolutions_total{job="idnode"})'
    wait_for_value(prometheus, total, 3 * n)
    for transport in ("udp", "tcp", "http"):
        assert scalar(prometheus, f'sum(idnode_resolutions_total{{transport="{transport}"}})') == n
    assert scalar(prometheus, 'sum(idnode_resolutions_total{code="server_not_resp"})') == 3 * n
    # Both workers answered (each counted in its own file), yet the node is one series per label set.
    by_pid = resolutions_by_pid(data_dir)
    assert all(by_pid.get(pid, 0) > 0 for pid in ports["workers"]), by_pid
    assert len(query(prometheus, 'idnode_resolutions_total{transport="udp"}')) == 1
    assert scalar(prometheus, "idnode_workers_up") == 2
    assert scalar(prometheus, 'sum(idnode_resolution_duration_seconds_count{transport="tcp"})') == n
    assert query(prometheus, "idnode_build_info")

    # A worker killed and replaced: its counts stay, the new one adds to them (no reset, no double count).
    os.kill(ports["workers"][0], signal.SIGKILL)
    wait_for_value(prometheus, "idnode_worker_restarts_total", 1)
    wait_for_value(prometheus, "idnode_workers_up", 2)
    ports = json.loads((data_dir / "ports.json").read_text())
    asyncio.run(load(ports, n))
    wait_for_value(prometheus, total, 6 * n)
    assert (scalar(prometheus, "sum(rate(idnode_resolutions_total[1m]))") or 0) > 0
