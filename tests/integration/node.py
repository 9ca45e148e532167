"""Start a real ``resolver serve`` (2 workers, port 0) against a real Redis; stop it by its PID."""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest.processes import stop_process

READY_PREFIX = "resolver ready:"
START_TIMEOUT_S = 60.0


@dataclass
class Node:
    proc: subprocess.Popen[str]
    data_dir: Path
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def ports(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.data_dir / "ports.json").read_text())
        return doc

    @property
    def handle_port(self) -> int:
        return int(self.ports()["handle_port"])

    @property
    def http_port(self) -> int:
        return int(self.ports()["http_port"])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM by PID; SIGKILL if it does not exit in time. Returns the exit code."""
        return stop_process(self.proc, timeout_s)


def start_node(data_dir: Path, redis_url: str, *extra: str, workers: int = 2, ready: bool = True) -> Node:
    """Run the node and wait for its "ready" line (printed once every worker serves); ``ready=False``
    returns at once."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "node.log"
    args = [
        sys.executable, "-m", "resolver", "serve", "--redis-url", redis_url, "--data-dir", str(data_dir),
        "--workers", str(workers), "--handle-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", *extra,
    ]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
    node = Node(proc, data_dir, log_path)
    if not ready:
        return node
    try:
        _await_ready(node)
    except BaseException:
        node.stop()
        raise
    return node


def _await_ready(node: Node) -> None:
    assert node.proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        readable, _, _ = select.select([node.proc.stdout], [], [], deadline - time.monotonic())
        if not readable:
            break
        line = node.proc.stdout.readline()
        if line.startswith(READY_PREFIX):
            return
        if not line:
            raise RuntimeError(f"node exited before it was ready:\n{node.log()}")
    raise RuntimeError(f"node not ready in {START_TIMEOUT_S}s:\n{node.log()}")
