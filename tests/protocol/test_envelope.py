"""Envelope (20 bytes) and header (24 bytes): suggested-version bits, open enums, round trips."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocol.constants import MessageFlag, OpCode, OpFlag, ResponseCode
from protocol.envelope import Envelope, pack_envelope, unpack_envelope
from protocol.header import Header, opflag_from_wire, pack_header, unpack_header
from tests.protocol.test_vectors import V1, V1C


def test_teleinfo_default_bytes_are_version_not_flags() -> None:
    env = unpack_envelope(bytes.fromhex("020a020b") + V1[4:20])
    assert env.flags == MessageFlag.NONE
    assert (env.major, env.minor, env.suggested_version) == (2, 10, (2, 11))


def test_suggested_major_zero_means_envelope_version() -> None:
    env = unpack_envelope(bytes.fromhex("0203e000") + V1[4:20])
    assert env.flags == MessageFlag.CP | MessageFlag.EC | MessageFlag.TC
    assert env.suggested_version == (2, 3)


def test_v1c_header_fields() -> None:
    header = unpack_header(V1C, 20)
    assert header == Header(OpCode.RESOLUTION, ResponseCode.RESERVED, OpFlag(0x19000000), 0xFFFF, 0, 0, 29)
    assert header.is_request


def test_unknown_opflag_bits_do_not_grow_the_enum_cache() -> None:
    before = len(OpFlag._value2member_map_)
    for bits in range(500):
        assert opflag_from_wire(0x00008000 | bits << 12) == 0x00008000 | bits << 12
    assert len(OpFlag._value2member_map_) == before


@given(
    st.builds(
        Envelope,
        st.integers(0, 255),
        st.integers(0, 255),
        st.sampled_from([0, 0x8000, 0x4000, 0x2000, 0xE000, 0x1C00]).map(MessageFlag),
        st.integers(0, 3),
        st.integers(0, 255),
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
    )
)
def test_envelope_round_trip(env: Envelope) -> None:
    raw = pack_envelope(env)
    assert len(raw) == 20
    assert unpack_envelope(raw) == env


@given(
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 0xFFFF),
    st.integers(0, 255),
    st.integers(0, 2**32 - 1),
)
def test_header_round_trip(opcode: int, rc: int, opflag: int, serial: int, recursion: int, exp: int) -> None:
    header = Header(OpCode(opcode), ResponseCode(rc), opflag_from_wire(opflag), serial, recursion, exp, 9)
    raw = pack_header(header)
    assert len(raw) == 24
    assert unpack_header(raw, 0) == header
