"""The stamped form of stored values (storage/stamped.py): which values take it, that a blob is the value's
wire form less its index and reference count, and that records of both forms read alike (issue 4)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.constants import DEFAULT_PERMISSIONS, Permission, TTLType
from protocol.values import HandleValue, ValueReference, value_wire
from storage import records, stamped

u32 = st.integers(0, 2**32 - 1)
stampable = st.builds(
    HandleValue, u32, st.text(max_size=20), st.binary(max_size=300), u32, st.sampled_from(list(TTLType)),
    st.integers(0, 255).map(Permission),
    st.integers(1, 2**32 - 1).filter(lambda t: not 0x92 <= t >> 24 <= 0x97),
)


@given(stampable)
def test_a_stamped_blob_is_the_wire_form_without_index_and_reference_count(value: HandleValue) -> None:
    blob = records.encode_value(value)
    assert stamped.is_stamped(blob)
    assert blob == value_wire(value)[4:-4]
    assert len(blob) == stamped.HEADER_BYTES + len(value.type.encode()) + len(value.data)
    assert records.decode_value(value.index, blob) == value


@pytest.mark.parametrize(
    "value",
    [
        HandleValue(1, "URL", b"u"),  # no timestamp: packed is 14 bytes smaller
        HandleValue(1, "URL", b"u", ttl=60, permissions=Permission(0x0F)),
        HandleValue(1, "HS_VLIST", b"", timestamp=5, references=(ValueReference("88.1/x", 300),)),
        HandleValue(1, "URL", b"u", timestamp=0x92000000),  # its first byte would read as a packed blob's
        HandleValue(1, "URL", b"u", timestamp=0x97FFFFFF),
        HandleValue(1, "URL", b"u", ttl=-5, timestamp=5),  # fields the wire cannot carry
        HandleValue(1, "URL", b"u", ttl=2**32, timestamp=5),
    ],
)
def test_what_stays_packed(value: HandleValue) -> None:
    blob = records.encode_value(value)
    assert 0x92 <= blob[0] <= 0x97 and not stamped.is_stamped(blob)
    assert records.decode_record(records.encode_record([value])) == (value,)


@pytest.mark.parametrize("timestamp", [1, 0x91FFFFFF, 0x98000000, 2**32 - 1])
def test_timestamps_on_either_side_of_the_packed_range_are_stamped(timestamp: int) -> None:
    value = HandleValue(1, "URL", b"u", timestamp=timestamp)
    assert stamped.is_stamped(records.encode_value(value))
    assert records.decode_record(records.encode_record([value])) == (value,)


def test_a_record_of_both_forms_answers_in_stored_order() -> None:
    items = [
        HandleValue(1, "URL", b"https://example.cn/a", timestamp=1_767_225_600),
        HandleValue(2, "EMAIL", b"a@example.cn"),  # packed
        HandleValue(3, "SECRET", b"s", permissions=Permission.ADMIN_READ, timestamp=7),  # stamped, not public
        HandleValue(100, "HS_ADMIN", b"\x0f\xff", ttl=60, timestamp=9),
    ]
    raw = records.encode_record(items)
    forms = [stamped.is_stamped(blob) for blob in records.read_record(raw).pairs()[1::2]]  # type: ignore[index]
    assert forms == [True, False, True, True]
    stored = records.read_record(raw)
    public = [items[0], items[1], items[3]]
    assert stored.wire == struct.pack(">I", 3) + b"".join(value_wire(v) for v in public)
    assert (stored.public_count, stored.ttl_s) == (3, 60)
    assert stored.values == tuple(items)


def test_records_stored_before_the_stamped_form_read_as_they_did() -> None:
    """A value with a timestamp written packed (as every value was) still reads, next to a stamped one."""
    value = HandleValue(1, "URL", b"u", timestamp=1_767_225_600)
    old = records._BIN_PACKER.pack(["URL", b"u", 86_400, 0, 14, 1_767_225_600])
    raw = b"\x01" + records._STR_PACKER.pack([1, old, 2, records.encode_value(value)])
    again = HandleValue(2, "URL", b"u", timestamp=1_767_225_600)
    assert records.decode_record(raw) == (value, again)
    assert records.read_record(raw).wire == struct.pack(">I", 2) + value_wire(value) + value_wire(again)


@given(stampable)
def test_usual_parts_are_a_default_value_s_own_bytes(value: HandleValue) -> None:
    blob = records.encode_value(value)
    parts = stamped.usual_parts(blob)
    usual = value.permissions == DEFAULT_PERMISSIONS and value.ttl_type == TTLType.RELATIVE
    if usual and stamped.is_stamped(blob):
        assert parts == (value.type.encode(), value.data, value.ttl, value.timestamp)
    else:
        assert parts is None


@pytest.mark.parametrize(
    "blob",
    [
        records.encode_value(HandleValue(1, "URL", b"u")),  # packed: no timestamp
        records.encode_value(HandleValue(1, "URL", b"u", timestamp=5))[:-1],  # damaged: shorter than it says
        b"\x00" * 17,  # shorter than the header
    ],
)
def test_usual_parts_refuse_other_blobs(blob: bytes) -> None:
    assert stamped.usual_parts(blob) is None
