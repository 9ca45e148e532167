"""Handle protocol requests to response bytes, shared by the TCP and UDP protocol classes.

The hot path (``respond_now``): a request whose bytes, apart from RequestId/SessionId and the header fields
that do not change the answer, equal an earlier one is answered by one dict lookup and a byte splice into the
pre-encoded response. Everything else is decoded (``protocol.fastpath``), decided by ``service.Resolver`` and
encoded once; only a cache miss waits, for its storage read to call back (``respond_deferred``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from protocol.bodies import ErrorBody, ReferralBody, encode_body
from protocol.constants import ENVELOPE_SIZE, HEADER_SIZE, OpCode, OpFlag, ResponseCode
from protocol.errors import ProtocolError
from protocol.fastpath import (
    ResolutionQuery,
    decode_resolution_request,
    encode_success_bytes,
    handle_field_of,
)
from protocol.handle import Identifier, IdentifierLimits, parse_identifier_bytes
from protocol.messages import (
    decode_message,
    encode_error,
    encode_failure,
    encode_reply_bytes,
    supports_prefix_referral,
)
from protocol.values import encode_values
from resolver.loader import Outcome
from resolver.metrics import TransportStats
from resolver.ratelimit import RateLimiter, retry_after_header
from resolver.service import Resolution, Resolver
from storage.records import RecordFormatError, StoredRecord

log: Final = logging.getLogger(__name__)
Reply = Callable[[bytes], None]  # the response of a deferred request (RC 2 if answering it hit a bug)
_RD: Final = int(OpFlag.RD)
_DNRF: Final = int(OpFlag.DNRF)
_BODY_AT: Final = ENVELOPE_SIZE + HEADER_SIZE
_SUCCESS: Final = ResponseCode.SUCCESS
_ERROR: Final = int(ResponseCode.ERROR)
INTERNAL_ERROR: Final = "internal server error"  # RC 2's text when answering a request hit a bug
_TOO_LARGE: Final = ("the answer (%d bytes) is longer than a Handle message may be (%d): ask for fewer "
                     "values (index or type), or over HTTP")


class Pending:
    """A request that needs a storage read. ``respond_deferred`` submits it and the read's batch calls its
    ``answer``: one object per miss carries the request, the read's callback and the reply (issue 4: a
    NamedTuple plus a callback object cost ~1 us more per miss)."""

    __slots__ = ("generation", "hot_key", "ident", "now", "query", "reply", "responder")
    generation: int  # the cache's, when the request missed: see Resolver.settle (set by respond_deferred)
    now: float
    reply: Reply

    def __init__(
        self, query: ResolutionQuery, ident: Identifier, hot_key: bytes | None, responder: HandleResponder
    ) -> None:
        self.query = query
        self.ident = ident
        self.hot_key = hot_key  # where its answer is kept for identical requests (None: not kept, RD)
        self.responder = responder

    def answer(self, outcome: Outcome) -> None:
        """The read's callback: settle, encode, reply (exactly once, whatever happens)."""
        try:
            response = self.responder.answer_read(self, outcome)
        except Exception:  # a bug: logged, and the requester still hears RC 2 instead of waiting it out
            log.exception("unexpected error answering a Handle request after its storage read")
            response = encode_error(self.query, _ERROR, INTERNAL_ERROR)
        # The transport's reply holds this Pending (a partial over it): let go of it first, so the two are
        # freed by reference counting. A cycle would outlive the request (resolver/gctune.py freezes it).
        reply, self.reply = self.reply, _answered
        reply(response)


def _answered(response: bytes) -> None:
    """A Pending's reply once it has answered: it answers once."""


@dataclass(frozen=True, slots=True)
class _Unframed:
    """Stands in for a request whose header could not be read: the reply says RC 4 with OpCode 0 (§1.3)."""

    request_id: int = 0
    session_id: int = 0
    suggested_version: tuple[int, int] = (2, 10)
    opcode: int = 0
    opflag: int = 0
    signed_part: bytes = b""


def framing_error(message: str) -> bytes:
    """RC 4 with OpCode 0, as the reference server answers a framing error before closing (§1.3)."""
    return encode_error(_Unframed(), ResponseCode.PROTOCOL_ERROR, message)


