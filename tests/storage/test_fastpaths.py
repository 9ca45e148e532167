"""The import and cold-read fast paths give the very bytes and values the general paths give."""

from __future__ import annotations

import json
from collections.abc import Callable

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.constants import DEFAULT_PERMISSIONS, Permission, TTLType
from protocol.jsonfmt import PlainParts
from protocol.values import HandleValue
from storage import open_store, records
from storage.api import StorageConfig
from storage.ndjson import BadLine, parse_line, parse_line_encoded

u32 = st.integers(0, 2**32 - 1)
plain = st.tuples(u32, st.text(max_size=10), st.binary(max_size=40), u32, u32)
general_value = st.builds(
    HandleValue, u32, st.text(max_size=5), st.binary(max_size=8), u32, st.sampled_from(list(TTLType)),
    st.sampled_from([DEFAULT_PERMISSIONS, Permission(0x0F)]), u32,
)


def as_value(item: PlainParts | HandleValue) -> HandleValue:
    if isinstance(item, HandleValue):
        return item
    index, value_type, data, ttl, timestamp = item
    return HandleValue(index, value_type, data, ttl, timestamp=timestamp)


@given(st.lists(plain | general_value, max_size=6))
def test_parts_record_bytes_equal_the_general_encoding(items: list[PlainParts | HandleValue]) -> None:
    assert records.encode_parts_record(items) == records.encode_record([as_value(item) for item in items])


def test_equal_blobs_decode_to_one_shared_value_from_their_second_sighting() -> None:
    raw = records.encode_record([HandleValue(100, "HS_ADMIN", b"admin", timestamp=5)])
    first, second, third = records.decode_record(raw), records.decode_record(raw), records.decode_record(raw)
    assert first == second == (HandleValue(100, "HS_ADMIN", b"admin", timestamp=5),)
    assert second[0] is third[0]  # the memo table keeps a value seen twice (protocol/doorkeeper.py)


def test_odd_item_count_is_a_damaged_record() -> None:
    with pytest.raises(records.RecordFormatError, match="odd number"):
        records.decode_record(b"\x01" + msgpack.packb([1, b"x", 2]))


LINES = [
    {"handle": "88.100.1/a", "values": [{"index": 1, "type": "URL", "data": "https://x"}]},
    {"handle": "88.100.1/b", "values": [{"index": 1, "type": "URL", "data": "x", "permissions": "1111"}]},
    {"handle": "88.100.1/c", "values": [{"index": 1, "type": "T", "data": "x", "timestamp": "2024-01-01"}]},
    {"handle": "88.100.1/d", "values": []},
]


@pytest.mark.parametrize("obj", LINES)
def test_encoded_line_equals_parse_then_encode(obj: dict[str, object]) -> None:
    line = json.dumps(obj).encode()
    handle, values = parse_line(line)
    assert parse_line_encoded(line) == (handle, records.encode_record(values))


@pytest.mark.parametrize(
    "line",
    [
        b"{",
        b"[]",
        b'{"handle": "88.100.1/a", "values": [{"index": 1, "type": "A", "data": "x"}, '
        b'{"index": 1, "type": "B", "data": "y"}]}',
        b'{"handle": "", "values": [{"index": 1, "type": "A", "data": "x"}]}',
        b'{"handle": "88.100.1/a", "values": [{"index": 0, "type": "A", "data": "x"}]}',
        b'{"handle": "88.100.1/a", "values": {}}',
    ],
)
def test_bad_lines_give_the_same_reason(line: bytes) -> None:
    with pytest.raises(BadLine) as general:
        parse_line(line)
    with pytest.raises(BadLine) as fast:
        parse_line_encoded(line)
    assert str(fast.value) == str(general.value)


def outcome(parse: Callable[[bytes], tuple[str, bytes]], line: bytes) -> tuple[str, bytes] | str:
    try:
        return parse(line)
    except BadLine as exc:
        return f"BadLine: {exc}"


def general(line: bytes) -> tuple[str, bytes]:
    handle, values = parse_line(line)
    return handle, records.encode_record(values)


def line_with(value: str, extra: str = "") -> bytes:
    return ('{"handle": "88.100.1/a", ' + extra + '"values": [' + value + "]}").encode()


