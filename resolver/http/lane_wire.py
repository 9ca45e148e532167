"""The bytes of the fast lane's responses, byte for byte what aiohttp writes for the same ``web.Response``.

aiohttp (``StreamResponse._prepare_headers``, 3.14) writes the status line, the response's own headers in
the order they were set (Content-Type from the constructor, then any added later), Content-Length, Date,
Server, and a Connection header only when it differs from the version's default (RFC 9112 §9.3: "close"
on 1.1, "keep-alive" on 1.0). ``tests/resolver/test_fastlane_equivalence.py`` holds the fast lane to
that against a node with the lane off. The Date line is formatted once per second, as aiohttp does.
"""

from __future__ import annotations

import json
import time
from email.utils import formatdate
from typing import Final

from aiohttp.http import RESPONSES, SERVER_SOFTWARE

from resolver.http.read_guard import rate_refusal_body
from resolver.ratelimit import retry_after_header

JSON_TYPE: Final = b"Content-Type: application/json; charset=utf-8\r\n"
HTML_TYPE: Final = b"Content-Type: text/html; charset=utf-8\r\n"
REDIRECT: Final = 302
_SERVER: Final = b"Server: " + SERVER_SOFTWARE.encode("ascii") + b"\r\n"
_CLOSE_11: Final = b"Connection: close\r\n\r\n"
_KEEP_10: Final = b"Connection: keep-alive\r\n\r\n"
_STATUS: Final[dict[tuple[int, int], bytes]] = {}


def status_line(minor: int, status: int) -> bytes:
    """``HTTP/1.x NNN Reason\\r\\n`` with aiohttp's reason phrases (kept: a handful of statuses in use)."""
    line = _STATUS.get((minor, status))
    if line is None:
        line = _STATUS[(minor, status)] = f"HTTP/1.{minor} {status} {RESPONSES[status][0]}\r\n".encode()
    return line


class DateLine:
    """``Date: ...\\r\\nServer: ...\\r\\n``, formatted once a second (RFC 9110 §6.6.1 IMF-fixdate)."""

    __slots__ = ("_line", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._line = b""

    def get(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._line = b"Date: " + formatdate(second, usegmt=True).encode("ascii") + b"\r\n" + _SERVER
        return self._line


def ending(minor: int, keep_alive: bool) -> bytes:
    """The Connection line (when not the version's default) and the blank line that ends the head."""
    if minor:
        return b"\r\n" if keep_alive else _CLOSE_11
    return _KEEP_10 if keep_alive else b"\r\n"


def body_response(
    head: bytes, content_type: bytes, payload: bytes, date: bytes, end: bytes, with_body: bool
) -> bytes:
    """A response with a body (HEAD: the same head, no body). ``head`` is ``status_line``'s."""
    length = b"Content-Length: " + str(len(payload)).encode("ascii") + b"\r\n"
    if with_body:
        return b"".join((head, content_type, length, date, end, payload))
    return b"".join((head, content_type, length, date, end))


def redirect_response(head: bytes, location: bytes, date: bytes, end: bytes, with_body: bool) -> bytes:
    """``proxy.respond``'s 302 (HTTP/1.1 only): Location, then the empty body's Content-Length, which
    aiohttp leaves out when answering HEAD (no body was set: its length is unknown, not 0)."""
    length = b"\r\nContent-Length: 0\r\n" if with_body else b"\r\n"
    return b"".join((head, b"Location: ", location, length, date, end))


def too_many(minor: int, handle: str, wait_s: float, date: bytes, end: bytes, with_body: bool) -> bytes:
    """``read_guard.read_rate_refusal``'s 429: ``web.json_response`` (json.dumps defaults), Retry-After."""
    payload = json.dumps(rate_refusal_body(handle)).encode("utf-8")
    retry = b"Retry-After: " + retry_after_header(wait_s).encode("ascii") + b"\r\n"
    return body_response(status_line(minor, 429), JSON_TYPE + retry, payload, date, end, with_body)


def server_error(minor: int, date: bytes) -> bytes:
    """What aiohttp answers when a handler raises (``RequestHandler.handle_error``, text/plain 500), with
    Connection: close as aiohttp closes then too."""
    payload = b"500 Internal Server Error\n\nServer got itself in trouble"
    head = status_line(minor, 500)
    text = b"Content-Type: text/plain; charset=utf-8\r\n"
    return body_response(head, text, payload, date, ending(minor, False), True)
