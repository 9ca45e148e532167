"""The HTTP read routes through aiohttp's test server, on the real app and the real store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st

from resolver.demo_data import DEMO_PREFIX, load_demo
from resolver.http.answers import dump_json
from resolver.http.app import build_app
from resolver.http.front import open_front_door
from resolver.registry import PrefixRegistry
from resolver.settings import Settings
from resolver.worker import make_resolver
from storage import open_store
from storage.api import StorageConfig


@pytest.fixture
async def client(redis_url: str, tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    config = StorageConfig(redis_url=redis_url, data_dir=tmp_path)
    store = await open_store(config)
    await load_demo(store)
    settings = Settings(storage=config)
    resolver = make_resolver(settings, store, PrefixRegistry(await store.list_prefixes()))
    async with TestClient(TestServer(build_app(settings, store, resolver))) as test_client:
        assert isinstance(test_client.server.runner, web.AppRunner)
        open_front_door(test_client.server.runner)  # as the worker serves it: repeated reads answered there
        yield test_client
    await store.aclose()


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        (f"/api/handles/{DEMO_PREFIX}/demo-url", 200, 1),
        (f"/api/handles/{DEMO_PREFIX}/demo-url?index=7", 200, 200),
        (f"/api/handles/{DEMO_PREFIX}/nope", 404, 100),
        ("/api/handles/77.1/x", 400, 301),
        ("/api/handles/88..1/x", 400, 102),
        (f"/api/handles/{DEMO_PREFIX}/demo-url?index=one", 400, 4),
        ("/api/handles/88.100.2/x", 300, 303),
        (f"/api/handles/{quote(DEMO_PREFIX + '/产品-001')}", 200, 1),
    ],
)
async def test_rest_status_and_code(client: TestClient, path: str, status: int, code: int) -> None:  # type: ignore[type-arg]
    for _ in range(2):  # the second answer comes from the pre-encoded copy and must be the same
        resp = await client.get(path)
        assert resp.status == status
        assert (await resp.json())["responseCode"] == code


async def test_rest_values_shape(client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await client.get(f"/api/handles/{DEMO_PREFIX}/demo-private")
    body = await resp.json()
    assert body["handle"] == f"{DEMO_PREFIX}/demo-private"
    data = {"format": "string", "value": "Public description"}
    assert body["values"] == [{"index": 1, "type": "DESC", "data": data, "ttl": 86400}]
    empty = await (await client.get(f"/api/handles/{DEMO_PREFIX}/demo-private?index=2")).json()
    assert empty == {"responseCode": 200, "handle": f"{DEMO_PREFIX}/demo-private", "values": [],
                     "message": "Values not found"}


async def test_proxy_kinds(client: TestClient) -> None:  # type: ignore[type-arg]
    redirect = await client.get(f"/{DEMO_PREFIX}/demo-url", allow_redirects=False)
    assert redirect.status == 302
    page = await client.get(f"/{DEMO_PREFIX}/nope", headers={"Accept": "text/html"})
    assert page.status == 404 and "HANDLE_NOT_FOUND" in await page.text()
    hostile = await client.get(f"/{DEMO_PREFIX}/<script>", headers={"Accept": "text/html"})
    assert "<script>" not in await hostile.text()


_JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.text()
_JSON_TREES = st.recursive(
    _JSON_LEAVES, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=20
)


@given(st.dictionaries(st.text(), _JSON_TREES))
def test_compact_and_pretty_answers_are_what_json_writes(body: dict[str, object]) -> None:
    # answers.dump_json writes answers with orjson: byte for byte json's text, or json's own error.
    def written(write: Callable[[], bytes]) -> bytes | type[Exception]:
        try:
            return write()
        except UnicodeEncodeError as exc:  # a lone surrogate
            return type(exc)

    expected = written(lambda: json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
    assert written(lambda: dump_json(body, False)) == expected
    pretty = written(lambda: json.dumps(body, indent=2, ensure_ascii=False).encode())
    assert written(lambda: dump_json(body, True)) == pretty  # and indented ones, the same way
