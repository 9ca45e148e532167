"""The Redis form of a handle's values: one msgpack record behind a format-version byte.

Layout (version 1): ``b"\\x01" + msgpack([index1, blob1, index2, blob2, ...])`` where each ``blob`` holds
one value's other fields: packed, the msgpack of those fields with trailing defaults left out, or, for a
value with a timestamp, stamped (storage/stamped.py: its wire form, which a resolution answer splices as it
is). The first byte tells them apart, and a record may hold both. The flat index/blob array is what the
Lua write scripts splice (they add, replace and drop pairs by index without decoding a value, because Lua's
cmsgpack would turn bytes into strings), so the script and this module share only that outer shape.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, cast

import msgpack

from protocol.constants import DEFAULT_PERMISSIONS, DEFAULT_TTL_S, Permission, TTLType
from protocol.doorkeeper import Doorkeeper
from protocol.values import (
    MEMO_MAX_ENTRIES,
    HandleValue,
    ValueReference,
    memoise,
    new_value,
    plain_value_wire,
)
from storage import stamped

if TYPE_CHECKING:
    from protocol.jsonfmt import PlainParts

FORMAT_V1 = 1
# Final names: compiled (setup.py), each is read from a C static, not looked up in the module per use.
_V1: Final = bytes([FORMAT_V1])
# The value fields after index, in blob order, with their defaults (trailing defaults are dropped).
_DEFAULTS: Final[tuple[Any, ...]] = (
    "", b"", DEFAULT_TTL_S, int(TTLType.RELATIVE), int(DEFAULT_PERMISSIONS), 0, [])


_BIN_PACKER: Final = msgpack.Packer(use_bin_type=True)  # reused: packb() would build a Packer per value
# Record arrays: Redis's Lua cmsgpack cannot read msgpack bin, so blobs go out as raw str.
_STR_PACKER: Final = msgpack.Packer(use_bin_type=False)
_RELATIVE: Final = int(TTLType.RELATIVE)
_DEFAULT_PERMISSIONS: Final = int(DEFAULT_PERMISSIONS)
_unpackb: Final = msgpack.unpackb
_TTL_TYPES: Final = cast("dict[int, TTLType]", TTLType._value2member_map_)
_PERMISSIONS: Final = cast("dict[int, Permission]", Permission._value2member_map_)
_DECODED: Final[dict[tuple[int | bytes, bytes], HandleValue]] = {}  # decode_value's shared values
# Each memo table keeps a value on its second sighting (protocol.values.memoise, protocol/doorkeeper.py).
_DECODED_SEEN: Final = Doorkeeper(MEMO_MAX_ENTRIES)


class RecordFormatError(ValueError):
    """A stored record this code cannot read (unknown version byte or damaged bytes)."""


def encode_value(value: HandleValue) -> bytes:
    """One value's blob: stamped if it can be (storage/stamped.py), else packed: [type, data, ttl, ttl_type,
    permissions, timestamp, references] with trailing defaults cut."""
    # Hot in bulk import: decide the length once; msgpack packs IntEnum/IntFlag members as plain ints.
    if value.references:
        refs = [[r.handle, r.index] for r in value.references]
        return _BIN_PACKER.pack([*_head(value, 6), refs])  # type: ignore[no-any-return]
    if value.timestamp:
        blob = stamped.stamp(value.type, value.data, value.ttl, value.ttl_type, value.permissions,
                             value.timestamp)
        if blob is not None:
            return blob
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
    """The value of one blob. Values are immutable, so equal (index, blob) pairs share one decoded object:
    the cold-cache read path decodes every value it serves, and HS_ADMIN and template attributes repeat."""
    value = _DECODED.get((index, blob))
    return _remember(index, blob) if value is None else value


def _remember(index: int | bytes, blob: bytes) -> HandleValue:  # a Lua re-pack may store the index as text
    value = _decode_value(int(index), _as_bytes(blob))
    memoise(_DECODED, _DECODED_SEEN, (index, blob), blob, value)
    return value


def _decode_value(index: int, blob: bytes) -> HandleValue:
    fields: Any
    if stamped.is_stamped(blob):
        known = stamped.fields(blob)
        if known is None:
            raise ValueError("damaged stamped value")
        fields = (*known, ())  # no references
    else:
        fields = _unpackb(blob, raw=False, use_list=False)  # a tuple: cheaper to build and to extend
        count = len(fields)
        if count < len(_DEFAULTS):
            fields += _DEFAULTS[count:]
    type_, data, ttl, ttl_type, perms, timestamp, refs = fields
    ttl_kind = _TTL_TYPES.get(ttl_type)  # dict lookups instead of EnumType.__call__ per value
    permissions = _PERMISSIONS.get(perms)
    return new_value(  # HandleValue(...) without the frozen __init__: runs for every value a miss reads
        index,
        type_,
        _as_bytes(data),
        ttl,
        TTLType(ttl_type) if ttl_kind is None else ttl_kind,
        Permission(perms) if permissions is None else permissions,
        timestamp,
        tuple(ValueReference(handle=h, index=i) for h, i in refs) if refs else (),
    )


def _as_bytes(data: Any) -> bytes:
    return data if type(data) is bytes else bytes(data)


def encode_pairs(values: Iterable[HandleValue]) -> bytes:
    """The flat msgpack array [index, blob, ...] without the version byte (script arguments use this)."""
    flat: list[Any] = []
    for value in values:
        flat += [value.index, encode_value(value)]
    packed: bytes = _STR_PACKER.pack(flat)
    return packed


def encode_record(values: Iterable[HandleValue]) -> bytes:
    return _V1 + encode_pairs(values)


def encode_parts_record(values: Iterable[PlainParts | HandleValue]) -> bytes:
    """``encode_record`` of values given as ``HandleValue`` or, for plain ones, as the (index, type, data,
    ttl, timestamp) of ``protocol.jsonfmt.plain_value_parts`` (relative TTL, default permissions, no
    references): the same bytes, without building those ``HandleValue`` objects (the NDJSON import)."""
    pack = _BIN_PACKER.pack
    flat: list[Any] = []
    for value in values:
        if isinstance(value, HandleValue):
            flat += [value.index, encode_value(value)]
            continue
        index, value_type, data, ttl, timestamp = value
        if timestamp:  # as encode_value: stamped, else its field order with defaults up to the timestamp
            blob = stamped.stamp(value_type, data, ttl, _RELATIVE, _DEFAULT_PERMISSIONS, timestamp)
            if blob is None:
                blob = pack((value_type, data, ttl, _RELATIVE, _DEFAULT_PERMISSIONS, timestamp))
            flat += [index, blob]
        else:
            flat += [index, pack((value_type, data) if ttl == DEFAULT_TTL_S else (value_type, data, ttl))]
    packed: bytes = _STR_PACKER.pack(flat)
    return _V1 + packed


def decode_record(raw: bytes) -> tuple[HandleValue, ...]:
    if raw[:1] != _V1:
        raise RecordFormatError(f"unknown record version {raw[:1]!r}")
    try:
        # raw=True: the Lua scripts re-pack blobs as msgpack str, so read both str and bin as bytes.
        flat = _unpackb(memoryview(raw)[1:], raw=True)
        if isinstance(flat, dict):  # cmsgpack packs an empty Lua table as a map
            return ()
        if len(flat) % 2:
            raise ValueError("odd number of index/blob items")
        pairs = iter(flat)
        memo = _DECODED
        # Inlined decode_value: this loop runs for every value of every record read on a cache miss.
        return tuple([memo.get(key) or _remember(*key) for key in zip(pairs, pairs, strict=False)])
    except (ValueError, TypeError, IndexError, msgpack.UnpackException) as exc:
        raise RecordFormatError(f"damaged record: {exc}") from exc


# --- The resolution read path (issue 4) ---------------------------------------------------------------
# A cold-cache miss answers the usual request (no index/type filter) with the record's public values in wire
# form. ``read_record`` unpacks only the outer array; the first read of ``StoredRecord.wire`` splices each
# stamped blob (storage/stamped.py) between its index and a zero reference count, and transcodes each packed
# one straight to those bytes, memoised per (index, blob) with the two facts the answer needs (PUBLIC_READ,
# relative TTL), so a miss builds no ``HandleValue``; the values are decoded only when something asks for
# them (filters, writes). An HTTP miss never makes the wire form (storage/record_json.py).

NO_RELATIVE_TTL: Final = 1 << 32  # the TTL fact of an absolute-TTL value: above any u32 relative TTL (§11)
_PUBLIC_READ: Final = int(Permission.PUBLIC_READ)
# (index, blob) -> (wire bytes, PUBLIC_READ bit, relative TTL or NO_RELATIVE_TTL); bounded like _DECODED.
# (Keyed by the blob alone with the index checked on use cost ~9,000 instructions more per cold miss.)
_Fact = tuple[bytes, int, int]
_WIRES: Final[dict[tuple[int, bytes], _Fact]] = {}
_WIRES_SEEN: Final = Doorkeeper(MEMO_MAX_ENTRIES)
# Every field but the references: what encode_value packs for most values.
_USUAL_FIELDS: Final = len(_DEFAULTS) - 1
_EMPTY_WIRE: Final = b"\x00\x00\x00\x00"  # a value count of zero
_U32: Final = struct.Struct(">I")
_U32_MAX: Final = 0xFFFFFFFF
_NO_REFERENCES: Final = b"\x00\x00\x00\x00"  # a stamped value's reference count (it has none)
_INDEX_FIELDS: Final[dict[int, bytes]] = {}  # index -> its u32 wire form, for stamped values' answers
_INDEX_FIELDS_MAX: Final = 4_096  # a cap: a peer may write any index
_NO_PAIRS: Final[list[Any]] = []  # the outer array of an empty Lua table (a msgpack map): never changed


class StoredRecord:
    """One handle's record as the resolver reads it: its stored bytes, decoded only as far as a reader asks.

    ``wire`` is ``protocol.values.encode_values`` of the record's PUBLIC_READ values in stored order (count
    first), ``public_count`` how many there are, ``ttl_s`` the smallest relative TTL (``NO_RELATIVE_TTL``
    when none). A record with a value this fast form does not cover (references, unusual field types, damage
    that shows only when encoding) has ``wire`` None and ``ttl_s`` None: its users take ``values``, the
    ``decode_record`` tuple, and answer exactly as they did from it.

    They are worked out on first use, not when the record is read: an HTTP miss never needs the wire form
    (issue 4). Reading ``wire`` runs the wire pass, which also sets the two facts; storage/record_json.py
    writes the JSON and sets them in one pass of its own (``learn``); ``check`` sets them by the wire pass if
    no pass ran. Until then they read 0 and None, and None sends a reader to ``values`` (right, only slower):
    the resolver calls ``check`` first (``Resolver.settle``). A damaged value shows (``RecordFormatError``)
    then, not in ``read_record``, which rejects only a damaged outer array.
    """

    __slots__ = ("_pairs", "_raw", "_values", "_wire", "_wired", "public_count", "stored_length", "ttl_s")

    def __init__(
        self, raw: bytes | None, values: tuple[HandleValue, ...] | None, pairs: list[Any] | None = None
    ) -> None:
        self._raw = raw
        self.stored_length = 0 if raw is None else len(raw)  # kept when the values replace the bytes
        self._values = values
        self._pairs = pairs  # the outer array, until a pass has set the facts (None: they are known)
        self._wire: bytes | None = None
        self._wired = pairs is None  # has the wire pass run (or is there nothing for it to do)?
        self.public_count = 0
        self.ttl_s: int | None = None

    @classmethod
    def of_values(cls, values: tuple[HandleValue, ...]) -> StoredRecord:
        """A record given as decoded values (prefix records, tests): no wire form."""
        return cls(None, values)

    @classmethod
    def _empty(cls, raw: bytes | None) -> StoredRecord:
        record = cls(raw, ())
        record._wire, record.ttl_s = _EMPTY_WIRE, NO_RELATIVE_TTL
        return record

    @property
    def raw(self) -> bytes | None:
        """The stored bytes (version byte first), or None once ``values`` decoded them (and for records made
        ``of_values``): HTTP writes its JSON from them (storage/record_json.py)."""
        return self._raw

    @property
    def values(self) -> tuple[HandleValue, ...]:
        """Every value, decoded (``decode_record``), once."""
        return self._decoded()

    @property
    def wire(self) -> bytes | None:
        if not self._wired:
            self._read_wire()
        return self._wire

    def check(self) -> None:
        """Set the facts now if no pass has (the wire pass): ``RecordFormatError`` for a damaged value."""
        if self._pairs is not None:
            self._read_wire()

    def pairs(self) -> list[Any] | None:
        """The outer [index, blob, ...] array (unpacked again if a pass used it), or None without stored
        bytes: for storage/record_json.py's pass."""
        pairs = self._pairs
        if pairs is None and self._raw is not None:
            pairs = _pairs_of(self._raw)
        return pairs

    def learn(self, public_count: int, ttl_s: int) -> None:
        """The facts as another pass found them (storage/record_json.py), kept unless already known."""
        if self._pairs is not None:
            self.public_count, self.ttl_s, self._pairs = public_count, ttl_s, None

    def _decoded(self) -> tuple[HandleValue, ...]:
        values = self._values
        if values is None:
            values = self._values = decode_record(self._raw or b"")
            self._raw = None  # the values stand for it now
        return values

    def _read_wire(self) -> None:
        """The wire pass: each value's facts from the ``_WIRES`` memo or ``_transcode``."""
        pairs = self._pairs
        learnt = pairs is None
        if pairs is None:
            pairs = self.pairs()
            if pairs is None:  # the values were decoded since another pass: they answer
                self._wired = True
                return
        memo = _WIRES
        wires: list[bytes] = []
        count = 0
        smallest = NO_RELATIVE_TTL
        whole = True
        try:
            # An index loop: compiled (mypyc, setup.py) it runs natively, where pairing with zip and
            # transposing the facts went through the interpreter's iterators and tuples (the pass over a
            # seeded record: 4.3 against 6.3 us, median of 9; pure Python no slower).
            for at in range(0, len(pairs), 2):
                index, blob = pairs[at], pairs[at + 1]
                if type(index) is int and 0 <= index <= _U32_MAX and _splices(blob):
                    # Stamped: its wire form once its index and a zero reference count surround it.
                    if stamped.permissions(blob) & _PUBLIC_READ:
                        wires.append(_INDEX_FIELDS.get(index) or _index_field(index))
                        wires.append(blob)
                        wires.append(_NO_REFERENCES)
                        count += 1
                    ttl = stamped.relative_ttl(blob, NO_RELATIVE_TTL)
                else:
                    fact = memo.get((index, blob)) or _transcode(index, blob)
                    if fact is None:
                        whole = False
                        break
                    wire, public, ttl = fact
                    if public:
                        wires.append(wire)
                        count += 1
                if ttl < smallest:
                    smallest = ttl
        except TypeError:  # an index or blob that cannot be a key (a list), or a blob not bytes: damage
            whole = False
        self._wired = True
        if not whole:  # a value only the full decode speaks for (it raises what decode_record does)
            if not learnt:
                self._wired = False  # if it raises: nothing is kept
                self._decoded()
                self._wired, self._pairs = True, None
            return
        self._wire = _U32.pack(count) + b"".join(wires)
        if not learnt:
            self.public_count, self.ttl_s, self._pairs = count, smallest, None


