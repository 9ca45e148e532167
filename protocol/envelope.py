"""The 20-byte message envelope (RFC 3652 §2.2.1, handle-protocol.md §3).

Bytes 2-3 are not all flags: CP/EC/TC live in the top three bits and the low bits carry the sender's
suggested version (an implementation extension, §16.2). Reserved bits are kept so they round-trip.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import cast

from protocol.constants import ENVELOPE_SIZE, MessageFlag
from protocol.wire import Reader, Writer

ENVELOPE = struct.Struct(">BBBBIIII")

_FLAGS = cast("dict[int, MessageFlag]", MessageFlag._value2member_map_)  # 64 combinations at most
FLAG_BITS_MASK = 0xFC  # byte 2: CP, EC, TC and the reserved 0x1C bits; the rest is the suggested major


@dataclass(frozen=True, slots=True)
class Envelope:
    """Transport framing of one message (or one UDP fragment of it)."""

    major: int = 2
    minor: int = 10
    flags: MessageFlag = MessageFlag.NONE
    suggested_major: int = 0  # 0 means "same as major.minor" (TI core/Encoder.java decodeEnvelope)
    suggested_minor: int = 0
    session_id: int = 0
    request_id: int = 0
    sequence_number: int = 0
    message_length: int = 0

    @property
    def suggested_version(self) -> tuple[int, int]:
        """The version the sender would like the reply in (§3)."""
        if self.suggested_major == 0:
            return (self.major, self.minor)
        return (self.suggested_major, self.suggested_minor)


def unpack_envelope(data: bytes, offset: int = 0) -> Envelope:
    """Decode an envelope from ``data`` at ``offset``; the caller has checked that 20 bytes are there."""
    major, minor, b2, b3, session, request, seq, length = ENVELOPE.unpack_from(data, offset)
    flags = _FLAGS.get((b2 & FLAG_BITS_MASK) << 8)
    if flags is None:
        flags = MessageFlag((b2 & FLAG_BITS_MASK) << 8)
    return Envelope(major, minor, flags, b2 & 0x03, b3, session, request, seq, length)


def pack_envelope(env: Envelope) -> bytes:
    byte2 = ((int(env.flags) >> 8) & FLAG_BITS_MASK) | (env.suggested_major & 0x03)
    return ENVELOPE.pack(env.major, env.minor, byte2, env.suggested_minor, env.session_id, env.request_id,
                         env.sequence_number, env.message_length)


def pull_envelope(reader: Reader) -> Envelope:
    return unpack_envelope(reader.data, reader.sub_reader(ENVELOPE_SIZE).pos)


def push_envelope(writer: Writer, env: Envelope) -> None:
    writer.raw(pack_envelope(env))
