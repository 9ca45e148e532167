"""REST JSON of the typed data formats ``admin``, ``vlist``, ``site`` and ``key`` (http-apis.md §1.4).

Each format has a ``*_to_json(typed)`` and a strict ``*_from_json(obj, path)``; ``protocol.jsonfmt`` picks the
format and checks that the JSON gives back the same bytes before it uses a typed form.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from protocol.constants import AdminPermission
from protocol.errors import InvalidValue, ProtocolError
from protocol.jsoncheck import expect_bool, expect_int, expect_list, expect_object, expect_str, fail, member
from protocol.valuedata import (
    AdminData,
    Interface,
    PublicKeyData,
    ServerInfo,
    SiteInfo,
    VList,
    address_from_text,
    address_to_text,
    decode_pubkey,
    encode_typed,
)
from protocol.values import ValueReference

ADMIN_PERMISSION_DIGITS = 12  # http-apis.md §1.4: LIST_HANDLES .. ADD_HANDLE, most significant first
ALL_ADMIN_PERMISSIONS = 0x0FFF  # the twelve CNRI bits (§12.1)
MAX_ADMIN_DIGITS = 16  # the wire mask is an int2
PROTOCOL_NAMES = ("UDP", "TCP", "HTTP", "HTTPS")  # TI core/Interface.java codes 0..3 (§12.2)
_PROTOCOL_CODES = {name: code for code, name in enumerate(PROTOCOL_NAMES)}
JWK_KTY = {"RSA_PUB_KEY": "RSA", "DSA_PUB_KEY": "DSA"}
_KEY_TAG = {kty: tag for tag, kty in JWK_KTY.items()}
_JWK_FIELDS = {"RSA": ("n", "e"), "DSA": ("y", "p", "q", "g")}


# --- admin -----------------------------------------------------------------------------------------------


def admin_to_json(admin: AdminData) -> dict[str, Any]:
    mask = int(admin.permissions)
    out: dict[str, Any] = {
        "handle": admin.handle,
        "index": admin.index,
        "permissions": format(mask, "b").zfill(ADMIN_PERMISSION_DIGITS),
    }
    if admin.legacy_byte_length:
        out["legacyByteLength"] = True
    return out


def admin_from_json(obj: Any, path: str) -> AdminData:
    obj = expect_object(obj, path)
    handle = expect_str(member(obj, "handle", path), f"{path}.handle")
    index = expect_int(member(obj, "index", path), f"{path}.index")
    mask = admin_mask_from_json(member(obj, "permissions", path), f"{path}.permissions")
    legacy = obj.get("legacyByteLength", False)
    legacy = expect_bool(legacy, f"{path}.legacyByteLength")
    return AdminData(AdminPermission(mask), handle, index, legacy)


def admin_mask_from_json(obj: Any, path: str) -> int:
    """The input forms of HSJ ``permsPrimitiveToArray`` / ``permsArrayToArray`` (http-apis.md §1.4)."""
    if isinstance(obj, bool):
        return ALL_ADMIN_PERMISSIONS if obj else 0
    if isinstance(obj, int | float):
        return expect_int(obj, path, maximum=0xFFFF)
    if isinstance(obj, list):
        if len(obj) > MAX_ADMIN_DIGITS:
            raise fail(path, f"more than {MAX_ADMIN_DIGITS} entries")
        return sum(1 << i for i, item in enumerate(obj) if _truthy(item, f"{path}[{i}]"))
    text = expect_str(obj, path, non_empty=True)
    if text == "*":
        return ALL_ADMIN_PERMISSIONS
    if len(text) > MAX_ADMIN_DIGITS or text.strip("01"):
        raise fail(path, f"expected '*' or up to {MAX_ADMIN_DIGITS} binary digits, got {text!r}")
    return int(text, 2)  # right-aligned: the last digit is ADD_HANDLE


def _truthy(item: Any, path: str) -> bool:
    if isinstance(item, bool):
        return item
    if isinstance(item, int) and item in (0, 1):
        return bool(item)
    if isinstance(item, str) and item in ("0", "1"):
        return item == "1"
    raise fail(path, "expected true/false, 0/1 or '0'/'1'")


# --- vlist -----------------------------------------------------------------------------------------------


def vlist_to_json(vlist: VList) -> list[dict[str, Any]]:
    return [reference_to_json(ref) for ref in vlist.members]


def vlist_from_json(obj: Any, path: str) -> VList:
    items = expect_list(obj, path)
    return VList(tuple(reference_from_json(item, f"{path}[{i}]") for i, item in enumerate(items)))


def reference_to_json(ref: ValueReference) -> dict[str, Any]:
    return {"handle": ref.handle, "index": ref.index}


def reference_from_json(obj: Any, path: str) -> ValueReference:
    obj = expect_object(obj, path)
    handle = expect_str(member(obj, "handle", path), f"{path}.handle")
    return ValueReference(handle, expect_int(member(obj, "index", path), f"{path}.index"))


# --- key -------------------------------------------------------------------------------------------------


def key_to_json(key: PublicKeyData) -> dict[str, Any] | None:
    """The JWK-like object of an RSA/DSA key, or None when it has no faithful JWK form."""
    kty = JWK_KTY.get(key.key_type)
    if kty is None or key.raw is not None or key.flags != 0:
        return None
    numbers = key.integers()
    if any(n < 0 for n in numbers.values()):
        return None
    out: dict[str, Any] = {"kty": kty}
    for name in _JWK_FIELDS[kty]:
        out[name] = _b64url(numbers[name])  # KEY_FIELDS uses the JWK letters (e/n, q/p/g/y)
    return out


def key_from_json(obj: Any, path: str) -> PublicKeyData:
    obj = expect_object(obj, path)
    kty = expect_str(member(obj, "kty", path), f"{path}.kty")
    if kty not in _KEY_TAG:
        raise fail(f"{path}.kty", f"unsupported key type {kty!r} (RSA or DSA)")
    numbers = {name: _b64url_int(member(obj, name, path), f"{path}.{name}") for name in _JWK_FIELDS[kty]}
    return PublicKeyData.from_integers(_KEY_TAG[kty], numbers)


def _b64url(number: int) -> str:
    raw = number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_int(obj: Any, path: str) -> int:
    text = expect_str(obj, path, non_empty=True)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise fail(path, "not unpadded base64url") from None
    return int.from_bytes(raw, "big")


def public_key_to_json(data: bytes) -> dict[str, Any]:
    """A server's key inside a site: ``{format: key}`` when it parses, else base64 (http-apis.md §1.4)."""
    if data:
        try:
            key = decode_pubkey(data)
        except ProtocolError:
            key = None
        jwk = None if key is None else key_to_json(key)
        if jwk is not None and key is not None and encode_typed(key_from_json(jwk, "")) == data:
            return {"format": "key", "value": jwk}
    return {"format": "base64", "value": base64.b64encode(data).decode("ascii")}


