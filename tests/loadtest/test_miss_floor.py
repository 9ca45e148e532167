"""The miss floors (`loadtest.miss_floor`): echo servers that answer only after reading the record."""

from __future__ import annotations

import subprocess
import sys

import pytest
import redis

from loadtest.clients import Scheme, Target
from loadtest.processes import start_baseline
from loadtest.runner import RunSpec
from loadtest.session import run_load
from loadtest.workloads import KeySpec
from tests.loadtest.conftest import NODE_KEYS, NODE_PREFIX


def _hgets(url: str) -> int:
    with redis.Redis.from_url(url) as client:
        stats = client.info("commandstats").get("cmdstat_hget", {})
    return int(stats.get("calls", 0))


@pytest.mark.parametrize(("scheme", "kind"), [("udp", "udp-floor"), ("tcp", "tcp-floor")])
def test_every_answer_waits_for_a_read_of_its_record(scheme: Scheme, kind: str, seeded: str) -> None:
    server = start_baseline(kind, redis_url=seeded)  # type: ignore[arg-type]
    try:
        before = _hgets(seeded)
        keys = KeySpec(count=NODE_KEYS, prefix=NODE_PREFIX)
        result = run_load(RunSpec(Target(scheme, server.host, server.ports["port"]), 200.0, 1.0, keys=keys,
                                  connections=2))
        reads = _hgets(seeded) - before
    finally:
        server.stop()
    t = result.tally
    assert (t.answered, t.errors, t.timeouts) == (200, 0, 0)
    assert t.codes == {"RC 1 SUCCESS": 200}
    assert reads == 200  # one HGET per request: the answer came after the read, not instead of it


def test_a_floor_without_a_seeded_redis_refuses_to_start(redis_url: str) -> None:
    done = subprocess.run([sys.executable, "-m", "loadtest.baselines", "udp-floor", "--redis-url", redis_url],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode != 0
    assert "no bucket count" in done.stderr
    done = subprocess.run([sys.executable, "-m", "loadtest.baselines", "tcp-floor"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert "give --redis-url" in done.stderr
