"""``records.read_record`` (the resolution read path) against ``decode_record`` and the general wire encoder:
the same values, the same errors, and wire bytes equal to encoding the public values (issue 4)."""

from __future__ import annotations

import struct
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.constants import Permission, TTLType
from protocol.filtering import public_only
from protocol.values import HandleValue, ValueReference, push_value
from protocol.wire import Writer
from resolver.cache import record_ttl_s, stored_ttl_s
from storage import records

values = st.builds(
    HandleValue,
    index=st.integers(0, 2**32 - 1),
    type=st.text(max_size=20),
    data=st.binary(max_size=300),
    ttl=st.integers(-(2**31), 2**33),
    ttl_type=st.sampled_from(list(TTLType)),
    permissions=st.integers(0, 15).map(Permission),
    timestamp=st.integers(0, 2**32 - 1),
    references=st.lists(
        st.builds(ValueReference, st.text(max_size=30), st.integers(0, 2**31 - 1)), max_size=2
    ).map(tuple),
)
MAX_TTLS = (0.5, 300.0, 86_400.0, 1e12)


def general_wire(items: list[HandleValue]) -> bytes:
    """Value count + values, written one by one by the general codec (no memo, no transcoding)."""
    writer = Writer()
    writer.u32(len(items))
    for value in items:
        push_value(writer, value)
    return writer.getvalue()


def fits_the_wire(value: HandleValue) -> bool:
    return 0 <= value.ttl < 2**32 and not value.references


def assert_same_as_full_decode(items: list[HandleValue]) -> None:
    raw = records.encode_record(items)
    stored = records.read_record(raw)
    assert stored.values == records.decode_record(raw) == tuple(items)
    if all(fits_the_wire(v) for v in items):
        assert stored.wire is not None  # the fast form covers every plain value
    if stored.wire is None:
        return
    public = list(public_only(items))
    assert stored.wire == general_wire(public)
    assert stored.public_count == len(public)
    assert stored.ttl_s is not None
    for max_ttl_s in MAX_TTLS:
        assert stored_ttl_s(stored.ttl_s, max_ttl_s) == record_ttl_s(tuple(items), max_ttl_s)


@given(st.lists(values, max_size=8))
def test_read_record_agrees_with_decode_and_the_wire_encoder(items: list[HandleValue]) -> None:
    assert_same_as_full_decode(items)


def test_a_read_twice_is_answered_from_the_memo_with_the_same_bytes() -> None:
    items = [HandleValue(1, "URL", b"https://example.cn/a"), HandleValue(100, "HS_ADMIN", b"\x0f\xff")]
    raw = records.encode_record(items)
    first, second = records.read_record(raw), records.read_record(raw)
    assert first.wire == second.wire == general_wire(items)


@pytest.mark.parametrize(
    "items",
    [
        [],
        [HandleValue(1, "URL", b"u", permissions=Permission.ADMIN_READ)],  # nothing public
        [HandleValue(1, "URL", b"u"), HandleValue(2, "SECRET", b"s", permissions=Permission.ADMIN_READ)],
        [HandleValue(1, "URL", b"u", ttl=1_900_000_000, ttl_type=TTLType.ABSOLUTE), HandleValue(2, "T", b"")],
        [HandleValue(1, "URL", b"u", ttl=60), HandleValue(2, "T", b"", ttl=30, ttl_type=TTLType.ABSOLUTE)],
        [HandleValue(1, "HS_VLIST", b"", references=(ValueReference("88.1/x", 300),))],
        [HandleValue(1, "URL", b"u", ttl=-5)],  # no wire form: encoding it fails as it always did
        [HandleValue(1, "\u4e2d\u6587", "\u4e2d".encode(), timestamp=2**32 - 1)],
    ],
)
def test_records_of_every_shape(items: list[HandleValue]) -> None:
    assert_same_as_full_decode(items)


def test_empty_lua_table_reads_as_an_empty_record() -> None:
    stored = records.read_record(b"\x01\x80")  # cmsgpack packs an empty table as a map
    assert stored.values == () and stored.wire == b"\x00\x00\x00\x00" and stored.public_count == 0


def record_of(*pairs: Any) -> bytes:
    packed: bytes = msgpack.packb(list(pairs), use_bin_type=False)
    return b"\x01" + packed


def blob(*fields: Any) -> bytes:
    packed: bytes = msgpack.packb(list(fields), use_bin_type=True)
    return packed


