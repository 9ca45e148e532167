"""The embedded redis-server: data survives a stop and start; a second opener shares the running server."""

from __future__ import annotations

from pathlib import Path

from protocol.values import HandleValue
from storage import open_store
from storage.api import StorageConfig
from storage.embedded import resolve_redis_url

VALUE = HandleValue(index=1, type="URL", data=b"https://example.com")


async def test_data_survives_restart(tmp_path: Path) -> None:
    config = StorageConfig(data_dir=tmp_path / "var")
    store = await open_store(config)
    await store.create("88.1/kept", [VALUE], actor="t")
    await store.aclose()  # this store started the server: SHUTDOWN flushes the AOF, then the PID exits
    assert not (tmp_path / "var" / "redis.sock").exists()
    reopened = await open_store(config)
    try:
        assert await reopened.get("88.1/kept") == (VALUE,)
    finally:
        await reopened.aclose()
    assert (tmp_path / "var" / "appendonly.aof").exists()


async def test_second_opener_connects_to_running_server(tmp_path: Path) -> None:
    config = StorageConfig(data_dir=tmp_path / "var")
    url, owner = resolve_redis_url(config)
    assert owner is not None
    try:
        again_url, again_owner = resolve_redis_url(config)
        assert (again_url, again_owner) == (url, None)
        store = await open_store(config)
        await store.ping()
        await store.aclose()  # not the owner: the server keeps running
        assert owner.proc is not None and owner.proc.poll() is None
    finally:
        owner.stop()
    assert owner.proc.poll() is not None
