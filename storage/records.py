"""The Redis form of a handle's values: one msgpack record behind a format-version byte.

Layout (version 1): ``b"\\x01" + msgpack([index1, blob1, index2, blob2, ...])`` where each ``blob`` is the
msgpack of one value's other fields with trailing defaults left out. The flat index/blob array is what the
Lua write scripts splice (they add, replace and drop pairs by index without decoding a value, because Lua's
cmsgpack would turn bytes into strings), so the script and this module share only that outer shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import msgpack

from protocol.constants import DEFAULT_PERMISSIONS, DEFAULT_TTL_S, Permission, TTLType
from protocol.values import HandleValue, ValueReference

FORMAT_V1 = 1
_V1 = bytes([FORMAT_V1])
# The value fields after index, in blob order, with their defaults (trailing defaults are dropped).
_DEFAULTS: tuple[Any, ...] = ("", b"", DEFAULT_TTL_S, int(TTLType.RELATIVE), int(DEFAULT_PERMISSIONS), 0, [])


_BIN_PACKER = msgpack.Packer(use_bin_type=True)  # reused: packb() would build a Packer per value


class RecordFormatError(ValueError):
    """A stored record this code cannot read (unknown version byte or damaged bytes)."""


def encode_value(value: HandleValue) -> bytes:
    """One value's blob: [type, data, ttl, ttl_type, permissions, timestamp, references], defaults cut."""
    # Hot in bulk import: decide the length once; msgpack packs IntEnum/IntFlag members as plain ints.
    if value.references:
        refs = [[r.handle, r.index] for r in value.references]
        return _BIN_PACKER.pack([*_head(value, 6), refs])  # type: ignore[no-any-return]
    return _BIN_PACKER.pack(_head(value, _kept_fields(value)))  # type: ignore[no-any-return]


def _kept_fields(value: HandleValue) -> int:
    if value.timestamp:
        return 6
    if value.permissions != DEFAULT_PERMISSIONS:
        return 5
    if value.ttl_type != TTLType.RELATIVE:
        return 4
    return 2 if value.ttl == DEFAULT_TTL_S else 3


def _head(value: HandleValue, count: int) -> list[Any]:
    return [value.type, value.data, value.ttl, value.ttl_type, value.permissions, value.timestamp][:count]


def decode_value(index: int, blob: bytes) -> HandleValue:
    fields = msgpack.unpackb(blob, raw=False)
    full = list(fields) + list(_DEFAULTS[len(fields) :])
    type_, data, ttl, ttl_type, perms, timestamp, refs = full
    return HandleValue(
        index=index,
        type=type_,
        data=bytes(data),
        ttl=ttl,
        ttl_type=TTLType(ttl_type),
        permissions=Permission(perms),
        timestamp=timestamp,
        references=tuple(ValueReference(handle=h, index=i) for h, i in refs),
    )


def encode_pairs(values: Iterable[HandleValue]) -> bytes:
    """The flat msgpack array [index, blob, ...] without the version byte (script arguments use this)."""
    flat: list[Any] = []
    for value in values:
        flat += [value.index, encode_value(value)]
    # use_bin_type=False: Redis's Lua cmsgpack cannot read msgpack bin, so blobs go out as raw str.
    packed: bytes = msgpack.packb(flat, use_bin_type=False)
    return packed


def encode_record(values: Iterable[HandleValue]) -> bytes:
    return _V1 + encode_pairs(values)


def decode_record(raw: bytes) -> tuple[HandleValue, ...]:
    if raw[:1] != _V1:
        raise RecordFormatError(f"unknown record version {raw[:1]!r}")
    try:
        # raw=True: the Lua scripts re-pack blobs as msgpack str, so read both str and bin as bytes.
        flat = msgpack.unpackb(raw[1:], raw=True)
        if isinstance(flat, dict):  # cmsgpack packs an empty Lua table as a map
            flat = []
        return tuple(decode_value(int(flat[i]), bytes(flat[i + 1])) for i in range(0, len(flat), 2))
    except (ValueError, TypeError, IndexError, msgpack.UnpackException) as exc:
        raise RecordFormatError(f"damaged record: {exc}") from exc


def encode_indexes(indexes: Sequence[int]) -> bytes:
    packed: bytes = msgpack.packb(list(indexes))
    return packed


def pack_doc(doc: Any) -> bytes:
    """Documents (tenants, credentials, templates) and prefix entries: plain msgpack, version-prefixed."""
    packed: bytes = msgpack.packb(doc, use_bin_type=True)
    return _V1 + packed


def unpack_doc(raw: bytes) -> Any:
    if raw[:1] != _V1:
        raise RecordFormatError(f"unknown document version {raw[:1]!r}")
    return msgpack.unpackb(raw[1:], raw=False)
