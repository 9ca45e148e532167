"""Compact Handle REST JSON of one value as bytes, written fast for the common value (HTTP cold reads).

``value_json`` gives exactly ``orjson.dumps(jsonfmt.value_fields_to_json(...))``: compact, keys in the order
``protocol.jsonfmt`` sets them. The usual value of a record (a non-``HS_`` type, clean UTF-8 text data,
default permissions, relative TTL) is written by one bytes template with its two strings escaped by orjson,
~1 us less than building and dumping two dicts; every other value is dumped from ``value_fields_to_json``,
so ``jsonfmt`` stays the one place that decides formats (tests/protocol/test_jsonwrite.py holds the two
ways to the same bytes).
"""

from __future__ import annotations

from typing import Any

import orjson

from protocol.constants import DEFAULT_PERMISSIONS, TTLType
from protocol.jsoncheck import U32_MAX
from protocol.jsonfmt import NOT_TEXT, format_time, value_fields_to_json

_DEFAULT_PERMISSIONS = int(DEFAULT_PERMISSIONS)
_RELATIVE = int(TTLType.RELATIVE)
# jsonfmt.value_fields_to_json's keys and the string format's members, in its order (http-apis.md §1.3).
_PLAIN = b'{"index":%d,"type":%b,"data":{"format":"string","value":%b},"ttl":%d%b'
_NO_STAMP = b"}"
_STAMPS: dict[int, bytes] = {}  # timestamp -> its closing member: records written together share it
_STAMPS_MAX = 4096
_dumps = orjson.dumps


def value_json(
    index: Any, value_type: str, data: bytes, ttl: Any, ttl_type: Any, permissions: Any, timestamp: Any
) -> bytes:
    """``orjson.dumps(value_fields_to_json(...))``; raises what that raises (``TypeError``,
    ``OverflowError``, ``OSError``) for what orjson or ``format_time`` refuse.

    The numbers are typed Any because they are the stored fields as msgpack read them: a bool or a float
    must reach the general path as it is (compiled, an ``int`` parameter would turn True into 1)."""
    if (
        permissions == _DEFAULT_PERMISSIONS and ttl_type == _RELATIVE
        # %d writes any int, orjson only 64-bit ones, and bools as true/false: wire-sized ints only here
        and type(index) is int and type(ttl) is int and 0 <= index <= U32_MAX and 0 <= ttl <= U32_MAX
        and not value_type.startswith("HS_") and NOT_TEXT.search(data) is None
    ):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass  # base64: the general path
        else:
            stamp = _stamp(timestamp) if timestamp else _NO_STAMP
            return _PLAIN % (index, _dumps(value_type), _dumps(text), ttl, stamp)
    fields = value_fields_to_json(index, value_type, data, ttl, ttl_type, permissions, timestamp)
    return _dumps(fields)


def _stamp(timestamp: int) -> bytes:
    stamp = _STAMPS.get(timestamp)
    if stamp is None:
        stamp = b',"timestamp":"' + format_time(timestamp).encode("ascii") + b'"}'
        if len(_STAMPS) >= _STAMPS_MAX:
            _STAMPS.clear()  # bounded; dropping everything at once is cheaper than tracking recency
        _STAMPS[timestamp] = stamp
    return stamp
