"""``GET /{handle}``: what people meet when they scan a QR code (the Handle proxy behaviour).

302 to the first URL value; with ``?noredirect``, or for a browser (``Accept: text/html``) when there is no
URL value, a small HTML page of the record; ``Accept: application/json`` gives the REST JSON. Registered last,
so every other route wins. Answers are kept pre-encoded per (path, kind) like the REST API's.
"""

from __future__ import annotations

import html
import importlib.resources
import json
from collections.abc import Callable, Mapping
from string import Template
from time import perf_counter

from aiohttp import web

from protocol.constants import ResponseCode
from protocol.handle import ascii_upper
from protocol.jsonfmt import value_to_json
from resolver.http.answers import dump_json, json_response, resolution_json
from resolver.http.handles_api import answer_cached
from resolver.service import Resolution, http_status
from storage.api import Record

_PAGE = Template(importlib.resources.files("resolver.http").joinpath("record.html").read_text("utf-8"))
_REDIRECT = 302


def first_url(values: Record) -> str | None:
    """The data of the lowest-index URL value, if any."""
    urls = sorted((v for v in values if ascii_upper(v.type) == "URL"), key=lambda v: v.index)
    for value in urls:
        try:
            return value.data.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


def _kind(request: web.BaseRequest) -> str:
    return answer_kind(request.headers.get("Accept", ""), request.query)


def answer_kind(accept: str, query: Mapping[str, str] | None) -> str:
    """J (JSON), H (HTML page) or R (redirect when possible, else HTML). ``query`` None: the URL has none."""
    if "application/json" in accept and "text/html" not in accept:
        return "J"
    return "H" if query is not None and "noredirect" in query else "R"


def render_page(handle: str, answer: Resolution) -> bytes:
    """The HTML page of a record (or of the error), every field escaped."""
    status = f"responseCode {int(answer.code)} {answer.code.name}"
    if answer.message:
        status += f": {answer.message}"
    rows = []
    for value in answer.values:
        data = value_to_json(value)["data"]
        shown = data["value"] if data.get("format") == "string" else json.dumps(data, ensure_ascii=False)
        rows.append(
            f"<tr><td>{value.index}</td><td>{html.escape(value.type)}</td>"
            f'<td class="data">{html.escape(str(shown))}</td><td>{value.ttl}</td></tr>'
        )
    table = ""
    if rows:
        head = "<tr><th>Index</th><th>Type</th><th>Data</th><th>TTL</th></tr>"
        table = f"<table>{head}{''.join(rows)}</table>"
    page = _PAGE.substitute(handle=html.escape(handle), status=html.escape(status), table=table)
    return page.encode("utf-8")


def _builder(kind: str) -> Callable[[str, Resolution, bool], tuple[bytes, int]]:
    """How a proxy answer of ``kind`` is encoded: JSON, a redirect (payload = the URL) or the HTML page."""

    def build(handle: str, answer: Resolution, _pretty: bool) -> tuple[bytes, int]:
        if kind == "J":
            return dump_json(resolution_json(handle, answer), False), http_status(answer.code)
        url = first_url(answer.values) if answer.code == ResponseCode.SUCCESS else None
        if kind == "R" and url is not None:
            return url.encode("utf-8"), _REDIRECT
        return render_page(handle, answer), http_status(answer.code)

    return build


def proxy_key(request: web.BaseRequest) -> str:
    """The pre-encoded answer's key: "P", the answer's kind and the raw path with its query. Only this route
    stores "P" keys, so the front door (resolver/http/front.py) may trust one it finds."""
    return "P" + _kind(request) + request.raw_path


def respond(payload: bytes, status: int) -> web.Response:
    """The response of a kept (payload, status): a redirect, the REST JSON or the HTML page."""
    if status == _REDIRECT:
        return web.Response(status=_REDIRECT, headers={"Location": payload.decode("utf-8")})
    if payload[:1] == b"{":
        return json_response(payload, status)
    return web.Response(body=payload, status=status, content_type="text/html", charset="utf-8")


async def get_proxy(request: web.Request) -> web.Response:
    started = perf_counter()  # ops work: resolution latency
    key = proxy_key(request)
    answered = await answer_cached(request, key, _builder(key[1]), started)
    if isinstance(answered, web.Response):
        return answered
    return respond(*answered)


def setup(app: web.Application) -> None:
    """Add the catch-all; call it after every other route."""
    app.router.add_get("/{handle:.+}", get_proxy)
