"""Fixtures shared by the resolver tests: a responder over a real Redis with the demo records."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from protocol.handle import IdentifierLimits
from resolver.cache import ResolutionCache
from resolver.demo_data import load_demo
from resolver.handler import HandleResponder
from resolver.registry import PrefixRegistry
from resolver.service import Resolver
from storage import open_store
from storage.api import StorageConfig


@pytest.fixture
async def responder(redis_url: str) -> AsyncIterator[HandleResponder]:
    store = await open_store(StorageConfig(redis_url=redis_url))
    await load_demo(store)
    resolver = Resolver(store, ResolutionCache(1000, 300.0, 5.0), PrefixRegistry(await store.list_prefixes()))
    yield HandleResponder(resolver, IdentifierLimits(), 262_144)
    await resolver.loader.aclose()
    await store.aclose()
