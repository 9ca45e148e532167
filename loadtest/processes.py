"""Servers the benchmark starts as child processes: the node (`resolver serve`) and the baselines.

Each is started on port 0, awaited until it says where it listens (the baseline's ``PORT n`` line, the node's
``ports.json``, which the supervisor writes once every worker is ready), and stopped by its PID: SIGTERM,
then SIGKILL if it has not exited within the deadline. ``cpus`` pins the child (and whatever it forks) to
those CPUs, so the server and the generator do not share a core.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the annotation only: tests import stop_process without the baselines' aiohttp
    from loadtest.baselines import Kind

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


@dataclass
class Server:
    """A started server: its process and where it listens."""

    proc: subprocess.Popen[bytes]
    host: str
    ports: dict[str, int]
    workers: tuple[int, ...] = ()  # the node's worker PIDs (from ports.json)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_s(self) -> float:
        """CPU seconds used so far by the server and its workers."""
        return sum(process_cpu_s(pid) for pid in (self.pid, *self.workers))

    def rss_bytes(self) -> int:
        """Resident memory of the server and its workers now (process_rss_bytes)."""
        return sum(process_rss_bytes(pid) for pid in (self.pid, *self.workers))

    def sched_wait_s(self) -> float:
        """Seconds the server's processes have spent runnable, waiting for a CPU (process_sched_wait_s)."""
        return sum(process_sched_wait_s(pid) for pid in (self.pid, *self.workers))

    def metrics_text(self) -> str | None:
        """The node's /metrics exposition (None: a baseline, or the node did not answer)."""
        port = self.ports.get("http")
        if port is None or "handle" not in self.ports:
            return None
        try:
            with urllib.request.urlopen(f"http://{self.host}:{port}/metrics", timeout=5.0) as reply:
                return str(reply.read().decode())
        except (OSError, urllib.error.URLError):
            return None

    def await_idle(self, timeout_s: float = 20.0, window_s: float = 0.25) -> bool:
        """Wait until the server has stopped working off a backlog (under 10 % of a core for a window)."""
        deadline = time.monotonic() + timeout_s
        before = self.cpu_s()
        while time.monotonic() < deadline:
            time.sleep(window_s)
            now = self.cpu_s()
            if now - before < 0.1 * window_s:
                return True
            before = now
        return False

    def stop(self) -> None:
        stop_process(self.proc, STOP_TIMEOUT_S)


@dataclass(frozen=True, slots=True)
class CacheLookups:
    """The node's ``idnode_cache_lookups_total``: lookups answered from the cache, and all lookups."""

    hits: int = 0  # result="hit" (entries and pre-encoded answers) and "negative_hit"
    lookups: int = 0

    def __sub__(self, before: CacheLookups) -> CacheLookups:
        return CacheLookups(self.hits - before.hits, self.lookups - before.lookups)

    def __add__(self, other: CacheLookups) -> CacheLookups:
        return CacheLookups(self.hits + other.hits, self.lookups + other.lookups)

    @property
    def share(self) -> float | None:
        return self.hits / self.lookups if self.lookups > 0 else None


_CONFIG_INFO = "idnode_config_info{"
_LABEL_VALUE = re.compile(r'value="([^"]*)"')


def config_info(text: str | None, key: str) -> str | None:
    """One of the settings the node shows in ``idnode_config_info`` (its ``value`` label), None if absent."""
    for line in (text or "").splitlines():
        if line.startswith(_CONFIG_INFO) and f'key="{key}"' in line:
            found = _LABEL_VALUE.search(line)
            return found.group(1) if found else None
    return None


_LOOKUPS = "idnode_cache_lookups_total{"


def metric_samples(text: str, family: str) -> list[tuple[str, float]]:
    """Each sample of ``family`` in a Prometheus text exposition: its name with labels, and its value."""
    samples = []
    for line in text.splitlines():
        if line.startswith(family):
            name, _, value = line.rpartition(" ")
            samples.append((name, float(value)))
    return samples


def cache_lookups_from(text: str) -> CacheLookups | None:
    """Read ``idnode_cache_lookups_total`` from a Prometheus text exposition (None if it is absent)."""
    samples = metric_samples(text, _LOOKUPS)
    if not samples:
        return None
    hits = sum(v for labels, v in samples if 'result="hit"' in labels or 'result="negative_hit"' in labels)
    return CacheLookups(int(hits), int(sum(v for _, v in samples)))


@dataclass(frozen=True, slots=True)
class LoopDelays:
    """The node's ``idnode_event_loop_delay_seconds`` (resolver/loopwatch.py): how long its event loops were
    held 2 ms or more past a tick, in all, and how many times more than ``STALL_S``."""

    held_s: float = 0.0
    stalls: int = 0

    def __sub__(self, before: LoopDelays) -> LoopDelays:
        return LoopDelays(self.held_s - before.held_s, self.stalls - before.stalls)

    def __add__(self, other: LoopDelays) -> LoopDelays:
        return LoopDelays(self.held_s + other.held_s, self.stalls + other.stalls)


STALL_S = 0.01  # a delay this long is a stall: ten milliseconds of every request waiting
_DELAY = "idnode_event_loop_delay_seconds"


def loop_delays_from(text: str) -> LoopDelays | None:
    """Read ``idnode_event_loop_delay_seconds`` from a Prometheus text exposition (None if it is absent)."""
    samples = dict(metric_samples(text, _DELAY))
    if not samples:
        return None
    within = samples.get(f'{_DELAY}_bucket{{le="{STALL_S}"}}', 0.0)
    held, count = samples.get(f"{_DELAY}_sum", 0.0), samples.get(f"{_DELAY}_count", 0.0)
    return LoopDelays(held, int(count - within))


