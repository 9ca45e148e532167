"""Framing: cutting a TCP stream into messages and splitting/reassembling UDP fragments (§1.3, §1.4).

``TcpFramer`` is fed bytes and hands out whole messages (envelope included); the declared length is checked
as soon as the 20-byte envelope is there, before any body is buffered. ``split_for_udp`` and
``UdpReassembler`` implement the CNRI fragmentation: 492 data bytes per datagram, TC set, SequenceNumber i,
the total length in every envelope. Time is a parameter (``now``) wherever fragments expire.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Final

from protocol.constants import ENVELOPE_SIZE, MAX_MESSAGE_LENGTH, MAX_UDP_DATA_SIZE, MessageFlag
from protocol.errors import LimitExceeded, MalformedField, ProtocolError, Truncated
from protocol.messages import check_message_length

DEFAULT_TCP_MAX_LENGTH: Final = MAX_MESSAGE_LENGTH  # 256 KiB, TI core/Common.java MAX_MESSAGE_LENGTH (§1.5)
_LENGTH_AT: Final = struct.Struct(">I")
_ENVELOPE: Final = struct.Struct(">BBBBIIII")
_TC_BYTE: Final = MessageFlag.TC >> 8  # TC in envelope byte 2


class NeedData(enum.Enum):
    NEED_DATA = "NEED_DATA"


NEED_DATA: Final = NeedData.NEED_DATA


class TcpFramer:
    """Feed with ``receive_data``; ``next_message`` returns one message's bytes or ``NEED_DATA``.

    After a framing error the stream cannot be resynchronised: the same error is raised again.
    """

    __slots__ = ("_buffer", "_error", "_max_length", "_start")

    def __init__(self, max_length: int = DEFAULT_TCP_MAX_LENGTH) -> None:
        self._buffer = bytearray()
        self._start = 0
        self._max_length = max_length
        self._error: ProtocolError | None = None

    def receive_data(self, data: bytes) -> None:
        self._buffer += data

    @property
    def buffered(self) -> int:
        return len(self._buffer) - self._start

    def next_message(self) -> bytes | NeedData:
        if self._error is not None:
            raise self._error
        start, buf = self._start, self._buffer
        if len(buf) - start < ENVELOPE_SIZE:
            return NEED_DATA
        length: int = _LENGTH_AT.unpack_from(buf, start + 16)[0]
        try:
            check_message_length(length, self._max_length)
        except ProtocolError as exc:
            self._error = exc
            raise
        end = start + ENVELOPE_SIZE + length
        if len(buf) < end:
            return NEED_DATA
        message = bytes(buf[start:end])
        self._consume(end)
        return message

    def _consume(self, end: int) -> None:
        # Compact lazily so that many small pipelined messages do not each shift the buffer.
        if end == len(self._buffer):
            self._buffer.clear()
            self._start = 0
        elif end > 65_536:
            del self._buffer[:end]
            self._start = 0
        else:
            self._start = end


def split_for_udp(message: bytes) -> list[bytes]:
    """One datagram if the message fits in 492 data bytes, else ceil(L/492) fragments with TC set (§1.4)."""
    total = len(message) - ENVELOPE_SIZE
    if total <= MAX_UDP_DATA_SIZE:
        return [message]
    major, minor, b2, b3, session, request, _seq, _len = _ENVELOPE.unpack_from(message)
    b2 |= _TC_BYTE
    data = memoryview(message)[ENVELOPE_SIZE:]
    return [
        _ENVELOPE.pack(major, minor, b2, b3, session, request, i, total) + data[off : off + MAX_UDP_DATA_SIZE]
        for i, off in enumerate(range(0, total, MAX_UDP_DATA_SIZE))
    ]


@dataclass(frozen=True, slots=True)
class ReassemblyLimits:
    max_length: int = MAX_MESSAGE_LENGTH  # total message length (§1.5)
    max_partial: int = 1_024  # messages being reassembled at once; the oldest is dropped beyond it
    max_buffered: int = 8 * 1024 * 1024  # fragment bytes held in all; oldest messages dropped beyond it
    timeout_s: float = 5.0  # a partial message older than this is dropped (the receiver's choice, §1.4)
    # The packet count of one message is bounded by max_length: at most ceil(max_length / 492) fragments.


class _Partial:
    __slots__ = ("first_seen", "parts", "size", "total")

    def __init__(self, total: int, now: float) -> None:
        self.total = total
        self.first_seen = now
        self.parts: dict[int, bytes] = {}
        self.size = 0

    @property
    def count(self) -> int:
        return -(-self.total // MAX_UDP_DATA_SIZE)


class UdpReassembler:
    """Collects TC fragments keyed by (peer, SessionId, RequestId); ``feed`` returns the whole message once
    every fragment is in, with a clean envelope (TC clear, SequenceNumber 0). Duplicates are ignored."""

    def __init__(self, limits: ReassemblyLimits | None = None) -> None:
        self.limits = limits or ReassemblyLimits()
        self._partial: dict[tuple[object, int, int], _Partial] = {}
        self._buffered = 0

    def __len__(self) -> int:
        return len(self._partial)

    @property
    def buffered(self) -> int:
        """Fragment bytes held for incomplete messages."""
        return self._buffered

    def feed(self, datagram: bytes, now: float, peer: object = None) -> bytes | None:
        """Raise ``ProtocolError`` for a datagram that cannot be a fragment; ``None`` while incomplete."""
        if len(datagram) < ENVELOPE_SIZE:
            raise Truncated(f"datagram of {len(datagram)} bytes is shorter than an envelope")
        major, minor, b2, b3, session, request, seq, total = _ENVELOPE.unpack_from(datagram)
        if not b2 & _TC_BYTE:
            return datagram  # a whole message in one datagram
        self.expire(now)
        key = (peer, session, request)
        partial = self._partial_for(key, total, now)
        self._check_fragment(partial, seq, len(datagram) - ENVELOPE_SIZE)
        if seq not in partial.parts:
            partial.parts[seq] = datagram[ENVELOPE_SIZE:]
            partial.size += len(datagram) - ENVELOPE_SIZE
            self._buffered += len(datagram) - ENVELOPE_SIZE
        if len(partial.parts) < partial.count:
            self._enforce_buffer_limit()
            return None
        self._drop(key)
        head = _ENVELOPE.pack(major, minor, b2 & ~_TC_BYTE, b3, session, request, 0, total)
        return head + b"".join(partial.parts[i] for i in range(partial.count))

    def _partial_for(self, key: tuple[object, int, int], total: int, now: float) -> _Partial:
        partial = self._partial.get(key)
        if partial is not None:
            if partial.total != total:
                raise MalformedField(f"fragment says total {total}, earlier fragments said {partial.total}")
            return partial
        check_message_length(total, self.limits.max_length)
        if len(self._partial) >= self.limits.max_partial:
            self._drop(next(iter(self._partial)))  # dicts keep insertion order: drop the oldest
        partial = self._partial[key] = _Partial(total, now)
        return partial

    def _drop(self, key: tuple[object, int, int]) -> None:
        self._buffered -= self._partial.pop(key).size

    def _enforce_buffer_limit(self) -> None:
        while self._buffered > self.limits.max_buffered and self._partial:
            self._drop(next(iter(self._partial)))

    @staticmethod
    def _check_fragment(partial: _Partial, seq: int, size: int) -> None:
        if seq >= partial.count:
            raise LimitExceeded(f"fragment {seq} of a message that has only {partial.count}")
        expected = min(MAX_UDP_DATA_SIZE, partial.total - seq * MAX_UDP_DATA_SIZE)
        if size != expected:
            raise MalformedField(f"fragment {seq} carries {size} bytes, expected {expected}")

    def expire(self, now: float) -> int:
        """Drop partial messages older than the timeout; return how many were dropped."""
        deadline = now - self.limits.timeout_s
        stale = []
        for key, partial in self._partial.items():  # arrival order: stop at the first fresh one
            if partial.first_seen >= deadline:
                break
            stale.append(key)
        for key in stale:
            self._drop(key)
        return len(stale)
