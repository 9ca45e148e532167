"""Message bodies (handle-protocol.md §8) as frozen dataclasses, each with pull_x/push_x beside it.

Which body a message carries is decided by two dispatch tables: requests by OpCode, responses by
ResponseCode (and, for RC_SUCCESS, by OpCode), as the CNRI decoder does (TI core/Encoder.java decodeMessage).
Bodies nobody defines a layout for are kept as ``RawBody`` so they round-trip unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocol.constants import MAX_ARRAY_SIZE, MAX_HANDLE_LENGTH, OpCode, ResponseCode
from protocol.values import HandleValue, pull_values, push_values
from protocol.wire import Reader, Writer


@dataclass(frozen=True, slots=True)
class ResolutionRequest:
    """OC 1 request (§8.3): empty lists mean all values."""

    handle: str
    indexes: tuple[int, ...] = ()
    types: tuple[str, ...] = ()
    trailing: bytes = b""  # bytes after the TypeList, ignored but kept (Teleinfo's empty authBytes, §16.1)


def pull_resolution_request(r: Reader) -> ResolutionRequest:
    # Anything after the TypeList is ignored: Teleinfo appends an empty authBytes array (§16.1).
    return ResolutionRequest(r.string(MAX_HANDLE_LENGTH), r.int_array(), r.string_array(), r.rest())


def push_resolution_request(w: Writer, b: ResolutionRequest) -> None:
    w.string(b.handle)
    w.int_array(b.indexes)
    w.string_array(b.types)
    w.raw(b.trailing)


@dataclass(frozen=True, slots=True)
class ValuesBody:
    """Resolution response (OC 1, RC 1, §8.4) and create/add/modify requests (OC 100/102/104, §8.8)."""

    handle: str
    values: tuple[HandleValue, ...] = ()


def pull_values_body(r: Reader) -> ValuesBody:
    return ValuesBody(r.string(MAX_HANDLE_LENGTH), pull_values(r))


def push_values_body(w: Writer, b: ValuesBody) -> None:
    w.string(b.handle)
    push_values(w, b.values)


ResolutionResponse = ValuesBody


@dataclass(frozen=True, slots=True)
class ErrorBody:
    """Error response (§8.5): one UTF8-String message."""

    message: str = ""


def pull_error(r: Reader) -> ErrorBody:
    # 2.0 peers send bodies too short to hold the length: read them as an empty message (§8.5).
    if r.remaining() < 4:
        r.rest()
        return ErrorBody("")
    return ErrorBody(r.string())


def push_error(w: Writer, b: ErrorBody) -> None:
    w.string(b.message)


@dataclass(frozen=True, slots=True)
class ReferralBody:
    """RC 302/303 (§8.6): referral handle, then values only if bytes remain (``None`` = no value list)."""

    handle: str
    values: tuple[HandleValue, ...] | None = None


def pull_referral(r: Reader) -> ReferralBody:
    handle = r.string(MAX_HANDLE_LENGTH)
    return ReferralBody(handle, pull_values(r) if r.remaining() else None)


def push_referral(w: Writer, b: ReferralBody) -> None:
    w.string(b.handle)
    if b.values is not None:
        push_values(w, b.values)


@dataclass(frozen=True, slots=True)
class ChallengeBody:
    """RC 402 (§8.7): the server's nonce (16 random bytes in impl.)."""

    nonce: bytes


def pull_challenge(r: Reader) -> ChallengeBody:
    return ChallengeBody(r.counted_bytes())


def push_challenge(w: Writer, b: ChallengeBody) -> None:
    w.counted_bytes(b.nonce)


@dataclass(frozen=True, slots=True)
class ChallengeAnswer:
    """OC 200 (§8.7): who answers and the signature over nonce + request digest."""

    auth_type: str  # HS_PUBKEY or HS_SECKEY
    user_handle: str
    user_index: int
    hash_algorithm: str  # SHA256, SHA1, MD5, SM3
    signature: bytes


def pull_challenge_answer(r: Reader) -> ChallengeAnswer:
    auth_type, handle, index = r.string(), r.string(MAX_HANDLE_LENGTH), r.u32()
    signed = r.sub_reader(r.u32())
    algorithm, signature = signed.string(), signed.counted_bytes()
    signed.expect_end("the signed response")
    return ChallengeAnswer(auth_type, handle, index, algorithm, signature)


def push_challenge_answer(w: Writer, b: ChallengeAnswer) -> None:
    w.string(b.auth_type)
    w.string(b.user_handle)
    w.u32(b.user_index)
    signed = Writer()
    signed.string(b.hash_algorithm)
    signed.counted_bytes(b.signature)
    w.counted_bytes(signed.getvalue())


@dataclass(frozen=True, slots=True)
class RemoveValuesRequest:
    """OC 103 (§8.8): handle and the indexes to remove."""

    handle: str
    indexes: tuple[int, ...]


def pull_remove_values(r: Reader) -> RemoveValuesRequest:
    return RemoveValuesRequest(r.string(MAX_HANDLE_LENGTH), r.int_array(MAX_ARRAY_SIZE))


def push_remove_values(w: Writer, b: RemoveValuesRequest) -> None:
    w.string(b.handle)
    w.int_array(b.indexes)


@dataclass(frozen=True, slots=True)
class HandleBody:
    """Delete (101), home/unhome (300/301), get-site-info (2), list-homed (302): one UTF8 handle."""

    handle: str


def pull_handle_body(r: Reader) -> HandleBody:
    return HandleBody(r.string(MAX_HANDLE_LENGTH))


