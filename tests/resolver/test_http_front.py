"""The front door (resolver/http/front.py): a repeated read answered before routing must be the route's own
answer, with the route's checks (owner reads, rate limit) and the same counting and access lines.

The app is the real one on the real store, served as the worker serves it (``open_front_door`` on its
runner); a first request goes through the router, a repeated one is answered by the front door.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer

from resolver.demo_data import DEMO_PREFIX, load_demo
from resolver.http.app import build_app
from resolver.http.front import open_front_door
from resolver.http.observe import install
from resolver.logs import ACCESS_LOGGER, AccessLog
from resolver.metrics import WorkerStats
from resolver.registry import PrefixRegistry
from resolver.settings import RateLimitSettings, Settings
from resolver.worker import make_resolver
from storage import open_store
from storage.api import StorageConfig

Client = TestClient[web.Request, web.Application]
URL_HANDLE = f"{DEMO_PREFIX}/demo-url"


@asynccontextmanager
async def serving(
    redis_url: str, tmp_path: Path, stats: WorkerStats, access: AccessLog | None = None,
    rate: RateLimitSettings | None = None,
) -> AsyncIterator[Client]:
    config = StorageConfig(redis_url=redis_url, data_dir=tmp_path)
    store = await open_store(config)
    await load_demo(store)
    settings = Settings(storage=config, rate=rate or RateLimitSettings(), workers=1)
    resolver = make_resolver(settings, store, PrefixRegistry(await store.list_prefixes()))
    app = build_app(settings, store, resolver, more_routes=lambda a: install(a, stats, access))
    try:
        async with TestClient(TestServer(app)) as client:
            runner = client.server.runner
            assert isinstance(runner, web.AppRunner)
            open_front_door(runner)
            yield client
    finally:
        await resolver.loader.aclose()
        await store.aclose()


@pytest.fixture
async def client(redis_url: str, tmp_path: Path) -> AsyncIterator[tuple[Client, WorkerStats]]:
    stats = WorkerStats()
    async with serving(redis_url, tmp_path, stats) as test_client:
        yield test_client, stats


async def _answer(resp: ClientResponse) -> tuple[int, dict[str, str], bytes]:
    headers = {k: v for k, v in resp.headers.items() if k != "Date"}
    return resp.status, headers, await resp.read()


READS = [
    ("GET", f"/api/handles/{URL_HANDLE}", {}),
    ("GET", f"/api/handles/{URL_HANDLE}?pretty", {}),
    ("GET", f"/api/handles/{URL_HANDLE}?type=URL&index=1", {}),
    ("GET", f"/api/handles/{URL_HANDLE}?index=7", {}),
    ("GET", f"/api/handles/{DEMO_PREFIX}/nope", {}),
    ("GET", f"/api/handles/{quote(DEMO_PREFIX + '/产品-001')}", {}),
    ("HEAD", f"/api/handles/{URL_HANDLE}", {}),
    ("GET", f"/{URL_HANDLE}", {}),
    ("GET", f"/{URL_HANDLE}?noredirect", {}),
    ("GET", f"/{URL_HANDLE}", {"Accept": "application/json"}),
    ("GET", f"/{DEMO_PREFIX}/demo-text", {"Accept": "text/html"}),
    ("GET", f"/{quote(DEMO_PREFIX + '/产品-001')}", {}),
    ("HEAD", f"/{URL_HANDLE}", {}),
]


@pytest.mark.parametrize(("method", "path", "headers"), READS)
async def test_a_repeated_read_is_the_routes_answer(
    client: tuple[Client, WorkerStats], method: str, path: str, headers: dict[str, str]
) -> None:
    http, stats = client
    answers = []
    for _ in range(3):  # routed, then answered by the front door (twice: it keeps nothing of its own)
        async with http.request(method, path, headers=headers, allow_redirects=False) as resp:
            answers.append(await _answer(resp))
    assert answers[0] == answers[1] == answers[2]
    assert sum(stats.http.codes.values()) == 3  # every resolution counted, wherever it was answered


async def test_a_repeated_read_with_credentials_goes_to_the_route(client: tuple[Client, WorkerStats]) -> None:
    http, _ = client
    path = f"/api/handles/{URL_HANDLE}"
    assert (await http.get(path)).status == 200
    refused = await http.get(path, headers={"Authorization": "Bearer no-such-token"})
    assert refused.status in (401, 403)  # the owner-read check ran: the public copy was not served


async def test_rate_limit_refuses_kept_answers_once_charged(redis_url: str, tmp_path: Path) -> None:
    stats = WorkerStats()
    rate = RateLimitSettings(resolutions_per_s=0.001, burst=3)
    async with serving(redis_url, tmp_path, stats, rate=rate) as http:
        path = f"/api/handles/{URL_HANDLE}"
        statuses = [(await http.get(path)).status for _ in range(3)]  # the burst: 1 routed, 2 kept
        refused = await http.get(path)
        body = await refused.json()
    assert statuses == [200, 200, 200]
    assert refused.status == 429 and refused.headers["Retry-After"]
    assert body == {"responseCode": 3, "handle": URL_HANDLE, "message": "rate limit exceeded"}
    assert stats.http.rate_limited == 1
    assert stats.http.codes == {1: 3}


async def test_a_sampled_kept_answer_logs_the_routed_handle(
    redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stats = WorkerStats()
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    async with serving(redis_url, tmp_path, stats, AccessLog(1.0)) as http:
        for path in (f"/api/handles/{quote(DEMO_PREFIX + '/产品-001')}", f"/{URL_HANDLE}"):
            for _ in range(2):
                await http.get(path, allow_redirects=False)
    logged: Callable[[logging.LogRecord], object] = lambda r: getattr(r, "handle", None)  # noqa: E731
    handles = [logged(r) for r in caplog.records if r.name == ACCESS_LOGGER]
    assert handles == [f"{DEMO_PREFIX}/产品-001"] * 2 + [URL_HANDLE] * 2


async def test_other_requests_are_still_routed_and_counted(client: tuple[Client, WorkerStats]) -> None:
    http, stats = client
    assert (await http.get("/api/prefixes")).status == 200
    assert (await http.get("/api/prefixes")).status == 200
    put = await http.put(f"/api/handles/{DEMO_PREFIX}/w", data=b'{"values": []}')
    assert put.status in (401, 403)  # anonymous write refused by the route, and counted as a write
    assert stats.writes == {("overwrite", "forbidden"): 1}
    assert stats.http.inflight == 0
