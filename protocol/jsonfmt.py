"""The Handle REST JSON form of handle values (http-apis.md §1.3-1.4): the one place that knows it.

``value_to_json`` writes a ``HandleValue`` the way HSJ ``GsonUtility`` does: typed data formats first
(``admin``, ``vlist``, ``site``, ``key``), then ``string`` for clean UTF-8, else ``base64``. A typed form is
used only when it gives back the very same bytes, so every value survives a JSON round trip.
``value_from_json`` validates strictly; each ``InvalidValue`` names the bad field (``values[2].data.format``).
"""

from __future__ import annotations

import base64
import calendar
import functools
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from protocol.constants import DEFAULT_PERMISSIONS, DEFAULT_TTL_S, Permission, TTLType
from protocol.errors import ProtocolError
from protocol.jsoncheck import U32_MAX, expect_int, expect_list, expect_object, expect_str, fail, member
from protocol.jsondata import (
    admin_from_json,
    admin_to_json,
    base64_from_json,
    key_from_json,
    key_to_json,
    reference_from_json,
    reference_to_json,
    site_from_json,
    site_to_json,
    vlist_from_json,
    vlist_to_json,
)
from protocol.valuedata import AdminData, PublicKeyData, SiteInfo, VList, decode_typed, encode_typed
from protocol.values import HandleValue

__all__ = [
    "data_from_json",
    "data_to_json",
    "format_time",
    "parse_time",
    "permissions_to_json",
    "plain_value_parts",
    "value_fields_to_json",
    "value_from_json",
    "value_parts_from_json",
    "value_to_json",
    "values_from_json",
    "values_to_json",
]

# http-apis.md §1.4: string data may hold 0x09-0x13 but no other C0 control byte and no DEL.
NOT_TEXT = re.compile(rb"[\x00-\x08\x14-\x1f\x7f]")
# Most significant first: adminRead, adminWrite, publicRead, publicWrite (http-apis.md §1.3).
_PERMISSION_BITS = (
    Permission.ADMIN_READ,
    Permission.ADMIN_WRITE,
    Permission.PUBLIC_READ,
    Permission.PUBLIC_WRITE,
)
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_ABSOLUTE = TTLType.ABSOLUTE  # a module global: an enum member looked up on its class costs ~70 ns
_TYPED_SEEN: dict[tuple[str, bytes], dict[str, Any] | None] = {}  # see _typed_json
_TYPED_SEEN_MAX = 1024
PlainParts = tuple[int, str, bytes, int, int]  # index, type, data, ttl (relative), timestamp


# --- writing ---------------------------------------------------------------------------------------------


def values_to_json(values: Iterable[HandleValue]) -> list[dict[str, Any]]:
    return [value_to_json(v) for v in values]


def value_to_json(value: HandleValue) -> dict[str, Any]:
    out = value_fields_to_json(
        value.index, value.type, value.data, value.ttl, value.ttl_type, value.permissions, value.timestamp
    )
    if value.references:
        out["references"] = [reference_to_json(ref) for ref in value.references]
    return out


def value_fields_to_json(
    index: int, value_type: str, data: bytes, ttl: int, ttl_type: int, permissions: int, timestamp: int
) -> dict[str, Any]:
    """``value_to_json`` of a value without references given as its fields, enums as plain ints (the HTTP
    cold read writes stored values without building a ``HandleValue``: storage/record_json.py)."""
    out: dict[str, Any] = {"index": index, "type": value_type, "data": data_to_json(value_type, data)}
    if permissions != DEFAULT_PERMISSIONS:
        out["permissions"] = permissions_to_json(permissions)
    out["ttl"] = format_time(ttl) if ttl_type == _ABSOLUTE else ttl
    if timestamp:
        out["timestamp"] = format_time(timestamp)
    return out


def data_to_json(value_type: str, data: bytes) -> dict[str, Any]:
    """``{format, value}``: a typed format when it round-trips exactly, else string or base64.
    The result may be shared between calls: callers must not change it."""
    typed_json = _typed_json(value_type, data) if value_type.startswith("HS_") else None
    if typed_json is not None:
        return typed_json
    if NOT_TEXT.search(data) is None:
        try:
            return {"format": "string", "value": data.decode("utf-8")}
        except UnicodeDecodeError:
            pass
    return {"format": "base64", "value": base64.b64encode(data).decode("ascii")}


