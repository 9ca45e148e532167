"""Compact Handle REST JSON of one value as bytes, written fast for the common value (HTTP cold reads).

``value_json`` gives exactly ``orjson.dumps(jsonfmt.value_fields_to_json(...))``: compact, keys in the order
``protocol.jsonfmt`` sets them. The usual value of a record (a non-``HS_`` type, UTF-8 text data with
nothing to escape, default permissions, relative TTL) is written by one bytes template around its type's
and data's own bytes (``text_value_json``, which storage/record_json.py calls with a stamped value's bytes);
every other value is dumped from ``value_fields_to_json``, so ``jsonfmt`` stays the one place that decides
formats (tests/protocol/test_jsonwrite.py holds the two ways to the same bytes).
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

from protocol.constants import DEFAULT_PERMISSIONS, TTLType
from protocol.jsoncheck import U32_MAX
from protocol.jsonfmt import format_time, value_fields_to_json

_DEFAULT_PERMISSIONS: Final = int(DEFAULT_PERMISSIONS)
_RELATIVE: Final = int(TTLType.RELATIVE)
# jsonfmt.value_fields_to_json's keys and the string format's members, in its order (http-apis.md §1.3).
_TEXT: Final = b'{"index":%d,"type":"%b","data":{"format":"string","value":"%b"},"ttl":%d%b'
_TEXT_TYPES: Final[dict[bytes, bool]] = {}  # a type's bytes -> does the template carry it (_learn_type)
_TEXT_TYPES_MAX: Final = 1024
# What JSON escapes (controls, quote, backslash) and what jsonfmt writes as base64 (NOT_TEXT's DEL): UTF-8
# text without these is written by orjson as its own bytes.
_ESCAPED: Final = re.compile(rb'[\x00-\x1f"\\\x7f]')
_NO_STAMP: Final = b"}"
_STAMPS: Final[dict[int, bytes]] = {}  # timestamp -> its closing member: records written together share it
_STAMPS_MAX: Final = 4096
_dumps: Final = orjson.dumps


def value_json(
    index: Any, value_type: str, data: bytes, ttl: Any, ttl_type: Any, permissions: Any, timestamp: Any
) -> bytes:
    """``orjson.dumps(value_fields_to_json(...))``; raises what that raises (``TypeError``,
    ``OverflowError``, ``OSError``) for what orjson or ``format_time`` refuse.

    The numbers are typed Any because they are the stored fields as msgpack read them: a bool or a float
    must reach the general path as it is (compiled, an ``int`` parameter would turn True into 1)."""
    if (
        permissions == _DEFAULT_PERMISSIONS and ttl_type == _RELATIVE
        # exact ints: %d writes a bool as 1 where orjson writes true (text_value_json checks the widths)
        and type(index) is int and type(ttl) is int and type(timestamp) is int
    ):
        # surrogatepass: a type orjson refuses becomes bytes that are not UTF-8, for the general path
        written = text_value_json(index, value_type.encode("utf-8", "surrogatepass"), data, ttl, timestamp)
        if written is not None:
            return written
    fields = value_fields_to_json(index, value_type, data, ttl, ttl_type, permissions, timestamp)
    return _dumps(fields)


def text_value_json(index: int, raw_type: bytes, data: bytes, ttl: int, timestamp: int) -> bytes | None:
    """``value_json`` of a value with the default permissions and a relative TTL, its type and data given as
    UTF-8 bytes (storage's stamped form holds them so), when JSON carries both as they are: UTF-8 without a
    control character, DEL, quote or backslash, a type not ``HS_``, numbers of the wire's width. None for
    any other, for ``value_json``'s general path.

    No orjson call and no str: one search for what JSON would escape or NOT_TEXT makes base64, and a UTF-8
    check only for data that is not ASCII; the type's verdict is remembered (a few types serve every
    record). Timed in storage/record_json.py, which writes most values of a cold HTTP miss here."""
    plain_type = _TEXT_TYPES.get(raw_type)
    if plain_type is None:
        plain_type = _learn_type(raw_type)
    if not (plain_type and 0 <= index <= U32_MAX and 0 <= ttl <= U32_MAX) or _ESCAPED.search(data):
        return None
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None  # base64: the general path
    return _TEXT % (index, raw_type, data, ttl, _stamp(timestamp) if timestamp else _NO_STAMP)


def _learn_type(raw_type: bytes) -> bool:
    """Does JSON carry this type as it is, in the string format's template (not an ``HS_`` type)?"""
    try:
        raw_type.decode("utf-8")
    except UnicodeDecodeError:
        plain = False
    else:
        plain = not raw_type.startswith(b"HS_") and _ESCAPED.search(raw_type) is None
    if len(_TEXT_TYPES) >= _TEXT_TYPES_MAX:
        _TEXT_TYPES.clear()  # bounded, as _STAMPS
    _TEXT_TYPES[raw_type] = plain
    return plain


def _stamp(timestamp: int) -> bytes:
    stamp = _STAMPS.get(timestamp)
    if stamp is None:
        stamp = b',"timestamp":"' + format_time(timestamp).encode("ascii") + b'"}'
        if len(_STAMPS) >= _STAMPS_MAX:
            _STAMPS.clear()  # bounded; dropping everything at once is cheaper than tracking recency
        _STAMPS[timestamp] = stamp
    return stamp
