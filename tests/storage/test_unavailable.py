"""A Redis that goes away mid-operation gives StorageUnavailable, never a hang."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

import pytest

from protocol.values import HandleValue
from storage import open_store
from storage.api import StorageConfig, StorageUnavailable
from tests.conftest import RedisProcess

VALUE = HandleValue(index=1, type="URL", data=b"u")


async def test_stopped_redis_gives_unavailable(redis_launcher: Callable[..., RedisProcess]) -> None:
    server = redis_launcher()
    config = StorageConfig(redis_url=server.url, socket_timeout_s=0.5, retries=2, retry_backoff_s=0.01)
    store = await open_store(config, buckets=16)
    try:
        await store.create("88.1/a", [VALUE], actor="t")
        server.kill()
        # Bounded by wait_for only as a safety net: the store itself must give up first.
        for call in (
            store.get("88.1/a"),
            store.create("88.1/b", [VALUE], actor="t"),
            store.count_handles("88.1"),
        ):
            with pytest.raises(StorageUnavailable):
                await asyncio.wait_for(call, 30)
    finally:
        await store.aclose()


async def test_frozen_redis_gives_unavailable(redis_launcher: Callable[..., RedisProcess]) -> None:
    server = redis_launcher()
    config = StorageConfig(redis_url=server.url, socket_timeout_s=0.3, retries=1, retry_backoff_s=0.01)
    store = await open_store(config, buckets=16)
    try:
        await store.ping()
        # SIGSTOP freezes the server: the socket stays open but nothing answers (a hang, not a refusal).
        os.kill(server.pid, signal.SIGSTOP)
        try:
            with pytest.raises(StorageUnavailable):
                await asyncio.wait_for(store.get("88.1/a"), 30)
        finally:
            os.kill(server.pid, signal.SIGCONT)
    finally:
        await store.aclose()
