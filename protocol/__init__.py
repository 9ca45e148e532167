"""Sans-IO codecs of the Handle protocol 2.x (RFC 3650-3652 as the CNRI-derived clients speak it).

Nothing here touches a socket or an event loop: bytes go in, objects come out, and back. Every decoding
failure is a ``protocol.errors.ProtocolError`` carrying the response code it maps to.

Core public API (import from the submodules; the names are also re-exported here):

``protocol.messages``
    ``Message(envelope, header, body, credential=None, digest=None, has_credential_trailer=True)``
    ``decode_message(data, *, max_length=MAX_MESSAGE_LENGTH) -> Message``
    ``encode_message(msg) -> bytes``   (BodyLength and MessageLength are recomputed)
    ``response_envelope_for(request_envelope) -> Envelope``   (requester's suggested version capped at 2.11)
    ``encode_response(request, response_code, body, *, opflag_extra=OpFlag.NONE, site_serial=0) -> bytes``
        ``request`` is a ``Message`` or a ``ResolutionQuery``; ``body`` a body dataclass or encoded bytes.
        Echoes OpCode, RequestId, SessionId; copies AT/CT/ENC/CA/PO/RD/DNRF; prepends the request digest
        when RD is set and the reply version is >= 2.1 (pass ``opflag_extra=OpFlag.RD`` for a challenge).
    ``encode_error(request, response_code, message, *, site_serial=0) -> bytes``
    ``encode_decode_failure(data, error) -> bytes | None``  (reply to an undecodable message: the error's
        response code, echoing the envelope's ids; None if not even the envelope is there)
    ``supports_prefix_referral(request) -> bool``  (False below 2.5: RC 303 means "server backup" there;
        ``encode_response`` itself maps RC 7 -> 303 and RC 202 -> 201 for such peers, §16.3)
    ``build_request(body, *, opcode, request_id, opflag, session_id) -> Message``  (clients, tests)
``protocol.fastpath``   (the resolver's hot loop)
    ``decode_resolution_request(data, *, max_length) -> ResolutionQuery``  (``.handle_raw`` bytes,
        ``.handle`` str, ``.indexes``, ``.types``, ``.opflag`` int, ``.public_only``, ``.request_id``, ...);
        raises ``NotAResolutionRequest`` (a ``ProtocolError``) for other opcodes: then use ``decode_message``.
        The credential of a resolution request is not read on this path.
    ``encode_resolution_response(request, encoded_values, *, handle=None, site_serial=0) -> bytes``
``protocol.values``
    ``HandleValue``, ``ValueReference``, ``pull_value``/``push_value``, ``pull_values``/``push_values``,
    ``encode_values(values) -> bytes``  (value count + values; cache it per identifier/filter)
``protocol.bodies``
    ``ResolutionRequest``, ``ValuesBody`` (= ``ResolutionResponse``; also create/add/modify), ``ErrorBody``,
    ``ReferralBody``, ``ChallengeBody``, ``ChallengeAnswer``, ``RemoveValuesRequest``, ``HandleBody``,
    ``LoginRequest``, ``CreateResponse``, ``SiteInfoResponse``, ``EmptyBody``, ``RawBody``; ``encode_body``.
``protocol.framing``
    ``TcpFramer(max_length)``: ``receive_data(bytes)``, ``next_message() -> bytes | NEED_DATA``
    ``split_for_udp(message) -> list[bytes]``
    ``UdpReassembler(limits).feed(datagram, now, peer) -> bytes | None``
``protocol.envelope``, ``protocol.header``, ``protocol.credential``, ``protocol.digest``, ``protocol.wire``:
    the message parts and the ``Reader``/``Writer`` cursor they are built on.
"""

from protocol.bodies import (
    ChallengeAnswer,
    ChallengeBody,
    CreateResponse,
    EmptyBody,
    ErrorBody,
    HandleBody,
    LoginRequest,
    RawBody,
    ReferralBody,
    RemoveValuesRequest,
    ResolutionRequest,
    ResolutionResponse,
    SiteInfoResponse,
    ValuesBody,
)
from protocol.envelope import Envelope
from protocol.fastpath import (
    NotAResolutionRequest,
    ResolutionQuery,
    decode_resolution_request,
    encode_resolution_response,
)
from protocol.framing import NEED_DATA, TcpFramer, UdpReassembler, split_for_udp
from protocol.header import Header
from protocol.messages import (
    Message,
    decode_message,
    encode_decode_failure,
    encode_error,
    encode_message,
    encode_response,
    response_envelope_for,
    supports_prefix_referral,
)
from protocol.values import HandleValue, ValueReference, encode_values

__all__ = [
    "NEED_DATA",
    "ChallengeAnswer",
    "ChallengeBody",
    "CreateResponse",
    "EmptyBody",
    "Envelope",
    "ErrorBody",
    "HandleBody",
    "HandleValue",
    "Header",
    "LoginRequest",
    "Message",
    "NotAResolutionRequest",
    "RawBody",
    "ReferralBody",
    "RemoveValuesRequest",
    "ResolutionQuery",
    "ResolutionRequest",
    "ResolutionResponse",
    "SiteInfoResponse",
    "TcpFramer",
    "UdpReassembler",
    "ValueReference",
    "ValuesBody",
    "decode_message",
    "decode_resolution_request",
    "encode_decode_failure",
    "encode_error",
    "encode_message",
    "encode_resolution_response",
    "encode_response",
    "encode_values",
    "response_envelope_for",
    "split_for_udp",
    "supports_prefix_referral",
]
