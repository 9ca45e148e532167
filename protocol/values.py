"""Handle values: the record of RFC 3651 §3.1 (handle-protocol.md §11) and its wire codec.

``HandleValue`` is the one in-memory form of a value everywhere in the project: the wire codec, the REST JSON
form (``protocol.jsonfmt``), the Redis record (``storage.records``) and the resolver all use it.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, fields
from itertools import islice
from typing import Any, Final, TypeVar, cast

from protocol.constants import (
    DEFAULT_PERMISSIONS,
    DEFAULT_TTL_S,
    MAX_ARRAY_SIZE,
    MAX_HANDLE_LENGTH,
    MAX_HANDLE_VALUES,
    Permission,
    TTLType,
)
from protocol.doorkeeper import Doorkeeper
from protocol.wire import Reader, Writer


@dataclass(frozen=True, slots=True)
class ValueReference:
    """A reference to another value: ``<index>:<handle>``."""

    handle: str
    index: int


@dataclass(frozen=True, slots=True)
class HandleValue:
    """One value of a handle. ``data`` is the raw data field; ``protocol.valuedata`` decodes typed data."""

    index: int
    type: str
    data: bytes
    ttl: int = DEFAULT_TTL_S
    ttl_type: TTLType = TTLType.RELATIVE
    permissions: Permission = DEFAULT_PERMISSIONS
    timestamp: int = 0
    references: tuple[ValueReference, ...] = ()

    @property
    def public_read(self) -> bool:
        return bool(self.permissions & Permission.PUBLIC_READ)


# The slot setters of HandleValue's fields, in order. A frozen dataclass's __init__ sets each field through
# object.__setattr__ (about 1.5 us for a value); the slot descriptors themselves take about half that.
_SETTERS: tuple[Any, ...] = tuple(getattr(HandleValue, f.name).__set__ for f in fields(HandleValue))
if len(_SETTERS) != 8:  # new_value below sets exactly these eight fields
    raise RuntimeError("HandleValue changed: update protocol.values.new_value")
# Final, one a line: compiled (setup.py), a Final name is a C static, any other a module-dict lookup.
_set_index: Final = _SETTERS[0]
_set_type: Final = _SETTERS[1]
_set_data: Final = _SETTERS[2]
_set_ttl: Final = _SETTERS[3]
_set_ttl_type: Final = _SETTERS[4]
_set_permissions: Final = _SETTERS[5]
_set_timestamp: Final = _SETTERS[6]
_set_refs: Final = _SETTERS[7]
_new_object: Final = HandleValue.__new__  # object.__new__, or a compiled HandleValue's allocator (setup.py)


def new_value(
    index: int, type_: str, data: bytes, ttl: int, ttl_type: TTLType, permissions: Permission, timestamp: int,
    references: tuple[ValueReference, ...],
) -> HandleValue:
    """``HandleValue(...)`` with every field given, at half the cost: for decoders that read many values
    (storage records on a cold-cache miss, issue 4). The arguments must already have their field types."""
    value: HandleValue = _new_object(HandleValue)
    _set_index(value, index)
    _set_type(value, type_)
    _set_data(value, data)
    _set_ttl(value, ttl)
    _set_ttl_type(value, ttl_type)
    _set_permissions(value, permissions)
    _set_timestamp(value, timestamp)
    _set_refs(value, references)
    return value


# --- Wire codec (RFC 3651 §3.1, handle-protocol.md §11) ---
# Size of one value = 26 + type + data + sum(8 + reference handle) bytes.

# index, timestamp (4 bytes in every implementation), ttl type, ttl, permissions
_VALUE_FIXED: Final = struct.Struct(">IIBIB")
_VALUE_HEAD: Final = struct.Struct(">IIBIBI")  # the fixed part followed by the type's length
_U32: Final = struct.Struct(">I")
_NO_REFERENCES: Final = _U32.pack(0)
# enum's value -> member maps (both bounded: one byte each) instead of EnumType.__call__ per value.
_TTL_TYPES: Final = cast("dict[int, TTLType]", TTLType._value2member_map_)
_PERMISSIONS: Final = cast("dict[int, Permission]", Permission._value2member_map_)


def pull_value(reader: Reader) -> HandleValue:
    index, timestamp, ttl_type, ttl, perms = reader.unpack(_VALUE_FIXED)
    vtype = reader.string(MAX_ARRAY_SIZE)
    data = reader.counted_bytes(MAX_ARRAY_SIZE)
    n_refs = reader.count(MAX_ARRAY_SIZE, 8)
    refs = tuple(ValueReference(reader.string(MAX_HANDLE_LENGTH), reader.u32()) for _ in range(n_refs))
    ttl_kind = _TTL_TYPES.get(ttl_type)
    permissions = _PERMISSIONS.get(perms)
    return HandleValue(index, vtype, data, ttl, TTLType(ttl_type) if ttl_kind is None else ttl_kind,
                       Permission(perms) if permissions is None else permissions, timestamp, refs)


def push_value(writer: Writer, value: HandleValue) -> None:
    # Written straight into the buffer: this runs once per value of every uncached response.
    vtype = value.type.encode("utf-8")
    buf = writer.buf
    buf += _VALUE_HEAD.pack(value.index, value.timestamp, value.ttl_type, value.ttl, value.permissions,
                            len(vtype))
    buf += vtype
    buf += _U32.pack(len(value.data))
    buf += value.data
    buf += _U32.pack(len(value.references))
    for ref in value.references:
        writer.string(ref.handle)
        buf += _U32.pack(ref.index)


def pull_values(reader: Reader) -> tuple[HandleValue, ...]:
    """int4 count + values; impl. decoders reject more than MAX_HANDLE_VALUES (§1.5)."""
    n = reader.count(MAX_HANDLE_VALUES, 26)
    return tuple(pull_value(reader) for _ in range(n))


# id(value) -> (value, its wire bytes). Values are immutable, and storage.records hands every read of an
# identical stored value the same object (HS_ADMIN, template attributes), so a cold-cache answer re-encodes
# only what is new to it (issue 4). The entry keeps its value alive, so its id cannot be reused meanwhile.
_ENCODED: Final[dict[int, tuple[HandleValue, bytes]]] = {}
# The largest value (stored blob, or data) the read path's memo tables keep (here, storage.records and
# storage.record_json): the values they are for (HS_ADMIN, template attributes) are small, and at 64 KiB a
# value, 16,384 entries of blob and encoded form would have held 2 GiB per table, outside any cache bound.
MEMO_MAX_VALUE_BYTES: Final = 512
MEMO_MAX_ENTRIES: Final = 16_384  # per table: of values up to MEMO_MAX_VALUE_BYTES, a few tens of MB at most
_MEMO_DROP: Final = MEMO_MAX_ENTRIES // 16


def make_room(memo: dict[Any, Any]) -> None:
    """Drop the oldest sixteenth of a full memo table (dicts keep insertion order). Every distinct value a
    cold miss reads (each identifier's own URL) passes through the tables, so they fill every few thousand
    misses: clearing all 16,384 entries at once stalled the worker ~1.1 ms each time; a sixteenth takes
    ~0.17 ms (16 times as often: ~0.1 us more per distinct value, for a sixth of the longest pause)."""
    for key in list(islice(memo, _MEMO_DROP)):
        del memo[key]


_K = TypeVar("_K")
_V = TypeVar("_V")


def memoise(memo: dict[_K, _V], seen: Doorkeeper, key: _K, blob: bytes, value: _V) -> None:
    """Keep ``value`` in a read path's memo table (storage.records, storage.record_json) if its stored
    ``blob`` is small and was seen before: a value read once (a cold miss's own URL) would only cost an
    insertion and, the table full, the deletion of an older one (make_room alone took 4 % of a cold UDP
    worker's CPU); values that records share come back at once."""
    if len(blob) <= MEMO_MAX_VALUE_BYTES and seen.seen_before(hash(blob)):
        if len(memo) >= MEMO_MAX_ENTRIES:
            make_room(memo)  # bounded; dropping the oldest is cheaper than tracking recency
        memo[key] = value


def push_values(writer: Writer, values: Sequence[HandleValue]) -> None:
    writer.u32(len(values))
    buf, memo = writer.buf, _ENCODED
    for value in values:
        known = memo.get(id(value))
        if known is not None and known[0] is value:
            buf += known[1]
        else:
            buf += _encode_new(value)


def plain_value_wire(
    index: int, type_: str, data: bytes, ttl: int, ttl_type: int, permissions: int, timestamp: int
) -> bytes:
    """The wire form of a value without references, from its fields (``push_value``'s bytes): lets a reader
    of stored values answer without a ``HandleValue`` (storage.records, issue 4). ``struct.error`` when a
    field does not fit its wire width; ``AttributeError`` when ``type_`` is not a str."""
    vtype = type_.encode()  # UTF-8; without the argument str.encode skips the codec name lookup
    return b"".join((
        _VALUE_HEAD.pack(index, timestamp, ttl_type, ttl, permissions, len(vtype)), vtype,
        _U32.pack(len(data)), data, _NO_REFERENCES,
    ))


def value_wire(value: HandleValue) -> bytes:
    """One value's wire form, as ``push_value`` writes it (not memoised: see ``push_values``)."""
    if value.references:
        writer = Writer()
        push_value(writer, value)
        return writer.getvalue()
    return plain_value_wire(value.index, value.type, value.data, value.ttl, value.ttl_type, value.permissions,
                            value.timestamp)


def _encode_new(value: HandleValue) -> bytes:
    wire = value_wire(value)
    if len(value.data) <= MEMO_MAX_VALUE_BYTES:
        if len(_ENCODED) >= MEMO_MAX_ENTRIES:
            make_room(_ENCODED)
        _ENCODED[id(value)] = (value, wire)
    return wire


def encode_values(values: Sequence[HandleValue]) -> bytes:
    """Value count + values, ready to cache and splice into responses without re-encoding."""
    writer = Writer()
    push_values(writer, values)
    return writer.getvalue()


def encoded_value_size(value: HandleValue) -> int:
    type_len = len(value.type.encode("utf-8"))
    refs = sum(8 + len(r.handle.encode("utf-8")) for r in value.references)
    return 26 + type_len + len(value.data) + refs
