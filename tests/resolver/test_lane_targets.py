"""``lane_targets.decode_target`` reads a target as aiohttp's router does (``decode_by_yarl``: yarl's own
steps), including its shortcut for targets without escapes or a query."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import MultiDictProxy

from resolver.http.lane_targets import NO_QUERY, PROXY_ROUTE, REST_ROUTE, decode_by_yarl, decode_target

# What protocol.http1 accepts as a target: "/" then printable ASCII without "#" (RFC 9112 3.2.1).
TARGET_CHARS = st.sampled_from([chr(c) for c in range(0x21, 0x7F) if chr(c) != "#"])
PIECES = st.sampled_from(["/", ".", "..", "//", ":", "%2F", "%25", "%41", "%", "?", "+", "api/handles/"])
TARGETS = st.lists(st.one_of(TARGET_CHARS, PIECES), max_size=30).map(lambda parts: "/" + "".join(parts))


def plain(decoded: tuple[str, MultiDictProxy[str]] | None) -> tuple[str, list[tuple[str, str]]] | None:
    if decoded is None:
        return None
    text, query = decoded
    return text, list(query.items())


@given(TARGETS, st.sampled_from([REST_ROUTE, PROXY_ROUTE]))
def test_every_target_decodes_as_yarl_decodes_it(target: str, route: re.Pattern[str]) -> None:
    for text in (target, "/api/handles" + target):
        assert plain(decode_target(text, route)) == plain(decode_by_yarl(text, route))


@pytest.mark.parametrize(
    "target",
    [
        "/api/handles/88.100.1/lt-00000007",
        "/api/handles/a/./b/../c",
        "/api/handles/a//b:c@d;e=f+g~",
        "/api/handles/",
        "/api/handle/x",
    ],
)
def test_a_target_without_escapes_or_query_skips_yarl(target: str) -> None:
    decoded = decode_target(target)
    assert plain(decoded) == plain(decode_by_yarl(target))
    if decoded is not None:
        assert decoded[1] is NO_QUERY
