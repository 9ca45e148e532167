"""The reference vectors V1, V1b, V1c, V2, V3 (handle-protocol.md §17), byte for byte both ways."""

from __future__ import annotations

import pytest

from protocol.bodies import ErrorBody, ResolutionRequest, ValuesBody
from protocol.constants import MessageFlag, OpCode, OpFlag, Permission, ResponseCode, TTLType
from protocol.envelope import Envelope
from protocol.framing import NEED_DATA, TcpFramer
from protocol.header import Header
from protocol.messages import Message, decode_message, encode_message
from protocol.values import HandleValue

HANDLE = "88.1000.1/abc"


def _hex(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


V1 = _hex("""020a020a 00000000 00000001 00000000 00000035
00000001 00000000 00000000 0000 00 00 00000000 00000019
0000000d 38382e313030302e312f616263 00000000 00000000 00000000""")
V1B = _hex(
    "020a020a000000000000123400000000000000400000000100000000190000000000000000000000"
    "000000240000000d38382e313030302e312f6162630000000100000001000000010000000355524c"
    "00000000"
)
V1C = _hex(
    "020a020a00000000000000010000000000000039000000010000000019000000ffff000000000000"
    "0000001d0000000d38382e313030302e312f61626300000000000000000000000000000000"
)
V2 = _hex("""020a020a 00000000 00000001 00000000 00000067
00000001 00000001 00000000 0000 00 00 00000000 0000004b
0000000d 38382e313030302e312f616263 00000001
00000001 6553f100 00 00015180 0e
00000003 55524c 00000019 68747470733a2f2f6578616d706c652e636f6d2f702f616263 00000000
00000000""")
V3 = _hex(
    "020a020a000000000000000100000000000000300000000100000064000000000000000000000000"
    "000000140000001048616e646c65206e6f7420666f756e6400000000"
)

REC_CA_PO = OpFlag.REC | OpFlag.CA | OpFlag.PO


def _env(length: int, request_id: int = 1) -> Envelope:
    return Envelope(2, 10, MessageFlag.NONE, 2, 10, 0, request_id, 0, length)


URL_VALUE = HandleValue(
    1, "URL", b"https://example.com/p/abc", 86_400, TTLType.RELATIVE, Permission(0x0E), 1_700_000_000
)

EXPECTED: dict[str, tuple[bytes, Message]] = {
    "V1": (
        V1,
        Message(
            _env(53),
            Header(OpCode.RESOLUTION, ResponseCode.RESERVED, OpFlag.NONE, 0, 0, 0, 25),
            ResolutionRequest(HANDLE),
        ),
    ),
    "V1b": (
        V1B,
        Message(
            _env(64, 0x1234),
            Header(OpCode.RESOLUTION, ResponseCode.RESERVED, REC_CA_PO, 0, 0, 0, 36),
            ResolutionRequest(HANDLE, (1,), ("URL",)),
        ),
    ),
    "V1c": (
        V1C,
        Message(
            _env(57),
            Header(OpCode.RESOLUTION, ResponseCode.RESERVED, REC_CA_PO, 0xFFFF, 0, 0, 29),
            ResolutionRequest(HANDLE, (), (), b"\x00\x00\x00\x00"),
        ),
    ),
    "V2": (
        V2,
        Message(
            _env(103),
            Header(OpCode.RESOLUTION, ResponseCode.SUCCESS, OpFlag.NONE, 0, 0, 0, 75),
            ValuesBody(HANDLE, (URL_VALUE,)),
        ),
    ),
    "V3": (
        V3,
        Message(
            _env(48),
            Header(OpCode.RESOLUTION, ResponseCode.HANDLE_NOT_FOUND, OpFlag.NONE, 0, 0, 0, 20),
            ErrorBody("Handle not found"),
        ),
    ),
}


@pytest.mark.parametrize("name", EXPECTED)
def test_vector_lengths_match_the_reference(name: str) -> None:
    raw, _ = EXPECTED[name]
    assert len(raw) == {"V1": 73, "V1b": 84, "V1c": 77, "V2": 123, "V3": 68}[name]


@pytest.mark.parametrize("name", EXPECTED)
def test_vector_decodes_to_the_expected_message(name: str) -> None:
    raw, expected = EXPECTED[name]
    assert decode_message(raw) == expected


@pytest.mark.parametrize("name", EXPECTED)
def test_vector_encodes_to_the_same_bytes(name: str) -> None:
    raw, expected = EXPECTED[name]
    assert encode_message(expected) == raw
    assert encode_message(decode_message(raw)) == raw


@pytest.mark.parametrize("name", EXPECTED)
def test_vector_with_trailing_data_decodes_the_same(name: str) -> None:
    raw, expected = EXPECTED[name]
    assert decode_message(raw + b"\x99" * 7) == expected


@pytest.mark.parametrize("name", EXPECTED)
def test_vector_fed_byte_by_byte_to_the_framer(name: str) -> None:
    raw, expected = EXPECTED[name]
    framer = TcpFramer()
    out = []
    for i in range(len(raw)):
        framer.receive_data(raw[i : i + 1])
        msg = framer.next_message()
        if msg is not NEED_DATA:
            out.append(msg)
    assert out == [raw]
    assert decode_message(out[0]) == expected


def test_v2_value_is_54_bytes() -> None:
    from protocol.values import encoded_value_size

    assert encoded_value_size(URL_VALUE) == 54 == 26 + 3 + 25
