"""Replies, request digests, credentials and the interop quirks of handle-protocol.md §14-16."""

from __future__ import annotations

import hashlib
import struct

import pytest

from protocol.bodies import (
    ChallengeAnswer,
    ChallengeBody,
    EmptyBody,
    ErrorBody,
    HandleBody,
    LoginRequest,
    RawBody,
    ReferralBody,
    ResolutionRequest,
    SiteInfoResponse,
    ValuesBody,
)
from protocol.constants import DigestAlgorithm, MessageFlag, OpCode, OpFlag, ResponseCode
from protocol.credential import Credential
from protocol.digest import RequestDigest
from protocol.envelope import Envelope
from protocol.errors import MalformedField, MessageTooLong, ProtocolError, Truncated
from protocol.fastpath import NotAResolutionRequest, decode_resolution_request, encode_resolution_response
from protocol.header import Header
from protocol.messages import (
    Message,
    build_request,
    decode_message,
    encode_decode_failure,
    encode_error,
    encode_message,
    encode_response,
    response_envelope_for,
    supports_prefix_referral,
)
from protocol.values import encode_values
from tests.protocol.test_vectors import URL_VALUE, V1, V1B, V1C, V2


def _with_version(raw: bytes, major: int, minor: int, b2: int, b3: int) -> bytes:
    return bytes((major, minor, b2, b3)) + raw[4:]


@pytest.mark.parametrize(
    ("head", "reply"),
    [
        ((2, 10, 0x02, 0x0B), (2, 11)),  # CNRI/Teleinfo default: 2.10 suggesting 2.11
        ((2, 10, 0x02, 0x0A), (2, 10)),
        ((2, 3, 0x00, 0x00), (2, 3)),  # CAICT 2.3, no suggestion: same as envelope
        ((2, 11, 0x02, 0x0F), (2, 11)),  # suggests 2.15: capped at ours
        ((2, 10, 0xE2, 0x01), (2, 1)),  # CP/EC/TC bits next to the suggested major
    ],
)
def test_reply_version_follows_the_suggested_version(
    head: tuple[int, int, int, int], reply: tuple[int, int]
) -> None:
    request = decode_message(_with_version(V1, *head))
    out = decode_message(encode_response(request, ResponseCode.HANDLE_NOT_FOUND, ErrorBody("x")))
    assert (out.envelope.major, out.envelope.minor) == reply
    assert out.envelope.suggested_version == (2, 11)
    assert response_envelope_for(request.envelope).suggested_version == (2, 11)


def test_response_echoes_opcode_request_and_session_ids() -> None:
    request = build_request(HandleBody("0.NA/88.1000.1"), opcode=OpCode.HOME_NA, request_id=77, session_id=9)
    out = decode_message(
        encode_response(decode_message(encode_message(request)), ResponseCode.SUCCESS, EmptyBody())
    )
    assert out.header.opcode == OpCode.HOME_NA
    assert (out.envelope.request_id, out.envelope.session_id) == (77, 9)
    assert out.credential is None and out.has_credential_trailer
    assert out.body == EmptyBody()


def test_response_copies_only_the_echoed_opflags() -> None:
    flags = OpFlag.AT | OpFlag.REC | OpFlag.KPAL | OpFlag.PO | OpFlag.DNRF | OpFlag.CA | OpFlag.MINT
    request = decode_message(encode_message(build_request(ResolutionRequest("a/b"), opflag=flags)))
    out = decode_message(encode_response(request, ResponseCode.HANDLE_NOT_FOUND, ErrorBody("no")))
    assert out.header.opflag == OpFlag.AT | OpFlag.PO | OpFlag.DNRF | OpFlag.CA


@pytest.mark.parametrize(
    ("minor", "algorithm", "hasher"),
    [
        (10, DigestAlgorithm.SHA256, "sha256"),
        (7, DigestAlgorithm.SHA256, "sha256"),
        (6, DigestAlgorithm.SHA1, "sha1"),
        (1, DigestAlgorithm.SHA1, "sha1"),
    ],
)
def test_rd_prepends_the_digest_of_header_and_body(
    minor: int, algorithm: DigestAlgorithm, hasher: str
) -> None:
    raw = bytearray(_with_version(V1, 2, minor, 0, 0))
    raw[28:32] = struct.pack(">I", OpFlag.RD)
    request = decode_message(bytes(raw))
    out = decode_message(encode_response(request, ResponseCode.SUCCESS, ValuesBody("88.1000.1/abc", ())))
    assert out.header.opflag & OpFlag.RD
    digest = hashlib.new(hasher, bytes(raw[20:69])).digest()
    assert out.digest == RequestDigest(algorithm, digest)
    assert out.body == ValuesBody("88.1000.1/abc", ())


