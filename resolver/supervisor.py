"""The supervisor: binds sockets once, forks N workers that share them, restarts dead ones, stops in order.

TCP and HTTP listeners are shared by every worker. UDP gets one socket per worker slot, all bound to the
Handle port with SO_REUSEPORT: the kernel hashes each datagram by its 4-tuple, so every fragment of one
client's multi-packet request (§1.4) reaches the same worker's reassembler. A replacement worker inherits
its slot's socket, so nothing queued for it is lost. Workers die with the supervisor (PR_SET_PDEATHSIG,
plus a getppid check in the worker); readiness is watched in short waits that look for SIGTERM/SIGINT in
between, so a stop is handled promptly at any time, during the first start too.

Order of start: embedded Redis (when no ``redis_url``) -> sockets -> workers (forked before any event loop
exists) -> ``<data-dir>/ports.json`` once every worker is ready. Order of stop (SIGTERM/SIGINT): workers
(each drains within the deadline), then the embedded Redis last. Workers are watched with ``waitpid`` by PID;
one that dies is replaced after a backoff that grows while it keeps dying young.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from resolver.compiled import compiled_modules
from resolver.health import WorkerPhase, WorkersState, WorkerState, write_workers_state
from resolver.metrics import SupervisorMetrics
from resolver.multiproc import multiproc_dir_for, prepare_multiproc_dir, worker_died
from resolver.settings import Address, Settings
from resolver.udpbuffer import drops_since, receive_queue, size_receive_buffer
from resolver.worker import WorkerSockets, run_worker

log = logging.getLogger(__name__)
PORTS_FILE = "ports.json"
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
_SIGNALS = {signal.SIGCHLD, *_STOP_SIGNALS}
_STOP_POLL_S = 0.1  # how often a starting node looks for SIGTERM/SIGINT
_READY_TIMEOUT_S = 60.0
_MAX_BACKOFF_S = 5.0
_YOUNG_S = 2.0  # a worker that dies sooner than this after starting doubles the backoff
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
Startup = Literal["ready", "failed", "stopped"]


def bind_sockets(settings: Settings) -> WorkerSockets:
    """TCP and UDP on the same Handle port (port 0: UDP takes the port TCP got), HTTP, and admin if set."""
    handle = settings.listen.handle
    tcp = _listen(handle)
    udp = _udp(Address(handle.host, tcp.getsockname()[1]), settings.limits.udp_receive_buffer_bytes)
    _log_receive_buffer(udp, settings.limits.udp_receive_buffer_bytes)
    admin = _listen(settings.listen.admin) if settings.listen.admin is not None else None  # admin work
    metrics = _listen(settings.listen.metrics) if settings.listen.metrics is not None else None  # ops work
    return WorkerSockets(tcp, udp, _listen(settings.listen.http), admin, metrics)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _listen(addr: Address) -> socket.socket:
    sock = socket.socket(_family(addr.host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((addr.host, addr.port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _udp(addr: Address, receive_buffer: int) -> socket.socket:
    sock = socket.socket(_family(addr.host), socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # one socket per worker slot, same port
    size_receive_buffer(sock, receive_buffer)
    sock.bind((addr.host, addr.port))
    sock.setblocking(False)
    return sock


def _log_receive_buffer(sock: socket.socket, wanted: int) -> None:
    if wanted <= 0:
        return  # the system default, as configured
    given = size_receive_buffer(sock, 0)  # twice the request the kernel accepted (its bookkeeping)
    if given < 2 * wanted:
        log.warning("UDP receive buffer capped at %d bytes by net.core.rmem_max (udp_receive_buffer_bytes "
                    "asks %d): bursts past it are dropped; raise it with sysctl -w net.core.rmem_max=%d",
                    given // 2, wanted, wanted)
    else:
        log.info("UDP receive buffer: %d bytes asked per socket", wanted)


def bind_udp_group(first: socket.socket, count: int, receive_buffer: int) -> list[socket.socket]:
    """``first`` plus ``count - 1`` more UDP sockets on its address (its port when it was bound to port 0)."""
    host, port = first.getsockname()[:2]
    return [first, *(_udp(Address(host, port), receive_buffer) for _ in range(count - 1))]


def write_ports(data_dir: Path, sockets: WorkerSockets, workers: list[int]) -> dict[str, object]:
    """``ports.json``: what ``resolver status`` and tests read to find a node started on port 0."""
    doc: dict[str, object] = {
        "pid": os.getpid(),
        "handle_port": sockets.tcp.getsockname()[1],
        "http_port": sockets.http.getsockname()[1],
        "handle_host": sockets.tcp.getsockname()[0],
        "http_host": sockets.http.getsockname()[0],
        "workers": workers,
    }
    if sockets.admin is not None:  # admin work: the separate admin API listener
        doc["admin_port"] = sockets.admin.getsockname()[1]
    if sockets.metrics is not None:  # ops work: the separate /metrics listener
        doc["metrics_port"] = sockets.metrics.getsockname()[1]
    tmp = data_dir / f".{PORTS_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(doc), encoding="utf-8")
    tmp.replace(data_dir / PORTS_FILE)  # readers never see half a file
    return doc


@dataclass(slots=True)
class Slot:
    """One worker position; its process changes across restarts."""

    index: int
    pid: int = 0
    ready_fd: int = -1  # open while the worker is starting: it writes b"1" when it serves
    ready_by: float = 0.0  # monotonic deadline for that byte; past it the worker is killed and replaced
    started_at: float = 0.0
    restarts: int = 0
    backoff_s: float = 0.0
    restart_at: float | None = None


@dataclass(slots=True)
class Supervisor:
    settings: Settings
    sockets: WorkerSockets
    redis_url: str
    slots: list[Slot] = field(default_factory=list)
    stopping: bool = False
    udp_group: list[socket.socket] = field(default_factory=list)  # one UDP socket per slot (SO_REUSEPORT)
    metrics: SupervisorMetrics | None = None  # ops work: set by ``start_metrics`` (None: metrics off)
    udp_drops: list[int] = field(default_factory=list)  # each UDP socket's kernel drop count when last read

    def worker_settings(self) -> Settings:
        storage = dataclasses.replace(self.settings.storage, redis_url=self.redis_url)
        return dataclasses.replace(self.settings, storage=storage)

    def spawn(self, slot: Slot) -> None:
        """Fork one worker; it writes one byte to its pipe when it is serving."""
        read_fd, write_fd = os.pipe()
        sockets, parent = self.slot_sockets(slot), os.getpid()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(read_fd)
            _die_with_parent(parent)
            for other in self.udp_group:
                if other is not sockets.udp:
                    other.close()  # only its own slot's UDP socket
            _worker_main(self.worker_settings(), sockets, write_fd, parent)
        os.close(write_fd)
        slot.pid, slot.ready_fd, slot.started_at, slot.restart_at = pid, read_fd, time.monotonic(), None
        slot.ready_by = slot.started_at + _READY_TIMEOUT_S
        log.info("worker slot %d started as pid %d", slot.index, pid)

    def slot_sockets(self, slot: Slot) -> WorkerSockets:
        if slot.index < len(self.udp_group):
            return dataclasses.replace(self.sockets, udp=self.udp_group[slot.index])
        return self.sockets

    def wait_ready(self, timeout_s: float = _READY_TIMEOUT_S) -> Startup:
        """Block until every worker reported ready, one died, the timeout, or SIGTERM/SIGINT (the signals are
        blocked: they are polled between short waits, so a node that cannot start, say on a Redis that accepts
        connections and never answers, still stops at once)."""
        deadline = time.monotonic() + timeout_s
        pending = {s.ready_fd: s for s in self.slots if s.ready_fd >= 0}
        while pending and time.monotonic() < deadline:
            if signal.sigtimedwait(_STOP_SIGNALS, 0) is not None:
                return "stopped"
            wait_s = min(_STOP_POLL_S, max(deadline - time.monotonic(), 0.0))
            readable, _, _ = select.select(list(pending), [], [], wait_s)
            for fd in readable:
                slot = pending.pop(fd)
                ok = os.read(fd, 1) == b"1"
                os.close(fd)
                slot.ready_fd = -1
                if not ok:
                    return "failed"
        return "failed" if pending else "ready"

    def state(self) -> WorkersState:
        workers = tuple(WorkerState(s.index, s.pid, _phase(s), s.restarts) for s in self.slots)
        return WorkersState(os.getpid(), len(self.slots), workers)

    def reap(self) -> None:
        """Collect dead workers, by PID, and schedule their replacement (metrics: restarts = s.restarts)."""
        for slot in self.slots:
            if not slot.pid or slot.restart_at is not None:
                continue
            try:
                pid, status = os.waitpid(slot.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = slot.pid, -1
            if pid == 0 or self.stopping:
                continue
            young = time.monotonic() - slot.started_at < _YOUNG_S
            slot.backoff_s = min(max(slot.backoff_s * 2, 0.1), _MAX_BACKOFF_S) if young else 0.0
            slot.restart_at = time.monotonic() + slot.backoff_s
            log.warning("worker pid %d (slot %d) exited with status %d; restarting in %.1fs",
                        pid, slot.index, status, slot.backoff_s)
            _close_fd(slot)
            if self.metrics is not None:  # ops work: drop its live gauges, keep its counters
                worker_died(slot.pid, multiproc_dir_for(self.settings.data_dir))
                self.metrics.workers_up.set(self.workers_up())

    def restart_due(self) -> None:
        """Fork the replacements that are due; ``poll_ready`` notices when they serve (never blocks)."""
        now = time.monotonic()
        for slot in self.slots:
            if slot.restart_at is not None and slot.restart_at <= now:
                slot.restarts += 1
                self.spawn(slot)
                if self.metrics is not None:  # ops work
                    self.metrics.restarts.inc()

    def poll_ready(self) -> bool:
        """Collect ready bytes from starting workers without waiting; kill one past its deadline.

        Returns True when a worker changed phase (then workers.json is rewritten)."""
        starting = {s.ready_fd: s for s in self.slots if s.ready_fd >= 0 and s.restart_at is None}
        if not starting:
            return False
        readable, _, _ = select.select(list(starting), [], [], 0)
        for fd in readable:
            slot = starting[fd]
            if os.read(fd, 1) != b"1":
                log.warning("worker pid %d (slot %d) exited before it was ready", slot.pid, slot.index)
            _close_fd(slot)
        now = time.monotonic()
        for slot in starting.values():
            if slot.ready_fd >= 0 and now > slot.ready_by:
                log.error("worker pid %d (slot %d) not ready in %.0fs; killing it", slot.pid, slot.index,
                          _READY_TIMEOUT_S)
                _kill(slot.pid, signal.SIGKILL)  # reap() replaces it
        if readable and self.metrics is not None:
            self.metrics.workers_up.set(self.workers_up())
        return bool(readable)

    def watch_udp(self) -> None:
        """Ops work: count what the kernel dropped on the UDP sockets since the last look, and how full they
        are. The supervisor holds every slot's socket for the node's life, so a worker's restart loses no
        count (resolver/udpbuffer.py)."""
        if self.metrics is None:
            return
        fullest = 0.0
        for index, sock in enumerate(self.udp_group):
            queue = receive_queue(sock)
            if queue is None:
                return  # not Linux: the kernel does not say
            self.metrics.udp_drops.inc(drops_since(queue.drops, self.udp_drops[index]))
            self.udp_drops[index] = queue.drops
            fullest = max(fullest, queue.queued_bytes / queue.buffer_bytes if queue.buffer_bytes else 0.0)
        self.metrics.udp_queue_fill.set(fullest)

    def workers_up(self) -> int:
        return sum(1 for s in self.slots if _phase(s) == "up")

    def start_metrics(self) -> None:
        """Ops work: multiprocess mode (a wiped ``<data-dir>/metrics``) before any worker starts, then the
        supervisor's own metrics: build and config info, workers expected."""
        if not self.settings.metrics_enabled:
            return
        prepare_multiproc_dir(multiproc_dir_for(self.settings.data_dir))
        self.metrics = SupervisorMetrics()
        self.metrics.describe(config_labels(self.settings))
        self.metrics.workers_expected.set(self.settings.worker_count())
        self.metrics.workers_up.set(0)



