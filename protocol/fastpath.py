"""The resolver's hot loop: decode a resolution request and answer it from pre-encoded value bytes.

``decode_resolution_request`` reads envelope, header and the handle field with one precompiled struct and
keeps the handle as the raw wire field, so the reply copies it instead of re-encoding it.
``encode_resolution_response`` splices a cached ``encode_values`` result into a reply, and
``encode_success_bytes`` is its per-miss form (issue 4). Anything unusual (filters, odd lengths, RD) falls
back to the general ``Reader`` and encoders, so errors and bytes stay those of the general path.
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple

from protocol.constants import (
    HEADER_SIZE,
    MAX_HANDLE_LENGTH,
    MAX_MESSAGE_LENGTH,
    SERVER_VERSION,
    OpCode,
    OpFlag,
    ResponseCode,
)
from protocol.envelope import ENVELOPE
from protocol.errors import LimitExceeded, MalformedField, Truncated
from protocol.header import HEADER
from protocol.messages import (
    ECHOED_OPFLAGS,
    RequestLike,
    check_message_length,
    encode_reply_bytes,
    reply_version,
)
from protocol.wire import Reader, counted_string_bytes

# Final names: compiled (setup.py), each is read from a C static, not looked up in the module per use.
# envelope (20) + header (24) + the handle's int4 length: one unpack for the fixed part of a request.
_REQUEST_HEAD: Final = struct.Struct(">BBBBIIIIIIIHBBIII")
_HANDLE_START: Final = _REQUEST_HEAD.size  # 48
_TWO_ZERO_COUNTS: Final = struct.Struct(">II")
_RD: Final = int(OpFlag.RD)
_RESOLUTION: Final = int(OpCode.RESOLUTION)
_SUCCESS: Final = int(ResponseCode.SUCCESS)
_NO_CREDENTIAL: Final = b"\x00\x00\x00\x00"
# ENVELOPE then HEADER as one struct: one pack call per reply to a miss instead of two.
_REPLY_HEAD: Final = struct.Struct(ENVELOPE.format + HEADER.format.lstrip("<>!=@"))
# Request bytes 0-3 (version, flags, suggested version: §3) -> the reply's (major, minor). Bounded: a peer
# could send every one of 2**32 combinations; real traffic has a handful.
_REPLY_VERSIONS: Final[dict[bytes, tuple[int, int]]] = {}
_REPLY_VERSIONS_MAX: Final = 256


class NotAResolutionRequest(MalformedField):
    """The message is valid so far but is not an OC 1 request: decode it with ``decode_message``."""


class ResolutionQuery(NamedTuple):
    """What the resolver needs to answer an OC 1 request. ``handle_raw`` is the handle's UTF-8 bytes."""

    major: int
    minor: int
    suggested_major: int
    suggested_minor: int
    session_id: int
    request_id: int
    opcode: int
    opflag: int
    site_serial: int
    expiration: int
    handle_raw: bytes
    indexes: tuple[int, ...]
    types: tuple[str, ...]
    data: bytes  # the whole request message
    body_end: int  # offset just past the body in ``data``

    @property
    def suggested_version(self) -> tuple[int, int]:
        if self.suggested_major == 0:
            return (self.major, self.minor)
        return (self.suggested_major, self.suggested_minor)

    @property
    def signed_part(self) -> bytes:
        """Header + Body as received: what a request digest covers (§8.1)."""
        return self.data[20 : self.body_end]

    @property
    def handle(self) -> str:
        try:
            return self.handle_raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedField(f"invalid UTF-8 in the handle: {exc.reason}") from None

    @property
    def public_only(self) -> bool:
        return bool(self.opflag & OpFlag.PO)


_new_query: Final = tuple.__new__


