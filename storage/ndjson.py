"""One NDJSON import line: ``{"handle": ..., "values": [...]}`` in the Handle REST value JSON
(http-apis.md §1.3, via ``protocol.jsonfmt``) to a canonical handle and its values."""

from __future__ import annotations

import json
from typing import Any

from protocol.errors import ProtocolError
from protocol.handle import parse_identifier
from protocol.jsonfmt import values_from_json
from protocol.values import HandleValue
from storage.bulk import Item


class BadLine(ValueError):
    pass


def parse_line(text: str | bytes) -> Item:
    """One NDJSON line to (canonical handle, values); raises BadLine with the reason."""
    try:
        obj: Any = json.loads(text)
    except ValueError as exc:
        raise BadLine(f"not JSON: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("handle"), str) or "values" not in obj:
        raise BadLine('expected an object with "handle" (string) and "values"')
    try:
        handle = parse_identifier(obj["handle"]).key
        values: list[HandleValue] = values_from_json(obj["values"], path="values")
    except ProtocolError as exc:
        raise BadLine(str(exc)) from None
    indexes = [v.index for v in values]
    if len(set(indexes)) != len(indexes):
        raise BadLine("values: duplicate index")
    return handle, values
