"""The audit trail: every committed write is an entry of the store's change stream (tenant as ``actor``,
operation, target identifier, time, result); this module renders entries for the admin API and
``resolver audit tail``."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from storage.api import ChangeEntry


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


def log_refusal(actor: str, operation: str, target: str, result: str) -> None:
    """A refused write (401/403, SNMS -1/-3) changes nothing in Redis, so it has no stream entry; it is
    logged instead (logger ``resolver.audit``) so that probing of other tenants' prefixes is visible."""
    _log.warning(
        "write refused: actor=%s operation=%s target=%s result=%s",
        actor or "anonymous",
        operation,
        target,
        result,
    )