def _typed_json(value_type: str, data: bytes) -> dict[str, Any] | None:
    """The typed JSON of ``data`` if it round-trips exactly, remembered: the same HS_ADMIN (or HS_SITE) value
    sits in many records, and decoding, writing and reading it back costs ~15 us, half a record's JSON."""
    key = (value_type, data)
    if key in _TYPED_SEEN:
        return _TYPED_SEEN[key]
    typed_json = _typed_to_json(value_type, data)
    if typed_json is not None and not _reads_back(typed_json, data):
        typed_json = None
    if len(_TYPED_SEEN) >= _TYPED_SEEN_MAX:
        _TYPED_SEEN.clear()  # bounded; the shared values come straight back
    _TYPED_SEEN[key] = typed_json
    return typed_json


def _reads_back(typed_json: dict[str, Any], data: bytes) -> bool:
    """Whether the typed JSON gives back ``data`` exactly (bits without a JSON name would be lost)."""
    try:
        return _typed_data_from_json(typed_json, "data") == data
    except ProtocolError:
        return False


def _typed_to_json(value_type: str, data: bytes) -> dict[str, Any] | None:
    try:
        typed = decode_typed(value_type, data)
    except ProtocolError:
        return None  # HSJ serializeData: data that does not parse falls back to string/base64
    if isinstance(typed, AdminData):
        return {"format": "admin", "value": admin_to_json(typed)}
    if isinstance(typed, SiteInfo):
        return {"format": "site", "value": site_to_json(typed)}
    if isinstance(typed, VList):
        return {"format": "vlist", "value": vlist_to_json(typed)}
    if isinstance(typed, PublicKeyData):
        jwk = key_to_json(typed)
        return None if jwk is None else {"format": "key", "value": jwk}
    return None  # text types and unknown types are written as string


def permissions_to_json(permissions: int) -> str:
    return "".join("1" if permissions & bit else "0" for bit in _PERMISSION_BITS)


@functools.lru_cache(maxsize=4096)  # strftime is ~2 us; records written together share their timestamps
def format_time(seconds: int) -> str:
    """ISO-8601 UTC without milliseconds (http-apis.md §1.3)."""
    return time.strftime(_TIME_FORMAT, time.gmtime(seconds))


# --- reading ---------------------------------------------------------------------------------------------


def values_from_json(obj: Any, *, path: str = "values") -> list[HandleValue]:
    items = expect_list(obj, path)
    values: list[HandleValue] = []
    for i, item in enumerate(items):
        value = _common_value(item)
        # The item's path string is built only for the checked reader (the one that can raise).
        values.append(_checked_value(item, f"{path}[{i}]") if value is None else value)
    return values


def value_from_json(obj: Any, *, path: str = "values[0]") -> HandleValue:
    value = _common_value(obj)
    return _checked_value(obj, path) if value is None else value


def _common_value(obj: Any) -> HandleValue | None:
    parts = plain_value_parts(obj)
    if parts is None:
        return None
    index, value_type, data, ttl, timestamp = parts
    return HandleValue(index, value_type, data, ttl, timestamp=timestamp)


def value_parts_from_json(obj: Any, *, path: str = "values") -> list[PlainParts | HandleValue]:
    """``values_from_json`` without building ``HandleValue`` objects for the plain values: their
    ``plain_value_parts`` instead (``storage.records.encode_parts_record`` packs both). Same errors."""
    items = expect_list(obj, path)
    values: list[PlainParts | HandleValue] = []
    for i, item in enumerate(items):
        parts = plain_value_parts(item)
        values.append(_checked_value(item, f"{path}[{i}]") if parts is None else parts)
    return values