def decode_resolution_request(data: bytes | memoryview, *,
                              max_length: int = MAX_MESSAGE_LENGTH) -> ResolutionQuery:
    """Decode an OC 1 request; any other message raises ``NotAResolutionRequest`` (use ``decode_message``)."""
    if isinstance(data, memoryview):
        data = bytes(data)
    if len(data) < _HANDLE_START:
        raise Truncated(f"a resolution request needs at least {_HANDLE_START} bytes, got {len(data)}")
    (major, minor, b2, b3, session, request_id, _seq, length, opcode, rc, opflag, serial, _rec, _rsv,
     expiration, body_length, handle_len) = _REQUEST_HEAD.unpack_from(data)
    check_message_length(length, max_length)
    if 20 + length > len(data):
        raise Truncated(f"MessageLength {length} but only {len(data) - 20} bytes follow")
    body_end = 44 + body_length
    if body_end > 20 + length:
        raise Truncated(f"BodyLength {body_length} runs past MessageLength {length}")
    if opcode != _RESOLUTION or rc != 0:
        raise NotAResolutionRequest(f"not a resolution request (OpCode {opcode}, ResponseCode {rc})")
    if handle_len > MAX_HANDLE_LENGTH:
        raise LimitExceeded(f"handle of {handle_len} bytes is over the limit of {MAX_HANDLE_LENGTH}")
    counts_at = _HANDLE_START + handle_len
    if counts_at + 8 > body_end:
        raise Truncated("resolution request body ends inside the handle or the index/type lists")
    if _TWO_ZERO_COUNTS.unpack_from(data, counts_at) == (0, 0):
        indexes: tuple[int, ...] = ()
        types: tuple[str, ...] = ()
    else:
        reader = Reader(data, counts_at, body_end)
        indexes, types = reader.int_array(), reader.string_array()
    # tuple.__new__ directly: the NamedTuple's own __new__ is a Python function, a frame per request.
    return _new_query(ResolutionQuery, (
        major, minor, b2 & 0x03, b3, session, request_id, opcode, opflag, serial, expiration,
        data[_HANDLE_START:counts_at], indexes, types, data, body_end,
    ))


def handle_field_of(request: ResolutionQuery) -> bytes:
    """The handle as its UTF8-String wire field (int4 length + bytes), sliced from the request."""
    return request.data[44 : _HANDLE_START + len(request.handle_raw)]


def encode_success_bytes(request: ResolutionQuery, values_wire: bytes) -> bytes:
    """``encode_reply_bytes(request, SUCCESS, handle_field_of(request) + values_wire)``, the same bytes: the
    reply to a cold miss (issue 4). The reply version comes from a small map keyed by the request's first four
    bytes instead of ``reply_version`` per reply, and the body is never concatenated on its own. A request
    with RD (a digest to compute, §8.1) takes the general encoder."""
    if request.opflag & _RD:
        return encode_reply_bytes(request, _SUCCESS, handle_field_of(request) + values_wire)
    data = request.data
    version = _REPLY_VERSIONS.get(data[:4])
    if version is None:
        version = _reply_version_of(data[:4], request)
    handle_end = _HANDLE_START + len(request.handle_raw)
    body_length = handle_end - 44 + len(values_wire)
    return b"".join((
        _REPLY_HEAD.pack(
            version[0], version[1], SERVER_VERSION[0], SERVER_VERSION[1], request.session_id,
            request.request_id, 0, HEADER_SIZE + body_length + 4,  # the envelope (ENVELOPE)
            request.opcode, _SUCCESS, request.opflag & ECHOED_OPFLAGS, 0, 0, 0, 0, body_length,  # HEADER
        ),
        data[44:handle_end],  # the handle field as received (handle_field_of)
        values_wire,
        _NO_CREDENTIAL,
    ))


def _reply_version_of(head: bytes, request: ResolutionQuery) -> tuple[int, int]:
    if len(_REPLY_VERSIONS) >= _REPLY_VERSIONS_MAX:
        _REPLY_VERSIONS.clear()
    version = _REPLY_VERSIONS[head] = reply_version(request.suggested_version)
    return version


def encode_resolution_response(request: RequestLike, encoded_values: bytes, *, handle: str | None = None,
                               site_serial: int = 0) -> bytes:
    """RC_SUCCESS for OC 1 from ``encode_values(...)`` bytes; the handle is echoed as requested (§8.4)."""
    if handle is not None:
        handle_field = counted_string_bytes(handle)
    elif isinstance(request, ResolutionQuery):
        handle_field = handle_field_of(request)
    else:
        raise TypeError("pass handle= when the request is not a ResolutionQuery")
    return encode_reply_bytes(request, ResponseCode.SUCCESS, handle_field + encoded_values, 0, site_serial)
