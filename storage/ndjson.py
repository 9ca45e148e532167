"""One NDJSON import line: ``{"handle": ..., "values": [...]}`` in the Handle REST value JSON
(http-apis.md §1.3, via ``protocol.jsonfmt``) to a canonical handle and its values, or straight to the
``storage.records`` bytes the import writes."""

from __future__ import annotations

import json
from typing import Any

from protocol.errors import ProtocolError
from protocol.handle import parse_identifier
from protocol.jsonfmt import plain_value_fields, values_from_json
from protocol.values import HandleValue
from storage import records
from storage.bulk import Encoded, Item


class BadLine(ValueError):
    pass


def parse_line(text: str | bytes) -> Item:
    """One NDJSON line to (canonical handle, values); raises BadLine with the reason."""
    return _parse_object(_line_object(text))


def parse_line_encoded(text: str | bytes) -> Encoded:
    """One NDJSON line to (canonical handle, record bytes), as ``parse_line`` then ``records.encode_record``.

    Lines whose values all have the plain shape (``plain_value_fields``) skip the ``HandleValue`` objects;
    any other line, and every bad one, goes through ``parse_line`` for its exact reason.
    """
    obj = _line_object(text)
    items = obj["values"]
    plain = [plain_value_fields(item) for item in items] if type(items) is list else [None]
    if None in plain:
        handle, values = _parse_object(obj)
        return handle, records.encode_record(values)
    fields = [f for f in plain if f is not None]  # all of them: narrows the type for mypy
    handle = _handle_key(obj)
    _check_unique([f[0] for f in fields])
    return handle, records.encode_plain_record(fields)


def check_homed(handle: str, homed: frozenset[str] | None) -> None:
    """BadLine unless canonical ``handle``'s own prefix is in ``homed`` (None: any prefix is accepted).

    The node answers only for identifiers whose own prefix it homes (handle-protocol.md §9 step 3); a record
    under any other prefix could never be resolved, so the import refuses it unless told otherwise."""
    if homed is None:
        return
    prefix = handle.partition("/")[0]
    if prefix == "0.NA":
        prefix = parse_identifier(handle).naming_prefix
    if prefix not in homed:
        raise BadLine(f"prefix {prefix} is not homed here (--allow-unhomed imports it anyway)")


def _line_object(text: str | bytes) -> dict[str, Any]:
    try:
        obj: Any = json.loads(text)
    except ValueError as exc:
        raise BadLine(f"not JSON: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("handle"), str) or "values" not in obj:
        raise BadLine('expected an object with "handle" (string) and "values"')
    return obj


def _parse_object(obj: dict[str, Any]) -> Item:
    try:
        handle = parse_identifier(obj["handle"]).key
        values: list[HandleValue] = values_from_json(obj["values"], path="values")
    except ProtocolError as exc:
        raise BadLine(str(exc)) from None
    _check_unique([v.index for v in values])
    return handle, values


def _handle_key(obj: dict[str, Any]) -> str:
    try:
        return parse_identifier(obj["handle"]).key
    except ProtocolError as exc:
        raise BadLine(str(exc)) from None


def _check_unique(indexes: list[int]) -> None:
    if len(set(indexes)) != len(indexes):
        raise BadLine("values: duplicate index")
