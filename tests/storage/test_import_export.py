"""Bulk import and export through the real CLI entry point and the store: round trip and bad lines."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from resolver.cli import main
from storage import open_store
from storage.api import PrefixRecord, PrefixStatus, StorageConfig

VALUES: list[dict[str, Any]] = [
    {"index": 1, "type": "URL", "data": {"format": "string", "value": "https://example.com/p/1"}},
    {"index": 2, "type": "name", "data": {"format": "string", "value": "widget"}},
]


def write_ndjson(path: Path, count: int, bad_at: tuple[int, ...] = ()) -> None:
    with path.open("w") as out:
        for i in range(1, count + 1):
            if i in bad_at:
                out.write('{"handle": "88.1/x", "values": [{"index": "one"}]}\n')
            else:
                out.write(json.dumps({"handle": f"88.1/{i}", "values": VALUES}) + "\n")


def run_cli(*argv: str) -> int:
    return main(list(argv))


async def _home(url: str, prefix: str) -> None:
    store = await open_store(StorageConfig(redis_url=url))
    try:
        await store.put_prefix(PrefixRecord(prefix, PrefixStatus.HOMED, None, ()), actor="test")
    finally:
        await store.aclose()


@pytest.fixture
def homed(redis_url: str) -> None:
    """The import takes only identifiers whose prefix is homed here (handle-protocol.md §9 step 3)."""
    asyncio.run(_home(redis_url, "88.1"))


async def _count(url: str) -> int:
    store = await open_store(StorageConfig(redis_url=url))
    try:
        return await store.count_handles("88.1")
    finally:
        await store.aclose()


@pytest.mark.slow
@pytest.mark.usefixtures("homed")
def test_round_trip_100k(redis_url: str, tmp_path: Path) -> None:
    src, out = tmp_path / "in.ndjson", tmp_path / "out.ndjson"
    write_ndjson(src, 100_000)
    assert run_cli("import", str(src), "--redis-url", redis_url, "--batch", "2000") == 0
    assert run_cli("export", str(out), "--redis-url", redis_url, "--prefix", "88.1") == 0
    exported: dict[str, list[dict[str, Any]]] = {}
    with out.open() as lines:
        for line in lines:
            obj = json.loads(line)
            exported[obj["handle"]] = obj["values"]
    assert len(exported) == 100_000
    first = exported["88.1/1"]
    assert [(v["index"], v["type"], v["data"]["value"]) for v in first] == [
        (v["index"], v["type"], v["data"]["value"]) for v in VALUES
    ]


@pytest.mark.usefixtures("homed")
@pytest.mark.parametrize("workers", ["1", "2"])
def test_bad_lines_reported_good_written(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    src = tmp_path / "in.ndjson"
    write_ndjson(src, 10, bad_at=(3, 7))
    with src.open("a") as f:
        f.write("not json\n")
    argv = ["import", str(src), "--redis-url", redis_url, "--batch", "3", "--workers", workers]
    assert run_cli(*argv) == 1
    err = capsys.readouterr().err
    assert "line 3: values[0]" in err and "line 7:" in err and "line 11: not JSON" in err
    assert "imported 8, bad lines 3" in err
    assert asyncio.run(_count(redis_url)) == 8


async def test_strict_writes_nothing(redis_url: str, tmp_path: Path) -> None:
    src = tmp_path / "in.ndjson"
    write_ndjson(src, 10, bad_at=(10,))
    assert run_cli("import", str(src), "--strict", "--redis-url", redis_url) == 2
    assert await _count(redis_url) == 0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_unhomed_prefix_lines_are_bad_unless_allowed(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    asyncio.run(_home(redis_url, "88.1.5"))  # a derived prefix homed: its parent 88.1 is still not ours
    src = tmp_path / "in.ndjson"
    write_ndjson(src, 3)
    with src.open("a") as f:
        f.write(json.dumps({"handle": "88.1.5/ok", "values": VALUES}) + "\n")
    argv = ["import", str(src), "--redis-url", redis_url, "--workers", workers]
    assert run_cli(*argv) == 1
    err = capsys.readouterr().err
    assert "line 1: prefix 88.1 is not homed here" in err and "imported 1, bad lines 3" in err
    assert run_cli("import", str(src), "--strict", "--redis-url", redis_url) == 2
    assert run_cli(*argv, "--allow-unhomed") == 0
    assert asyncio.run(_count(redis_url)) == 3


@pytest.mark.usefixtures("homed")
def test_parallel_import_beside_another_thread(
    redis_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a second thread alive the pool spawns its workers rather than forking (storage.parallel)."""
    src = tmp_path / "in.ndjson"
    write_ndjson(src, 10, bad_at=(4,))
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        argv = ["import", str(src), "--redis-url", redis_url, "--batch", "3", "--workers", "2"]
        assert run_cli(*argv) == 1
    finally:
        stop.set()
        thread.join()
    err = capsys.readouterr().err
    assert "line 4: values[0]" in err and "imported 9, bad lines 1" in err
    assert asyncio.run(_count(redis_url)) == 9
