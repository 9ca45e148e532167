"""Typed keys for what a worker puts on its aiohttp application (aiohttp ``AppKey``)."""

from __future__ import annotations

from aiohttp import web

from resolver.service import Resolver
from resolver.settings import Settings
from storage.api import HandleStore

STORE = web.AppKey("store", HandleStore)
RESOLVER = web.AppKey("resolver", Resolver)  # the worker's resolver: registry, cache and store
SETTINGS = web.AppKey("settings", Settings)