def stop_process(proc: subprocess.Popen[Any], timeout_s: float) -> int:
    """SIGTERM by PID, SIGKILL if it has not exited within ``timeout_s``; close its stdout; its exit code."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout_s)
    if proc.stdout is not None:
        proc.stdout.close()
    return proc.returncode


def _pinned(cpus: set[int] | None) -> set[int] | None:
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return None
    available = os.sched_getaffinity(0)
    return None if not cpus <= available else cpus


def _popen(argv: list[str], cpus: set[int] | None, **kwargs: object) -> subprocess.Popen[bytes]:
    """Start ``argv``; the child is pinned by switching our own affinity around the fork."""
    wanted = _pinned(cpus)
    before = os.sched_getaffinity(0) if wanted else None
    try:
        if wanted:
            os.sched_setaffinity(0, wanted)
        return subprocess.Popen(argv, **kwargs)  # type: ignore[call-overload,no-any-return]  # noqa: S603
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)


def start_baseline(kind: Kind, *, cpus: set[int] | None = None, delay_ms: float = 0.0,
                   reply_bytes: int | None = None, redis_url: str = "") -> Server:
    argv = [sys.executable, "-m", "loadtest.baselines", kind, "--listen", "127.0.0.1:0",
            "--delay-ms", str(delay_ms)]
    if redis_url:
        argv += ["--redis-url", redis_url]
    if reply_bytes is not None:
        argv += ["--reply-bytes", str(reply_bytes)]
    proc = _popen(argv, cpus, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    server = Server(proc, "127.0.0.1", {})
    try:
        line = _read_line(proc, START_TIMEOUT_S)
        server.ports["port"] = int(line.split()[1])
    except Exception:
        server.stop()
        raise
    return server


def _read_line(proc: subprocess.Popen[bytes], timeout_s: float) -> str:
    """The child's first stdout line, or an error if it exits or stays silent past the timeout."""
    assert proc.stdout is not None  # noqa: S101 - started with stdout=PIPE just above
    ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
    if not ready:
        raise RuntimeError(f"process {proc.pid} did not report its port within {timeout_s:.0f}s")
    line = proc.stdout.readline().decode()
    if not line.startswith("PORT "):
        raise RuntimeError(f"process {proc.pid} exited or said {line!r} instead of its port")
    return line


def start_node(data_dir: Path, redis_url: str, *, workers: int = 1, cpus: set[int] | None = None,
               extra: list[str] | None = None, log_path: Path | None = None,
               environ: dict[str, str] | None = None) -> Server:
    """`resolver serve` on port 0, with ``environ`` added to ours; returns once ``ports.json`` says every
    worker is ready."""
    data_dir.mkdir(parents=True, exist_ok=True)
    ports_file = data_dir / "ports.json"
    ports_file.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "resolver", "serve", "--workers", str(workers),
            "--handle-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
            "--data-dir", str(data_dir), "--redis-url", redis_url, *(extra or [])]
    log = open(log_path or data_dir / "node.log", "wb")  # noqa: SIM115 - the child owns it from here
    try:
        proc = _popen(argv, cpus, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                      env={**os.environ, **(environ or {})})
    finally:
        log.close()
    server = Server(proc, "127.0.0.1", {})
    try:
        doc = _await_ports(proc, ports_file)
        server.ports = {"handle": int(str(doc["handle_port"])), "http": int(str(doc["http_port"]))}
        worker_pids = doc.get("workers")
        server.workers = tuple(int(p) for p in worker_pids) if isinstance(worker_pids, list) else ()
    except Exception:
        server.stop()
        raise
    return server


def _await_ports(proc: subprocess.Popen[bytes], ports_file: Path) -> dict[str, object]:
    # The supervisor replaces ports.json atomically once every worker is ready; polled with a deadline.
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ports_file.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"resolver serve exited with {proc.returncode}; see {ports_file.parent}")
        if time.monotonic() > deadline:
            raise RuntimeError("resolver serve did not write ports.json in time")
        time.sleep(0.05)
    doc: dict[str, object] = json.loads(ports_file.read_text())
    return doc


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def process_cpu_s(pid: int) -> float:
    """utime + stime of a process from /proc (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # fields 14 and 15 of proc(5)


def process_rss_bytes(pid: int) -> int:
    """Resident memory of a process (the second field of /proc/PID/statm, in pages; 0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/statm").read_text().split()
    except OSError:
        return 0
    return int(fields[1]) * _PAGE_BYTES if len(fields) >= 2 else 0


def cpu_stolen_s(cpus: set[int] | frozenset[int]) -> float:
    """Seconds the hypervisor has run something else while ``cpus`` had work (steal, /proc/stat, proc(5)).

    On a virtual machine this is time the server's core was taken away whatever ran inside the machine:
    latency neither the server nor anything beside it caused.
    """
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return 0.0
    stolen = 0
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus and len(fields) >= 8:
            stolen += int(fields[7])
    return stolen / _CLOCK_TICKS


def process_sched_wait_s(pid: int) -> float:
    """Seconds the process's main thread has waited runnable on a run queue (0 if it is gone or unknown).

    The second field of /proc/PID/schedstat (sched-stats.rst): time the task was ready but another one held
    its CPU. Over a run, a server's share of it tells latency caused by other load on its core (Redis, other
    programs) apart from the server's own stalls, which show as time on the CPU instead.
    """
    try:
        fields = Path(f"/proc/{pid}/schedstat").read_text().split()
    except OSError:
        return 0.0
    return int(fields[1]) / 1e9 if len(fields) >= 2 else 0.0
