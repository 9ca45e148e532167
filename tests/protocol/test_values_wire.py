"""The HandleValue wire codec (RFC 3651 §3.1, handle-protocol.md §11)."""

from __future__ import annotations

import dataclasses
import struct

import pytest

from protocol.constants import MAX_HANDLE_VALUES, Permission, TTLType
from protocol.errors import LimitExceeded, ProtocolError, Truncated
from protocol.values import (
    HandleValue,
    ValueReference,
    encode_values,
    encoded_value_size,
    new_value,
    pull_value,
    pull_values,
    push_value,
)
from protocol.wire import Reader, Writer
from tests.protocol.test_vectors import URL_VALUE, V2

VALUE_WITH_REFS = HandleValue(
    7, "HS_ALIAS", b"88.1/x", 3600, TTLType.ABSOLUTE, Permission(0x0F), 5, (ValueReference("0.NA/88", 300),)
)


def _encode(value: HandleValue) -> bytes:
    w = Writer()
    push_value(w, value)
    return w.getvalue()


def test_v2_value_bytes() -> None:
    assert _encode(URL_VALUE) == V2[65:119]
    assert pull_value(Reader(V2[65:119])) == URL_VALUE


@pytest.mark.parametrize("value", [URL_VALUE, VALUE_WITH_REFS, HandleValue(1, "", b"")])
def test_size_is_26_plus_type_data_and_references(value: HandleValue) -> None:
    raw = _encode(value)
    assert len(raw) == encoded_value_size(value)
    assert pull_value(Reader(raw)) == value


def test_value_list_whole_byte_by_byte_and_with_trailing_data() -> None:
    raw = encode_values([URL_VALUE, VALUE_WITH_REFS])
    assert pull_values(Reader(raw)) == (URL_VALUE, VALUE_WITH_REFS)
    reader = Reader(raw + b"tail")
    assert pull_values(reader) == (URL_VALUE, VALUE_WITH_REFS)
    assert reader.rest() == b"tail"
    for cut in range(len(raw)):
        with pytest.raises(Truncated):
            pull_values(Reader(raw[:cut]))


def test_value_count_limit() -> None:
    with pytest.raises(LimitExceeded):
        pull_values(Reader(struct.pack(">I", MAX_HANDLE_VALUES + 1) + b"\x00" * 64))


def test_unknown_ttl_type_and_permission_bits_round_trip() -> None:
    raw = bytearray(_encode(URL_VALUE))
    raw[8] = 9
    raw[13] = 0xF0
    value = pull_value(Reader(bytes(raw)))
    assert (value.ttl_type, value.permissions) == (9, 0xF0)
    assert _encode(value) == bytes(raw)


def test_corrupt_reference_count_is_a_protocol_error() -> None:
    raw = _encode(URL_VALUE)[:-4] + b"\xff\xff\xff\xff"
    with pytest.raises(ProtocolError):
        pull_value(Reader(raw))


def test_new_value_is_the_same_value_as_the_constructor_builds() -> None:
    fields = (7, "HS_ALIAS", b"88.1/x", 3600, TTLType.ABSOLUTE, Permission(0x0F), 5,
              (ValueReference("0.NA/88", 300),))
    built = new_value(*fields)
    assert built == VALUE_WITH_REFS and hash(built) == hash(VALUE_WITH_REFS)
    assert repr(built) == repr(VALUE_WITH_REFS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.index = 8  # type: ignore[misc]


def test_values_encode_the_same_bytes_the_first_time_and_the_next() -> None:
    # push_values keeps the wire bytes of each value object it encoded (values are immutable); a second
    # encoding, of the same objects or of equal new ones, must give exactly the bytes push_value writes.
    values = (URL_VALUE, VALUE_WITH_REFS, HandleValue(1, "", b""), dataclasses.replace(URL_VALUE, index=2))
    expected = struct.pack(">I", len(values)) + b"".join(_encode(v) for v in values)
    assert encode_values(values) == expected
    assert encode_values(values) == expected
    assert encode_values(tuple(dataclasses.replace(v) for v in values)) == expected