def plain_value_parts(obj: Any) -> PlainParts | None:
    """(index, type, data, ttl, timestamp) of a value in the common, valid shape, read without building path
    strings (an NDJSON import reads millions): ``index``, non-empty ``type``, string, base64 or plain admin
    ``data``, an optional integer ``ttl`` and ``timestamp`` (0 when absent), no permissions or references
    (so every other field is at its default). None for anything else, which the strict reader then reads,
    so every error (and every rarer form) comes from that one reader with its exact message.
    """
    if type(obj) is not dict or not _COMMON_KEYS.issuperset(obj):
        return None
    index, value_type, ttl = obj.get("index"), obj.get("type"), obj.get("ttl", DEFAULT_TTL_S)
    if (
        type(index) is not int or not 1 <= index <= U32_MAX
        or type(value_type) is not str or not value_type
        or type(ttl) is not int or not 0 <= ttl <= U32_MAX
        or obj.get("references", _NO_REFS) != _NO_REFS
    ):
        return None
    timestamp = obj.get("timestamp")
    timestamp = 0 if timestamp is None else _known_time(timestamp)
    if timestamp is None:
        return None
    data = obj.get("data")
    if type(data) is dict and len(data) == 2 and data.get("format") == "string":
        data = data.get("value")  # the common form, read here: a call less per value
        if type(data) is not str:
            return None
    if type(data) is not str:
        raw = _other_data(data)
        return None if raw is None else (index, value_type, raw, ttl, timestamp)
    try:
        return index, value_type, data.encode("utf-8"), ttl, timestamp
    except UnicodeEncodeError:  # a lone surrogate
        return None


def _known_time(obj: Any) -> int | None:
    """``parse_time`` of a timestamp, remembered: an export's values share few distinct times. None for
    anything ``parse_time`` refuses (the strict reader then gives its error)."""
    if type(obj) is not str:
        return None
    seconds = _TIMES.get(obj)
    if seconds is None:
        try:
            seconds = parse_time(obj, "timestamp")
        except ProtocolError:
            return None
        _remember(_TIMES, obj, seconds)
    return seconds


def _other_data(obj: Any) -> bytes | None:
    """The bytes of ``{"format": "base64" | "admin", "value": ...}`` in their common, valid forms, or None."""
    if type(obj) is not dict or len(obj) != 2:
        return None
    fmt, value = obj.get("format"), obj.get("value")
    if fmt == "base64":
        return _base64_data(value)
    return _known_admin(value) if fmt == "admin" else None


def _known_admin(obj: Any) -> bytes | None:
    """The HS_ADMIN bytes of ``{"handle": str, "index": int, "permissions": str}``, remembered: an export's
    admin values repeat (one or a few per prefix). The strict reader makes them, so they are its own."""
    if type(obj) is not dict or len(obj) != 3:
        return None
    handle, index, permissions = obj.get("handle"), obj.get("index"), obj.get("permissions")
    if type(handle) is not str or type(index) is not int or type(permissions) is not str:
        return None
    key = (handle, index, permissions)
    raw = _ADMINS.get(key)
    if raw is None:
        try:
            raw = _DATA_READERS["admin"](obj, "data.value")
        except ProtocolError:
            return None
        _remember(_ADMINS, key, raw)
    return raw


def _remember(memory: dict[Any, Any], key: Any, value: Any) -> None:
    if len(memory) >= _MEMORY_MAX:
        memory.clear()  # bounded; dropping everything at once is cheaper than tracking recency
    memory[key] = value


def _base64_data(text: Any) -> bytes | None:
    """The bytes of valid standard base64 text, else None."""
    if type(text) is not str or not text.isascii():
        return None
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error is a ValueError
        return None


# The members ``plain_value_parts`` reads; any other (permissions, unknown) means the strict path.
_COMMON_KEYS = frozenset(("index", "type", "data", "ttl", "references", "timestamp"))
_NO_REFS: list[Any] = []
_TIMES: dict[str, int] = {}  # _known_time's memory
_ADMINS: dict[tuple[str, int, str], bytes] = {}  # _known_admin's memory
_MEMORY_MAX = 4096  # entries of each (~100-200 B): bounded whatever the input