def test_rd_is_not_written_below_2_1() -> None:
    raw = bytearray(_with_version(V1, 2, 0, 0, 0))
    raw[28:32] = struct.pack(">I", OpFlag.RD)
    out = decode_message(encode_response(decode_message(bytes(raw)), ResponseCode.ERROR, ErrorBody("e")))
    assert not out.header.opflag & OpFlag.RD and out.digest is None


def test_legacy_md5_digest_round_trips() -> None:
    digest = RequestDigest(DigestAlgorithm.MD5_OLD_FORMAT, hashlib.md5(b"x").digest())  # noqa: S324
    msg = Message(
        Envelope(),
        Header(OpCode.RESOLUTION, ResponseCode.HANDLE_NOT_FOUND, OpFlag.RD),
        ErrorBody("gone"),
        digest=digest,
    )
    raw = encode_message(msg)
    assert raw[44:48] == b"\x00\x00\x00\x10"
    assert decode_message(raw).digest == digest


def test_challenge_always_carries_the_digest() -> None:
    request = decode_message(V1)  # no RD asked for
    out = decode_message(
        encode_response(
            request, ResponseCode.AUTHENTICATION_NEEDED, ChallengeBody(b"n" * 16), opflag_extra=OpFlag.RD
        )
    )
    assert out.digest == RequestDigest(DigestAlgorithm.SHA256, hashlib.sha256(V1[20:69]).digest())
    assert out.body == ChallengeBody(b"n" * 16)


def test_site_serial_ffff_and_unknown_codes_round_trip() -> None:
    msg = Message(
        Envelope(2, 10, MessageFlag(0x1C00)),
        Header(OpCode(4242), ResponseCode(0), OpFlag(0x00000F00), 0xFFFF, 3, 1_800_000_000),
        RawBody(b"\x01\x02"),
    )
    back = decode_message(encode_message(msg))
    assert back.header.opcode == 4242 and back.header.opflag == 0x0F00 and back.header.site_serial == 0xFFFF
    assert back.envelope.flags == 0x1C00 and back.body == RawBody(b"\x01\x02")


def test_login_2001_without_credential_trailer() -> None:
    body = struct.pack(">I", 13) + b"88.111.1/test" + struct.pack(">I", 300)
    header = struct.pack(">IIIHBBII", 2001, 0, OpFlag.RD, 0xFFFF, 0, 0, 0, len(body))
    raw = bytes.fromhex("020a020b") + struct.pack(">IIII", 0, 5, 0, 24 + len(body)) + header + body
    msg = decode_message(raw)
    assert msg.body == LoginRequest("88.111.1/test", 300)
    assert msg.credential is None and not msg.has_credential_trailer
    assert encode_message(msg) == raw


def test_signed_credential_is_parsed_and_kept() -> None:
    cred = Credential(0, 0, 0, "88.111.1/test", 300, "HS_SIGNED", "SHA-256", b"sig" * 10)
    msg = build_request(ResolutionRequest("88.1000.1/abc"))
    raw = encode_message(Message(msg.envelope, msg.header, msg.body, cred))
    back = decode_message(raw)
    assert back.credential == cred
    assert back.credential is not None and raw.endswith(back.credential.raw)


def test_challenge_answer_and_referral_round_trip() -> None:
    answer = ChallengeAnswer("HS_PUBKEY", "88.111.1/test", 300, "SHA256", b"\x01" * 64)
    msg = build_request(answer, opcode=OpCode.CHALLENGE_RESPONSE, session_id=3)
    assert decode_message(encode_message(msg)).body == answer
    for values in (None, (), (URL_VALUE,)):
        ref = Message(
            Envelope(), Header(OpCode.RESOLUTION, ResponseCode.PREFIX_REFERRAL), ReferralBody("", values)
        )
        assert decode_message(encode_message(ref)).body == ReferralBody("", values)


def test_site_info_response_is_kept_as_bytes() -> None:
    msg = Message(
        Envelope(), Header(OpCode.GET_SITE_INFO, ResponseCode.SUCCESS), SiteInfoResponse(b"\x00\x01x")
    )
    assert decode_message(encode_message(msg)).body == SiteInfoResponse(b"\x00\x01x")


def test_error_body_too_short_is_an_empty_message() -> None:
    msg = decode_message(
        encode_message(
            Message(Envelope(), Header(OpCode.RESOLUTION, ResponseCode.ERROR), RawBody(b"\x00\x00"))
        )
    )
    assert msg.body == ErrorBody("")


# --- The resolver's fast path ------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [V1, V1B, V1C])
def test_fast_decode_agrees_with_the_general_decoder(raw: bytes) -> None:
    fast = decode_resolution_request(raw)
    general = decode_message(raw)
    assert isinstance(general.body, ResolutionRequest)
    assert (fast.handle, fast.indexes, fast.types) == (
        general.body.handle,
        general.body.indexes,
        general.body.types,
    )
    assert (fast.request_id, fast.opflag, fast.site_serial) == (
        1 if raw is not V1B else 0x1234,
        general.opflag,
        general.header.site_serial,
    )
    assert fast.signed_part == general.signed_part


