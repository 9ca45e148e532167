"""Readiness: is Redis reachable and is every worker up? Shared by ``/readyz`` and ``resolver status``.

The supervisor is the one process that knows its workers, so it writes ``<data-dir>/workers.json``
(atomically, on every start, exit and restart); any worker answering ``/readyz`` reads it and also checks that
each listed pid is alive, so a supervisor killed with SIGKILL does not leave a node that claims to be ready.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

WORKERS_FILE = "workers.json"
# starting: forked, not yet serving (written at fork); up: it reported ready; exited: dead, replacement due.
WorkerPhase = Literal["starting", "up", "exited"]


@dataclass(frozen=True, slots=True)
class WorkerState:
    slot: int  # 0..N-1, stable across restarts
    pid: int
    phase: WorkerPhase
    restarts: int = 0


@dataclass(frozen=True, slots=True)
class WorkersState:
    supervisor_pid: int
    expected: int
    workers: tuple[WorkerState, ...]
    updated_at: float = 0.0  # unix time of the write


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


def write_workers_state(data_dir: Path, state: WorkersState) -> None:
    """Write workers.json so that a reader never sees half a file (write a temp file, then rename)."""
    doc = asdict(state)
    doc["updated_at"] = state.updated_at or time.time()
    tmp = data_dir / f".{WORKERS_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(doc), encoding="utf-8")
    tmp.replace(data_dir / WORKERS_FILE)


def read_workers_state(data_dir: Path) -> WorkersState | None:
    """The last state the supervisor wrote, or None when there is none (or it is unreadable)."""
    try:
        doc = json.loads((data_dir / WORKERS_FILE).read_text(encoding="utf-8"))
        workers = tuple(WorkerState(**w) for w in doc["workers"])
        return WorkersState(doc["supervisor_pid"], doc["expected"], workers, doc["updated_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence and permission check only
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def check_workers(data_dir: Path) -> Check:
    """All the workers the supervisor expects are up and alive."""
    state = read_workers_state(data_dir)
    if state is None:
        return Check("workers", False, f"no readable {WORKERS_FILE} in {data_dir}")
    if not pid_alive(state.supervisor_pid):
        return Check("workers", False, f"supervisor {state.supervisor_pid} is not running")
    up = [w for w in state.workers if w.phase == "up" and pid_alive(w.pid)]
    if len(up) < state.expected:
        down = sorted({w.slot for w in state.workers} - {w.slot for w in up})
        return Check("workers", False, f"{len(up)} of {state.expected} workers up; down slots: {down}")
    return Check("workers", True, f"{len(up)} of {state.expected} workers up")


async def check_redis(ping: Callable[[], Awaitable[None]], timeout_s: float = 1.0) -> Check:
    """``ping`` is the store's ``ping``; any failure or a timeout makes Redis unreachable."""
    try:
        await asyncio.wait_for(ping(), timeout_s)
    except TimeoutError:
        return Check("redis", False, f"no answer within {timeout_s} s")
    except Exception as exc:  # noqa: BLE001 - whatever the store raised, the node is not ready; say why
        return Check("redis", False, f"{type(exc).__name__}: {exc}")
    return Check("redis", True)


def readiness_body(checks: Sequence[Check]) -> dict[str, Any]:
    """The ``/readyz`` JSON: overall status, the names of failed checks and every check's detail."""
    failed = [c.name for c in checks if not c.ok]
    return {
        "status": "ready" if not failed else "not ready",
        "failed": failed,
        "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in checks},
    }


def fetch_readyz(base_url: str, timeout_s: float = 2.0) -> tuple[int, dict[str, Any]]:
    """GET ``{base_url}/readyz`` for ``resolver status``: HTTP status and body (status 0: unreachable)."""
    url = base_url.rstrip("/") + "/readyz"
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - scheme checked above
            return int(resp.status), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:  # it holds the response's socket
            return exc.code, json.loads(exc.read() or b"{}")
    except (OSError, ValueError) as exc:
        return 0, {"status": "unreachable", "failed": ["http"], "detail": str(exc)}
