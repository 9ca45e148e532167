"""Multiprocess metrics with real processes: the sums over workers, a dead worker, its replacement.

Each "worker" is a real Python process that builds ``NodeMetrics``, counts through ``WorkerStats`` the way
the node does, flushes (from ``MetricsFlusher.run``, cancelled like at shutdown) and then stays alive until
told to exit, so its live gauges can be seen. The test process only renders,
as a worker answering /metrics does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from resolver.multiproc import ENV, render_metrics, worker_died

CHILD = r"""
import asyncio, sys, time
from resolver.metrics import CacheCounts, MetricsFlusher, NodeMetrics, WorkerStats

cache_hits = [7]
read_handoffs = [2]

def levels(stats: WorkerStats) -> None:
    stats.udp.inflight = 3
    stats.cache_entries = 40
    stats.cache_bytes = 4096
    stats.handoffs["storage_read"] = read_handoffs[0]  # cumulative, as FastReader.handed_off
    stats.handoffs["http_connection"] = 1
    stats.handoffs["88.100.1/secret"] = 1  # never a label value

async def main(successes: int) -> None:
    stats = WorkerStats()
    cache = lambda: CacheCounts(hits=cache_hits[0], misses=2, negative_hits=1)
    flusher = MetricsFlusher(stats, NodeMetrics(), cache=cache, before_flush=levels)
    flusher.flush()  # a first flush, then more hits: only the difference is added
    task = asyncio.create_task(flusher.run(interval_s=3600))
    udp = stats.transport("udp")
    for _ in range(successes):
        udp.finish(1, 40e-6)
    udp.finish(100, 2e-3)
    # An encoded answer (code 100 after the envelope and opcode) that arrived over 5 s ago: the +Inf bucket.
    udp.finish_message(bytes(24) + (100).to_bytes(4, "big") + bytes(8), time.perf_counter() - 5.0)
    udp.finish(999, 2.0)  # unknown code, beyond the last bucket
    cache_hits[0] += 3
    read_handoffs[0] += 3
    stats.count_write("doc-put", "ok")
    stats.count_write("88.100.1/secret", "weird")  # never a label value
    stats.on_roundtrip("read", 5, 1e-3, ok=False)
    await asyncio.sleep(0)
    task.cancel()  # the final flush happens on cancellation, as at shutdown
    await asyncio.gather(task, return_exceptions=True)

asyncio.run(main(int(sys.argv[1])))
print("flushed", flush=True)
sys.stdin.readline()
"""


class Worker:
    def __init__(self, metrics_dir: Path, successes: int) -> None:
        env = {**os.environ, ENV: str(metrics_dir)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(successes)], env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "flushed"  # readiness: it says so

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def metrics_dir(tmp_path: Path) -> Path:
    path = tmp_path / "metrics"
    path.mkdir()
    return path


@pytest.fixture
def workers(metrics_dir: Path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for w in started:
        w.stop()


def samples(metrics_dir: Path) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    body, content_type = render_metrics(metrics_dir)
    assert content_type.startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_counters_sum_over_workers_and_gauges_over_live_ones(
    metrics_dir: Path, workers: list[Worker]
) -> None:
    workers += [Worker(metrics_dir, 5), Worker(metrics_dir, 10)]
    found = samples(metrics_dir)
    assert value(found, "idnode_resolutions_total", transport="udp", code="success") == 15
    assert value(found, "idnode_resolutions_total", transport="udp", code="handle_not_found") == 4
    assert value(found, "idnode_resolutions_total", transport="udp", code="other") == 2
    assert value(found, "idnode_inflight_requests", transport="udp") == 6
    assert value(found, "idnode_cache_lookups_total", result="hit") == 20
    assert value(found, "idnode_cache_lookups_total", result="negative_hit") == 2
    assert value(found, "idnode_cache_entries") == 80
    assert value(found, "idnode_cache_bytes") == 8192
    assert value(found, "idnode_writes_total", operation="doc_put", result="ok") == 2
    assert value(found, "idnode_writes_total", operation="other", result="other") == 2
    assert value(found, "idnode_storage_errors_total", op="read") == 2
    assert value(found, "idnode_storage_batch_errors_total") == 2
    assert value(found, "idnode_fast_path_handoffs_total", path="storage_read") == 10  # 2 + 3 per worker
    assert value(found, "idnode_fast_path_handoffs_total", path="http_connection") == 2
    assert value(found, "idnode_fast_path_handoffs_total", path="other") == 2


def test_latency_buckets_from_50us_to_1s(metrics_dir: Path, workers: list[Worker]) -> None:
    workers.append(Worker(metrics_dir, 4))
    found = samples(metrics_dir)
    bucket = "idnode_resolution_duration_seconds_bucket"
    assert value(found, bucket, transport="udp", le="5e-05") == 4
    assert value(found, bucket, transport="udp", le="0.001") == 4
    assert value(found, bucket, transport="udp", le="0.0025") == 5
    assert value(found, bucket, transport="udp", le="1.0") == 5
    assert value(found, bucket, transport="udp", le="+Inf") == 7
    assert value(found, "idnode_resolution_duration_seconds_count", transport="udp") == 7
    assert value(found, "idnode_resolution_duration_seconds_sum", transport="udp") == pytest.approx(
        4 * 40e-6 + 2e-3 + 2.0 + 5.0, rel=0.05
    )


def test_a_dead_worker_neither_resets_nor_doubles_counters(metrics_dir: Path, workers: list[Worker]) -> None:
    first = Worker(metrics_dir, 5)
    workers += [first, Worker(metrics_dir, 10)]
    first.stop()
    worker_died(first.proc.pid, metrics_dir)
    found = samples(metrics_dir)
    assert value(found, "idnode_resolutions_total", transport="udp", code="success") == 15
    assert value(found, "idnode_inflight_requests", transport="udp") == 3  # only the live one's

    workers.append(Worker(metrics_dir, 1))  # the replacement, under a new pid
    found = samples(metrics_dir)
    assert value(found, "idnode_resolutions_total", transport="udp", code="success") == 16
    assert value(found, "idnode_inflight_requests", transport="udp") == 6


def test_prepare_empties_the_directory_and_selects_multiprocess_mode(tmp_path: Path) -> None:
    stale = tmp_path / "metrics" / "counter_123.db"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    script = (
        "import sys, pathlib; from resolver.multiproc import prepare_multiproc_dir;"
        "from resolver.metrics import SupervisorMetrics;"
        "prepare_multiproc_dir(pathlib.Path(sys.argv[1]));"
        "m = SupervisorMetrics(); m.restarts.inc(); m.workers_up.set(2);"
        "m.describe({'workers': '2', 'log_format': 'json'})"
    )
    env = {k: v for k, v in os.environ.items() if k != ENV}
    subprocess.run([sys.executable, "-c", script, str(stale.parent)], env=env, check=True, timeout=60)
    assert not stale.exists()
    found = samples(stale.parent)
    assert value(found, "idnode_worker_restarts_total") == 1
    assert value(found, "idnode_config_info", key="workers", value="2") == 1
    assert any(name == "idnode_build_info" for name, _ in found)

