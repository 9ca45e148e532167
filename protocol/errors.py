"""The one error tree of ``protocol``: every decoder failure is a ``ProtocolError``.

Each class carries the Handle response code it maps to, so the resolver turns any of them into an answer in
one place. No ``IndexError`` or ``struct.error`` ever leaves a decoder.
"""

from __future__ import annotations

from protocol.constants import ResponseCode


class ProtocolError(Exception):
    """A message, value or identifier that cannot be decoded or is not allowed."""

    response_code: ResponseCode = ResponseCode.PROTOCOL_ERROR


class Truncated(ProtocolError):
    """The input ended before a field it announced."""


class MessageTooLong(ProtocolError):
    """A declared length is over the configured limit."""


class LimitExceeded(ProtocolError):
    """A count or size inside a message is over its limit."""


class MalformedField(ProtocolError):
    """A field has an impossible value (bad UTF-8, trailing bytes where none are allowed, ...)."""


class InvalidHandle(ProtocolError):
    """An identifier breaks one of the identifier rules; the message names the rule."""

    response_code = ResponseCode.INVALID_HANDLE


class InvalidValue(ProtocolError):
    """A handle value (or its JSON form) breaks a rule; the message names the field."""

    response_code = ResponseCode.INVALID_VALUE
