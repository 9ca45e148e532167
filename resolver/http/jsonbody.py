"""Reading a JSON request body within limits: size, nesting depth, content type, strict JSON.

Every refusal is a ``BodyError`` carrying the HTTP status and a message naming the problem, so each API can
wrap it in its own envelope (Handle REST ``responseCode`` or SNMS ``status``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

MAX_DEPTH = 32  # ours: the deepest legitimate body (an HS_SITE value in an array) is 7 levels
_CHUNK = 65_536
BODY_TIMEOUT_S = 30.0  # ours: 1 MiB at 35 KiB/s; slower senders are cut off


class BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_body(request: web.Request, max_bytes: int, timeout_s: float = BODY_TIMEOUT_S) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed ``max_bytes``, and with 408 when it
    does not arrive within ``timeout_s`` (a slow client must not hold a worker's request slot)."""
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise BodyError(413, f"request body too large: {declared} bytes > {max_bytes}")
    try:
        async with asyncio.timeout(timeout_s):
            return await _read_capped(request, max_bytes)
    except TimeoutError:
        raise BodyError(408, f"request body not received within {timeout_s:g} s") from None


async def _read_capped(request: web.Request, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise BodyError(413, f"request body too large: more than {max_bytes} bytes")
        chunks.append(chunk)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Strict JSON (no NaN/Infinity), UTF-8, nested at most ``max_depth`` levels."""
    if not raw.strip():
        raise BodyError(400, "request body is empty: a JSON entity is required")
    try:
        text = raw.decode("utf-8")
        obj = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise BodyError(400, f"request body is not UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise BodyError(400, f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise BodyError(400, f"invalid JSON: {exc}") from None
    if _depth(obj) > max_depth:
        raise BodyError(400, f"JSON nested deeper than {max_depth} levels")
    return obj


def _depth(obj: Any) -> int:
    """Nesting depth without recursion (a hostile body cannot exhaust the stack)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(node, dict):
            stack.extend((child, level + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, level + 1) for child in node)
    return deepest


def require_json_type(request: web.Request) -> None:
    """A write without a JSON entity is refused (http-apis.md §1.1, HSJ checkContentType)."""
    if request.content_type not in ("application/json", "text/json") and not request.content_type.endswith(
        "+json"
    ):
        raise BodyError(400, f"Content-Type must be application/json, not {request.content_type!r}")


async def read_json(
    request: web.Request, max_bytes: int, *, check_type: bool = True, timeout_s: float = BODY_TIMEOUT_S
) -> Any:
    if check_type:
        require_json_type(request)
    return parse_json(await read_body(request, max_bytes, timeout_s))
