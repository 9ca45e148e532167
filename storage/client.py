"""Building the redis-py client for a URL and translating Redis failures at the package boundary.

Bounded retries with jittered exponential backoff (redis-py ``Retry``), socket timeouts from
``StorageConfig``; whatever still fails leaves as ``StorageUnavailable`` (STYLE.md rule 9).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff

from storage.api import StorageConfig, StorageUnavailable
from storage.cluster import RedisCluster, cluster_password, is_cluster_url, parse_cluster_url, startup_nodes

Client = aioredis.Redis | RedisCluster
_RETRY_ON: list[type[rexc.RedisError]] = [rexc.ConnectionError, rexc.TimeoutError]


def _retry(config: StorageConfig) -> Retry:
    base_s = config.retry_backoff_s
    backoff = ExponentialWithJitterBackoff(cap=max(base_s * 8, 0.5), base=base_s)
    return Retry(backoff, config.retries, supported_errors=tuple(_RETRY_ON))


def _common(config: StorageConfig) -> dict[str, Any]:
    return {
        "socket_timeout": config.socket_timeout_s,
        "socket_connect_timeout": config.socket_timeout_s,
        "retry": _retry(config),
        "retry_on_error": list(_RETRY_ON),
        "max_connections": config.max_connections,
        "health_check_interval": 30,
    }


def make_client(url: str, config: StorageConfig) -> Client:
    if is_cluster_url(url):
        return RedisCluster(
            startup_nodes=startup_nodes(url), password=cluster_password(url), **_common(config)
        )
    # A blocking pool makes a burst of callers wait for a connection instead of failing.
    # No health check on the pool: with one, redis-py 8.1 opening several connections at once to a frozen
    # server recurses (connect -> health-check PING -> connect ...) and never gives up (seen with a SIGSTOP'd
    # server and 2+ concurrent reads); without it a stale connection fails its command and the retry above
    # reconnects. The feed's pub/sub connection keeps its check: only its PINGs notice a silent server.
    options = {**_common(config), "health_check_interval": 0}
    pool = aioredis.BlockingConnectionPool.from_url(url, timeout=config.socket_timeout_s, **options)
    return aioredis.Redis.from_pool(pool)  # owns the pool: aclose() closes it


def pubsub_client(url: str, config: StorageConfig, attempt: int = 0) -> aioredis.Redis:
    """A plain connection for SUBSCRIBE: on a cluster, PUBLISH reaches subscribers on every node, so any
    seed node will do; each new ``attempt`` tries the next one, so a dead node is not retried for ever.

    No retries: redis-py would reconnect and resubscribe silently, hiding the messages missed meanwhile;
    the feed must see the break to tell its consumers to drop everything (``Invalidation(ALL)``).
    """
    options = {**_common(config), "retry": Retry(NoBackoff(), 0), "retry_on_error": []}
    if is_cluster_url(url):
        nodes = parse_cluster_url(url)
        host, port = nodes[attempt % len(nodes)]
        return aioredis.Redis(host=host, port=port, password=cluster_password(url), **options)
    return aioredis.Redis.from_url(url, **options)


# What ``unavailable_on_error`` translates; hot paths catch these themselves and call ``unavailable``.
REDIS_FAILURES = (rexc.RedisError, OSError)


def unavailable(exc: BaseException) -> StorageUnavailable:
    """The failure as ``StorageUnavailable``, its cause kept as ``raise ... from exc`` keeps it: a batched
    read hands the error on as a value, and the log line must still show what Redis did."""
    error = StorageUnavailable(f"redis: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


@contextlib.contextmanager
def unavailable_on_error() -> Iterator[None]:
    """Every Redis or socket failure becomes ``StorageUnavailable`` (after redis-py's bounded retries)."""
    try:
        yield
    except REDIS_FAILURES as exc:
        raise unavailable(exc) from exc
