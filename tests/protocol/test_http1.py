"""The fast lane's request-head reader (protocol/http1.py): what it accepts, and every head it leaves to
aiohttp. Each case is fed whole, byte by byte, and with trailing data (STYLE #22)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.http1 import MAX_HEAD_BYTES, MAX_LINE_BYTES, NEED_DATA, NOT_MINE, RequestHead, parse_head

SIMPLE = b"GET /api/handles/88.100.1/x HTTP/1.1\r\nHost: a\r\n\r\n"


def _feed_bytewise(data: bytes) -> object:
    """Grow the buffer a byte at a time, as reads may split it; the first answer that is not NEED_DATA."""
    for size in range(1, len(data) + 1):
        result = parse_head(data[:size])
        if result is not NEED_DATA:
            return result
    return NEED_DATA


def test_a_simple_head() -> None:
    head = parse_head(SIMPLE)
    assert head == RequestHead("GET", "/api/handles/88.100.1/x", 1, "", "", False, len(SIMPLE))
    assert isinstance(head, RequestHead) and head.keep_alive


def test_fed_byte_by_byte_and_with_trailing_data() -> None:
    assert _feed_bytewise(SIMPLE) == parse_head(SIMPLE)
    head = parse_head(SIMPLE + b"GET /x HT")
    assert isinstance(head, RequestHead) and head.end == len(SIMPLE)
    assert parse_head(SIMPLE + b"GET /x HT", head.end) is NEED_DATA


def test_pipelined_heads_follow_each_other() -> None:
    second = b"HEAD /p?x=1 HTTP/1.0\r\nConnection: Keep-Alive\r\nAccept: text/html\r\n\r\n"
    data = SIMPLE + second
    first = parse_head(data)
    assert isinstance(first, RequestHead)
    head = parse_head(data, first.end)
    assert head == RequestHead("HEAD", "/p?x=1", 0, "keep-alive", "text/html", False, len(data))


@pytest.mark.parametrize(
    ("fields", "connection", "keep_alive", "minor"),
    [
        (b"Host: a\r\n", "", True, 1),
        (b"Host: a\r\nConnection: close\r\n", "close", False, 1),
        (b"Host: a\r\nconnection:  CLOSE \t\r\n", "close", False, 1),
        (b"", "", False, 0),
        (b"Connection: keep-alive\r\n", "keep-alive", True, 0),
        (b"Connection: close\r\n", "close", False, 0),
    ],
)
def test_keep_alive_follows_the_version_and_connection(
    fields: bytes, connection: str, keep_alive: bool, minor: int
) -> None:
    data = b"GET / HTTP/1.%d\r\n%s\r\n" % (minor, fields)
    head = parse_head(data)
    assert isinstance(head, RequestHead)
    assert (head.connection, head.keep_alive, head.minor) == (connection, keep_alive, minor)


def test_fields_read_for_answers() -> None:
    data = b"GET /x HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\nAuthorization: Bearer t\r\n\r\n"
    head = parse_head(data)
    assert isinstance(head, RequestHead)
    assert head.accept == "application/json" and head.authorization


NOT_OURS = {
    "obs-fold": b"GET /x HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n",
    "space before colon": b"GET /x HTTP/1.1\r\nHost : a\r\n\r\n",
    "bad token": b"GET /x HTTP/1.1\r\nHo(st: a\r\n\r\n",
    "bad method": b"G(T /x HTTP/1.1\r\nHost: a\r\n\r\n",
    "chunked": b"GET /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    "a body": b"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
    "odd length": b"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 00\r\n\r\n",
    "expect": b"GET /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
    "upgrade": b"GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "connection list": b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n",
    "no host on 1.1": b"GET /x HTTP/1.1\r\n\r\n",
    "empty host": b"GET /x HTTP/1.1\r\nHost:\r\n\r\n",
    "two hosts": b"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "two accepts": b"GET /x HTTP/1.1\r\nHost: a\r\nAccept: a\r\naccept: b\r\n\r\n",
    "absolute-form": b"GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n",
    "asterisk": b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    "fragment": b"GET /x#y HTTP/1.1\r\nHost: a\r\n\r\n",
    "utf-8 target": "GET /产品 HTTP/1.1\r\nHost: a\r\n\r\n".encode(),
    "utf-8 value": "GET /x HTTP/1.1\r\nHost: a\r\nX-A: 产品\r\n\r\n".encode(),
    "control in value": b"GET /x HTTP/1.1\r\nHost: a\r\nX-A: \x01\r\n\r\n",
    "HTTP/2": b"GET /x HTTP/2.0\r\nHost: a\r\n\r\n",
    "HTTP/0.9": b"GET /x\r\n\r\n",
    "two spaces": b"GET  /x HTTP/1.1\r\nHost: a\r\n\r\n",
    "lowercase version": b"GET /x http/1.1\r\nHost: a\r\n\r\n",
    "bare LF": b"GET /x HTTP/1.1\nHost: a\n\n",
    "bare CR": b"GET /x HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
    "leading blank line": b"\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    "long target": b"GET /" + b"a" * MAX_LINE_BYTES + b" HTTP/1.1\r\nHost: a\r\n\r\n",
    "long field": b"GET /x HTTP/1.1\r\nHost: a\r\nX-A: " + b"a" * MAX_LINE_BYTES + b"\r\n\r\n",
    "many fields": b"GET /x HTTP/1.1\r\nHost: a\r\n" + b"X-A: 1\r\n" * 100 + b"\r\n",
}


@pytest.mark.parametrize("data", NOT_OURS.values(), ids=NOT_OURS.keys())
def test_heads_left_to_aiohttp(data: bytes) -> None:
    assert parse_head(data) is NOT_MINE
    assert parse_head(data + SIMPLE) is NOT_MINE
    assert _feed_bytewise(data) in (NOT_MINE, NEED_DATA)  # a prefix may still have been a valid head


def test_an_endless_head_is_refused_once_too_long() -> None:
    partial = b"GET /x HTTP/1.1\r\nHost: a\r\n" + b"X-A: 1\r\n" * (MAX_HEAD_BYTES // 8)
    assert parse_head(partial[: MAX_HEAD_BYTES // 2]) is NEED_DATA
    assert parse_head(partial) is NOT_MINE


def test_content_length_zero_is_no_body() -> None:
    head = parse_head(b"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(head, RequestHead)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_a_head_or_a_marker(data: bytes) -> None:
    result = parse_head(data)
    assert isinstance(result, RequestHead) or result in (NEED_DATA, NOT_MINE)


@given(
    st.sampled_from(["GET", "HEAD", "POST"]),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"), max_size=40),
    st.lists(st.tuples(st.sampled_from(["X-A", "Accept", "User-Agent"]), st.text("abc ;=/", max_size=10)),
             max_size=3, unique_by=lambda f: f[0]),
)
def test_generated_heads_are_read_back(method: str, path: str, fields: list[tuple[str, str]]) -> None:
    lines = "".join(f"{name}: {value}\r\n" for name, value in fields)
    data = f"{method} /{path} HTTP/1.1\r\nHost: h\r\n{lines}\r\n".encode()
    head = parse_head(data + b"tail")
    assert isinstance(head, RequestHead)
    assert (head.method, head.target, head.end) == (method, "/" + path, len(data))
    assert head.accept == dict(fields).get("Accept", "").strip(" \t")


@given(
    st.sampled_from(["GET", "HEAD", "POST", "get"]),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"), max_size=40),
    st.sampled_from(["1.1", "1.0"]),
    st.sampled_from(["Host", "host", "HOST", "X-A"]),
    st.text(st.characters(min_codepoint=0x09, max_codepoint=0x7E, exclude_characters="\n\x0b\x0c\r"),
            max_size=12),
)
def test_the_usual_head_reads_as_any_other_head(
    method: str, path: str, version: str, name: str, value: str
) -> None:
    # The one-Host-field head has its own quick reading; a neutral extra field takes the general one.
    usual = f"{method} /{path} HTTP/{version}\r\n{name}:{value}\r\n\r\n".encode()
    general = usual[:-2] + b"X-Z: 1\r\n\r\n"
    quick, slow = parse_head(usual + SIMPLE), parse_head(general + SIMPLE)
    if isinstance(slow, RequestHead):
        assert isinstance(quick, RequestHead)
        assert quick == slow._replace(end=len(usual))
    else:
        assert quick is slow
