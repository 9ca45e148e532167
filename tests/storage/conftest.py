"""A RedisStore on the standalone server and one on the 3-master cluster: the contract suite runs on both."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from storage import open_store
from storage.api import StorageConfig
from storage.redis_store import RedisStore

TEST_BUCKETS = 64  # few buckets: list/count visit them all


@pytest.fixture(params=["standalone", pytest.param("cluster", marks=pytest.mark.cluster)])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[RedisStore]:
    fixture = "redis_url" if request.param == "standalone" else "redis_cluster_url"
    url: str = request.getfixturevalue(fixture)
    opened = await open_store(StorageConfig(redis_url=url, socket_timeout_s=5.0), buckets=TEST_BUCKETS)
    yield opened
    await opened.aclose()
