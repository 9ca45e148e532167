"""TCP framing and UDP fragmentation/reassembly (handle-protocol.md §1.3, §1.4)."""

from __future__ import annotations

import itertools
import random
import struct

import pytest

from protocol.bodies import ValuesBody
from protocol.constants import MessageFlag, OpCode, ResponseCode
from protocol.envelope import Envelope, unpack_envelope
from protocol.errors import LimitExceeded, MalformedField, MessageTooLong, ProtocolError, Truncated
from protocol.framing import NEED_DATA, ReassemblyLimits, TcpFramer, UdpReassembler, split_for_udp
from protocol.header import Header
from protocol.messages import Message, decode_message, encode_message
from protocol.values import HandleValue
from tests.protocol.test_vectors import V1, V1B, V1C, V2, V3


def _drain(framer: TcpFramer) -> list[bytes]:
    out = []
    while (msg := framer.next_message()) is not NEED_DATA:
        assert isinstance(msg, bytes)
        out.append(msg)
    return out


def _message_of_length(total: int) -> bytes:
    """A response whose header + body + credential is exactly ``total`` bytes (one value of padded data)."""
    fixed = 24 + (4 + 3) + 4 + (26 + 3) + 4  # header, handle "a/b", count, value with type "URL", cred
    value = HandleValue(1, "URL", b"x" * (total - fixed))
    msg = Message(
        Envelope(request_id=7, session_id=5),
        Header(OpCode.RESOLUTION, ResponseCode.SUCCESS),
        ValuesBody("a/b", (value,)),
    )
    raw = encode_message(msg)
    assert len(raw) - 20 == total
    return raw


def test_several_messages_in_one_read() -> None:
    framer = TcpFramer()
    framer.receive_data(V1 + V1B + V1C)
    assert _drain(framer) == [V1, V1B, V1C]
    assert framer.buffered == 0


def test_message_split_over_many_reads() -> None:
    stream = V1 + V2 + V3
    framer = TcpFramer()
    out: list[bytes] = []
    for i in range(0, len(stream), 7):
        framer.receive_data(stream[i : i + 7])
        out += _drain(framer)
    assert out == [V1, V2, V3]


def test_trailing_partial_message_stays_buffered() -> None:
    framer = TcpFramer()
    framer.receive_data(V1 + V1C[:30])
    assert _drain(framer) == [V1]
    assert framer.buffered == 30
    framer.receive_data(V1C[30:])
    assert _drain(framer) == [V1C]


def test_declared_length_is_checked_from_the_envelope_alone() -> None:
    framer = TcpFramer(max_length=1024)
    framer.receive_data(V1[:16] + struct.pack(">I", 2048))  # just the envelope, no body yet
    with pytest.raises(MessageTooLong) as info:
        framer.next_message()
    assert info.value.response_code == ResponseCode.PROTOCOL_ERROR
    with pytest.raises(MessageTooLong):  # the stream cannot recover
        framer.next_message()


def test_default_limit_is_256_kib() -> None:
    framer = TcpFramer()
    framer.receive_data(V1[:16] + struct.pack(">I", 262_145))
    with pytest.raises(MessageTooLong):
        framer.next_message()
    ok = TcpFramer()
    ok.receive_data(V1[:16] + struct.pack(">I", 262_144))
    assert ok.next_message() is NEED_DATA


def test_message_length_below_24_is_rejected() -> None:
    framer = TcpFramer()
    framer.receive_data(V1[:16] + struct.pack(">I", 23))
    with pytest.raises(MalformedField):
        framer.next_message()


def test_many_pipelined_messages_compact_the_buffer() -> None:
    framer = TcpFramer()
    framer.receive_data(V2 * 2000)
    assert len(_drain(framer)) == 2000
    assert framer.buffered == 0


# --- UDP ----------------------------------------------------------------------------------------------------


def test_split_1000_gives_512_512_36() -> None:
    raw = _message_of_length(1000)
    parts = split_for_udp(raw)
    assert [len(p) for p in parts] == [512, 512, 36]
    for i, part in enumerate(parts):
        env = unpack_envelope(part)
        assert env.flags & MessageFlag.TC
        assert (env.sequence_number, env.message_length) == (i, 1000)
        assert (env.request_id, env.session_id) == (7, 5)
        assert (env.suggested_major, env.suggested_minor) == (0, 0)


@pytest.mark.parametrize("total", [68, 100, 492])
def test_message_that_fits_is_one_unchanged_datagram(total: int) -> None:
    raw = _message_of_length(total)
    assert split_for_udp(raw) == [raw]
    assert not unpack_envelope(raw).flags & MessageFlag.TC