def _splices(blob: object) -> bool:
    """Does ``blob`` go into an answer as it is (a well-formed stamped value, storage/stamped.py)?"""
    return type(blob) is bytes and stamped.answers_as_is(blob)


def _index_field(index: int) -> bytes:
    """The wire form of an index (kept: a record's values use a few indexes, and answers repeat them)."""
    if len(_INDEX_FIELDS) >= _INDEX_FIELDS_MAX:
        _INDEX_FIELDS.clear()
    field = _INDEX_FIELDS[index] = _U32.pack(index)
    return field


def read_record(raw: bytes) -> StoredRecord:
    """The record of ``raw`` for the resolution path, read no further than its outer array: the errors of
    ``decode_record`` (``RecordFormatError``) for a wrong version byte or a damaged array now, and for a
    damaged value when a fact is first asked for (``StoredRecord.check``)."""
    if raw[:1] != _V1:
        raise RecordFormatError(f"unknown record version {raw[:1]!r}")
    pairs = _pairs_of(raw)
    if pairs:
        return StoredRecord(raw, None, pairs)
    return StoredRecord._empty(None if pairs is _NO_PAIRS else raw)  # a Lua table has no JSON array


def _pairs_of(raw: bytes) -> list[Any]:
    """The outer [index, blob, ...] array of a version-1 record ([] for an empty Lua table)."""
    try:
        flat = _unpackb(raw[1:], raw=True)  # a copy of a few hundred bytes is cheaper than a memoryview
    except (ValueError, TypeError, IndexError, msgpack.UnpackException) as exc:
        raise RecordFormatError(f"damaged record: {exc}") from exc
    if isinstance(flat, dict):  # cmsgpack packs an empty Lua table as a map
        return _NO_PAIRS
    if type(flat) is not list or len(flat) % 2:
        raise RecordFormatError("damaged record: odd number of index/blob items")
    return flat


