"""Whole messages: envelope + header + body + credential (handle-protocol.md §1.2), and the server's replies.

``decode_message``/``encode_message`` handle every message kind. ``encode_response`` builds a reply the way
the CNRI server does (§3 version rule, §7 echoed flags, §8.1 request digest). ``protocol.fastpath`` holds the
resolver's hot-loop variants that skip the general object model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final, Protocol

from protocol.bodies import Body, ErrorBody, encode_body, puller_for
from protocol.constants import (
    ENVELOPE_SIZE,
    HEADER_SIZE,
    MAX_MESSAGE_LENGTH,
    SERVER_VERSION,
    MessageFlag,
    OpCode,
    OpFlag,
    ResponseCode,
)
from protocol.credential import Credential, pull_credential, push_credential
from protocol.digest import (
    RequestDigest,
    compute_digest,
    digest_algorithm_for,
    effective_version,
    encode_digest,
    pull_digest,
)
from protocol.envelope import ENVELOPE as _ENV_HEAD
from protocol.envelope import Envelope, pack_envelope, unpack_envelope
from protocol.errors import MalformedField, MessageTooLong, ProtocolError, Truncated
from protocol.header import HEADER, Header, pack_header, unpack_header
from protocol.wire import Reader, Writer

_BODY_START: Final = ENVELOPE_SIZE + HEADER_SIZE
_NO_CREDENTIAL: Final = b"\x00\x00\x00\x00"
# The request OpFlag bits a CNRI response copies (TI core/AbstractMessage.java takeValuesFrom, §7).
ECHOED_OPFLAGS: Final = int(
    OpFlag.AT | OpFlag.CT | OpFlag.ENC | OpFlag.CA | OpFlag.PO | OpFlag.RD | OpFlag.DNRF
)
_RD: Final = int(OpFlag.RD)
# Codes a peer below 2.5 knows under another number (§16.3): server backup is 303, invalid value 201.
_OLD_PEER_CODES: Final[dict[int, int]] = {ResponseCode.SERVER_BACKUP: 303, ResponseCode.INVALID_VALUE: 201}


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded message. ``signed_part`` is the Header + Body as received (what RD digests cover)."""

    envelope: Envelope
    header: Header
    body: Body
    credential: Credential | None = None
    digest: RequestDigest | None = None  # the RD prefix of a response body, stripped from ``body``
    has_credential_trailer: bool = True  # False: the message ended right after the body (§16.5)
    signed_part: bytes = field(default=b"", compare=False, repr=False)

    # The fields a reply needs, shared with protocol.fastpath.ResolutionQuery (see RequestLike).
    @property
    def request_id(self) -> int:
        return self.envelope.request_id

    @property
    def session_id(self) -> int:
        return self.envelope.session_id

    @property
    def suggested_version(self) -> tuple[int, int]:
        return self.envelope.suggested_version

    @property
    def opcode(self) -> int:
        return int(self.header.opcode)

    @property
    def opflag(self) -> int:
        return int(self.header.opflag)


class RequestLike(Protocol):
    """What a reply is built from: a decoded ``Message`` or a fast-path ``ResolutionQuery``."""

    @property
    def request_id(self) -> int: ...
    @property
    def session_id(self) -> int: ...
    @property
    def suggested_version(self) -> tuple[int, int]: ...
    @property
    def opcode(self) -> int: ...
    @property
    def opflag(self) -> int: ...
    @property
    def signed_part(self) -> bytes: ...


def check_message_length(length: int, max_length: int) -> None:
    """Checks applied as soon as an envelope is read (§1.3), by the decoder and the TCP framer."""
    if length > max_length:
        raise MessageTooLong(f"MessageLength {length} is over the limit of {max_length}")
    if length < HEADER_SIZE:
        raise MalformedField(f"MessageLength {length} cannot hold the 24-byte header")


def decode_message(data: bytes | memoryview, *, max_length: int = MAX_MESSAGE_LENGTH) -> Message:
    """Decode one whole message (envelope first). Bytes after MessageLength are not part of it and ignored."""
    if isinstance(data, memoryview):
        data = bytes(data)
    if len(data) < _BODY_START:
        raise Truncated(f"a message needs at least {_BODY_START} bytes, got {len(data)}")
    envelope = unpack_envelope(data)
    check_message_length(envelope.message_length, max_length)
    end = ENVELOPE_SIZE + envelope.message_length
    if end > len(data):
        raise Truncated(f"MessageLength {envelope.message_length} but only {len(data) - 20} bytes follow")
    header = unpack_header(data, ENVELOPE_SIZE)
    body_end = _BODY_START + header.body_length
    if body_end > end:
        raise Truncated(f"BodyLength {header.body_length} runs past MessageLength {envelope.message_length}")
    body_reader = Reader(data, _BODY_START, body_end)
    digest = None
    if header.response_code != 0 and header.opflag & OpFlag.RD:
        digest = pull_digest(body_reader)  # §8.1: every response kind may carry it
    version = effective_version(envelope.major, envelope.minor)
    body = puller_for(header.opcode, header.response_code, version)(body_reader)
    trailer = Reader(data, body_end, end)
    has_trailer = trailer.remaining() > 0
    credential = pull_credential(trailer)
    return Message(envelope, header, body, credential, digest, has_trailer, data[ENVELOPE_SIZE:body_end])


