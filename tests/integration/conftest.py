"""Fixtures shared by the end-to-end modules: one running node per module, and the demo data on its store.

A module that needs a differently configured node defines its own ``node`` fixture, which overrides this one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from resolver.demo_data import load_demo
from storage import open_store
from storage.api import HandleStore, StorageConfig
from tests.conftest import RedisProcess
from tests.integration.node import Node, start_node


@pytest.fixture(scope="module")
def node(redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """``resolver serve`` (2 workers, port 0) on the session redis-server, flushed first; must exit 0."""
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    running = start_node(tmp_path_factory.mktemp("node"), redis_server.url)
    yield running
    assert running.stop() == 0, running.log()


@pytest.fixture
async def store(redis_server: RedisProcess, node: Node) -> AsyncIterator[HandleStore]:
    """A store on the node's Redis with the demo data loaded (for the node's own handle port)."""
    store = await open_store(StorageConfig(redis_url=redis_server.url))
    await load_demo(store, node.handle_port)
    yield store
    await store.aclose()