PlainFields = tuple[Any, Any, Any, Any, Any, Any]  # type, data, ttl, ttl_type, permissions, timestamp


def plain_fields(blob: bytes) -> PlainFields | None:
    """A stored value's fields, defaults filled in, for readers that answer without a ``HandleValue`` (the
    wire form here, the HTTP JSON in storage/record_json.py); None for a value the full decoder must read:
    references, fewer than the two fields ``encode_value`` always keeps, more than it writes, or a TTL type
    it does not know, or a damaged stamped value. The fields' own types are the caller's to check; a packed
    blob that is not msgpack raises."""
    if stamped.is_stamped(blob):
        known = stamped.fields(blob)
        return known if known is not None and known[3] in _TTL_TYPES else None
    fields = _unpackb(blob, raw=False, use_list=False)
    if type(fields) is not tuple:
        return None
    count = len(fields)
    if count == _USUAL_FIELDS:  # a timestamp, no references: most values
        usual: PlainFields = fields
    elif 2 <= count <= len(_DEFAULTS):
        *head, refs = fields + _DEFAULTS[count:]
        if refs:
            return None
        usual = tuple(head)  # six items: _DEFAULTS has seven
    else:
        return None
    return usual if usual[3] in _TTL_TYPES else None


def _transcode(index: object, blob: bytes) -> _Fact | None:
    """The facts of one stored value (see ``_WIRES``), or None for a value with references, odd field types
    or fields too wide for the wire: those take the full decode (and any error is its to raise)."""
    try:
        fields = plain_fields(blob)
        if fields is None or type(index) is not int:
            return None
        # struct refuses what is not an int of the wire's width; bytes.join what is not bytes.
        wire = plain_value_wire(index, *fields)
    except (ValueError, TypeError, AttributeError, struct.error, msgpack.UnpackException):
        return None
    _, _, ttl, ttl_type, perms, _ = fields
    fact = (wire, perms & _PUBLIC_READ, ttl if ttl_type == _RELATIVE else NO_RELATIVE_TTL)
    memoise(_WIRES, _WIRES_SEEN, (index, blob), blob, fact)
    return fact


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