def _phase(slot: Slot) -> WorkerPhase:
    if not slot.pid or slot.restart_at is not None:
        return "exited"
    return "starting" if slot.ready_fd >= 0 else "up"


def _die_with_parent(parent: int) -> None:
    """In the child right after fork: SIGTERM when the supervisor dies, even by SIGKILL (Linux prctl)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # the supervisor died before prctl took effect
        os._exit(0)


def config_labels(settings: Settings) -> dict[str, str]:
    """Ops work: the settings shown in ``idnode_config_info``: bounded values only, never a secret or URL."""
    return {
        "workers": str(settings.worker_count()),
        "storage": "external" if settings.storage.redis_url else "embedded",
        "tls": "on" if settings.tls.cert is not None else "off",
        "log_format": settings.log.format,
        "cache_max_entries": str(settings.cache.max_entries),
        "cache_bytes_per_worker": str(settings.cache_bytes_per_worker()),  # the automatic budget, resolved
        "resolutions_per_s": f"{settings.rate.resolutions_per_s:g}",
        "writes_per_s": f"{settings.rate.writes_per_s:g}",
        "compiled_modules": str(len(compiled_modules())),  # 0: pure Python (setup.py, IDNODE_PURE_PYTHON)
    }


def _close_fd(slot: Slot) -> None:
    if slot.ready_fd >= 0:
        os.close(slot.ready_fd)
        slot.ready_fd = -1


def _worker_main(settings: Settings, sockets: WorkerSockets, ready_fd: int, parent: int) -> None:
    """Runs in the forked child; never returns."""
    code = 0
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)  # the mask is inherited across fork
        for sig in _SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        run_worker(settings, sockets, lambda: _notify(ready_fd), parent_pid=parent)
    except BaseException:  # the child must never run the supervisor's code after fork
        log.exception("worker %d failed", os.getpid())
        code = 1
    finally:
        os._exit(code)


def _notify(fd: int) -> None:
    os.write(fd, b"1")
    os.close(fd)


def supervise(sup: Supervisor, on_ready: Callable[[dict[str, object]], None], deadline_s: float) -> int:
    """Start the workers, watch them, and stop them on SIGTERM/SIGINT. Returns the exit code."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    data_dir = sup.settings.data_dir
    sup.slots = [Slot(i) for i in range(sup.settings.worker_count())]
    receive_buffer = sup.settings.limits.udp_receive_buffer_bytes
    sup.udp_group = bind_udp_group(sup.sockets.udp, len(sup.slots), receive_buffer)
    sup.udp_drops = [0] * len(sup.udp_group)  # new sockets: nothing dropped yet
    sup.start_metrics()  # ops work: before the first fork
    for slot in sup.slots:
        sup.spawn(slot)
    write_workers_state(data_dir, sup.state())  # every slot "starting"
    startup = sup.wait_ready()
    if startup != "ready":
        if startup == "failed":
            log.error("workers did not become ready")
        _stop_workers(sup, deadline_s)
        return 1 if startup == "failed" else 0
    write_workers_state(data_dir, sup.state())
    if sup.metrics is not None:
        sup.metrics.workers_up.set(sup.workers_up())
    on_ready(write_ports(data_dir, sup.sockets, [s.pid for s in sup.slots]))
    while True:
        starting = any(s.ready_fd >= 0 for s in sup.slots)
        info = signal.sigtimedwait(_SIGNALS, 0.05 if starting else 0.5)  # readiness is polled, not awaited
        if info is not None and info.si_signo in (signal.SIGTERM, signal.SIGINT):
            break
        sup.reap()
        sup.watch_udp()
        before = [s.pid for s in sup.slots]
        sup.restart_due()
        became_ready = sup.poll_ready()
        if [s.pid for s in sup.slots] != before or info is not None or became_ready:
            write_workers_state(data_dir, sup.state())
            write_ports(data_dir, sup.sockets, [s.pid for s in sup.slots])
    _stop_workers(sup, deadline_s)
    (data_dir / PORTS_FILE).unlink(missing_ok=True)
    return 0


def _stop_workers(sup: Supervisor, deadline_s: float) -> None:
    """SIGTERM every worker, wait for each by PID, SIGKILL the ones past the deadline (plus a margin)."""
    sup.stopping = True
    live = {s.pid for s in sup.slots if s.pid and s.restart_at is None}  # reaped ones are gone already
    for pid in live:
        _kill(pid, signal.SIGTERM)
    end = time.monotonic() + deadline_s + 5.0
    while live and time.monotonic() < end:
        for pid in list(live):
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                live.discard(pid)
        if live:
            signal.sigtimedwait({signal.SIGCHLD}, 0.1)
    for pid in live:
        log.warning("worker %d missed the shutdown deadline; killing it", pid)
        _kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _kill(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