class HandleResponder:
    """Turns one whole request message into the bytes of its response."""

    __slots__ = ("_hot", "cache", "limiter", "limits", "max_message_bytes", "resolver", "stats")

    def __init__(
        self, resolver: Resolver, limits: IdentifierLimits, max_message_bytes: int,
        limiter: RateLimiter | None = None, stats: TransportStats | None = None,
    ) -> None:
        self.resolver = resolver
        self.cache = resolver.cache
        self.limits = limits
        self.max_message_bytes = max_message_bytes
        self.limiter = limiter  # admin work: per-client resolution rate limit (resolver/ratelimit.py)
        self.stats = stats  # ops work: counts rate-limit refusals of its transport (None: metrics off)

    def respond_now(
        self, data: bytes, now: float, *, answer_garbage: bool = True, client: str = ""
    ) -> bytes | Pending | None:
        """The response, ``Pending`` (needs storage), or None (no answer: see ``answer_garbage``).

        ``answer_garbage`` False (UDP) drops messages that do not decode at all instead of answering RC 4.
        ``client`` (the peer address) is charged against the rate limit; over it the answer is RC 3.
        """
        if self.limiter is not None and client:
            wait = self.limiter.acquire(client, now)
            if wait > 0:
                if self.stats is not None:
                    self.stats.rate_limited += 1
                return _too_busy(data, wait)
        # The hot key is what decides the answer: version bytes, MessageLength, OpCode/RC/OpFlag, and body +
        # credential. RequestId/SessionId are patched in; SequenceNumber, site serial, recursion count and
        # ExpirationTime (a client clock, §4) do not matter. RD answers are never stored: the digest covers
        # the whole header.
        key = data[:4] + data[16:32] + data[40:]
        hot = self.cache.lookup_hot(key, now)
        if hot is not None:
            payload = hot.payload
            return payload[:4] + data[4:12] + payload[12:]
        try:
            query = decode_resolution_request(data, max_length=self.max_message_bytes)
        except ProtocolError as exc:
            return self._not_a_resolution(data, exc, answer_garbage)
        try:
            ident = parse_identifier_bytes(query.handle_raw, self.limits)
        except ProtocolError as exc:
            return encode_error(query, exc.response_code, str(exc))
        answer = self.resolver.answer_now(
            ident, query.indexes, query.types, now, referrals=_referrals(query)
        )
        stored_key = None if query.opflag & _RD else key
        if answer is None:
            return Pending(query, ident, stored_key, self)
        return self._finish(query, answer, stored_key)

    def respond_deferred(self, pending: Pending, now: float, reply: Reply) -> None:
        """Answer ``pending`` through ``reply`` once its record is read. ``reply`` is called exactly once,
        from the callback of the batch's read (one per batch, not a task or future per request), and never
        inside this call. A requester that went away (a closed TCP connection) just has nowhere to write:
        the read others share goes on."""
        pending.now = now
        pending.generation = self.cache.generation
        pending.reply = reply
        self.resolver.loader.submit(pending.ident.key, pending.answer)

    def answer_read(self, pending: Pending, outcome: Outcome) -> bytes:
        """The response once ``pending``'s read returned ``outcome``: ``Resolver.settle`` then ``_finish``.

        The usual cold miss (a record in wire form with public values, no index/type filter, no write since
        the read began) is fused here: the entry is cached, the answer encoded and kept for the next
        identical request, as the two halves do, without the ``Resolution`` between them (issue 4).

        The answer is kept whenever its entry is (a full cache keeps an identifier from its second miss on:
        ``ResolutionCache.put``): without it a second ask is an entry hit, which cost ~57,000 instructions
        more than a hot hit, against ~6,000 saved per miss (measured; a Zipf 1.1 run has one second ask per
        3.5 misses).
        """
        query, cache = pending.query, self.cache
        if (type(outcome) is StoredRecord and pending.generation == cache.generation
                and not query.indexes and not query.types):
            try:
                wire = outcome.wire
            except RecordFormatError:  # a damaged value: settle answers RC 2 (its check fails alike)
                wire = None
            if wire is not None and outcome.public_count:
                entry = cache.put(pending.ident.key, outcome, pending.now)
                response = self._bounded(query, encode_success_bytes(query, wire))
                if pending.hot_key is not None and entry.expires_at > pending.now:  # TTL 0: never fresh
                    cache.store_hot(pending.hot_key, entry, response)
                return response
        answer = self.resolver.settle(
            pending.ident.key, outcome, pending.generation, pending.now, query.indexes, query.types
        )
        return self._finish(query, answer, pending.hot_key)

    def _finish(self, query: ResolutionQuery, answer: Resolution, key: bytes | None) -> bytes:
        """Encode the answer (metrics: one finished Handle resolution, code ``answer.code``)."""
        wire = answer.wire
        if wire is not None and answer.code == _SUCCESS:  # public values as stored (storage.records)
            response = encode_success_bytes(query, wire)
        else:
            response = encode_reply_bytes(query, answer.code, _body_of(query, answer))
        response = self._bounded(query, response)
        if key is not None:
            self.cache.store_hot(key, answer.entry, response)
        return response

    def _bounded(self, query: ResolutionQuery, response: bytes) -> bytes:
        """``response``, or RC 2 when it is longer than a Handle message may be (§1.5: clients refuse one
        past MessageLength 262,144). A record may hold more (2,048 values of up to 64 KiB each): the error
        says how to ask for it instead."""
        length = len(response) - ENVELOPE_SIZE
        if length <= self.max_message_bytes:
            return response
        return encode_error(query, _ERROR, _TOO_LARGE % (length, self.max_message_bytes))

    def _not_a_resolution(self, data: bytes, error: ProtocolError, answer_garbage: bool) -> bytes | None:
        """RC 5 for a well-formed request of another kind; RC 4 (or nothing) for one that is not."""
        if len(data) < _BODY_AT:
            return None
        try:
            message = decode_message(data, max_length=self.max_message_bytes)
        except ProtocolError as exc:
            if not answer_garbage:
                return None  # STYLE #10: an unparseable UDP datagram gets no reply
            return encode_error(_Unframed(*_ids(data)), exc.response_code, str(exc))
        if message.header.response_code != 0:
            return None  # a response sent to us: never answer a response (loops between servers)
        if message.header.opcode == OpCode.RESOLUTION:
            return encode_error(message, error.response_code, str(error))
        text = f"Operation not supported: {int(message.header.opcode)}"
        return encode_error(message, ResponseCode.OPERATION_NOT_SUPPORTED, text)


