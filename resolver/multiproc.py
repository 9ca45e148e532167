"""prometheus_client multiprocess mode: one ``/metrics`` for the whole node, summed over all workers.

Each process writes its values to mmap files named after its pid in one directory
(``PROMETHEUS_MULTIPROC_DIR``); any worker renders the node by reading them all. The supervisor wipes and
selects the directory before it starts workers. When a worker dies its counter and histogram files stay, so
the totals neither reset nor double when the replacement starts under a new pid; only its live gauges are
removed (``mark_process_dead``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiproc_dir_for(data_dir: Path) -> Path:
    """Where a node keeps its metric files: under its data dir, so two nodes never share one."""
    return data_dir / "metrics"


def prepare_multiproc_dir(path: Path) -> Path:
    """Empty ``path``, then make every metric built after this call (in this process and in the workers it
    starts) a multiprocess one. Call in the supervisor before any worker starts and before any metric exists.
    """
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ[ENV] = str(path)
    # prometheus_client picks its value class when it is imported (values.py get_value_class); the node may
    # have imported it before the directory was known, so choose again now. Metrics look it up at creation.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return path


def worker_died(pid: int, path: Path | None = None) -> None:
    """A worker exited: drop its live gauges (in-flight, connections, cache size); keep its counters."""
    mark_process_dead(pid, str(path) if path is not None else None)  # type: ignore[no-untyped-call]


def render_metrics(path: Path | None = None) -> tuple[bytes, str]:
    """The node's metrics in the Prometheus text format, summed over all processes, and the content type."""
    directory = str(path) if path is not None else os.environ.get(ENV)
    if not directory:
        raise RuntimeError(f"{ENV} is not set: the supervisor did not call prepare_multiproc_dir")
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST
