"""``jsonwrite.value_json`` writes exactly what orjson writes for ``jsonfmt.value_fields_to_json`` (and so
for ``value_to_json`` of a value without references), by its template or by the general path alike; and
``text_value_json`` writes the same from a value's stored bytes, or leaves it to the general path."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.constants import DEFAULT_PERMISSIONS, Permission, TTLType
from protocol.jsonfmt import value_fields_to_json, value_to_json
from protocol.jsonwrite import text_value_json, value_json
from protocol.values import HandleValue
from tests.protocol.test_jsonfmt import handle_values

STAMP = 1_767_225_600
PLAIN = (2000, "productName", "液压阀体 valve".encode(), 86_400, 0, 14, STAMP)


def fields(value: HandleValue) -> tuple[Any, ...]:
    return (
        value.index, value.type, value.data, value.ttl, value.ttl_type, value.permissions, value.timestamp
    )


def dumped(*args: Any) -> bytes:
    return orjson.dumps(value_fields_to_json(*args))


@given(handle_values())
def test_every_value_is_written_as_orjson_writes_its_json(value: HandleValue) -> None:
    written = value_json(*fields(value))
    assert written == dumped(*fields(value))
    if not value.references:
        assert written == orjson.dumps(value_to_json(value))


@pytest.mark.parametrize(
    "args",
    [
        PLAIN,
        (1, "URL", b"https://example.cn/a?b=\"c\"\\d", 0, 0, 14, 0),  # quotes, backslash, no timestamp
        (1, "URL", b"tab\there\x13", 5, 0, 14, STAMP),  # 0x09-0x13 are text (http-apis.md 1.4)
        (1, "URL", b"nul\x00", 5, 0, 14, STAMP),  # other controls: base64
        (1, "URL", b"\xff\xfe", 5, 0, 14, STAMP),  # not UTF-8: base64
        (1, "URL", "\u2028 \U0001f600".encode(), 5, 0, 14, STAMP),
        (1, "URL", b"", 0xFFFF_FFFF, 0, 14, 0xFFFF_FFFF),
        (0xFFFF_FFFF, "EMAIL", b"a@b", 86_400, int(TTLType.ABSOLUTE), 14, STAMP),  # absolute TTL
        (1, "URL", b"x", 86_400, 0, 0x0F, STAMP),  # permissions written
        (1, "URL", b"x", 86_400, 0, DEFAULT_PERMISSIONS, STAMP),  # the enum member, as decoded
        (1, "HS_ADMIN", b"not admin data", 86_400, 0, 14, STAMP),
        (1, "HS_SITE", b"", 86_400, 0, 14, 0),
        (True, "URL", b"x", 86_400, 0, 14, 0),  # odd field types take the general path: orjson's output
        (1, "URL", b"x", False, 0, 14, 0),
        (1, "URL", b"x", 86_400, 0.0, 14.0, 0),
        (1, "URL", b"x", 2**32, 0, 14, 0),
        (-1, "URL", b"x", 86_400, 0, 14, 0),
    ],
)
def test_template_and_general_path_agree(args: tuple[Any, ...]) -> None:
    assert value_json(*args) == dumped(*args)


@pytest.mark.parametrize(
    "args",
    [
        (2**64, "URL", b"x", 86_400, 0, 14, 0),  # past 64 bits: orjson refuses
        (1, "\ud800", b"x", 86_400, 0, 14, 0),  # a lone surrogate: orjson refuses
    ],
)
def test_what_orjson_refuses_raises_alike(args: tuple[Any, ...]) -> None:
    with pytest.raises(TypeError):
        dumped(*args)
    with pytest.raises(TypeError):
        value_json(*args)


def test_permissions_field_takes_enum_and_int_alike() -> None:
    as_int = value_json(1, "URL", b"x", 1, 0, 0x0B, 0)
    assert as_int == value_json(1, "URL", b"x", 1, 0, Permission(0x0B), 0)
    assert b'"permissions":"1011"' in as_int


_USUAL = (int(TTLType.RELATIVE), int(DEFAULT_PERMISSIONS))
u32 = st.integers(0, 2**32 - 1)
# Mostly text (the template's case), with the characters JSON escapes and bytes that are not UTF-8 mixed in.
stored_text = st.one_of(
    st.text(max_size=40).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.text(alphabet='ab"\\\x00\t\x13\x14\x7f\u00a0\u2028液', max_size=8).map(str.encode),
    st.binary(max_size=20),
)


@given(u32, stored_text, stored_text, u32, u32)
def test_a_stored_value_is_written_as_its_fields_are_or_left_to_the_general_path(
    index: int, raw_type: bytes, data: bytes, ttl: int, timestamp: int
) -> None:
    written = text_value_json(index, raw_type, data, ttl, timestamp)
    if written is not None:
        assert written == dumped(index, raw_type.decode(), data, ttl, *_USUAL, timestamp)


@pytest.mark.parametrize(
    ("raw_type", "data"),
    [
        (b"productName", "液压阀体 valve".encode()),
        (b"URL", b"https://id.example.cn/88.100.1/lt-00000042?a=b&c=%20"),
        ("型号".encode(), b""),
        (b"URL", "\u00a0 \u2028 \U0001f600".encode()),  # printable or not, what orjson keeps as it is
    ],
)
def test_usual_text_takes_the_template(raw_type: bytes, data: bytes) -> None:
    written = text_value_json(2000, raw_type, data, 86_400, STAMP)
    assert written == dumped(2000, raw_type.decode(), data, 86_400, *_USUAL, STAMP)


@pytest.mark.parametrize(
    ("raw_type", "data"),
    [
        (b"URL", b'say "hi"'),  # JSON escapes these
        (b"URL", b"back\\slash"),
        (b"URL", b"tab\there"),
        (b"URL", b"nul\x00"),  # base64 in jsonfmt
        (b"URL", b"del\x7f"),
        (b"URL", b"\xff\xfe"),  # not UTF-8: base64
        (b"HS_ADMIN", b"x"),  # jsonfmt's own formats
        (b'a"b', b"x"),
        (b"\xff", b"x"),
    ],
)
def test_what_needs_escapes_or_another_format_goes_to_the_general_path(raw_type: bytes, data: bytes) -> None:
    assert text_value_json(1, raw_type, data, 86_400, STAMP) is None