def public_key_from_json(obj: Any, path: str) -> bytes:
    obj = expect_object(obj, path)
    fmt = expect_str(member(obj, "format", path), f"{path}.format")
    value = member(obj, "value", path)
    if fmt == "key":
        return encode_typed(key_from_json(value, f"{path}.value"))
    if fmt == "base64":
        return base64_from_json(value, f"{path}.value")
    raise fail(f"{path}.format", f"unknown format {fmt!r} (key or base64)")


def base64_from_json(obj: Any, path: str) -> bytes:
    text = expect_str(obj, path)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise fail(path, "not valid standard base64") from None


# --- site ------------------------------------------------------------------------------------------------


def site_to_json(site: SiteInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "version": site.version,
        "protocolVersion": f"{site.protocol_major}.{site.protocol_minor}",
        "serialNumber": site.serial_number,
        "primarySite": site.is_primary,
        "multiPrimary": site.is_multi_primary,
    }
    if site.hash_option != 2:
        out["hashOption"] = site.hash_option
    if site.hash_filter:
        out["hashFilter"] = site.hash_filter
    out["attributes"] = [{"name": name, "value": value} for name, value in site.attributes]
    out["servers"] = [_server_to_json(server) for server in site.servers]
    return out


def _server_to_json(server: ServerInfo) -> dict[str, Any]:
    return {
        "serverId": server.server_id,
        "address": address_to_text(server.address),
        "publicKey": public_key_to_json(server.public_key),
        "interfaces": [
            {"query": i.query, "admin": i.admin, "protocol": _protocol_name(i.protocol), "port": i.port}
            for i in server.interfaces
        ],
    }