def _checked_value(obj: Any, path: str) -> HandleValue:
    obj = expect_object(obj, path)
    value_type = expect_str(member(obj, "type", path), f"{path}.type", non_empty=True)
    ttl, ttl_type = _ttl_from_json(obj.get("ttl", DEFAULT_TTL_S), f"{path}.ttl")
    timestamp = obj.get("timestamp")
    refs = expect_list(obj.get("references", []), f"{path}.references")
    return HandleValue(
        index=expect_int(member(obj, "index", path), f"{path}.index", minimum=1),
        type=value_type,
        data=data_from_json(member(obj, "data", path), f"{path}.data"),
        ttl=ttl,
        ttl_type=ttl_type,
        permissions=_permissions_from_json(obj.get("permissions"), f"{path}.permissions"),
        timestamp=0 if timestamp is None else parse_time(timestamp, f"{path}.timestamp"),
        references=tuple(reference_from_json(r, f"{path}.references[{i}]") for i, r in enumerate(refs)),
    )


def data_from_json(obj: Any, path: str = "data") -> bytes:
    """The data bytes of ``{format, value}`` or of a bare string (format ``string``)."""
    if isinstance(obj, str):
        return _text_bytes(obj, path)
    return _typed_data_from_json(obj, path)


def _typed_data_from_json(obj: Any, path: str) -> bytes:
    obj = expect_object(obj, path)
    fmt = expect_str(member(obj, "format", path), f"{path}.format")
    reader = _DATA_READERS.get(fmt)
    if reader is None:
        raise fail(f"{path}.format", f"unknown format {fmt!r}")
    return reader(member(obj, "value", path), f"{path}.value")


def _text_bytes(obj: Any, path: str) -> bytes:
    text = expect_str(obj, path)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise fail(path, "text is not encodable as UTF-8") from None


def _hex_bytes(obj: Any, path: str) -> bytes:
    try:
        return bytes.fromhex(expect_str(obj, path))
    except ValueError:
        raise fail(path, "not hex digits") from None


def _typed(reader: Callable[[Any, str], Any]) -> Callable[[Any, str], bytes]:
    def read(obj: Any, path: str) -> bytes:
        return encode_typed(reader(obj, path))

    return read


_DATA_READERS: dict[str, Callable[[Any, str], bytes]] = {
    "string": _text_bytes,
    "base64": base64_from_json,
    "hex": _hex_bytes,
    "admin": _typed(admin_from_json),
    "vlist": _typed(vlist_from_json),
    "site": _typed(site_from_json),
    "key": _typed(key_from_json),
}


def _ttl_from_json(obj: Any, path: str) -> tuple[int, TTLType]:
    """A number is a relative TTL in seconds, an ISO-8601 string an absolute expiry (http-apis.md §1.3)."""
    if isinstance(obj, str):
        return parse_time(obj, path), TTLType.ABSOLUTE
    return expect_int(obj, path), TTLType.RELATIVE


def _permissions_from_json(obj: Any, path: str) -> Permission:
    """``"*"`` = all four; shorter strings are right-aligned and every position present is applied."""
    if obj is None:
        return DEFAULT_PERMISSIONS
    text = expect_str(obj, path, non_empty=True)
    if text == "*":
        return Permission(0x0F)
    if len(text) > len(_PERMISSION_BITS) or text.strip("01"):
        raise fail(path, f"expected '*' or up to 4 binary digits, got {text!r}")
    result = int(DEFAULT_PERMISSIONS)
    # Do not copy the CNRI bug of skipping the leftmost character (handle-protocol.md §16.7).
    for digit, bit in zip(reversed(text), reversed(_PERMISSION_BITS), strict=False):
        result = (result | bit) if digit == "1" else (result & ~int(bit))
    return Permission(result)


def parse_time(obj: Any, path: str) -> int:
    """Unix seconds of an ISO-8601 time; a time without zone is UTC."""
    text = expect_str(obj, path)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise fail(path, f"not an ISO-8601 time: {text!r}") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    seconds = calendar.timegm(moment.timetuple())
    if not 0 <= seconds <= U32_MAX:
        raise fail(path, f"{text!r} is outside the 32-bit Unix time range")
    return seconds
