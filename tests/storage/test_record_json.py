"""``record_json.public_json`` (the REST JSON of a record's public values, from its stored bytes)
against the decoded path it stands in for: ``values_to_json`` of the public values of ``decode_record``,
written by orjson. The same bytes whenever it answers; None (the decoded path answers) otherwise."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgpack
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.constants import Permission
from protocol.filtering import public_only
from protocol.jsonfmt import values_to_json
from protocol.values import HandleValue, ValueReference
from resolver.cache import record_ttl_s, stored_ttl_s
from storage.record_json import public_json
from storage.records import RecordFormatError, decode_record, encode_record, read_record
from tests.protocol.test_jsonfmt import handle_values

STAMP = 1_767_225_600


def decoded_json(raw: bytes) -> bytes:
    return orjson.dumps(values_to_json(public_only(decode_record(raw))))


def public_values_json(raw: bytes) -> bytes | None:
    """``public_json`` of the stored bytes ``raw`` as the resolver reads them (None for a damaged record)."""
    try:
        return public_json(read_record(raw))
    except RecordFormatError:
        return None


def raw_of(*pairs: Any) -> bytes:
    """A record as storage.records packs it (blobs as msgpack str, as the Lua scripts leave them)."""
    packed: bytes = msgpack.packb(list(pairs), use_bin_type=False)
    return b"\x01" + packed


@given(st.lists(handle_values(), max_size=6))
def test_a_record_is_written_as_its_decoded_values_are(values: list[HandleValue]) -> None:
    raw = encode_record(values)
    written = public_values_json(raw)
    if any(value.references for value in values):
        assert written is None  # the decoded path writes references
    else:
        assert written == decoded_json(raw)


@given(st.lists(handle_values(), min_size=1, max_size=4))
def test_a_value_written_once_is_written_alike_in_every_record(values: list[HandleValue]) -> None:
    plain = [dataclasses.replace(v, references=()) for v in values]
    first = public_values_json(encode_record(plain))
    again = public_values_json(encode_record([*plain, plain[0]]))  # memo hits, and one value twice
    assert first == decoded_json(encode_record(plain))
    assert again == decoded_json(encode_record([*plain, plain[0]]))


def test_values_without_public_read_are_left_out() -> None:
    shown = HandleValue(1, "URL", b"https://a", timestamp=STAMP)
    hidden = HandleValue(2, "EMAIL", "秘密@b".encode(), permissions=Permission.ADMIN_READ, timestamp=STAMP)
    for values in ([shown, hidden], [hidden, shown], [hidden, shown, hidden], [hidden]):
        raw = encode_record(values)
        assert public_values_json(raw) == decoded_json(raw)
    assert public_values_json(encode_record([hidden])) == b"[]"


@pytest.mark.parametrize(
    "raw",
    [
        raw_of(1, msgpack.packb(["URL"])),  # one field: data left out too (the decoder pads it)
        raw_of(1, msgpack.packb(["URL", True])),  # data not bytes
        raw_of(1, msgpack.packb([b"URL", b"x"], use_bin_type=True)),  # a bytes type
        raw_of(1, msgpack.packb(["URL", b"x", 5, 0, 14, 0, [["a/b", 1]]], use_bin_type=True)),  # refs
        raw_of(1, msgpack.packb(["URL", b"x", 5, 7], use_bin_type=True)),  # an unknown TTL type
        raw_of(1, b"\xc1"),  # not msgpack
        raw_of("1", msgpack.packb(["URL", b"x"], use_bin_type=True)),  # an index that is not an int
        raw_of(1),  # an odd number of items
        b"\x01\x80",  # an empty Lua table: a map
        b"\x01\x92\x01",  # truncated
        b"\x02\x90",  # an unknown version
    ],
)
def test_unusual_records_are_left_to_the_decoded_path(raw: bytes) -> None:
    assert public_values_json(raw) is None


@pytest.mark.parametrize(
    "blob",
    [
        ["URL", b"x", True],  # a bool TTL: the decoded path writes true, so does this one
        ["URL", b"x", 5, 0, 14.0],  # a float permission
        ["URL", b"\x00\x01", 5, 1, 15, STAMP],  # base64, absolute TTL, permissions written
    ],
)
def test_odd_but_readable_values_are_written_as_decoded(blob: list[Any]) -> None:
    raw = raw_of(3, msgpack.packb(blob, use_bin_type=True))
    assert public_values_json(raw) in (None, decoded_json(raw))


def test_stored_bytes_last_until_the_values_are_decoded() -> None:
    raw = encode_record([HandleValue(1, "URL", b"x", references=(ValueReference("a/b", 1),))])
    record = read_record(encode_record([HandleValue(1, "URL", b"x")]))
    before = record.raw
    assert record.values
    after = record.raw
    assert before is not None
    assert after is None  # the decoded values stand for it now
    referring = read_record(raw)
    referring.check()  # its facts: the full decode speaks for a record with references
    assert referring.raw is None


@given(st.lists(handle_values(), max_size=6))
def test_the_json_pass_sets_the_facts_the_wire_pass_would(values: list[HandleValue]) -> None:
    raw = encode_record(values)
    by_json, by_wire = read_record(raw), read_record(raw)
    written = public_json(by_json)
    wire = by_wire.wire
    if written is None:
        return  # the decoded path answers: the facts come from the wire pass or the values
    assert written == decoded_json(raw)
    assert by_json.public_count == len(public_only(decode_record(raw)))
    assert by_json.ttl_s is not None
    if wire is not None:
        assert (by_json.public_count, by_json.ttl_s) == (by_wire.public_count, by_wire.ttl_s)
    for max_ttl_s in (0.5, 300.0, 86_400.0, 1e12):  # what the cache keeps it for
        assert stored_ttl_s(by_json.ttl_s, max_ttl_s) == record_ttl_s(decode_record(raw), max_ttl_s)
    assert by_json.wire == by_wire.wire  # the wire form, made later, is the one made first