def stamped_blob(
    value_type: bytes = b"URL", data: bytes = b"u", *, ttl_type: int = 0, type_length: int | None = None,
    data_length: int | None = None, tail: bytes = b"",
) -> bytes:
    """A value in the stamped form (storage/stamped.py), its lengths as given."""
    type_length = len(value_type) if type_length is None else type_length
    data_length = len(data) if data_length is None else data_length
    head = struct.pack(">IBIBI", 1_767_225_600, ttl_type, 60, 14, type_length)
    return head + value_type + struct.pack(">I", data_length) + data + tail


DAMAGED = [
    b"",
    b"\x02\x90",
    b"\x01\xc1",
    b"\x01\x92\x01",
    b"\x01\x92\x01\xa1x",
    record_of(1, blob("URL", "text, not bytes")),
    record_of(1, blob("URL", b"u", 60, 0, 14, 0, [["88.1/x"]])),  # a reference without its index
    record_of([1], blob("URL", b"u")),  # an index that is not a number
    record_of(1, blob("URL", b"u", 60, 0, 14, 0, [], "extra")),
    record_of(1, stamped_blob()[:17]),  # stamped, shorter than its header
    record_of(1, b"\x01"),
    record_of(1, stamped_blob(type_length=50)),  # the type runs past the blob
    record_of(1, stamped_blob(type_length=2**20 + 1)),  # over the wire's limit
    record_of(1, stamped_blob(data_length=5)),  # the lengths do not add up
    record_of(1, stamped_blob(tail=b"x")),
    record_of(1, stamped_blob(b"\xff\xfe")),  # a type that is not UTF-8
    record_of(1, stamped_blob(), 2, stamped_blob(data_length=0)),  # one damaged value of two
]
ODD_BUT_READABLE = [
    record_of(1, blob("URL", b"u", 60, 7)),  # an unknown TTL type (kept, as the full decode keeps it)
    record_of(1, blob("URL", b"u", 60, 0, 302)),  # public, but permissions wider than the wire's byte
    record_of(b"7", blob("URL", b"u")),  # an index stored as text (Lua re-packs): int(b"7")
    record_of(1, blob("URL", b"u", 60, 0, 300)),  # permissions wider than the wire's byte
    record_of(1, blob("URL", b"u", 2**40)),  # a TTL wider than the wire's u32
    record_of(1, blob("URL", b"u", 60, 1)),  # absolute TTL
    record_of(1, stamped_blob(ttl_type=7)),  # stamped, an unknown TTL type
    record_of(b"7", stamped_blob()),  # stamped, its index stored as text
    record_of(2**32, stamped_blob()),  # an index wider than the wire's u32
    record_of(1, stamped_blob("\u4e2d\u6587".encode(), b"\x00")),  # a type that is UTF-8, not ASCII
    record_of(1, stamped_blob(), 2, blob("EMAIL", b"e")),  # both forms
]


@pytest.mark.parametrize("raw", DAMAGED)
def test_damaged_records_fail_alike(raw: bytes) -> None:
    with pytest.raises(records.RecordFormatError):
        records.decode_record(raw)
    with pytest.raises(records.RecordFormatError):
        records.read_record(raw).check()  # a damaged value shows when a fact is first asked for


@pytest.mark.parametrize("raw", DAMAGED)
@pytest.mark.parametrize("ask", [lambda r: r.wire, lambda r: r.values, lambda r: r.check()])
def test_a_damaged_value_fails_whichever_is_asked_first(raw: bytes, ask: Any) -> None:
    try:
        record = records.read_record(raw)
    except records.RecordFormatError:
        return  # a damaged outer array fails at once
    assert record.ttl_s is None  # not known yet: a reader that looked now would take ``values`` (and fail)
    with pytest.raises(records.RecordFormatError):
        ask(record)
    with pytest.raises(records.RecordFormatError):  # and again: nothing was kept
        record.check()


def test_the_facts_are_set_by_whichever_pass_runs_first() -> None:
    hidden = HandleValue(2, "S", b"s", permissions=Permission.ADMIN_READ)
    items = [HandleValue(1, "URL", b"u", ttl=60), hidden]
    raw = records.encode_record(items)
    unread = records.read_record(raw)
    assert (unread.public_count, unread.ttl_s) == (0, None)  # nothing worked out on reading
    by_wire, by_check = records.read_record(raw), records.read_record(raw)
    assert by_wire.wire == general_wire(items[:1])
    by_check.check()
    for record in (by_wire, by_check):
        assert (record.public_count, record.ttl_s) == (1, 60)


@pytest.mark.parametrize("raw", ODD_BUT_READABLE)
def test_odd_records_read_alike(raw: bytes) -> None:
    stored = records.read_record(raw)
    decoded = records.decode_record(raw)
    assert stored.values == decoded
    if stored.wire is not None:  # else the resolver answers from ``values``, as it did before the fast form
        assert stored.wire == general_wire(list(public_only(decoded)))