def push_handle_body(w: Writer, b: HandleBody) -> None:
    w.string(b.handle)


@dataclass(frozen=True, slots=True)
class LoginRequest:
    """OC 2001 login (§16.5): identity handle and index."""

    handle: str
    index: int


def pull_login(r: Reader) -> LoginRequest:
    return LoginRequest(r.string(MAX_HANDLE_LENGTH), r.u32())


def push_login(w: Writer, b: LoginRequest) -> None:
    w.string(b.handle)
    w.u32(b.index)


@dataclass(frozen=True, slots=True)
class CreateResponse:
    """OC 100, RC 1 (§8.8): empty, or the created (minted) handle."""

    handle: str | None = None


def pull_create_response(r: Reader) -> CreateResponse:
    return CreateResponse(r.string(MAX_HANDLE_LENGTH) if r.remaining() else None)


def push_create_response(w: Writer, b: CreateResponse) -> None:
    if b.handle is not None:
        w.string(b.handle)


@dataclass(frozen=True, slots=True)
class SiteInfoResponse:
    """OC 2, RC 1 (§8.2): the raw HS_SITE record; ``protocol.valuedata`` decodes it."""

    data: bytes


def pull_site_info_response(r: Reader) -> SiteInfoResponse:
    return SiteInfoResponse(r.rest())


def push_site_info_response(w: Writer, b: SiteInfoResponse) -> None:
    w.raw(b.data)


@dataclass(frozen=True, slots=True)
class EmptyBody:
    """Generic success (§8.2): nothing but the digest prefix, if RD."""


@dataclass(frozen=True, slots=True)
class RawBody:
    """A body whose layout we do not decode (unknown opcode, list results, ...): kept byte for byte."""

    data: bytes


def pull_raw_or_empty(r: Reader) -> EmptyBody | RawBody:
    data = r.rest()
    return RawBody(data) if data else EmptyBody()


def push_empty(w: Writer, b: EmptyBody) -> None:
    pass


def push_raw(w: Writer, b: RawBody) -> None:
    w.raw(b.data)


Body = (
    ResolutionRequest | ValuesBody | ErrorBody | ReferralBody | ChallengeBody | ChallengeAnswer
    | RemoveValuesRequest | HandleBody | LoginRequest | CreateResponse | SiteInfoResponse
    | EmptyBody | RawBody
)
Puller = Callable[[Reader], Body]

REQUEST_PULLERS: dict[int, Puller] = {
    OpCode.RESOLUTION: pull_resolution_request,
    OpCode.GET_SITE_INFO: pull_handle_body,
    OpCode.CREATE_HANDLE: pull_values_body,
    OpCode.DELETE_HANDLE: pull_handle_body,
    OpCode.ADD_VALUE: pull_values_body,
    OpCode.REMOVE_VALUE: pull_remove_values,
    OpCode.MODIFY_VALUE: pull_values_body,
    OpCode.CHALLENGE_RESPONSE: pull_challenge_answer,
    OpCode.HOME_NA: pull_handle_body,
    OpCode.UNHOME_NA: pull_handle_body,
    OpCode.LIST_HOMED_NAS: pull_handle_body,
    OpCode.LOGIN_ID_SYSTEM: pull_login,
}

SUCCESS_PULLERS: dict[int, Puller] = {
    OpCode.RESOLUTION: pull_values_body,
    OpCode.GET_SITE_INFO: pull_site_info_response,
    OpCode.CREATE_HANDLE: pull_create_response,
}

RESPONSE_PULLERS: dict[int, Puller] = {
    ResponseCode.SERVICE_REFERRAL: pull_referral,
    ResponseCode.PREFIX_REFERRAL: pull_referral,
    ResponseCode.AUTHENTICATION_NEEDED: pull_challenge,
    **dict.fromkeys(
        (2, 3, 4, 5, 6, 7, 100, 101, 102, 200, 201, 202, 300, 301, 400, 401, 403, 404, 405, 406,
         500, 501, 502, 503, 504, 505, 601, 602, 603, 604, 605),
        pull_error,
    ),  # the codes the CNRI decoder reads as an error message (§6)
}

PUSHERS: dict[type[Any], Callable[[Writer, Any], None]] = {
    ResolutionRequest: push_resolution_request,
    ValuesBody: push_values_body,
    ErrorBody: push_error,
    ReferralBody: push_referral,
    ChallengeBody: push_challenge,
    ChallengeAnswer: push_challenge_answer,
    RemoveValuesRequest: push_remove_values,
    HandleBody: push_handle_body,
    LoginRequest: push_login,
    CreateResponse: push_create_response,
    SiteInfoResponse: push_site_info_response,
    EmptyBody: push_empty,
    RawBody: push_raw,
}


def puller_for(opcode: int, response_code: int, version: tuple[int, int] = (2, 10)) -> Puller:
    """The body decoder for a message with this OpCode and ResponseCode (and envelope version)."""
    if response_code == ResponseCode.PREFIX_REFERRAL and version < (2, 5):
        return pull_error  # below 2.5, 303 meant "server backup" and carries an error message (§6, §16.3)
    if response_code == 0:
        return REQUEST_PULLERS.get(opcode, pull_raw_or_empty)
    if response_code == ResponseCode.SUCCESS:
        return SUCCESS_PULLERS.get(opcode, pull_raw_or_empty)
    return RESPONSE_PULLERS.get(response_code, pull_raw_or_empty)


def push_body(w: Writer, body: Body) -> None:
    PUSHERS[type(body)](w, body)


def encode_body(body: Body) -> bytes:
    w = Writer()
    push_body(w, body)
    return w.getvalue()
