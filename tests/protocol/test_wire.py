"""The Reader/Writer cursor: every malformed primitive is one specific ProtocolError."""

from __future__ import annotations

import struct

import pytest

from protocol.errors import LimitExceeded, MalformedField, Truncated
from protocol.wire import Reader, Writer


def test_primitives_round_trip() -> None:
    w = Writer()
    w.u8(7)
    w.u16(0xFFFF)
    w.u32(0xFFFFFFFF)
    w.string("标识/ß")
    w.counted_bytes(b"\x00\x01")
    w.int_array((1, 2, 300))
    w.string_array(("URL", "HS_SITE."))
    r = Reader(memoryview(w.getvalue()))
    assert (r.u8(), r.u16(), r.u32()) == (7, 0xFFFF, 0xFFFFFFFF)
    assert r.string() == "标识/ß"
    assert r.counted_bytes() == b"\x00\x01"
    assert r.int_array() == (1, 2, 300)
    assert r.string_array() == ("URL", "HS_SITE.")
    assert r.remaining() == 0
    r.expect_end("everything")


@pytest.mark.parametrize(
    "method", ["u8", "u16", "u32", "string", "counted_bytes", "int_array", "string_array"]
)
def test_short_reads_raise_truncated(method: str) -> None:
    with pytest.raises(Truncated):
        getattr(Reader(b""), method)()


def test_truncated_string() -> None:
    with pytest.raises(Truncated):
        Reader(struct.pack(">I", 10) + b"abc").string()


def test_invalid_utf8_is_malformed() -> None:
    with pytest.raises(MalformedField):
        Reader(struct.pack(">I", 2) + b"\xc3\x28").string()


def test_huge_and_negative_looking_counts() -> None:
    with pytest.raises(LimitExceeded):
        Reader(b"\xff\xff\xff\xff").int_array()
    with pytest.raises(LimitExceeded):
        Reader(b"\xff\xff\xff\xff" + b"\x00" * 8).string_array()
    with pytest.raises(LimitExceeded):
        Reader(struct.pack(">I", 2049) + b"x" * 2049).string(limit=2048)
    with pytest.raises(Truncated):  # under the limit but more than the bytes present
        Reader(struct.pack(">I", 1000) + b"\x00" * 8).int_array()


def test_sub_reader_demands_full_consumption() -> None:
    r = Reader(b"\x00\x00\x00\x01\x02")
    sub = r.sub_reader(4)
    assert r.remaining() == 1
    assert sub.u16() == 0
    with pytest.raises(MalformedField):
        sub.expect_end("a test field")
    with pytest.raises(Truncated):
        Reader(b"\x00").sub_reader(2)


def test_sub_reader_cannot_read_past_its_end() -> None:
    sub = Reader(b"\x00\x00\x00\x05abcdefgh").sub_reader(6)
    with pytest.raises(Truncated):
        sub.string()
