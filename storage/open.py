"""Opening a store: pick the URL (or start the embedded server), connect, agree on the bucket count."""

from __future__ import annotations

import logging
from typing import Any

from redis import exceptions as rexc

from storage import keys
from storage.api import StorageConfig, StorageObserver
from storage.client import make_client, unavailable_on_error
from storage.embedded import COMPACT_HASH_CONFIG, resolve_redis_url
from storage.redis_store import RedisStore

log = logging.getLogger(__name__)


async def open_store(
    config: StorageConfig, *, buckets: int | None = None, observer: StorageObserver | None = None
) -> RedisStore:
    """Connect to ``config.redis_url`` or the embedded server (started if needed, stopped by ``aclose()``).

    ``buckets`` (default ``config.record_buckets``) only matters for a fresh database: the first node records
    it in ``meta`` and every later opener uses the recorded value. ``observer`` hears of every read, write
    and ping round trip (``storage.api.StorageObserver``).
    """
    url, owner = resolve_redis_url(config)
    client = make_client(url, config)
    try:
        recorded = await _agree_buckets(client, buckets or config.record_buckets)
        await _compact_hashes(client)
    except BaseException:
        await client.aclose()
        if owner is not None:
            await owner.astop()
        raise
    return RedisStore(client, url, config, recorded, owner, observer)


async def _agree_buckets(client: Any, buckets: int) -> int:
    with unavailable_on_error():
        await client.hsetnx(keys.META, "buckets", buckets)
        await client.hsetnx(keys.META, "format", 1)
        raw = await client.hget(keys.META, "buckets")
    return int(raw)


async def _compact_hashes(client: Any) -> None:
    """Ask the server for compact hash limits; a managed Redis may refuse CONFIG (costs memory only)."""
    for name, value in COMPACT_HASH_CONFIG.items():
        try:
            await client.config_set(name, value)
        except rexc.ResponseError as exc:
            log.warning("CONFIG SET %s refused (%s); records may use more memory", name, exc)
