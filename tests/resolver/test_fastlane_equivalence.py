"""The fast lane (resolver/http/fastlane.py) answers byte for byte what aiohttp answers (Date aside): each
case goes to a listener with the lane and to one without, over one real store, twice (a miss, then a kept
answer), on raw sockets; and what the lane hands over mid-connection is still answered by aiohttp."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from resolver.demo_data import DEMO_PREFIX
from resolver.settings import RateLimitSettings, Settings
from tests.resolver.fastlane_rig import URL_HANDLE, exchange, get, serving_pair

UTF8 = quote(f"{DEMO_PREFIX}/产品-001")
REST = f"/api/handles/{URL_HANDLE}"
PUT_BODY = b'{"values": []}'
PUT = (
    f"PUT {REST} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    f"Content-Length: {len(PUT_BODY)}\r\n\r\n"
).encode() + PUT_BODY

# name -> (bytes sent on one connection, the method of each response expected)
CASES: dict[str, tuple[bytes, list[str]]] = {
    "rest": (get(REST), ["GET"]),
    "pretty": (get(REST + "?pretty"), ["GET"]),
    "pretty false": (get(REST + "?pretty=false"), ["GET"]),
    "filters": (get(REST + "?type=URL&index=1"), ["GET"]),
    "encoded filter": (get(REST + "?type=U%52L&index=%31"), ["GET"]),
    "no such index": (get(REST + "?index=7"), ["GET"]),
    "bad index": (get(REST + "?index=x"), ["GET"]),
    "unknown handle": (get(f"/api/handles/{DEMO_PREFIX}/nope"), ["GET"]),
    "utf-8 handle": (get(f"/api/handles/{UTF8}"), ["GET"]),
    "encoded slash": (get(f"/api/handles/{DEMO_PREFIX}%2Fdemo-url"), ["GET"]),
    "not an identifier": (get("/api/handles/noslash"), ["GET"]),
    "prefix handle": (get(f"/api/handles/0.NA/{DEMO_PREFIX}"), ["GET"]),
    "delegated": (get("/api/handles/88.100.2/x"), ["GET"]),
    "unhomed": (get("/api/handles/99.1/x"), ["GET"]),
    "empty handle": (get("/api/handles/"), ["GET"]),
    "newline in handle": (get("/api/handles/88.100.1/a%0Ab"), ["GET"]),
    "head": (get(REST, method="HEAD"), ["HEAD"]),
    "http/1.0": (get(REST, version="1.0"), ["GET"]),
    "http/1.0 keep-alive": (get(REST, "Connection: keep-alive", version="1.0"), ["GET"]),
    "connection close": (get(REST, "Connection: close"), ["GET"]),
    "pipelined": (
        get(REST) + get(REST + "?pretty") + get(REST, method="HEAD") + get(f"/api/handles/{DEMO_PREFIX}/no"),
        ["GET", "GET", "HEAD", "GET"],
    ),
    "pipelined, last closes": (get(REST) + get(REST + "?index=1", "Connection: close"), ["GET", "GET"]),
    "proxy": (get(f"/{URL_HANDLE}"), ["GET"]),
    "proxy noredirect": (get(f"/{URL_HANDLE}?noredirect"), ["GET"]),
    "proxy json": (get(f"/{URL_HANDLE}", "Accept: application/json"), ["GET"]),
    "proxy page": (get(f"/{DEMO_PREFIX}/demo-text", "Accept: text/html"), ["GET"]),
    "proxy utf-8": (get(f"/{UTF8}"), ["GET"]),
    "proxy head": (get(f"/{URL_HANDLE}", method="HEAD"), ["HEAD"]),
    "proxy http/1.0": (get(f"/{URL_HANDLE}", version="1.0"), ["GET"]),
    "proxy unknown": (get(f"/{DEMO_PREFIX}/nope"), ["GET"]),
    "authorization": (get(REST, "Authorization: Bearer no-such-token"), ["GET"]),
    "private values": (get(f"/api/handles/{DEMO_PREFIX}/demo-private"), ["GET"]),
    "prefixes": (get("/api/prefixes"), ["GET"]),
    "post": (get(REST, "Content-Length: 0", method="POST"), ["POST"]),
    "write": (PUT, ["PUT"]),
    "chunked": (
        b"GET " + REST.encode() + b" HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ["GET"],
    ),
    "expect": (get(REST, "Expect: 100-continue"), ["GET"]),
    "oversized head": (get(REST, "X-Big: " + "a" * 9000), ["GET"]),
    "no host": (f"GET {REST} HTTP/1.1\r\n\r\n".encode(), ["GET"]),
    "two hosts": (get(REST, "Host: b"), ["GET"]),
    "absolute form": (f"GET http://localhost{REST} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode(), ["GET"]),
    "garbage": (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", ["GET"]),
    "hand over to a route": (get(REST) + get("/api/prefixes") + get(REST), ["GET", "GET", "GET"]),
    "hand over to a write": (get(REST) + PUT + get(REST), ["GET", "PUT", "GET"]),
    "hand over after a miss": (
        get(f"/api/handles/{DEMO_PREFIX}/demo-big") + get("/api/prefixes"), ["GET", "GET"]
    ),
}


# Answered on the lane whole, both times (the first a miss); every other case is handed to aiohttp.
LANE_ONLY = {
    "rest", "pretty", "pretty false", "filters", "encoded filter", "no such index", "bad index",
    "unknown handle", "utf-8 handle", "encoded slash", "not an identifier", "prefix handle", "delegated",
    "unhomed", "head", "http/1.0", "http/1.0 keep-alive", "connection close", "pipelined",
    "pipelined, last closes", "private values",
}
# The proxy's misses go to aiohttp; the repeat is the lane's.
LANE_ON_REPEAT = {"proxy", "proxy noredirect", "proxy json", "proxy page", "proxy utf-8", "proxy head",
                  "proxy unknown"}


@pytest.mark.parametrize("name", CASES)
async def test_the_lane_answers_what_aiohttp_answers(
    redis_url: str, tmp_path: Path, name: str
) -> None:
    data, methods = CASES[name]
    async with serving_pair(redis_url, tmp_path) as (on, off):
        assert on.lane is not None
        handed = []
        for _ in range(2):  # a miss, then the kept answer
            lane = await exchange(on.port, data, methods)
            plain = await exchange(off.port, data, methods)
            assert lane == plain
            handed.append(on.lane.handed_over)
        expected = [0, 0] if name in LANE_ONLY else [1, 1] if name in LANE_ON_REPEAT else [1, 2]
        assert handed == expected
        assert on.stats.http.codes == off.stats.http.codes
        assert on.stats.http.inflight == off.stats.http.inflight == 0


async def test_rate_limit_refuses_alike_and_counts_once(redis_url: str, tmp_path: Path) -> None:
    settings = Settings(rate=RateLimitSettings(resolutions_per_s=0.001, burst=3))
    requests = [get(REST), get(REST + "?pretty"), get(REST), get(REST), get(REST, method="HEAD")]
    async with serving_pair(redis_url, tmp_path, settings) as (on, off):
        lane = [await exchange(on.port, data, [data.split(b" ")[0].decode()]) for data in requests]
        plain = [await exchange(off.port, data, [data.split(b" ")[0].decode()]) for data in requests]
        assert lane == plain
        assert [answers[0].split(b" ")[1] for answers, _ in lane] == [b"200"] * 3 + [b"429"] * 2
        assert on.stats.http.rate_limited == off.stats.http.rate_limited == 2
        assert on.stats.http.codes == off.stats.http.codes == {1: 3}


# Targets whose decoding must match yarl's as aiohttp's router uses it (path_safe, %2F and %25 kept, then
# unquoted; the query by yarl): each is a REST read answered on the lane, or a case handed to aiohttp.
TRICKY_TARGETS = [
    "88.100.1%2Fdemo-url", "88.100.1/demo%2Durl", "88.100.1/demo%252Durl", "88.100.1/demo+url",
    "88.100.1/demo%20url", "88.100.1/%E4%BA%A7%E5%93%81-001", "88.100.1/%C3%28", "88.100.1/%00",
    "88.100.1/%", "88.100.1/%zz", "88.100.1/../demo-url", "88.100.1/./demo-url", "88.100.1//demo-url",
    "88.100.1/demo-url;x=1", "88.100.1/demo-url?type=URL&type=DESC", "88.100.1/demo-url?index=1&index=2",
    "88.100.1/demo-url?pretty=FALSE", "88.100.1/demo-url?pretty=no", "88.100.1/demo-url?=x&&",
    "88.100.1/demo-url?index=%201", "88.100.1/demo-url?index=1_0", "88.100.1/demo-url?type=U%2BRL",
    "88.100.1/demo-url?type=U+RL", "88.100.1/demo-url?index=1;index=2", "88.100.1/demo-url?pretty&pretty=0",
    "0.NA%2F88.100.1", "88.100.1/DEMO-URL", "88.100.1/demo-url/",
]


@pytest.mark.parametrize("target", TRICKY_TARGETS)
async def test_paths_and_queries_decode_as_aiohttp_decodes_them(
    redis_url: str, tmp_path: Path, target: str
) -> None:
    data = get("/api/handles/" + target) + get(f"/{target}", "Accept: application/json")
    async with serving_pair(redis_url, tmp_path) as (on, off):
        for _ in range(2):
            lane = await exchange(on.port, data, ["GET", "GET"])
            assert lane == await exchange(off.port, data, ["GET", "GET"])
        assert on.stats.http.codes == off.stats.http.codes
