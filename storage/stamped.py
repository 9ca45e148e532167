"""The stamped form of a stored value: its Handle wire form, less what the record says already.

A value's blob in a record (storage.records) is packed msgpack or, for a value that carries a timestamp,
this form: the value's wire form (RFC 3651 §3.1, handle-protocol.md §11) without its leading index (the
record's array holds it) and without its trailing reference count (it has none)::

    timestamp u32, TTL type u8, TTL u32, permissions u8, type (u32 length + UTF-8), data (u32 length + bytes)

The usual resolution answer (no index or type filter) splices the blob between the index and a zero
reference count, so a cold-cache miss reads such a value without decoding it (issue 4). The header takes 18
bytes: two more than the packed form of a value with a timestamp, because msgpack spells out the TTL, its type
and the permissions before the timestamp. Values without a timestamp stay packed (4 bytes of header when
their fields are the defaults), and so do values with references or with fields the wire cannot carry.

The two forms are told apart by the first byte. A packed blob is a msgpack array of 2 to 7 items, so it
starts with 0x92-0x97. A stamped blob starts with its timestamp's high byte, so a value stamped in that
range (from August 2047) is packed instead.
"""

from __future__ import annotations

import struct
from typing import Final

from protocol.constants import DEFAULT_PERMISSIONS, MAX_ARRAY_SIZE, TTLType

# Final names: compiled (setup.py), each is read from a C static, not looked up in the module per use.
_HEAD: Final = struct.Struct(">IBIBI")  # timestamp, TTL type, TTL, permissions, the type's length
_U32: Final = struct.Struct(">I")
HEADER_BYTES: Final = 18  # _HEAD and the data's length
_TYPE_AT: Final = 14  # the type's bytes start here
_PACKED_FIRST: Final = 0x92  # msgpack fixarray of 2 ... 7 items: the first byte of every packed blob
_PACKED_LAST: Final = 0x97
_TTL_TYPE_AT: Final = 4
_TTL_AT: Final = 5
_PERMISSIONS_AT: Final = 9
_RELATIVE: Final = int(TTLType.RELATIVE)
_LAST_KNOWN_TTL_TYPE: Final = int(TTLType.ABSOLUTE)
_DEFAULT_PERMISSIONS: Final = int(DEFAULT_PERMISSIONS)

StampedFields = tuple[str, bytes, int, int, int, int]  # type, data, ttl, ttl_type, permissions, timestamp


def stamp(
    value_type: object, data: object, ttl: object, ttl_type: object, permissions: object, timestamp: object
) -> bytes | None:
    """The stamped blob of a value without references, or None when it must be packed: no timestamp, one
    whose high byte reads as a packed blob's, a field of another type or wider than the wire's, or a type or
    data longer than the wire carries. (Typed ``object``: packing refuses or keeps what this cannot.)"""
    if not isinstance(value_type, str) or not isinstance(data, bytes) or not isinstance(timestamp, int):
        return None
    if timestamp <= 0 or timestamp > 0xFFFFFFFF or _PACKED_FIRST <= timestamp >> 24 <= _PACKED_LAST:
        return None
    try:
        raw_type = value_type.encode()
        if len(raw_type) > MAX_ARRAY_SIZE or len(data) > MAX_ARRAY_SIZE:
            return None
        return b"".join((
            _HEAD.pack(timestamp, ttl_type, ttl, permissions, len(raw_type)), raw_type, _U32.pack(len(data)),
            data,
        ))
    except (struct.error, UnicodeEncodeError):
        return None


def is_stamped(blob: bytes) -> bool:
    """Is ``blob`` in the stamped form (by its first byte; well formed or not)?"""
    return len(blob) > 0 and not _PACKED_FIRST <= blob[0] <= _PACKED_LAST


def _u32(blob: bytes, at: int) -> int:
    return blob[at] << 24 | blob[at + 1] << 16 | blob[at + 2] << 8 | blob[at + 3]


def type_end(blob: bytes) -> int:
    """Where the type of a stamped blob ends, or -1 when the blob is damaged: too short, lengths that do not
    add up to its size or pass the wire's limits, or a type that is not UTF-8. Everything ``pull_value``
    would refuse in the wire form it stands for, so a spliced blob is always a valid value."""
    size = len(blob)
    if size < HEADER_BYTES:
        return -1
    type_length = _u32(blob, 10)
    end = _TYPE_AT + type_length
    if type_length > MAX_ARRAY_SIZE or end + 4 > size:
        return -1
    data_length = _u32(blob, end)
    if data_length > MAX_ARRAY_SIZE or end + 4 + data_length != size:
        return -1
    for at in range(_TYPE_AT, end):  # types are short ASCII words: checked byte by byte, no copy
        if blob[at] >= 0x80:
            return end if _utf8(blob[_TYPE_AT:end]) else -1
    return end


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode()
    except UnicodeDecodeError:
        return False
    return True


def answers_as_is(blob: bytes) -> bool:
    """Is ``blob`` a well-formed stamped value of a known TTL type: one an answer may splice as it is?"""
    return is_stamped(blob) and type_end(blob) >= 0 and blob[_TTL_TYPE_AT] <= _LAST_KNOWN_TTL_TYPE


def relative_ttl(blob: bytes, no_relative_ttl: int) -> int:
    """The TTL of a stamped value if relative, else ``no_relative_ttl`` (a blob ``answers_as_is``)."""
    return _u32(blob, _TTL_AT) if blob[_TTL_TYPE_AT] == _RELATIVE else no_relative_ttl


def fields(blob: bytes) -> StampedFields | None:
    """The fields of a stamped blob, or None when it is damaged (``type_end``)."""
    end = type_end(blob)
    if end < 0:
        return None
    timestamp, ttl_type, ttl, permissions, _ = _HEAD.unpack_from(blob)
    return blob[_TYPE_AT:end].decode(), blob[end + 4 :], ttl, ttl_type, permissions, timestamp


def usual_parts(blob: bytes) -> tuple[bytes, bytes, int, int] | None:
    """The type and data bytes, TTL and timestamp of a well-formed stamped value with the default permissions
    and a relative TTL (most values: storage/record_json.py writes their JSON from these bytes); None for
    any other blob."""
    if not is_stamped(blob) or len(blob) < HEADER_BYTES:
        return None
    if blob[_TTL_TYPE_AT] != _RELATIVE or blob[_PERMISSIONS_AT] != _DEFAULT_PERMISSIONS:
        return None
    end = type_end(blob)
    if end < 0:
        return None
    return blob[_TYPE_AT:end], blob[end + 4 :], _u32(blob, _TTL_AT), _u32(blob, 0)


def permissions(blob: bytes) -> int:
    """The permissions byte of a stamped value (a blob ``answers_as_is``)."""
    return blob[_PERMISSIONS_AT]
