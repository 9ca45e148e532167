"""The SNMS-compatible API on the real store: token logins (plain, hashed v1, expiry), template-validated
registration, detail, update, delete, batches with partial failures, and the envelope's status codes."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from protocol.constants import Permission
from protocol.values import HandleValue
from resolver.auth.snms_login import CHINA_TZ
from tests.integration.admin_app import AdminApp, admin_app, bearer, settings_for
from tests.resolver.template_docs import template_obj

TEMPLATE = template_obj()


def ident(handle: str, name: str = "small pump", **extra: Any) -> dict[str, Any]:
    return {
        "handle": handle,
        "templateVersion": "1.0",
        "value": [{"index": 2000, "type": "name", "auth": "", "data": {"format": "string", "value": name}}],
        **extra,
    }


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def node(redis_url: str, tmp_path: Path) -> AsyncIterator[AdminApp]:
    async with admin_app(settings_for(redis_url, tmp_path)) as app:
        yield app


async def call(node: AdminApp, method: str, path: str, body: Any = None, token: str = "") -> Any:
    headers = bearer(token) if token else {}
    resp = await node.client.request(method, path, json=body, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def login(node: AdminApp, username: str, password: str) -> str:
    answer = await call(node, "POST", "/identity/token", {"username": username, "password": password})
    assert answer["status"] == 1, answer
    token: str = answer["data"]["token"]
    return token


async def with_template(node: AdminApp) -> str:
    await node.tenant("acme", "88.1000.1", "secret-1")
    token = await login(node, "acme", "secret-1")
    answer = await call(node, "POST", "/snms/api/v5/template", TEMPLATE, token)
    assert answer == {"status": 1, "message": "success", "data": True}
    return token


async def test_plain_login_and_failure(node: AdminApp) -> None:
    await node.tenant("acme", "88.1000.1", "secret-1")
    assert await login(node, "acme", "secret-1")
    for username, password in (("acme", "wrong"), ("nobody", "secret-1")):
        answer = await call(node, "POST", "/identity/token", {"username": username, "password": password})
        assert answer == {"status": -2, "message": "用户名/密码错误！", "data": None}
    answer = await call(node, "POST", "/identity/token", {"username": "acme"})
    assert answer["status"] == -2 and "password" in answer["message"]


async def test_hashed_login_documented_example(redis_url: str, tmp_path: Path) -> None:
    # http-apis.md §2.2: password 123456 on 2019-08-15 (UTC+8) hashes to 58e2c92c...7661.
    clock = Clock(dt.datetime(2019, 8, 15, 9, 30, tzinfo=CHINA_TZ).timestamp())
    async with admin_app(settings_for(redis_url, tmp_path), clock=clock) as node:
        await node.tenant("acme", "88.1000.1", "123456")
        hashed = "58e2c92c46485fdbc35fdcd0814d6c0f000cad5aa156848ca5edaf29406b7661"
        body = {"username": "acme", "password": hashed}
        answer = await call(node, "POST", "/identity/token/v1", body)
        assert answer["status"] == 1 and len(answer["data"]["token"]) >= 43
        clock.now += 86_400  # the next day: yesterday's hash is still accepted
        assert (await call(node, "POST", "/identity/token/v1", body))["status"] == 1
        clock.now += 86_400
        assert (await call(node, "POST", "/identity/token/v1", body))["status"] == -2
        # The plaintext sent to /v1 is not a valid hash.
        body = {"username": "acme", "password": "123456"}
        assert (await call(node, "POST", "/identity/token/v1", body))["status"] == -2


async def test_token_expiry(redis_url: str, tmp_path: Path) -> None:
    clock = Clock(1_700_000_000.0)
    async with admin_app(settings_for(redis_url, tmp_path), clock=clock) as node:
        await node.tenant("acme", "88.1000.1", "secret-1")
        token = await login(node, "acme", "secret-1")
        answer = await call(node, "GET", "/snms/api/v5/template?prefix=88.1000.1&version=none", token=token)
        assert answer["status"] == -2  # logged in; the template just does not exist
        clock.now += 86_400 + 1  # 24 h (SNMS attachment.md)
        answer = await call(node, "GET", "/snms/api/v5/template?prefix=88.1000.1&version=none", token=token)
        assert answer["status"] == -1


async def test_register_detail_update_delete(node: AdminApp) -> None:
    token = await with_template(node)
    answer = await call(node, "POST", "/identityv2/data", ident("88.1000.1/part-1"), token)
    assert answer == {"status": 1, "message": "success", "data": True}
    record = await node.store.get("88.1000.1/part-1")
    assert record is not None and [(v.index, v.type) for v in record] == [(1001, "TEMPLATE"), (2000, "name")]
    detail = await call(node, "GET", "/identityv2/data/detail?handle=88.1000.1/part-1", token=token)
    assert detail["data"] == {
        "prefix": "88.1000.1",
        "handle": "88.1000.1/part-1",
        "templateVersion": "1.0",
        "value": [
            {"index": 1001, "type": "TEMPLATE", "auth": "1", "data": {"format": "string", "value": "1.0"}},
            {"index": 2000, "type": "name", "auth": "1", "data": {"format": "string", "value": "small pump"}},
        ],
    }
    answer = await call(node, "POST", "/identityv2/data", ident("88.1000.1/part-1"), token)
    assert answer["status"] == -2 and answer["message"] == "标识已存在"
    answer = await call(node, "PUT", "/identityv2/data", ident("88.1000.1/part-1", "big pump"), token)
    assert answer["status"] == 1
    record = await node.store.get("88.1000.1/part-1")
    assert record is not None and record[-1].data == b"big pump"
    answer = await call(node, "PUT", "/identityv2/data", ident("88.1000.1/nope"), token)
    assert answer["status"] == -2 and answer["message"] == "标识不存在"
    answer = await call(node, "DELETE", "/identityv2/data", {"handle": "88.1000.1/part-1"}, token)
    assert answer["status"] == 1 and await node.store.get("88.1000.1/part-1") is None
    answer = await call(node, "DELETE", "/identityv2/data", {"handle": "88.1000.1/part-1"}, token)
    assert answer == {"status": -2, "message": "没有找到标识", "data": None}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"templateVersion": "9.9"}, "模板不存在"),
        (
            {"value": [{"index": 1000, "type": "name", "data": {"format": "string", "value": "x"}}]},
            "非法操作，索引1000在模板中不存在",
        ),
        ({"value": [{"index": 2000, "type": "model", "data": {"format": "string", "value": "x"}}]}, "idType"),
        (
            {"value": [{"index": 2000, "type": "name", "data": {"format": "string", "value": "x" * 21}}]},
            "length 21 not in 1..20",
        ),
        (
            {"value": [{"index": 2001, "type": "model", "data": {"format": "string", "value": "m"}}]},
            "required item name",
        ),
        (
            {
                "value": [
                    {"index": 1001, "type": "TEMPLATE", "data": {"format": "string", "value": "1.0"}},
                    {"index": 2000, "type": "name", "data": {"format": "string", "value": "x"}},
                ]
            },
            "1001",
        ),
        (
            {"value": [{"index": 2000, "type": "name", "data": {"format": "hex", "value": "00"}}]},
            "data.format",
        ),
        (
            {"value": [{"index": "x", "type": "name", "data": {"format": "string", "value": "a"}}]},
            "value[0].index",
        ),
        (
            {"value": [{"index": 2000, "type": "name", "data": {"format": "string", "value": 5}}]},
            "value[0].data.value",
        ),
        ({"colour": "red"}, "colour"),
        ({"handle": "88.1000.1"}, "handle"),
        ({"value": []}, "value"),
    ],
)
async def test_registration_rules_named(node: AdminApp, change: dict[str, Any], expected: str) -> None:
    token = await with_template(node)
    answer = await call(node, "POST", "/identityv2/data", {**ident("88.1000.1/bad"), **change}, token)
    assert answer["status"] == -2 and expected in answer["message"], answer
    assert await node.store.get("88.1000.1/bad") is None


async def test_batches_report_each_item(node: AdminApp) -> None:
    token = await with_template(node)
    await call(node, "POST", "/identityv2/data", ident("88.1000.1/dup"), token)
    items = [
        ident("88.1000.1/b1"),
        ident("88.1000.1/dup"),
        ident("88.1000.1/b2", "x" * 30),
        ident("88.2000.1/foreign"),
    ]
    answer = await call(node, "POST", "/identityv2/data/batchCreate", items, token)
    assert answer["status"] == 1
    messages = [(r["handle"], r["msg"]) for r in answer["data"]]
    assert messages[0] == ("88.1000.1/b1", "success")
    assert messages[1] == ("88.1000.1/dup", "标识已存在")
    assert "length 30" in messages[2][1] and "无权限" in messages[3][1]
    assert await node.store.get("88.1000.1/b1") is not None and await node.store.get("88.1000.1/b2") is None

    answer = await call(
        node,
        "PUT",
        "/identityv2/data/batchUpdate",
        [ident("88.1000.1/b1", "new"), ident("88.1000.1/none")],
        token,
    )
    assert [r["msg"] for r in answer["data"]] == ["success", "标识不存在"]

    answer = await call(
        node, "DELETE", "/identityv2/data/batchDelete", ["88.1000.1/b1", "88.1000.1/none"], token
    )
    assert answer["data"] == [
        {"handle": "88.1000.1/b1", "code": 1, "msg": "success"},
        {"handle": "88.1000.1/none", "code": -2, "msg": "标识不存在"},
    ]
    answer = await call(node, "DELETE", "/identityv2/data/batchDelete", {"handles": ["88.1000.1/dup"]}, token)
    assert answer["data"][0]["code"] == 1


async def test_batch_size_limit(node: AdminApp) -> None:
    token = await with_template(node)
    items = [ident(f"88.1000.1/n{n}") for n in range(2001)]
    answer = await call(node, "POST", "/identityv2/data/batchCreate", items, token)
    assert answer["status"] == -2 and "2000" in answer["message"]
    assert await node.store.count_handles("88.1000.1") == 0


async def test_envelope_for_missing_login_and_bad_json(node: AdminApp) -> None:
    answer = await call(node, "POST", "/identityv2/data", ident("88.1000.1/x"))
    assert answer["status"] == -1
    answer = await call(node, "POST", "/identityv2/data", ident("88.1000.1/x"), "bogus-token")
    assert answer["status"] == -1
    await node.tenant("acme", "88.1000.1", "secret-1")
    token = await login(node, "acme", "secret-1")
    resp = await node.client.post("/identityv2/data", data=b"{oops", headers=bearer(token))
    answer = await resp.json()
    assert resp.status == 200 and answer["status"] == -2 and "invalid JSON" in answer["message"]


async def test_detail_hides_restricted_values_from_others(node: AdminApp) -> None:
    await node.tenant("acme", "88.1000.1", "secret-1")
    await node.tenant("other", "88.2000.1", "secret-2")
    hidden = HandleValue(5, "SECRET", b"s", permissions=Permission.ADMIN_READ | Permission.ADMIN_WRITE)
    await node.store.create("88.1000.1/mixed", [HandleValue(1, "URL", b"u"), hidden], actor="test")
    owner = await call(
        node,
        "GET",
        "/identityv2/data/detail?handle=88.1000.1/mixed",
        token=await login(node, "acme", "secret-1"),
    )
    assert [v["index"] for v in owner["data"]["value"]] == [1, 5]
    stranger = await call(
        node,
        "GET",
        "/identityv2/data/detail?handle=88.1000.1/mixed",
        token=await login(node, "other", "secret-2"),
    )
    assert [v["index"] for v in stranger["data"]["value"]] == [1]


async def test_template_read_edit_delete(node: AdminApp) -> None:
    token = await with_template(node)
    v3 = await call(node, "GET", "/snms/api/v3/template?prefix=88.1000.1&version=1.0", token=token)
    assert v3["status"] == 1 and "idIndex" not in v3["data"]["items"][0]
    edit = {
        "prefix": "88.1000.1",
        "version": "1.0",
        "items": [
            {"idIndex": 2001, "idType": "model", "state": 0},
            {
                "name": "颜色",
                "idType": "color",
                "metadata": {"type": "string", "minLength": 0, "maxLength": 9},
            },
        ],
    }
    assert (await call(node, "PUT", "/snms/api/v5/template", edit, token))["status"] == 1
    v5 = await call(node, "GET", "/snms/api/v5/template?prefix=88.1000.1&version=1.0", token=token)
    assert [(i["idIndex"], i["state"]) for i in v5["data"]["items"]] == [(2000, 1), (2001, 0), (2002, 1)]
    bad = await call(node, "POST", "/snms/api/v5/template", {**TEMPLATE, "version": "2", "type": 9}, token)
    assert bad["status"] == -2 and "type" in bad["message"]
    dup = await call(node, "POST", "/snms/api/v5/template", TEMPLATE, token)
    assert dup["status"] == -2 and "模板已存在" in dup["message"]
    body = {"prefix": "88.1000.1", "version": "1.0"}
    assert (await call(node, "DELETE", "/snms/api/v5/template", body, token))["status"] == 1
    assert (await call(node, "DELETE", "/snms/api/v3/template", body, token))["status"] == -2


async def test_write_rate_limit_counts_batch_items(redis_url: str, tmp_path: Path) -> None:
    async with admin_app(settings_for(redis_url, tmp_path, writes_per_s=0.001, burst=3)) as node:
        await node.tenant("acme", "88.1000.1", "secret-1")
        token = await login(node, "acme", "secret-1")
        items = [ident(f"88.1000.1/r{n}") for n in range(5)]
        first = await node.client.post("/identityv2/data/batchCreate", json=items, headers=bearer(token))
        assert first.status == 200  # a batch larger than the burst needs a full bucket, and empties it
        second = await node.client.post("/identityv2/data", json=ident("88.1000.1/r9"), headers=bearer(token))
        answer = await second.json()
        assert second.status == 429 and answer["status"] == -2 and int(second.headers["Retry-After"]) >= 1
        assert await node.store.get("88.1000.1/r9") is None
