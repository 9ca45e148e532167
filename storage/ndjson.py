"""One NDJSON import line: ``{"handle": ..., "values": [...]}`` in the Handle REST value JSON
(http-apis.md §1.3, via ``protocol.jsonfmt``) to a canonical handle and its values, or straight to the
``storage.records`` bytes the import writes."""

from __future__ import annotations

import json
from typing import Any, cast

from protocol import jsonload
from protocol.errors import ProtocolError
from protocol.handle import parse_identifier
from protocol.jsonfmt import value_parts_from_json, values_from_json
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

    The line is decoded by orjson (``protocol.jsonload``) and its plain values (``plain_value_parts``)
    skip the ``HandleValue`` objects. A bad line is read again by json for json's exact reason: the two
    readings differ only in integers beyond 64 bits, which no accepted field holds (``jsoncheck.U32_MAX``),
    so they can change a line's reason but never let a line through.
    """
    try:
        obj = jsonload.decode(text)
    except ValueError:
        return _encode(_parse_object(_line_object(text)))  # json's reading: NaN, a BOM... or its error
    try:
        return _encode_parts(_checked_line_object(obj))
    except BadLine:
        return _encode(_parse_object(_line_object(text)))


def _encode_parts(obj: dict[str, Any]) -> Encoded:
    """``_parse_object`` then ``records.encode_record``, in the same order of checks, faster."""
    handle = _handle_key(obj)
    try:
        values = value_parts_from_json(obj["values"], path="values")
    except ProtocolError as exc:
        raise BadLine(str(exc)) from None
    _check_unique([v.index if isinstance(v, HandleValue) else v[0] for v in values])
    return handle, records.encode_parts_record(values)


def _encode(item: Item) -> Encoded:
    return item[0], records.encode_record(item[1])


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
    return _checked_line_object(obj)


def _checked_line_object(obj: Any) -> dict[str, Any]:
    if not _is_line_object(obj):
        raise BadLine('expected an object with "handle" (string) and "values"')
    return cast("dict[str, Any]", obj)


def _is_line_object(obj: Any) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("handle"), str) and "values" in obj


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
