"""Building the redis-py client for a URL and translating Redis failures at the package boundary.

Bounded retries with jittered exponential backoff (redis-py ``Retry``), socket timeouts from
``StorageConfig``; whatever still fails leaves as ``StorageUnavailable`` (STYLE.md rule 9).
``DirectScript`` is the batched read's short path around redis-py's per-command machinery, falling back to
it on any trouble.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rexc
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.commands.core import AsyncScript

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
    pool = aioredis.BlockingConnectionPool.from_url(url, timeout=config.socket_timeout_s, **_common(config))
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


class DirectScript:
    """EVALSHA of one registered script on connections kept out of the pool between calls.

    The cold-cache read path (issue 4) calls READ_MANY once per batch, often for a handful of keys, and
    redis-py's command path (``AsyncScript`` -> ``execute_command`` -> pool checkout, retry wrapper, the
    pool's condition lock, release) cost ~55 us of worker CPU per call against ~20 us for writing to a held
    connection and reading its reply. Whatever goes wrong on the short path (a dropped or timed-out
    connection, a server that lost the script) is handed to the full ``AsyncScript`` call, which reconnects,
    retries with backoff and reloads the script: the short path adds speed, never a new failure.
    """

    MAX_IDLE = 4  # held connections; the reader runs a few batches at once (resolver.loader: 2)

    def __init__(self, client: aioredis.Redis, script: AsyncScript) -> None:
        self._client = client
        self._pool = client.connection_pool
        self._script = script
        self._idle: list[AbstractConnection] = []

    async def __call__(self, keys: list[str], args: list[bytes]) -> Any:
        conn = self._idle.pop() if self._idle else await self._pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await self._send(conn, keys, args)
            reply = await conn.read_response()
        except rexc.NoScriptError:  # a new, restarted or flushed server: load it, then the full call
            await self._pool.release(conn)
            self._script.sha = await self._client.script_load(self._script.script)
        except rexc.ResponseError:
            await self._keep(conn)  # the error reply was read whole: the connection is fine, the script not
            raise
        except (rexc.ConnectionError, rexc.TimeoutError, OSError, RuntimeError):
            await conn.disconnect(nowait=True)  # the pool reconnects it when it is next used
            await self._pool.release(conn)
        except BaseException:  # cancelled mid-command: a reply may still be due, so drop the connection
            await conn.disconnect(nowait=True)
            await self._pool.release(conn)
            raise
        else:
            await self._keep(conn)
            return reply
        return await self._script(keys=keys, args=args)  # with the client's retries and backoff

    async def _send(self, conn: AbstractConnection, keys: list[str], args: list[bytes]) -> None:
        """Write the command straight to the connection's transport: ``send_packed_command`` wraps every
        write in ``asyncio.wait_for`` (a task per call) for the sake of ``drain``, which a bounded reader
        (a few batches of at most ~1,000 keys in flight) does not need; the read that follows has its
        timeout. Not connected yet (or redis-py changed its internals): the public call."""
        command = self._command(keys, args)
        writer: asyncio.StreamWriter | None = getattr(conn, "_writer", None)
        if writer is None:
            await conn.send_packed_command(command, check_health=False)
        else:
            writer.write(command)

    def _command(self, keys: list[str], args: list[bytes]) -> bytes:
        """EVALSHA sha numkeys keys... args... in RESP: what ``pack_command`` builds, for a third the cost."""
        sha = self._script.sha
        sha_bytes = sha.encode() if isinstance(sha, str) else sha
        parts = [b"*%d\r\n$7\r\nEVALSHA\r\n" % (3 + len(keys) + len(args)), _bulk(sha_bytes),
                 _bulk(b"%d" % len(keys))]
        parts += [_bulk(key.encode()) for key in keys]
        parts += [_bulk(arg) for arg in args]
        return b"".join(parts)

    async def _keep(self, conn: AbstractConnection) -> None:
        if len(self._idle) < self.MAX_IDLE:
            self._idle.append(conn)
        else:
            await self._pool.release(conn)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._pool.release(conn)


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


# What ``unavailable_on_error`` translates; hot paths catch these themselves and call ``unavailable``.
REDIS_FAILURES = (rexc.RedisError, OSError)


def unavailable(exc: BaseException) -> StorageUnavailable:
    return StorageUnavailable(f"redis: {type(exc).__name__}: {exc}")


@contextlib.contextmanager
def unavailable_on_error() -> Iterator[None]:
    """Every Redis or socket failure becomes ``StorageUnavailable`` (after redis-py's bounded retries)."""
    try:
        yield
    except REDIS_FAILURES as exc:
        raise unavailable(exc) from exc
