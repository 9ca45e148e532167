"""Resolution decisions (handle-protocol.md §9, §8.6) against a real Redis through the real store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from protocol.constants import ResponseCode as RC
from protocol.handle import parse_identifier
from protocol.values import HandleValue
from resolver.cache import ResolutionCache
from resolver.demo_data import DEMO_PREFIX, load_demo
from resolver.registry import PrefixRegistry
from resolver.service import Resolution, Resolver, http_status
from storage import open_store
from storage.api import HandleStore, StorageConfig


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[HandleStore]:
    store = await open_store(StorageConfig(redis_url=redis_url))
    await load_demo(store, handle_port=2641)
    yield store
    await store.aclose()


@pytest.fixture
async def resolver(store: HandleStore) -> Resolver:
    return Resolver(store, ResolutionCache(100, 300.0, 5.0), PrefixRegistry(await store.list_prefixes()))


async def resolve(
    resolver: Resolver, text: str, indexes: tuple[int, ...] = (), types: tuple[str, ...] = ()
) -> Resolution:
    return await resolver.resolve(parse_identifier(text), indexes, types, now=0.0)


async def test_homed_identifier_success(resolver: Resolver) -> None:
    answer = await resolve(resolver, f"{DEMO_PREFIX}/demo-url")
    assert answer.code == RC.SUCCESS
    assert [v.type for v in answer.values] == ["URL", "DESC"]


async def test_prefix_is_case_insensitive(resolver: Resolver) -> None:
    await resolver.store.overwrite("88.100.1/CaseSuffix", [HandleValue(1, "URL", b"x")], actor="t")
    assert (await resolve(resolver, "88.100.1/CaseSuffix")).code == RC.SUCCESS
    assert (await resolve(resolver, "88.100.1/casesuffix")).code == RC.HANDLE_NOT_FOUND  # suffix exact


async def test_unknown_identifier_is_100_then_cached_negative(resolver: Resolver) -> None:
    answer = await resolve(resolver, f"{DEMO_PREFIX}/missing")
    assert answer.code == RC.HANDLE_NOT_FOUND and http_status(answer.code) == 404
    again = resolver.answer_now(parse_identifier(f"{DEMO_PREFIX}/missing"), (), (), now=1.0)
    assert again is not None and again.code == RC.HANDLE_NOT_FOUND


async def test_filter_matching_nothing_is_200(resolver: Resolver) -> None:
    answer = await resolve(resolver, f"{DEMO_PREFIX}/demo-url", types=("EMAIL",))
    assert answer.code == RC.VALUES_NOT_FOUND and http_status(answer.code) == 200


async def test_filters_or_index_and_type(resolver: Resolver) -> None:
    answer = await resolve(resolver, f"{DEMO_PREFIX}/demo-big", indexes=(1,), types=("attr_3",))
    assert [v.index for v in answer.values] == [1, 3]


async def test_non_public_values_never_leave(resolver: Resolver) -> None:
    answer = await resolve(resolver, f"{DEMO_PREFIX}/demo-private")
    assert [v.type for v in answer.values] == ["DESC"]
    only_private = await resolve(resolver, f"{DEMO_PREFIX}/demo-private", indexes=(2,))
    assert only_private.code == RC.VALUES_NOT_FOUND and only_private.values == ()


async def test_unknown_prefix_is_301(resolver: Resolver) -> None:
    answer = await resolve(resolver, "99.9/x")
    assert answer.code == RC.SERVER_NOT_RESP and http_status(answer.code) == 400


async def test_delegated_prefix_is_referral(resolver: Resolver) -> None:
    answer = await resolve(resolver, "88.100.2/anything")
    assert answer.code == RC.PREFIX_REFERRAL
    assert answer.referral_handle == "0.NA/88.100.2"
    assert {v.type for v in answer.values} == {"HS_SITE.PREFIX", "HS_SERV"}
    no_referral = resolver.answer_now(parse_identifier("88.100.2/x"), (), (), 0.0, referrals=False)
    assert no_referral is not None and no_referral.code == RC.SERVER_NOT_RESP


async def test_prefix_handles(resolver: Resolver) -> None:
    homed = await resolve(resolver, "0.NA/88.100.1")
    assert homed.code == RC.SUCCESS and homed.values[0].type == "HS_SITE"
    slashless = await resolve(resolver, "88.100.1")
    assert slashless.values == homed.values
    derived = await resolve(resolver, "0.NA/88.100.2.7")
    assert derived.code == RC.PREFIX_REFERRAL and derived.referral_handle == ""
    assert (await resolve(resolver, "0.NA/88.100.1.5")).code == RC.SERVER_NOT_RESP  # derived, not known
    assert (await resolve(resolver, "0.NA/77")).code == RC.SERVER_NOT_RESP


async def test_derived_prefix_of_homed_prefix_is_not_homed(resolver: Resolver) -> None:
    # §9 step 3: the identifier's own prefix must be homed here; even a stray record is not served
    await resolver.store.overwrite("88.100.1.9/x", [HandleValue(1, "URL", b"u")], actor="t")
    answer = await resolve(resolver, "88.100.1.9/x")
    assert answer.code == RC.SERVER_NOT_RESP and "88.100.1.9" in answer.message
    assert (await resolve(resolver, "88.100.1.9/missing")).code == RC.SERVER_NOT_RESP


async def test_derived_prefix_of_delegated_prefix_is_referred(resolver: Resolver) -> None:
    answer = await resolve(resolver, "88.100.2.7/x")
    assert answer.code == RC.PREFIX_REFERRAL and answer.referral_handle == "0.NA/88.100.2"
    assert {v.type for v in answer.values} == {"HS_SITE.PREFIX", "HS_SERV"}
    declined = resolver.answer_now(parse_identifier("88.100.2.7/x"), (), (), 0.0, referrals=False)
    assert declined is not None and declined.code == RC.SERVER_NOT_RESP and "delegated" in declined.message
    handle = resolver.answer_now(parse_identifier("0.NA/88.100.2.7"), (), (), 0.0, referrals=False)
    assert handle is not None and handle.code == RC.SERVER_NOT_RESP


async def test_write_during_read_is_not_cached(resolver: Resolver) -> None:
    ident = parse_identifier(f"{DEMO_PREFIX}/demo-text")
    task = asyncio.create_task(resolver.resolve(ident, (), (), 0.0))
    await asyncio.sleep(0)  # let the task reach its storage read
    resolver.cache.invalidate(ident.key)  # the change feed reports a write meanwhile
    answer = await task
    assert answer.code == RC.SUCCESS
    assert resolver.cache.get(ident.key, 0.0) is None  # answered, but not kept: it may be stale
    await resolver.resolve(ident, (), (), 0.0)
    assert resolver.cache.get(ident.key, 0.0) is not None
