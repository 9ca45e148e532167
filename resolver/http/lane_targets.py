"""How the fast lane reads a request target the way aiohttp's router does, without a request object.

aiohttp builds ``request.rel_url`` with ``URL.build(path=..., query_string=..., encoded=True)`` (its HTTP
parser, origin-form), routes on ``rel_url.path_safe`` with each route's compiled pattern (``fullmatch``),
and unquotes a match with ``_unquote_path_safe``; ``request.query`` is ``rel_url.query``. The same steps
here give the same ``match_info["handle"]`` and query (yarl is aiohttp's own URL library). Only misses,
refusals, sampled access lines and proxy queries pay for it: a kept answer needs the raw target alone.
"""

from __future__ import annotations

import re
from typing import Final

from multidict import MultiDict, MultiDictProxy
from yarl import URL

from resolver.http.proxy import answer_kind

REST_PREFIX: Final = "/api/handles/"
REST_ROUTE: Final = re.compile(r"/api/handles/(?P<handle>.+)")  # handles_api.setup's, as aiohttp compiles it
PROXY_ROUTE: Final = re.compile(r"/(?P<handle>.+)")  # proxy.setup's


NO_QUERY: Final = MultiDictProxy(MultiDict[str]())  # ``request.query`` of a target without one


class Handover:
    __slots__ = ()

    def __repr__(self) -> str:
        return "HANDOVER"


HANDOVER: Final = Handover()


def decode_target(
    target: str, route: re.Pattern[str] = REST_ROUTE
) -> tuple[str, MultiDictProxy[str]] | None:
    """``route``'s ``match_info["handle"]`` and ``request.query`` (None: the route does not match)."""
    if "%" not in target and "?" not in target:
        # The usual target: yarl leaves a pre-encoded path without escapes as it is (no dot-segment
        # removal; a scheme-like colon is re-encoded only in a path not starting with "/"), and the query
        # is empty. tests/resolver/test_lane_targets.py holds this to ``decode_by_yarl``.
        plain = route.fullmatch(target)
        return None if plain is None else (plain.group("handle"), NO_QUERY)
    return decode_by_yarl(target, route)


def decode_by_yarl(
    target: str, route: re.Pattern[str] = REST_ROUTE
) -> tuple[str, MultiDictProxy[str]] | None:
    """``decode_target`` by aiohttp's own steps, for any target."""
    path, _, query = target.partition("?")
    url = URL.build(path=path, query_string=query, encoded=True)
    match = route.fullmatch(url.path_safe)
    if match is None:
        return None
    text = match.group("handle")
    if "%" in text:  # aiohttp's _unquote_path_safe
        text = text.replace("%2F", "/").replace("%25", "%")
    return text, url.query


def proxy_kind(accept: str, target: str) -> str:
    """``proxy._kind`` of a raw target: its query is decoded (yarl) only when it has one."""
    path, mark, query = target.partition("?")
    decoded = URL.build(path=path, query_string=query, encoded=True).query if mark else None
    return answer_kind(accept, decoded)
