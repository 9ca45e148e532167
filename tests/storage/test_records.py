"""The record codec: every value round-trips; unknown versions and damaged bytes give RecordFormatError."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.constants import Permission, TTLType
from protocol.values import MEMO_MAX_ENTRIES, HandleValue, ValueReference
from storage import records

values = st.builds(
    HandleValue,
    index=st.integers(0, 2**31 - 1),
    type=st.text(max_size=20),
    data=st.binary(max_size=300),
    ttl=st.integers(-(2**31), 2**31 - 1),
    ttl_type=st.sampled_from(list(TTLType)),
    permissions=st.integers(0, 15).map(Permission),
    timestamp=st.integers(0, 2**32 - 1),
    references=st.lists(
        st.builds(ValueReference, st.text(max_size=30), st.integers(0, 2**31 - 1)), max_size=3
    ).map(tuple),
)


@given(st.lists(values, max_size=8))
def test_round_trip(items: list[HandleValue]) -> None:
    assert records.decode_record(records.encode_record(items)) == tuple(items)


def test_version_byte_first() -> None:
    assert records.encode_record([])[:1] == b"\x01"


@pytest.mark.parametrize("raw", [b"", b"\x02\x90", b"\x01\xc1", b"\x01\x92\x01", b"\x01\x92\x01\xa1x"])
def test_unreadable_records(raw: bytes) -> None:
    with pytest.raises(records.RecordFormatError):
        records.decode_record(raw)


def test_a_full_memo_table_drops_its_oldest_values_not_all_of_them() -> None:
    """Past ``MEMO_MAX_ENTRIES`` distinct values, each read twice (a value read once is not kept:
    protocol/doorkeeper.py), the shared-value memo drops its oldest sixteenth: the values read last are still
    shared, every value still decodes right."""
    tag = b"memo-%d"
    blobs = [records.encode_value(HandleValue(1, "URL", tag % n)) for n in range(MEMO_MAX_ENTRIES + 100)]
    decoded = [(records.decode_value(1, blob), records.decode_value(1, blob))[1] for blob in blobs]
    assert records.decode_value(1, blobs[-1]) is decoded[-1]  # the newest: kept
    assert records.decode_value(1, blobs[MEMO_MAX_ENTRIES // 2]) is decoded[MEMO_MAX_ENTRIES // 2]
    again = records.decode_value(1, blobs[0])  # the oldest: dropped, decoded anew
    assert again is not decoded[0] and again == decoded[0]
    assert all(records.decode_value(1, blob) == value for blob, value in zip(blobs, decoded, strict=True))
