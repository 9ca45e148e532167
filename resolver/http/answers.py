"""A ``Resolution`` as Handle REST JSON (http-apis.md §1.2 response entities), with its HTTP status."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from protocol.constants import ResponseCode
from protocol.errors import ProtocolError
from protocol.jsonfmt import values_to_json
from resolver.service import Resolution, http_status
from storage.record_json import public_json
from storage.records import StoredRecord

_PRETTY = {"indent": 2, "ensure_ascii": False}
_COMPACT = {"separators": (",", ":"), "ensure_ascii": False}


def resolution_json(handle: str, answer: Resolution) -> dict[str, Any]:
    """The response entity of a resolution (HSJ GsonUtility ResponseGsonTypeHierarchyAdapter)."""
    code = int(answer.code)
    if code == ResponseCode.SUCCESS:
        return {"responseCode": code, "handle": handle, "values": values_to_json(answer.values)}
    if code in (ResponseCode.SERVICE_REFERRAL, ResponseCode.PREFIX_REFERRAL):
        body: dict[str, Any] = {"responseCode": code}
        if answer.referral_handle:
            body["referralHandle"] = answer.referral_handle
        body["values"] = values_to_json(answer.values)
        return body
    body = {"responseCode": code, "handle": handle}
    if code == ResponseCode.VALUES_NOT_FOUND:
        body["values"] = []
    if answer.message:
        body["message"] = answer.message
    return body


def stored_resolution_json(handle: str, answer: Resolution) -> bytes | None:
    """``dump_json(resolution_json(handle, answer), False)`` of the usual answer, the public values of a
    stored record as stored, written from the stored bytes (storage/record_json.py); None for any other.

    An HTTP cache miss costs ~20 us less: no ``HandleValue`` is built and a value's JSON is memoised.
    """
    chosen = answer.chosen
    if type(chosen) is not StoredRecord or answer.code != ResponseCode.SUCCESS:
        return None  # a StoredRecord is chosen only for the usual, unfiltered answer (Resolver)
    values = public_json(chosen)
    return None if values is None else values_payload(handle, values)


def values_payload(handle: str, values: bytes) -> bytes | None:
    """The compact RC 1 entity of ``handle`` with ``values``, a JSON array already written; None for a handle
    orjson refuses (a lone surrogate: ``dump_json``'s fallback writes it). ``orjson.dumps`` of the body dict
    is its pieces joined: compact, keys in insertion order."""
    try:
        quoted = orjson.dumps(handle)
    except TypeError:
        return None
    return b'{"responseCode":1,"handle":' + quoted + b',"values":' + values + b"}"


def dump_json(body: dict[str, Any], pretty: bool) -> bytes:
    """``body`` as UTF-8 JSON: compact (the default) or indented by two (``pretty``).

    Both are written by orjson, byte for byte what ``json.dumps`` with ``_COMPACT`` or ``_PRETTY`` writes for
    these bodies (strings, ints, bools, None, lists, dicts with str keys; tests/resolver/test_http.py) at a
    fifteenth of the cost, a tenth of a cache miss's CPU (issue 4). ``json.dumps`` with an indent also builds
    its encoder's closures as reference cycles on every call, which the worker's collector keeps until a
    rare full pass (resolver/gctune.py). The bodies hold no floats, the one type orjson writes differently
    (NaN, exponents); what orjson refuses (an int past 64 bits, a lone surrogate) goes to json, which answers
    or raises as before.
    """
    try:
        return orjson.dumps(body, option=orjson.OPT_INDENT_2) if pretty else orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError
        pass
    return json.dumps(body, **_PRETTY if pretty else _COMPACT).encode("utf-8")


def error_json(code: int, handle: str, message: str, pretty: bool = False) -> web.Response:
    """An error entity for input refused before resolution (bad identifier, bad query)."""
    body = {"responseCode": code, "handle": handle, "message": message}
    return json_response(dump_json(body, pretty), http_status(code))


def protocol_error_json(exc: ProtocolError, handle: str, pretty: bool = False) -> web.Response:
    return error_json(int(exc.response_code), handle, str(exc), pretty)


def json_response(payload: bytes, status: int) -> web.Response:
    return web.Response(body=payload, status=status, content_type="application/json", charset="utf-8")


def flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter: present without a value means true (http-apis.md §1.1)."""
    return query_flag(request.query, name)


def query_flag(query: Mapping[str, str], name: str) -> bool:
    """``flag`` of a decoded query (the HTTP fast lane has no request object)."""
    raw = query.get(name)
    return raw is not None and raw.lower() not in ("false", "0", "no")
