"""The Handle REST JSON of a stored record's public values, written from its stored bytes (issue 4).

An HTTP cache miss answers the usual request (no index or type filter, compact JSON) with the record's
public values. ``public_json`` writes that JSON array straight from the record's (index, blob) pairs
(``storage.records``' layout) without building a ``HandleValue``. Most values (stamped, default permissions,
relative TTL, text that JSON carries as it is) are a record's own: each is written from its stored bytes by
``jsonwrite.text_value_json``, with no memo lookup, which would only miss. Every other value's object is
``protocol.jsonfmt.value_fields_to_json`` of its stored fields, written by orjson and memoised per
(index, blob) as ``storage.records`` memoises a value's wire form, so a value many records share (their
HS_ADMIN) is written once. The bytes are those of ``orjson.dumps(values_to_json(v))`` for ``v`` the record's
PUBLIC_READ values in stored order (``resolver.service.Resolution.values``). A record with a value this form
does not cover (references, odd field types, damage) gives None; the caller then takes the decoded values,
which answer, or raise, exactly as before.

The pass also reads each value's PUBLIC_READ bit and TTL fact (the memo holds them), so it gives the
``StoredRecord`` its ``public_count`` and ``ttl_s`` and an HTTP miss never makes the wire form the Handle
transports need (issue 4: ~4 us less CPU per HTTP miss).
"""

from __future__ import annotations

from typing import Any, Final

import msgpack

from protocol.constants import Permission, TTLType
from protocol.doorkeeper import Doorkeeper
from protocol.jsonwrite import text_value_json, value_json
from protocol.values import MEMO_MAX_ENTRIES, memoise
from storage import stamped
from storage.records import NO_RELATIVE_TTL, StoredRecord, plain_fields

_PUBLIC_READ: Final = int(Permission.PUBLIC_READ)
_RELATIVE: Final = int(TTLType.RELATIVE)
# (index, blob) -> (the value's JSON object, b"" when not public; its PUBLIC_READ bit; its TTL fact as
# storage.records keeps it: the relative TTL, or NO_RELATIVE_TTL).
_Fragment = tuple[bytes, int, int]
_FRAGMENTS: Final[dict[tuple[int, bytes], _Fragment]] = {}
_FRAGMENTS_SEEN: Final = Doorkeeper(MEMO_MAX_ENTRIES)  # kept on a second sighting (protocol.values.memoise)


def public_json(record: StoredRecord) -> bytes | None:
    """The JSON array of the PUBLIC_READ values of a record read for the resolver, or None (see the module).
    When it answers and no pass has yet, the record learns its public count and TTL from this pass
    (``StoredRecord.learn``): an HTTP miss never makes the wire form (issue 4)."""
    pairs = record.pairs()
    if pairs is None:
        return None  # decoded already, or an empty Lua table (a map): the decoded path answers it
    if not pairs:
        return b"[]"
    memo = _FRAGMENTS
    fragments: list[bytes] = []
    public = 0
    ttl_s = NO_RELATIVE_TTL
    for at in range(0, len(pairs), 2):  # storage.records checked the array's length is even
        index = pairs[at]
        blob = pairs[at + 1]
        usual = _usual(index, blob)
        if usual is not None:  # public, by its default permissions
            fragment, ttl = usual
            fragments.append(fragment)
            public += 1
        else:
            try:
                key = (index, blob)
                part = memo.get(key) or _fragment(key)
            except TypeError:  # an index that cannot be a key: damage, for the decoded path to report
                return None
            if part is None:
                return None
            fragment, is_public, ttl = part
            if is_public:
                fragments.append(fragment)
                public += 1
        if ttl < ttl_s:
            ttl_s = ttl
    record.learn(public, ttl_s)  # kept only if no pass set the facts before
    return b"[" + b",".join(fragments) + b"]"


def _usual(index: object, blob: object) -> tuple[bytes, int] | None:
    """The JSON object and TTL of a stamped value with the default permissions and a relative TTL whose
    type and data JSON carries as they are (``jsonwrite.text_value_json``); None for any other value.
    Skipping the memo and the fields' decode, a record of six values (``loadtest seed``'s) took 7.3-8.4 us
    where it took 10.7-11.7 (``public_json`` over 91,526 seeded records, compiled, one core)."""
    if type(index) is not int or type(blob) is not bytes:
        return None
    parts = stamped.usual_parts(blob)
    if parts is None:
        return None
    raw_type, data, ttl, timestamp = parts
    fragment = text_value_json(index, raw_type, data, ttl, timestamp)
    return None if fragment is None else (fragment, ttl)


def _fragment(key: tuple[int, bytes]) -> _Fragment | None:
    """The part of a value the memo does not hold (then memoised), or None (see ``_write``)."""
    part = _write(*key)
    if part is not None:
        memoise(_FRAGMENTS, _FRAGMENTS_SEEN, key, key[1], part)
    return part


def _write(index: Any, blob: Any) -> _Fragment | None:
    """One stored value as ``value_to_json`` writes it (b"" if not public) with its facts; None if unusual."""
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
        public = perms & _PUBLIC_READ
        fragment = value_json(index, value_type, data, ttl, ttl_type, perms, timestamp) if public else b""
        return fragment, public, ttl if ttl_type == _RELATIVE else NO_RELATIVE_TTL
    except (ValueError, TypeError, OverflowError, OSError, msgpack.UnpackException):
        return None  # orjson.JSONEncodeError is a TypeError; format_time refuses times past its range
