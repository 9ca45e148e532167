"""Hypothesis: decode(encode(x)) == x for every message part; arbitrary bytes give a result or a
ProtocolError, never another exception."""

from __future__ import annotations

import contextlib
import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import bodies as b
from protocol.constants import DigestAlgorithm, MessageFlag, OpCode, OpFlag, Permission, ResponseCode, TTLType
from protocol.credential import Credential
from protocol.digest import RequestDigest
from protocol.envelope import Envelope
from protocol.errors import ProtocolError
from protocol.fastpath import decode_resolution_request
from protocol.framing import NEED_DATA, TcpFramer, UdpReassembler, split_for_udp
from protocol.header import Header
from protocol.messages import Message, decode_message, encode_message
from protocol.values import HandleValue, ValueReference, encode_values, pull_values
from protocol.wire import Reader
from tests.protocol.test_vectors import V1, V1B, V1C, V2, V3

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
text = st.text(max_size=20)
handles = st.text(max_size=30)
blobs = st.binary(max_size=40)

refs = st.builds(ValueReference, handles, u32)
values = st.builds(
    HandleValue,
    index=u32,
    type=text,
    data=blobs,
    ttl=u32,
    ttl_type=u8.map(TTLType),
    permissions=u8.map(Permission),
    timestamp=u32,
    references=st.lists(refs, max_size=3).map(tuple),
)
value_lists = st.lists(values, max_size=4).map(tuple)
int_lists = st.lists(u32, max_size=5).map(tuple)
text_lists = st.lists(text, max_size=4).map(tuple)

# (opcode, response code, body) triples the dispatch tables decode back to the same body.
requests = st.one_of(
    st.tuples(
        st.just(OpCode.RESOLUTION), st.builds(b.ResolutionRequest, handles, int_lists, text_lists, blobs)
    ),
    st.tuples(
        st.sampled_from([OpCode.CREATE_HANDLE, OpCode.ADD_VALUE, OpCode.MODIFY_VALUE]),
        st.builds(b.ValuesBody, handles, value_lists),
    ),
    st.tuples(st.just(OpCode.REMOVE_VALUE), st.builds(b.RemoveValuesRequest, handles, int_lists)),
    st.tuples(
        st.sampled_from(
            [
                OpCode.DELETE_HANDLE,
                OpCode.HOME_NA,
                OpCode.UNHOME_NA,
                OpCode.GET_SITE_INFO,
                OpCode.LIST_HOMED_NAS,
            ]
        ),
        st.builds(b.HandleBody, handles),
    ),
    st.tuples(st.just(OpCode.LOGIN_ID_SYSTEM), st.builds(b.LoginRequest, handles, u32)),
    st.tuples(
        st.just(OpCode.CHALLENGE_RESPONSE), st.builds(b.ChallengeAnswer, text, handles, u32, text, blobs)
    ),
    st.tuples(st.just(OpCode(4000)), st.builds(b.RawBody, st.binary(min_size=1, max_size=30))),
).map(lambda t: (t[0], ResponseCode.RESERVED, t[1]))

error_codes = st.sampled_from(
    [
        ResponseCode.ERROR,
        ResponseCode.HANDLE_NOT_FOUND,
        ResponseCode.VALUES_NOT_FOUND,
        ResponseCode.SERVER_NOT_RESP,
        ResponseCode.SERVER_TOO_BUSY,
    ]
)
responses = st.one_of(
    st.tuples(
        st.just(OpCode.RESOLUTION),
        st.just(ResponseCode.SUCCESS),
        st.builds(b.ValuesBody, handles, value_lists),
    ),
    st.tuples(st.sampled_from(list(OpCode)), error_codes, st.builds(b.ErrorBody, text)),
    st.tuples(
        st.just(OpCode.RESOLUTION),
        st.sampled_from([ResponseCode.SERVICE_REFERRAL, ResponseCode.PREFIX_REFERRAL]),
        st.builds(b.ReferralBody, handles, st.none() | value_lists),
    ),
    st.tuples(
        st.sampled_from(list(OpCode)),
        st.just(ResponseCode.AUTHENTICATION_NEEDED),
        st.builds(b.ChallengeBody, blobs),
    ),
    st.tuples(
        st.just(OpCode.CREATE_HANDLE),
        st.just(ResponseCode.SUCCESS),
        st.builds(b.CreateResponse, st.none() | handles),
    ),
    st.tuples(
        st.just(OpCode.GET_SITE_INFO), st.just(ResponseCode.SUCCESS), st.builds(b.SiteInfoResponse, blobs)
    ),
    st.tuples(
        st.sampled_from([OpCode.DELETE_HANDLE, OpCode.HOME_NA, OpCode.LOGIN_ID_SYSTEM]),
        st.just(ResponseCode.SUCCESS),
        st.just(b.EmptyBody()),
    ),
)