def test_split_493_gives_two_datagrams() -> None:
    assert [len(p) for p in split_for_udp(_message_of_length(493))] == [512, 21]


@pytest.mark.parametrize("total", [493, 1000, 2000, 4921])
def test_reassembly_in_any_order(total: int) -> None:
    raw = _message_of_length(total)
    parts = split_for_udp(raw)
    orders = list(itertools.islice(itertools.permutations(parts), 24))
    rng = random.Random(total)
    for _ in range(5):
        shuffled = parts[:]
        rng.shuffle(shuffled)
        orders.append(tuple(shuffled))
    for order in orders:
        assembler = UdpReassembler()
        results = [assembler.feed(p, now=0.0) for p in order]
        assert results[:-1] == [None] * (len(parts) - 1)
        assert results[-1] == raw
        assert len(assembler) == 0


def test_duplicates_are_ignored() -> None:
    raw = _message_of_length(1000)
    a, b, c = split_for_udp(raw)
    assembler = UdpReassembler()
    assert [assembler.feed(p, 0.0) for p in (a, a, b, b)] == [None] * 4
    assert assembler.feed(c, 0.0) == raw


def test_single_datagram_passes_through() -> None:
    assert UdpReassembler().feed(V1, 0.0) == V1


def test_fragments_of_different_peers_do_not_mix() -> None:
    raw = _message_of_length(1000)
    a, b, c = split_for_udp(raw)
    assembler = UdpReassembler()
    assert assembler.feed(a, 0.0, peer="p1") is None
    assert assembler.feed(b, 0.0, peer="p2") is None
    assert assembler.feed(c, 0.0, peer="p1") is None
    assert len(assembler) == 2


def test_partial_messages_expire_by_now() -> None:
    a, b, c = split_for_udp(_message_of_length(1000))
    assembler = UdpReassembler(ReassemblyLimits(timeout_s=5.0))
    assembler.feed(a, now=100.0)
    assembler.feed(b, now=104.0)
    assert assembler.expire(now=106.0) == 1
    assert assembler.feed(c, now=106.0) is None  # the first two were dropped with their message
    assert len(assembler) == 1


def test_number_of_partial_messages_is_bounded() -> None:
    assembler = UdpReassembler(ReassemblyLimits(max_partial=3))
    for request_id in range(10):
        first = split_for_udp(_message_of_length(1000))[0]
        first = first[:8] + struct.pack(">I", request_id) + first[12:]
        assembler.feed(first, 0.0)
    assert len(assembler) == 3


def test_reassembly_bounds() -> None:
    a, b, _ = split_for_udp(_message_of_length(1000))
    with pytest.raises(MessageTooLong):
        UdpReassembler(ReassemblyLimits(max_length=900)).feed(a, 0.0)
    bad_seq = a[:12] + struct.pack(">I", 3) + a[16:]
    with pytest.raises(LimitExceeded):
        UdpReassembler().feed(bad_seq, 0.0)
    with pytest.raises(MalformedField):
        UdpReassembler().feed(a[:-1], 0.0)  # a middle fragment must carry 492 bytes
    other_total = b[:16] + struct.pack(">I", 1001) + b[20:]
    assembler = UdpReassembler()
    assembler.feed(a, 0.0)
    with pytest.raises(MalformedField):
        assembler.feed(other_total, 0.0)
    with pytest.raises(Truncated):
        UdpReassembler().feed(a[:10], 0.0)


def test_reassembled_message_decodes() -> None:
    raw = _message_of_length(2000)
    assembler = UdpReassembler()
    out = [assembler.feed(p, 1.0) for p in reversed(split_for_udp(raw))]
    assert out[-1] is not None
    assert decode_message(out[-1]) == decode_message(raw)


def test_framer_errors_are_protocol_errors() -> None:
    assert issubclass(MessageTooLong, ProtocolError)


def test_buffered_fragment_bytes_are_bounded() -> None:
    assembler = UdpReassembler(ReassemblyLimits(max_buffered=3000))
    for request_id in range(10):
        for part in split_for_udp(_message_of_length(4000))[:-1]:
            assembler.feed(part[:8] + struct.pack(">I", request_id) + part[12:], 0.0)
        assert assembler.buffered <= 3000
    assert 0 < len(assembler) <= 1
    raw = _message_of_length(1000)
    for part in split_for_udp(raw)[:-1]:
        assembler.feed(part, 0.0)
    assert assembler.feed(split_for_udp(raw)[-1], 0.0) == raw
    assert assembler.buffered <= 3000