def test_fast_response_matches_v2_body_and_full_encode() -> None:
    request = decode_resolution_request(V1C)
    fast = encode_resolution_response(request, encode_values([URL_VALUE]))
    full = encode_response(
        decode_message(V1C), ResponseCode.SUCCESS, ValuesBody("88.1000.1/abc", (URL_VALUE,))
    )
    assert fast == full
    assert fast[44:] == V2[44:]  # same body and credential as the reference response
    assert decode_message(fast).body == ValuesBody("88.1000.1/abc", (URL_VALUE,))


def test_fast_decode_rejects_other_messages_with_protocol_errors() -> None:
    with pytest.raises(MalformedField):
        decode_resolution_request(V2)
    with pytest.raises(Truncated):
        decode_resolution_request(V1[:60])
    for cut in range(len(V1C)):
        with pytest.raises(ProtocolError):
            decode_resolution_request(V1C[:cut])


def test_error_reply_helper() -> None:
    out = decode_message(encode_error(decode_resolution_request(V1C), ResponseCode.HANDLE_NOT_FOUND, "nope"))
    assert out.body == ErrorBody("nope") and out.header.opflag == OpFlag.CA | OpFlag.PO


# --- Decoder errors ----------------------------------------------------------------------------------------


def test_oversized_message_length() -> None:
    raw = V1[:16] + struct.pack(">I", 300_000) + V1[20:]
    with pytest.raises(MessageTooLong):
        decode_message(raw)
    with pytest.raises(MessageTooLong):
        decode_message(V1, max_length=40)


def test_message_length_below_header_size() -> None:
    with pytest.raises(MalformedField):
        decode_message(V1[:16] + struct.pack(">I", 10) + V1[20:])


def test_body_length_past_message_length() -> None:
    with pytest.raises(Truncated):
        decode_message(V1[:40] + struct.pack(">I", 1000) + V1[44:])


def test_every_truncation_is_a_protocol_error() -> None:
    for raw in (V1, V1B, V1C, V2):
        for cut in range(len(raw)):
            with pytest.raises(ProtocolError):
                decode_message(raw[:cut])


# --- Old peers and undecodable requests --------------------------------------------------------------------


def test_peers_below_2_5_get_their_codes_and_read_303_as_an_error() -> None:
    old = decode_message(_with_version(V1, 2, 3, 0, 0))  # CAICT without site information
    assert not supports_prefix_referral(old)
    assert supports_prefix_referral(decode_message(V1))
    out = decode_message(encode_response(old, ResponseCode.SERVER_BACKUP, ErrorBody("backup")))
    assert out.header.response_code == ResponseCode.PREFIX_REFERRAL
    assert out.body == ErrorBody("backup")  # a 2.3 envelope: 303 is decoded as an error message
    out = decode_message(encode_response(old, ResponseCode.INVALID_VALUE, ErrorBody("bad")))
    assert out.header.response_code == ResponseCode.VALUE_ALREADY_EXISTS


def test_reply_to_an_undecodable_message_echoes_the_ids() -> None:
    raw = V1B[:16] + struct.pack(">I", 999_999) + V1B[20:]
    with pytest.raises(MessageTooLong) as info:
        decode_message(raw)
    out = decode_message(encode_decode_failure(raw, info.value) or b"")
    assert out.header.response_code == ResponseCode.PROTOCOL_ERROR
    assert (out.envelope.request_id, out.header.opcode) == (0x1234, OpCode.RESOLUTION)
    assert isinstance(out.body, ErrorBody) and "999999" in out.body.message
    assert encode_decode_failure(raw[:19], info.value) is None


def test_fast_decode_tells_other_opcodes_apart() -> None:
    login = encode_message(build_request(LoginRequest("88.111.1/test", 300), opcode=OpCode.LOGIN_ID_SYSTEM))
    with pytest.raises(NotAResolutionRequest):
        decode_resolution_request(login)
    assert decode_message(login).body == LoginRequest("88.111.1/test", 300)


@pytest.mark.parametrize("raw", [V1, V1B, V1C])
def test_fast_decode_whole_with_trailing_data_and_from_a_memoryview(raw: bytes) -> None:
    expected = decode_resolution_request(raw)
    with_tail = decode_resolution_request(memoryview(raw + b"\x00junk"))
    assert (with_tail.handle, with_tail.indexes, with_tail.types, with_tail.signed_part) == (
        expected.handle,
        expected.indexes,
        expected.types,
        expected.signed_part,
    )