envelopes = st.builds(
    Envelope,
    u8,
    u8,
    st.sampled_from([0, 0x8000, 0x4000, 0x2000, 0x1C00]).map(MessageFlag),
    st.integers(0, 3),
    u8,
    u32,
    u32,
    u32,
)
credentials = st.none() | st.builds(Credential, u8, u8, u16, handles, u32, text, text, blobs)
_DIGEST_SIZES = {
    DigestAlgorithm.MD5_OLD_FORMAT: 16,
    DigestAlgorithm.MD5: 16,
    DigestAlgorithm.SHA1: 20,
    DigestAlgorithm.SHA256: 32,
}
digests = st.sampled_from(list(_DIGEST_SIZES)).flatmap(
    lambda alg: st.builds(
        RequestDigest, st.just(alg), st.binary(min_size=_DIGEST_SIZES[alg], max_size=_DIGEST_SIZES[alg])
    )
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    opcode, rc, body = draw(requests | responses)
    opflag = OpFlag(draw(u32) & ~int(OpFlag.RD))
    digest = None
    if rc != 0 and draw(st.booleans()):
        digest, opflag = draw(digests), opflag | OpFlag.RD
    header = Header(opcode, rc, opflag, draw(u16), draw(u8), draw(u32), 0, draw(u8))
    credential = draw(credentials)
    trailer = credential is not None or draw(st.booleans())
    envelope = draw(envelopes)
    if rc == ResponseCode.PREFIX_REFERRAL:  # below 2.5 a 303 carries an error message instead (§16.3)
        envelope = replace(envelope, major=2, minor=draw(st.integers(5, 255)))
    return Message(envelope, header, body, credential, digest, trailer)


def _normalised(msg: Message, raw: bytes) -> Message:
    """``msg`` with the lengths the encoder computed."""
    return replace(
        msg,
        envelope=replace(msg.envelope, message_length=len(raw) - 20),
        header=replace(msg.header, body_length=decode_message(raw).header.body_length),
    )


@given(messages())
@settings(max_examples=300)
def test_message_round_trip(msg: Message) -> None:
    raw = encode_message(msg)
    back = decode_message(raw)
    assert back == _normalised(msg, raw)
    assert encode_message(back) == raw


@given(value_lists)
def test_value_list_round_trip(vals: tuple[HandleValue, ...]) -> None:
    assert pull_values(Reader(encode_values(vals))) == vals


@given(st.binary(max_size=200))
@settings(max_examples=400)
def test_arbitrary_bytes_give_a_message_or_protocol_error(data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode_message(data)
    with contextlib.suppress(ProtocolError):
        decode_resolution_request(data)


@given(st.sampled_from([V1, V1B, V1C, V2, V3]), st.data())
@settings(max_examples=400)
def test_mutated_vectors_give_a_message_or_protocol_error(raw: bytes, data: st.DataObject) -> None:
    mutated = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        mutated[data.draw(st.integers(0, len(raw) - 1))] = data.draw(u8)
    for decode in (decode_message, decode_resolution_request):
        with contextlib.suppress(ProtocolError):
            decode(bytes(mutated))


@given(st.lists(st.binary(max_size=60), max_size=8))
def test_arbitrary_chunks_to_the_framer(chunks: list[bytes]) -> None:
    framer = TcpFramer(max_length=4096)
    with contextlib.suppress(ProtocolError):
        for chunk in chunks:
            framer.receive_data(chunk)
            while (msg := framer.next_message()) is not NEED_DATA:
                assert isinstance(msg, bytes)


@given(st.lists(st.binary(max_size=600), max_size=8), st.floats(0, 100))
def test_arbitrary_datagrams_to_the_reassembler(datagrams: list[bytes], now: float) -> None:
    assembler = UdpReassembler()
    for datagram in datagrams:
        with contextlib.suppress(ProtocolError):
            assembler.feed(datagram, now)


@given(messages(), st.randoms(use_true_random=False))
@settings(max_examples=50)
def test_split_and_reassemble_any_message(msg: Message, rnd: random.Random) -> None:
    raw = encode_message(
        replace(msg, envelope=replace(msg.envelope, flags=MessageFlag.NONE, sequence_number=0))
    )
    parts = split_for_udp(raw)
    rnd.shuffle(parts)
    assembler = UdpReassembler()
    results = [assembler.feed(p, 0.0) for p in parts]
    assert results[-1] == raw
