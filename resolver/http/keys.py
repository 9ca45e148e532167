"""Typed keys for what a worker puts on its aiohttp application (aiohttp ``AppKey``)."""

from __future__ import annotations

from aiohttp import web

from storage.api import HandleStore

STORE = web.AppKey("store", HandleStore)
