"""The Handle REST JSON of a stored record's public values, written from its stored bytes (issue 4).

An HTTP cache miss answers the usual request (no index or type filter, compact JSON) with the record's
public values. ``public_values_json`` writes that JSON array straight from the record's (index, blob) pairs
(``storage.records``' layout) without building a ``HandleValue``: each value's object is
``protocol.jsonfmt.value_fields_to_json`` of its stored fields, written by orjson and memoised per
(index, blob) as ``storage.records`` memoises a value's wire form, so a value many records share (their
HS_ADMIN) is written once. The bytes are those of ``orjson.dumps(values_to_json(v))`` for ``v`` the record's
PUBLIC_READ values in stored order (``resolver.service.Resolution.values``). A record with a value this form
does not cover (references, odd field types, damage) gives None; the caller then takes the decoded values,
which answer, or raise, exactly as before.
"""

from __future__ import annotations

from typing import Any

import msgpack

from protocol.constants import Permission
from protocol.jsonwrite import value_json
from storage.records import FORMAT_V1, plain_fields

_V1 = bytes([FORMAT_V1])
_PUBLIC_READ = int(Permission.PUBLIC_READ)
_LEFT_OUT = b""  # a value without PUBLIC_READ: the answer leaves it out (rare: not memoised)
_FRAGMENTS: dict[tuple[int, bytes], bytes] = {}  # (index, blob) -> the public value's JSON object
_FRAGMENTS_MAX = 16_384  # ~250 B of JSON, blob and key per entry: a few MB per worker at most
_unpackb = msgpack.unpackb


def public_values_json(raw: bytes) -> bytes | None:
    """The JSON array of the PUBLIC_READ values of the stored record ``raw``, or None (see the module)."""
    if raw[:1] != _V1:
        return None
    try:
        flat = _unpackb(memoryview(raw)[1:], raw=True)
    except (ValueError, msgpack.UnpackException):
        return None
    if type(flat) is not list or len(flat) % 2:
        return None  # an empty Lua table (a map) or damage: the decoded path answers it
    pairs = iter(flat)
    memo = _FRAGMENTS
    # zip without strict=: a keyword argument sends the call down CPython's slow path (~1 us a record).
    parts = [memo.get(key) or _fragment(key) for key in zip(pairs, pairs)]  # noqa: B905
    if None in parts:
        return None
    return b"[" + b",".join(filter(None, parts)) + b"]"


def _fragment(key: tuple[int, bytes]) -> bytes | None:
    """The JSON of a value the memo does not hold (memoised when public), or None (see ``_write``)."""
    fragment = _write(*key)
    if fragment:
        if len(_FRAGMENTS) >= _FRAGMENTS_MAX:
            _FRAGMENTS.clear()  # bounded; dropping everything at once is cheaper than tracking recency
        _FRAGMENTS[key] = fragment
    return fragment


def _write(index: Any, blob: Any) -> bytes | None:
    """One stored value as ``value_to_json`` writes it, ``_LEFT_OUT`` if not public, None if unusual."""
    if type(index) is not int or type(blob) is not bytes:
        return None
    try:
        fields = plain_fields(blob)
        if fields is None:
            return None
        value_type, data, ttl, ttl_type, perms, timestamp = fields
        if type(value_type) is not str or type(data) is not bytes:
            return None
        if type(ttl) is not int or type(perms) is not int or type(timestamp) is not int:
            return None
        if not perms & _PUBLIC_READ:
            return _LEFT_OUT
        return value_json(index, value_type, data, ttl, ttl_type, perms, timestamp)
    except (ValueError, TypeError, OverflowError, OSError, msgpack.UnpackException):
        return None  # orjson.JSONEncodeError is a TypeError; format_time refuses times past its range
