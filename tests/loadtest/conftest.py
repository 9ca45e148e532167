"""Baseline servers and a seeded node as real processes, started on port 0, awaited, stopped by PID."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loadtest.processes import Server, start_baseline, start_node
from loadtest.seed import seed
from storage.api import StorageConfig


@pytest.fixture(scope="module")
def udp_echo() -> Iterator[Server]:
    server = start_baseline("udp-echo")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tcp_echo() -> Iterator[Server]:
    server = start_baseline("tcp-echo")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http_hello() -> Iterator[Server]:
    server = start_baseline("http-hello")
    yield server
    server.stop()


# A seeded Redis and a real node (`resolver serve`, one worker) for the tests that load a node.
NODE_KEYS = 500
NODE_PREFIX = "88.100.1"


@pytest.fixture
async def seeded(redis_url: str, tmp_path: Path) -> str:
    result = await seed(StorageConfig(redis_url=redis_url, data_dir=tmp_path), NODE_PREFIX, NODE_KEYS,
                        batch=100)
    assert result.count == NODE_KEYS
    return redis_url


@pytest.fixture
def node(seeded: str, tmp_path: Path) -> Iterator[Server]:
    server = start_node(tmp_path / "node", seeded, workers=1)
    yield server
    server.stop()
