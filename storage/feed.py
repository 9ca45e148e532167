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
from storage.api import ChangeEntry, InvalidationKind
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
    await client.xadd(keys.CHANGES, fields, maxlen=keys.CHANGES_MAXLEN, approximate=True)  # type: ignore[arg-type]
    await client.publish(keys.INVALIDATIONS, keys.invalidation_message(kind.value, target))


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
        detail=json.loads(text["detail"]) if "detail" in text else {},
    )