def encode_message(msg: Message) -> bytes:
    """Encode ``msg``, recomputing BodyLength and MessageLength from what is written."""
    w = Writer()
    if msg.digest is not None:
        w.raw(encode_digest(msg.digest))
    w.raw(encode_body(msg.body))
    body = w.getvalue()
    trailer = Writer()
    if msg.has_credential_trailer or msg.credential is not None:
        push_credential(trailer, msg.credential)
    header = replace(msg.header, body_length=len(body))
    envelope = replace(msg.envelope, message_length=HEADER_SIZE + len(body) + len(trailer.buf))
    return b"".join((pack_envelope(envelope), pack_header(header), body, trailer.buf))


def reply_version(suggested: tuple[int, int]) -> tuple[int, int]:
    """The requester's suggested version capped at ours (TI core/AbstractIdResponse.java, §3)."""
    if effective_version(*suggested) < SERVER_VERSION:
        return suggested
    return SERVER_VERSION


def response_envelope_for(request_envelope: Envelope) -> Envelope:
    """Envelope of our reply: version rule of §3, suggests 2.11, echoes SessionId and RequestId."""
    major, minor = reply_version(request_envelope.suggested_version)
    return Envelope(major, minor, MessageFlag.NONE, SERVER_VERSION[0], SERVER_VERSION[1],
                    request_envelope.session_id, request_envelope.request_id, 0, 0)


def supports_prefix_referral(request: RequestLike) -> bool:
    """Peers below 2.5 read RC 303 as "server backup": a prefix referral cannot be expressed (§16.3)."""
    return effective_version(*reply_version(request.suggested_version)) >= (2, 5)


def encode_reply_bytes(request: RequestLike, response_code: int, body: bytes, opflag_extra: int = 0,
                       site_serial: int = 0) -> bytes:
    """A reply to ``request`` around already-encoded ``body`` bytes; the digest is prepended here."""
    major, minor = reply_version(request.suggested_version)
    if response_code in _OLD_PEER_CODES and effective_version(major, minor) < (2, 5):
        response_code = _OLD_PEER_CODES[response_code]  # TI core/Encoder.java writeHeader (§6, §16.3)
    opflag = (request.opflag & ECHOED_OPFLAGS) | int(opflag_extra)
    if opflag & _RD:
        if effective_version(major, minor) >= (2, 1):
            digest = compute_digest(request.signed_part, digest_algorithm_for(major, minor))
            body = encode_digest(digest) + body
        else:
            opflag &= ~_RD  # < 2.1: RD is never written (§16.3)
    body_length = len(body)
    return b"".join((
        _ENV_HEAD.pack(major, minor, SERVER_VERSION[0], SERVER_VERSION[1], request.session_id,
                       request.request_id, 0, HEADER_SIZE + body_length + 4),
        HEADER.pack(request.opcode, response_code, opflag, site_serial, 0, 0, 0, body_length),
        body,
        _NO_CREDENTIAL,
    ))


def encode_response(request: RequestLike, response_code: int, body: Body | bytes, *,
                    opflag_extra: OpFlag = OpFlag.NONE, site_serial: int = 0) -> bytes:
    """The server's reply: echoes OpCode/RequestId/SessionId, copies AT/CT/ENC/CA/PO/RD/DNRF (§7)."""
    raw = body if isinstance(body, bytes) else encode_body(body)
    return encode_reply_bytes(request, response_code, raw, opflag_extra, site_serial)


def encode_error(request: RequestLike, response_code: int, message: str, *, site_serial: int = 0) -> bytes:
    return encode_reply_bytes(request, response_code, encode_body(ErrorBody(message)), 0, site_serial)


def encode_decode_failure(data: bytes | memoryview, error: ProtocolError) -> bytes | None:
    """The reply to a message that could not be decoded: the error's response code (RC 4 for framing errors,
    as the reference server does, §1.3) and its text, echoing whatever ids the envelope holds. ``None`` when
    not even the envelope is readable (an unparseable UDP datagram gets no reply)."""
    return encode_failure(data, error.response_code, str(error))


def encode_failure(data: bytes | memoryview, response_code: int, message: str) -> bytes | None:
    """An error reply to request ``data`` built from its envelope alone (ids, version, and the OpCode when
    the header is there), for a request the server will not or cannot decode; ``None`` without an envelope."""
    data = bytes(data)
    if len(data) < ENVELOPE_SIZE:
        return None
    envelope = unpack_envelope(data)
    opcode = HEADER.unpack_from(data, ENVELOPE_SIZE)[0] if len(data) >= _BODY_START else 0
    context = _FailedRequest(envelope.request_id, envelope.session_id, envelope.suggested_version, opcode)
    return encode_reply_bytes(context, response_code, encode_body(ErrorBody(message)))


@dataclass(frozen=True, slots=True)
class _FailedRequest:
    """The ids of a request that did not decode; it asked for no flags we could honour."""

    request_id: int
    session_id: int
    suggested_version: tuple[int, int]
    opcode: int
    opflag: int = 0
    signed_part: bytes = b""


def build_request(body: Body, *, opcode: OpCode = OpCode.RESOLUTION, request_id: int = 1,
                  opflag: OpFlag = OpFlag.NONE, session_id: int = 0) -> Message:
    """A request message with CNRI-like defaults (2.10 suggesting 2.11), for clients and tests."""
    envelope = Envelope(2, 10, MessageFlag.NONE, 2, 11, session_id, request_id)
    return Message(envelope, Header(opcode, ResponseCode.RESERVED, opflag), body)
