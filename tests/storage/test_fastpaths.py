"""The import and cold-read fast paths give the very bytes and values the general paths give."""

from __future__ import annotations

import json

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.values import HandleValue
from storage import open_store, records
from storage.api import StorageConfig
from storage.ndjson import BadLine, parse_line, parse_line_encoded

u32 = st.integers(0, 2**32 - 1)
plain = st.tuples(u32, st.text(max_size=10), st.binary(max_size=40), u32)


@given(st.lists(plain, max_size=6))
def test_plain_record_bytes_equal_the_general_encoding(items: list[tuple[int, str, bytes, int]]) -> None:
    assert records.encode_plain_record(items) == records.encode_record([HandleValue(*item) for item in items])


def test_equal_blobs_decode_to_one_shared_value() -> None:
    raw = records.encode_record([HandleValue(100, "HS_ADMIN", b"admin", timestamp=5)])
    first, second = records.decode_record(raw), records.decode_record(raw)
    assert first == (HandleValue(100, "HS_ADMIN", b"admin", timestamp=5),)
    assert first[0] is second[0]


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
