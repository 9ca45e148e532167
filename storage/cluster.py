"""Redis Cluster specifics: the ``redis+cluster://host:port,host:port`` URL and the cluster client."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from redis.asyncio.cluster import ClusterNode, RedisCluster

CLUSTER_SCHEME = "redis+cluster"


def is_cluster_url(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEME + "://")


def parse_cluster_url(url: str) -> list[tuple[str, int]]:
    """The seed nodes of ``redis+cluster://h:p,h:p``; a host without a port gets 6379."""
    if not is_cluster_url(url):
        raise ValueError(f"not a {CLUSTER_SCHEME} URL: {url}")
    netloc = url[len(CLUSTER_SCHEME) + 3 :].split("/", 1)[0].rsplit("@", 1)[-1]
    nodes: list[tuple[str, int]] = []
    for part in filter(None, netloc.split(",")):
        parsed = urlsplit("//" + part)
        if parsed.hostname is None:
            raise ValueError(f"bad cluster node {part!r} in {url}")
        nodes.append((parsed.hostname, parsed.port or 6379))
    if not nodes:
        raise ValueError(f"no nodes in {url}")
    return nodes


def cluster_password(url: str) -> str | None:
    """The password of ``redis+cluster://:secret@h:p,...``, if any."""
    netloc = url[len(CLUSTER_SCHEME) + 3 :].split("/", 1)[0]
    if "@" not in netloc:
        return None
    userinfo = netloc.rsplit("@", 1)[0]
    return unquote(userinfo.split(":", 1)[-1]) or None


def startup_nodes(url: str) -> list[ClusterNode]:
    return [ClusterNode(host, port) for host, port in parse_cluster_url(url)]


__all__ = ["CLUSTER_SCHEME", "RedisCluster", "cluster_password", "is_cluster_url", "parse_cluster_url"]
