"""The generator against a real node: `loadtest seed` data, `resolver serve` on port 0, a real Redis."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtest.clients import Scheme, Target
from loadtest.processes import Server
from loadtest.runner import RunSpec
from loadtest.seed import typical_values
from loadtest.session import run_load
from loadtest.workloads import KeySpec, key_name
from storage import open_store
from storage.api import StorageConfig
from tests.loadtest.conftest import NODE_KEYS as COUNT
from tests.loadtest.conftest import NODE_PREFIX as PREFIX


async def test_seed_writes_the_typical_record(seeded: str, tmp_path: Path) -> None:
    store = await open_store(StorageConfig(redis_url=seeded, data_dir=tmp_path))
    try:
        record = await store.get(key_name(PREFIX, 7))
        missing = await store.get(key_name(PREFIX, COUNT))
    finally:
        await store.aclose()
    assert record is not None
    assert sorted(v.index for v in record) == [1, 100, 2000, 2001, 2002, 2003]
    assert set(record) == set(typical_values(key_name(PREFIX, 7), 7))
    assert missing is None


@pytest.mark.parametrize(("scheme", "ok", "missing"), [
    ("udp", "RC 1 SUCCESS", "RC 100 HANDLE_NOT_FOUND"),
    ("tcp", "RC 1 SUCCESS", "RC 100 HANDLE_NOT_FOUND"),
    ("http", "HTTP 200", "HTTP 404"),
])
def test_the_node_answers_every_request_with_found_or_not_found(
    node: Server, scheme: Scheme, ok: str, missing: str
) -> None:
    port = node.ports["http" if scheme == "http" else "handle"]
    keys = KeySpec("zipf", 1.1, count=COUNT, prefix=PREFIX, miss_ratio=0.3)
    result = run_load(RunSpec(Target(scheme, "127.0.0.1", port), 200.0, 1.0, keys=keys, connections=2))
    t = result.tally
    assert t.sent == 200
    assert result.consistent
    assert (t.errors, t.timeouts) == (0, 0)
    assert set(t.codes) == {ok, missing}
    assert 20 <= t.codes[missing] <= 100  # 30 % of 200 draws miss, give or take chance