def _referrals(query: ResolutionQuery) -> bool:
    """May the answer be RC 303? Not with DNRF, nor to a peer below 2.5 (it reads 303 as "server backup",
    handle-protocol.md §6, §16.3): those get RC 301 from ``Resolver`` instead."""
    if query.opflag & _DNRF:
        return False
    head = query.data[:4]  # the version bytes (§3): all that supports_prefix_referral reads
    known = _REFERRAL_PEERS.get(head)
    if known is None:
        if len(_REFERRAL_PEERS) >= _REFERRAL_PEERS_MAX:
            _REFERRAL_PEERS.clear()
        known = _REFERRAL_PEERS[head] = supports_prefix_referral(query)
    return known


# Request bytes 0-3 -> supports_prefix_referral: asked for every request that is not a hot hit, and
# real traffic has a handful of version combinations (bounded: a peer could send any of 2**32).
_REFERRAL_PEERS: Final[dict[bytes, bool]] = {}
_REFERRAL_PEERS_MAX: Final = 256


def _too_busy(data: bytes, wait_s: float) -> bytes | None:
    """RC_SERVER_TOO_BUSY (handle-protocol.md §6: the protocol's back-pressure signal), without decoding."""
    message = f"rate limit exceeded; retry after {retry_after_header(wait_s)} s"
    return _error_for(data, ResponseCode.SERVER_TOO_BUSY, message)


def internal_error(data: bytes) -> bytes | None:
    """RC_ERROR (2, "general server error") for request ``data`` when answering it hit a bug, without
    decoding it again: a client matches the answer by RequestId and stops waiting (RC 4 with RequestId 0, or
    no answer at all, would leave it to time out and retry into the same bug). None if the request is too
    short to carry the ids."""
    return _error_for(data, _ERROR, INTERNAL_ERROR)


def _error_for(data: bytes, code: int, message: str) -> bytes | None:
    """An error answer to request ``data`` from its envelope and OpCode (None: too short to be a request)."""
    return encode_failure(data, code, message) if len(data) >= _BODY_AT else None


def _ids(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[8:12], "big"), int.from_bytes(data[4:8], "big")


def _body_of(query: ResolutionQuery, answer: Resolution) -> bytes:
    code = answer.code
    if code == ResponseCode.SUCCESS:
        # encode_body(ValuesBody(query.handle, values)), but the handle field is copied from the request (the
        # same UTF-8 bytes, already validated) and shared values are encoded once (protocol.values).
        wire = answer.wire  # a StoredRecord's public values, transcoded when read (storage.records)
        return handle_field_of(query) + (encode_values(answer.values) if wire is None else wire)
    if code == ResponseCode.PREFIX_REFERRAL:
        return encode_body(ReferralBody(answer.referral_handle, answer.values))
    return encode_body(ErrorBody(answer.message))
