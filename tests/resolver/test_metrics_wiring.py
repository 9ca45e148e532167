"""The pieces that connect the node to its metrics: the cache's negative hits, the HTTP write and
rate-limit counting middleware, the handle shown by the access log, the metrics switch, and the change
feed's commit time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from time import perf_counter

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from protocol.constants import ResponseCode
from protocol.messages import decode_message, encode_error
from protocol.values import HandleValue
from resolver.cache import ResolutionCache
from resolver.client import resolution_request
from resolver.http.observe import install
from resolver.logs import LogThrottle
from resolver.metrics import TransportStats, WorkerStats, request_handle
from resolver.observation import cache_counts
from resolver.settings import SettingsError, load_settings
from storage import keys

URL = HandleValue(1, "URL", b"https://example.com")


def test_negative_hits_are_counted_apart_from_hits() -> None:
    cache = ResolutionCache(10, 300.0, 5.0)
    cache.put("88.1/NONE", None, now=0.0)
    cache.put("88.1/A", (URL,), now=0.0)
    assert cache.get("88.1/NONE", now=1.0) is not None
    assert cache.get("88.1/A", now=1.0) is not None
    assert cache.get("88.1/B", now=1.0) is None
    counts = cache_counts(cache)
    assert (counts.hits, counts.negative_hits, counts.misses) == (1, 1, 1)


def test_a_pre_encoded_answer_counts_as_a_hit() -> None:
    cache = ResolutionCache(10, 300.0, 5.0)
    entry = cache.put("88.1/A", (URL,), now=0.0)
    cache.store_hot(b"k", entry, b"answer", 200, 1)
    hot = cache.lookup_hot(b"k", now=1.0)
    assert hot is not None and hot.code == 1
    assert cache_counts(cache).hits == 1


def test_a_repeating_error_is_logged_once_per_interval_with_the_count_held_back() -> None:
    throttle = LogThrottle(5.0)
    assert throttle.ready(0.0) == 0
    assert throttle.ready(1.0) is None
    assert throttle.ready(4.9) is None
    assert throttle.ready(5.0) == 2


def test_the_access_log_reads_the_handle_from_the_request() -> None:
    request = resolution_request("88.100.1/产品-001", request_id=7)
    assert request_handle(request) == "88.100.1/产品-001"


@pytest.mark.parametrize(
    ("environ", "flags", "enabled"),
    [
        ({}, {}, True),
        ({"IDNODE_METRICS_ENABLED": "false"}, {}, False),
        ({"IDNODE_METRICS_ENABLED": "off"}, {"metrics_enabled": True}, True),
        ({}, {"metrics_enabled": False}, False),
    ],
)
def test_metrics_switch(environ: dict[str, str], flags: dict[str, object], enabled: bool) -> None:
    assert load_settings(flags, environ).metrics_enabled is enabled


def test_metrics_switch_refuses_a_non_boolean() -> None:
    with pytest.raises(SettingsError, match="metrics_enabled"):
        load_settings({}, {"IDNODE_METRICS_ENABLED": "maybe"})


def test_invalidations_carry_the_commit_time_and_old_messages_still_parse() -> None:
    message = keys.invalidation_message("handle", "88.1/A", 1_700_000_000_123)
    assert keys.parse_invalidation_at(message) == ("handle", "88.1/A", 1_700_000_000_123)
    assert keys.parse_invalidation(message) == ("handle", "88.1/A")
    assert keys.parse_invalidation_at(keys.invalidation_message("prefix", "88.1")) == ("prefix", "88.1", 0)
    batch = keys.batch_invalidation_message(["88.1/A", "88.1/B"])
    assert keys.parse_invalidation_at(batch) == (keys.BATCH_KIND, "88.1/A\n88.1/B", 0)


def _answer(status: int, body: dict[str, object] | None = None) -> web.Response:
    return web.json_response(body or {}, status=status)


async def _rest_put(request: web.Request) -> web.Response:
    return _answer(int(request.query.get("answer", "200")))


async def _snms_create(request: web.Request) -> web.Response:
    return _answer(200, {"status": int(request.query.get("status", "1")), "message": "", "data": None})


async def _read(_: web.Request) -> web.Response:
    return _answer(429)


@pytest.fixture
async def client() -> AsyncIterator[tuple[TestClient[web.Request, web.Application], WorkerStats]]:
    """An aiohttp app with the node's write route shapes and the counting middleware, on a real socket."""
    stats = WorkerStats()
    app = web.Application()
    install(app, stats, None)
    app.router.add_put("/api/handles/{handle:.+}", _rest_put)
    app.router.add_delete("/api/handles/{handle:.+}", _rest_put)
    app.router.add_post("/identityv2/data", _snms_create)
    app.router.add_get("/api/handles/{handle:.+}", _read)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client, stats


async def test_writes_are_counted_by_operation_and_result(
    client: tuple[TestClient[web.Request, web.Application], WorkerStats],
) -> None:
    http, stats = client
    await http.put("/api/handles/88.1/A")  # overwrite by default (http-apis.md §1.2)
    await http.put("/api/handles/88.1/A?overwrite=false&answer=409")
    await http.put("/api/handles/88.1/A?index=2&answer=403")
    await http.delete("/api/handles/88.1/A?index=2&answer=404")
    await http.delete("/api/handles/88.1/A?answer=503")
    await http.post("/identityv2/data?status=-2")  # SNMS: failure inside an HTTP 200 envelope
    await http.post("/identityv2/data")
    await http.get("/api/handles/88.1/A")  # a read refused by rate limiting: not a write
    assert stats.writes == {
        ("overwrite", "ok"): 1, ("create", "conflict"): 1, ("add", "forbidden"): 1,
        ("remove", "not_found"): 1, ("delete", "unavailable"): 1, ("create", "invalid"): 1,
        ("create", "ok"): 1,
    }
    assert stats.http.rate_limited == 1
    assert stats.http.inflight == 0


def test_answers_written_together_share_one_latency() -> None:
    stats = TransportStats()
    request = decode_message(resolution_request("88.100.1/x"))
    ok = encode_error(request, ResponseCode.SUCCESS, "")
    missing = encode_error(request, ResponseCode.HANDLE_NOT_FOUND, "")
    stats.finish_batch([ok, missing, ok], perf_counter())
    assert stats.take_codes() == {1: 2, 100: 1}
    counts, _total = stats.latency.take()
    assert sum(counts) == 3 and max(counts) == 3