@pytest.mark.parametrize(
    "line",
    [
        # Where orjson (the fast reading) and json differ, the line's fate is json's.
        line_with('{"index": 18446744073709551617, "type": "A", "data": "x"}'),
        line_with('{"index": 1, "type": "A", "data": "x", "ttl": NaN}'),
        line_with('{"index": 1, "type": "A", "data": "\\ud800"}'),
        line_with('{"index": 1, "type": "A", "data": "x"}', '"n": 1e400, '),
        line_with('{"index": 1, "type": "A", "data": "x"}', '"n": 99999999999999999999, '),
        b"\xef\xbb\xbf" + line_with('{"index": 1, "type": "A", "data": "x"}'),
        line_with('{"index": 1.0, "type": "A", "data": "x"}'),
        line_with('{"index": 1, "type": "A", "data": {"format": "string", "value": 5}}'),
        line_with('{"index": 1, "type": "A", "data": {"format": "base64", "value": "AA"}}'),
        line_with('{"index": 1, "type": "A", "data": "x", "timestamp": "2024-13-01"}'),
        line_with('{"index": 1, "type": "A", "data": "x", "timestamp": 5}'),
        line_with('{"index": 1, "type": "A", "data": "x", "timestamp": null}'),
        b"null",
    ],
)
def test_lines_where_the_readers_differ_get_json_fate(line: bytes) -> None:
    assert outcome(parse_line_encoded, line) == outcome(general, line)


numbers = st.integers(-1, 2**65) | st.floats(allow_nan=True) | st.sampled_from([0, 1, 86400, 2**32])
admin = st.fixed_dictionaries(
    {
        "handle": st.sampled_from(["0.NA/88.100", ""]) | numbers,
        "index": numbers,
        "permissions": st.sampled_from(["111111110010", "*", "2", "1" * 17]) | numbers,
    },
    optional={"legacyByteLength": st.booleans()},
)
data = st.text(max_size=8) | st.fixed_dictionaries(
    {"format": st.sampled_from(["string", "base64", "hex"]), "value": st.text(max_size=8) | numbers}
) | st.fixed_dictionaries({"format": st.just("admin"), "value": admin})
value_json = st.fixed_dictionaries(
    {"index": numbers, "type": st.text(max_size=4), "data": data},
    optional={
        "ttl": numbers,
        "references": st.just([]),
        "timestamp": st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01T08:00:00+08:00", "1900-01-01", 5]),
    },
)


@given(st.lists(value_json, max_size=4), st.booleans())
def test_any_line_gets_the_strict_outcome(values: list[dict[str, object]], ensure_ascii: bool) -> None:
    """The import's fast reading of a line against the strict reader's (the default permissions, written
    out, change no value but keep every value off the fast paths)."""
    line = json.dumps({"handle": "88.100.1/a", "values": values}, ensure_ascii=ensure_ascii)
    strict = [{**value, "permissions": "1110"} for value in values]
    strict_line = json.dumps({"handle": "88.100.1/a", "values": strict}, ensure_ascii=ensure_ascii)
    fast = outcome(parse_line_encoded, line.encode("utf-8", "surrogatepass"))
    assert fast == outcome(general, strict_line.encode("utf-8", "surrogatepass"))


ADMIN = {"format": "admin", "value": {"handle": "0.NA/88.100", "index": 200, "permissions": "111111110010"}}


@pytest.mark.parametrize(
    "value",
    [
        {"index": 100, "type": "HS_ADMIN", "data": ADMIN},
        {"index": 100, "type": "HS_ADMIN", "data": ADMIN, "ttl": 5, "timestamp": "2026-01-01T00:00:00Z"},
        {"index": 1, "type": "URL", "data": "https://x", "timestamp": "2026-01-01T08:00:00+08:00"},
        {"index": 1, "type": "B", "data": {"format": "base64", "value": "AAE="}, "timestamp": "2026-01-01"},
    ],
)
def test_fast_values_are_what_the_strict_reader_reads(value: dict[str, object]) -> None:
    def line(value: dict[str, object]) -> bytes:
        return json.dumps({"handle": "88.100.1/a", "values": [value]}).encode()

    strict = general(line({**value, "permissions": "1110"}))  # the default, written out: the strict reader
    assert parse_line_encoded(line(value)) == strict
    assert parse_line_encoded(line(value)) == strict  # again, from the remembered times and admin bytes


async def test_get_many_mixes_present_absent_and_repeated(redis_url: str) -> None:
    store = await open_store(StorageConfig(redis_url=redis_url), buckets=4)
    try:
        value = HandleValue(1, "URL", b"u")
        await store.overwrite("88.9/a", [value], actor="t")
        await store.overwrite("88.9/b", [value], actor="t")
        got = await store.get_many(["88.9/a", "88.9/none", "88.9/b", "88.9/a"])
        assert got == [(value,), None, (value,), (value,)]
    finally:
        await store.aclose()
