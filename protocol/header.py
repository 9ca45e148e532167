"""The 24-byte message header (RFC 3652 §2.2.2, handle-protocol.md §4).

Unknown opcodes, response codes and OpFlag bits decode to open enum members and round-trip unchanged.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import cast

from protocol.constants import HEADER_SIZE, OpCode, OpFlag, ResponseCode
from protocol.wire import Reader, Writer

HEADER = struct.Struct(">IIIHBBII")

SITE_SERIAL_UNKNOWN = 0xFFFF  # CNRI clients send -1 when they did not pick us from an HS_SITE (§16.4)


@dataclass(frozen=True, slots=True)
class Header:
    opcode: OpCode = OpCode.RESOLUTION
    response_code: ResponseCode = ResponseCode.RESERVED  # 0 in every request (§4)
    opflag: OpFlag = OpFlag.NONE
    site_serial: int = 0
    recursion_count: int = 0
    expiration: int = 0  # Unix seconds; clients send now + 43,200 (§15)
    body_length: int = 0
    reserved: int = 0  # kept only so that odd peers round-trip

    @property
    def is_request(self) -> bool:
        return self.response_code == 0


# enum's own value -> member maps: a dict lookup instead of EnumType.__call__ on the hot path.
_OPCODES = cast("dict[int, OpCode]", OpCode._value2member_map_)
_RESPONSE_CODES = cast("dict[int, ResponseCode]", ResponseCode._value2member_map_)
_OPFLAGS = cast("dict[int, OpFlag]", OpFlag._value2member_map_)
_NAMED_OPFLAG_BITS = sum(OpFlag)


def opflag_from_wire(value: int) -> OpFlag:
    """OpFlag of a received header without growing enum's cache without bound.

    ``Flag`` caches every new bit combination for ever; a peer sending random OpFlags would grow that cache
    by one entry per message. Combinations of named bits (a bounded set) go through the cache; anything
    with unnamed bits becomes an uncached pseudo-member that still round-trips.
    """
    member = _OPFLAGS.get(value)
    if member is not None:
        return member
    if not value & ~_NAMED_OPFLAG_BITS:
        return OpFlag(value)
    pseudo = int.__new__(OpFlag, value)
    pseudo._value_ = value
    pseudo._name_ = f"0x{value:08x}"
    return pseudo


def unpack_header(data: bytes, offset: int) -> Header:
    """Decode a header from ``data`` at ``offset``; the caller has checked that 24 bytes are there."""
    opcode, rc, opflag, serial, recursion, reserved, expiration, length = HEADER.unpack_from(data, offset)
    op, code = _OPCODES.get(opcode), _RESPONSE_CODES.get(rc)
    return Header(OpCode(opcode) if op is None else op, ResponseCode(rc) if code is None else code,
                  opflag_from_wire(opflag), serial, recursion, expiration, length, reserved)


def pack_header(h: Header) -> bytes:
    return HEADER.pack(h.opcode, h.response_code, h.opflag, h.site_serial, h.recursion_count, h.reserved,
                       h.expiration, h.body_length)


def pull_header(reader: Reader) -> Header:
    return unpack_header(reader.data, reader.sub_reader(HEADER_SIZE).pos)


def push_header(writer: Writer, h: Header) -> None:
    writer.raw(pack_header(h))
