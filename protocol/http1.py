"""A strict, minimal, sans-IO reader of HTTP/1.x request heads, for the worker's HTTP fast lane.

``parse_head(buffer, start)`` looks at the bytes from ``start``: a whole, plain request head comes back as a
``RequestHead`` (with ``end``, where the next request starts), an incomplete one as ``NEED_DATA``, and
anything this reader does not fully understand as ``NOT_MINE``: the caller then hands the connection, bytes
and all, to a complete HTTP server (aiohttp), which answers or refuses it as it always did. So this module
only has to be right about what it accepts, never about what it refuses: RFC 9112 §3 request line
``method SP origin-form SP HTTP/1.0|1.1``, §5 field lines ``token ":" OWS value OWS`` in printable ASCII,
no obs-fold, no body (no Transfer-Encoding, Content-Length 0 at most), no Expect or Upgrade, and a head within
aiohttp's own limits. Bytes in, values out; no I/O.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

# aiohttp's defaults (web_protocol.RequestHandler: max_line_size=8190, max_field_size=8190): a longer line
# is aiohttp's to refuse, so it is not ours.
MAX_LINE_BYTES: Final = 8190
# Ours: heads of real clients have a dozen fields; more goes to aiohttp, which applies its own bound.
MAX_FIELDS: Final = 64
MAX_HEAD_BYTES: Final = 16_384

# RFC 9110 §5.6.2 token; §5.5 field value: VCHAR, SP, HTAB (obs-text is not ours). The target is origin-form
# (RFC 9112 §3.2.1: starts with "/"), printable ASCII and without a fragment ("#": aiohttp keeps it apart).
_TCHARS = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_HEAD = re.compile(
    rb"(" + _TCHARS.encode() + rb") (/[!-\"$-~]*) HTTP/1\.([01])\r\n"
    rb"((?:" + _TCHARS.encode() + rb":[\t -~]*\r\n)*)\r\n"
)
_CRLF2 = b"\r\n\r\n"
# The usual head of a read (load generators, HTTP libraries without extra fields): GET or HEAD, HTTP/1.1 and
# one Host field with a value (OWS around it). What _HEAD, _fields and _accept make of it is known: a
# keep-alive RequestHead with no Connection, Accept or Authorization, so it is read in one match.
_USUAL_HEAD = re.compile(rb"(GET|HEAD) (/[!-\"$-~]*) HTTP/1\.1\r\nHost:[\t ]*[!-~][\t -~]*\r\n\r\n")
# Fields that would make aiohttp read a body or switch protocols (RFC 9112 §6, RFC 9110 §7.8, §10.1.1).
_REFUSED = frozenset(("transfer-encoding", "expect", "upgrade"))
# Fields read here: a second copy would leave it to aiohttp to pick one (or to refuse the request).
_SINGLE = frozenset(("host", "connection", "content-length", "accept", "authorization"))
_CONNECTION = frozenset(("", "close", "keep-alive"))


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NEED_DATA: Final = _Marker("NEED_DATA")  # the head is not complete yet: feed more bytes
NOT_MINE: Final = _Marker("NOT_MINE")  # a head this reader does not accept: hand the bytes on


class RequestHead(NamedTuple):
    """One accepted request head. ``connection`` is the Connection field lower-cased ("" when absent).

    A NamedTuple, not a frozen dataclass: one is built per request on the fast lane's hot path, where a
    frozen dataclass's ``__init__`` costs three times as much (resolver/handler.py ``Pending``, same reason).
    """

    method: str
    target: str
    minor: int  # HTTP/1.<minor>
    connection: str
    accept: str
    authorization: bool
    end: int  # the index just past the head's blank line: where the next request starts

    @property
    def keep_alive(self) -> bool:
        """RFC 9112 §9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive"."""
        if self.minor:
            return self.connection != "close"
        return self.connection == "keep-alive"


def parse_head(buffer: bytes | bytearray, start: int = 0) -> RequestHead | _Marker:
    """The request head at ``buffer[start:]``, ``NEED_DATA`` or ``NOT_MINE``."""
    end = buffer.find(_CRLF2, start)
    if end < 0:
        return _incomplete(buffer, start)
    end += 4
    if end - start <= MAX_LINE_BYTES:  # so is each of its lines
        usual = _USUAL_HEAD.fullmatch(buffer, start, end)
        if usual is not None:
            method, target = usual.groups()
            return RequestHead(method.decode("ascii"), target.decode("ascii"), 1, "", "", False, end)
    elif end - start > MAX_HEAD_BYTES:
        return NOT_MINE
    match = _HEAD.fullmatch(buffer, start, end)
    if match is None:
        return NOT_MINE
    method, target, minor, block = match.groups()
    if len(target) + len(method) + 11 > MAX_LINE_BYTES:
        return NOT_MINE
    fields = _fields(block)
    if fields is None:
        return NOT_MINE
    return _accept(method.decode("ascii"), target.decode("ascii"), minor == b"1", fields, end)


def _incomplete(buffer: bytes | bytearray, start: int) -> _Marker:
    """No blank line yet: more may come, unless the head is already too long or uses bare LF line ends
    (RFC 9112 §2.2 lets a server accept those; aiohttp decides, so they are not ours)."""
    if len(buffer) - start > MAX_HEAD_BYTES:
        return NOT_MINE
    if buffer.count(b"\n", start) != buffer.count(b"\r\n", start):
        return NOT_MINE
    return NEED_DATA


def _fields(block: bytes) -> dict[str, str] | None:
    """Field name (lower-case) -> value (OWS stripped); None when the block is not ours."""
    if not block:
        return {}
    lines = block[:-2].split(b"\r\n")
    if len(lines) > MAX_FIELDS:
        return None
    fields: dict[str, str] = {}
    for line in lines:
        if len(line) > MAX_LINE_BYTES:
            return None
        name, _, value = line.decode("ascii").partition(":")
        name = name.lower()
        if name in _REFUSED or (name in _SINGLE and name in fields):
            return None
        fields[name] = value.strip(" \t")
    return fields


def _accept(
    method: str, target: str, minor_1: bool, fields: dict[str, str], end: int
) -> RequestHead | _Marker:
    if fields.get("content-length", "0") != "0":
        return NOT_MINE  # a body: aiohttp reads it
    if minor_1 and not fields.get("host"):
        return NOT_MINE  # RFC 9112 §3.2: aiohttp answers 400 itself
    connection = fields.get("connection", "").lower()
    if connection not in _CONNECTION:
        return NOT_MINE  # a list, or another option: aiohttp's reading of it is the one that counts
    return RequestHead(
        method, target, 1 if minor_1 else 0, connection, fields.get("accept", ""),
        "authorization" in fields, end,
    )