def _protocol_name(code: int) -> str:
    # An unknown code has no JSON name; jsonfmt's round-trip check then falls back to base64.
    return PROTOCOL_NAMES[code] if code < len(PROTOCOL_NAMES) else str(code)


def site_from_json(obj: Any, path: str) -> SiteInfo:
    obj = expect_object(obj, path)
    major, minor = _protocol_version(obj.get("protocolVersion", "2.10"), f"{path}.protocolVersion")
    primary = expect_bool(obj.get("primarySite", False), f"{path}.primarySite")
    multi = expect_bool(obj.get("multiPrimary", False), f"{path}.multiPrimary")
    servers = expect_list(obj.get("servers", []), f"{path}.servers")
    return SiteInfo(
        version=expect_int(obj.get("version", 1), f"{path}.version", maximum=0xFFFF),
        protocol_major=major,
        protocol_minor=minor,
        serial_number=expect_int(obj.get("serialNumber", 0), f"{path}.serialNumber", maximum=0xFFFF),
        primary_mask=(0x80 if primary else 0) | (0x40 if multi else 0),
        hash_option=expect_int(obj.get("hashOption", 2), f"{path}.hashOption", maximum=0xFF),
        hash_filter=expect_str(obj.get("hashFilter", ""), f"{path}.hashFilter"),
        attributes=_attributes_from_json(obj.get("attributes", []), f"{path}.attributes"),
        servers=tuple(_server_from_json(s, f"{path}.servers[{i}]") for i, s in enumerate(servers)),
    )


def _protocol_version(obj: Any, path: str) -> tuple[int, int]:
    text = expect_str(obj, path)
    major, dot, minor = text.partition(".")
    if not (dot and major.isdigit() and minor.isdigit() and int(major) < 256 and int(minor) < 256):
        raise fail(path, f"expected 'major.minor', got {text!r}")
    return int(major), int(minor)


def _attributes_from_json(obj: Any, path: str) -> tuple[tuple[str, str], ...]:
    """An array of {name, value}, or an object of name -> value or name -> array of values."""
    if isinstance(obj, dict):
        pairs: list[tuple[str, str]] = []
        for name, value in obj.items():
            values = expect_list(value, f"{path}.{name}") if isinstance(value, list) else [value]
            pairs.extend((name, expect_str(v, f"{path}.{name}")) for v in values)
        return tuple(pairs)
    items = expect_list(obj, path)
    return tuple(_attribute_from_json(item, f"{path}[{i}]") for i, item in enumerate(items))


def _attribute_from_json(obj: Any, path: str) -> tuple[str, str]:
    obj = expect_object(obj, path)
    name = expect_str(member(obj, "name", path), f"{path}.name")
    return name, expect_str(member(obj, "value", path), f"{path}.value")


def _server_from_json(obj: Any, path: str) -> ServerInfo:
    obj = expect_object(obj, path)
    key = obj.get("publicKey")
    items = expect_list(obj.get("interfaces", []), f"{path}.interfaces")
    interfaces = tuple(_interface_from_json(x, f"{path}.interfaces[{i}]") for i, x in enumerate(items))
    return ServerInfo(
        server_id=expect_int(member(obj, "serverId", path), f"{path}.serverId"),
        address=_address_from_json(member(obj, "address", path), f"{path}.address"),
        public_key=b"" if key is None else public_key_from_json(key, f"{path}.publicKey"),
        interfaces=interfaces,
    )


def _address_from_json(obj: Any, path: str) -> bytes:
    try:
        return address_from_text(expect_str(obj, path))
    except InvalidValue as exc:
        if str(exc).startswith(path):
            raise
        raise fail(path, str(exc)) from None


def _interface_from_json(obj: Any, path: str) -> Interface:
    obj = expect_object(obj, path)
    query = expect_bool(obj.get("query", False), f"{path}.query")
    admin = expect_bool(obj.get("admin", False), f"{path}.admin")
    name = expect_str(member(obj, "protocol", path), f"{path}.protocol").upper()
    if name not in _PROTOCOL_CODES:
        raise fail(f"{path}.protocol", f"unknown protocol {name!r} (UDP, TCP, HTTP or HTTPS)")
    port = expect_int(member(obj, "port", path), f"{path}.port")
    return Interface((2 if query else 0) | (1 if admin else 0), _PROTOCOL_CODES[name], port)
