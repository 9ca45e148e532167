"""Answers of the Handle REST write routes: ``{responseCode, handle, message}`` with the node's one
responseCode -> HTTP status table (``resolver.service.http_status``, http-apis.md §1.5)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from protocol.constants import ResponseCode
from resolver.service import http_status

RC = ResponseCode


class RestError(Exception):
    """Ends a REST write with an error answer; ``status`` overrides the table (413, 429, 415...)."""

    def __init__(
        self, code: ResponseCode, message: str, status: int | None = None, retry_after: str = ""
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else http_status(int(code), resolution=False)
        self.retry_after = retry_after


def rest_answer(code: ResponseCode, status: int, **members: Any) -> web.Response:
    body = {"responseCode": int(code), **{k: v for k, v in members.items() if v not in (None, "")}}
    return web.json_response(body, status=status)


def rest_error(err: RestError, handle: str | None) -> web.Response:
    resp = rest_answer(err.code, err.status, handle=handle, message=err.message)
    if err.retry_after:
        resp.headers["Retry-After"] = err.retry_after
    return resp


def query_bool(request: web.Request, name: str, default: bool) -> bool:
    """``true``/``false``; a parameter given without a value means true (http-apis.md §1.1)."""
    if name not in request.query:
        return default
    text = request.query[name].strip().lower()
    if text in ("", "true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise RestError(RC.PROTOCOL_ERROR, f"query parameter {name} must be true or false, not {text!r}")


def query_int(request: web.Request, name: str, default: int) -> int:
    text = request.query.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise RestError(
            RC.PROTOCOL_ERROR, f"query parameter {name} must be an integer, not {text!r}"
        ) from None
