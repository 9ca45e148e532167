"""The audit trail: every write is an entry of the store's change stream (tenant as ``actor``, operation,
target identifier, time, result). Committed writes are recorded by the store; refused and failed ones by
``record_refusal`` (result "denied", "limited", "invalid" or "failed"). This module also renders entries
for the admin API and ``resolver audit tail``."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from resolver.ratelimit import RateLimit, RateLimiter
from storage.api import AuditEntry, ChangeEntry, HandleStore, StorageError


def entry_json(entry: ChangeEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": _iso(entry.at_ms),
        "actor": entry.actor,
        "operation": entry.operation,
        "target": entry.target,
        "result": entry.result,
        **({"detail": entry.detail} if entry.detail else {}),
    }


def entry_line(entry: ChangeEntry) -> str:
    return f"{_iso(entry.at_ms)}  {entry.actor:<24} {entry.operation:<10} {entry.result:<6} {entry.target}"


def _iso(at_ms: int) -> str:
    moment = dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_log = logging.getLogger("resolver.audit")
_MAX_MESSAGE = 300  # characters of a refusal message kept in the stream entry
# Ours: refusal entries a client may add to the stream (10 a second, bursts of 2,000 = one refused batch).
DEFAULT_LIMIT = RateLimit(10.0, 2_000)


def result_of(status: int) -> str:
    """The ``result`` of a write that changed nothing, from the HTTP status it was answered with."""
    if status in (401, 403):
        return "denied"
    if status == 429:
        return "limited"
    return "failed" if status >= 500 else "invalid"


class RefusalAudit:
    """Puts refused and failed writes in the change stream (``HandleStore.append_audit``) and on the log.

    A refusal changed nothing in Redis, yet a flood of them (anonymous 401s, a client hammering past its
    rate limit) must not evict real history from the capped stream: each client (principal or address) may
    add ``limit`` entries (a batch of 2,000 refused items fits the default burst); past it refusals are only
    logged. If Redis is down too (the usual cause of a failed write) the log line is all that is left: the
    append never turns a refusal into another error.
    """

    def __init__(
        self, store: HandleStore, limit: RateLimit = DEFAULT_LIMIT, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._gate = RateLimiter(limit)
        self._clock = clock

    async def record(
        self, client: str, actor: str, operation: str, target: str, status: int, message: str
    ) -> None:
        entry = AuditEntry(
            actor or "anonymous",
            operation,
            target,
            result_of(status),
            {"status": status, "message": message[:_MAX_MESSAGE]},
        )
        _log.warning(
            "write %s: actor=%s client=%s operation=%s target=%s status=%d %s",
            entry.result,
            entry.actor,
            client,
            operation,
            target,
            status,
            message,
        )
        if self._gate.acquire(client or entry.actor, self._clock()) > 0:
            return  # a flood: logged above, not stored
        try:
            await self._store.append_audit(entry)
        except StorageError as exc:
            _log.warning("audit entry not stored (storage unavailable): %s", exc)
