"""The shared Redis fixtures start real servers that answer."""

from __future__ import annotations

import pytest
import redis

from storage.cluster import parse_cluster_url


def test_standalone_server_answers(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        assert client.ping()
        client.set("k", "v")
        assert client.dbsize() == 1


@pytest.mark.cluster
def test_cluster_has_three_masters(redis_cluster_url: str) -> None:
    nodes = parse_cluster_url(redis_cluster_url)
    assert len(nodes) == 3
    host, port = nodes[0]
    with redis.Redis(host=host, port=port) as client:
        info = client.execute_command("CLUSTER INFO")
    assert info["cluster_known_nodes"] == "3"
