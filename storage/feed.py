"""The change feed: the capped change stream (who, what, when) and the invalidation channel.

Guarantee (documented in the README): the record write is atomic; its stream entry and invalidation are
sent by the same client right after the script commits. A client that dies between the two leaves the write
without a feed entry; subscribers that lose their connection get ``Invalidation(ALL)`` when they resubscribe.
On a cluster one script cannot touch the record's slot and the stream's slot, hence this order.
"""

from __future__ import annotations

import json
from typing import Any

from storage import keys
from storage.api import AuditEntry, ChangeEntry, InvalidationKind
from storage.client import Client


async def publish_change(
    client: Client,
    kind: InvalidationKind,
    target: str,
    *,
    actor: str,
    operation: str,
    detail: dict[str, Any] | None = None,
) -> None:
    fields: dict[str, str] = {"actor": actor, "op": operation, "target": target, "result": "ok"}
    if detail:
        fields["detail"] = json.dumps(detail, separators=(",", ":"), default=str)
    entry_id = await client.xadd(keys.CHANGES, fields, maxlen=keys.CHANGES_MAXLEN, approximate=True)  # type: ignore[arg-type]
    # Ops work: the stream id's time (Redis's clock at commit) travels with the invalidation: change-feed lag.
    at_ms = _ms_of(entry_id)
    await client.publish(keys.INVALIDATIONS, keys.invalidation_message(kind.value, target, at_ms))


async def append_audit_entry(client: Client, entry: AuditEntry) -> None:
    """A refused or failed write: a stream entry only, never an invalidation (nothing changed)."""
    if entry.result == "ok":
        raise ValueError("an audit entry records a write that changed nothing; its result cannot be 'ok'")
    fields = {"actor": entry.actor, "op": entry.operation, "target": entry.target, "result": entry.result}
    if entry.detail:
        fields["detail"] = json.dumps(entry.detail, separators=(",", ":"), default=str)
    await client.xadd(keys.CHANGES, fields, maxlen=keys.CHANGES_MAXLEN, approximate=True)  # type: ignore[arg-type]


def _ms_of(entry_id: object) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    ms = text.split("-", 1)[0]
    return int(ms) if ms.isdigit() else 0


def entry_from_stream(entry_id: bytes, fields: dict[bytes, bytes]) -> ChangeEntry:
    text = {k.decode(): v.decode(errors="replace") for k, v in fields.items()}
    ident = entry_id.decode()
    return ChangeEntry(
        id=ident,
        at_ms=int(ident.split("-", 1)[0]),
        actor=text.get("actor", ""),
        operation=text.get("op", ""),
        target=text.get("target", ""),
        result=text.get("result", "ok"),
        detail=_detail(text),
    )


def _detail(text: dict[str, str]) -> dict[str, Any]:
    """The entry's detail; a bulk entry's ``handles`` field ("\n"-separated) becomes ``detail["handles"]``."""
    detail: dict[str, Any] = json.loads(text["detail"]) if "detail" in text else {}
    if "handles" in text:
        detail["handles"] = text["handles"].split("\n")
    return detail
