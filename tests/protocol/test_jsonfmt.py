"""The REST JSON form of values (http-apis.md §1.3-1.4): examples, strict input checks, Hypothesis."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.constants import DEFAULT_PERMISSIONS, Permission, TTLType
from protocol.errors import InvalidValue
from protocol.jsonfmt import (
    data_from_json,
    data_to_json,
    value_from_json,
    value_to_json,
    values_from_json,
    values_to_json,
)
from protocol.valuedata import PublicKeyData, encode_typed
from protocol.values import HandleValue, ValueReference
from tests.protocol.test_valuedata import V4, V5, V6, admins, known_keys, sites, vlists

V2_VALUE = HandleValue(1, "URL", b"https://example.com/p/abc", timestamp=1_700_000_000)
V2_JSON = {
    "index": 1,
    "type": "URL",
    "data": {"format": "string", "value": "https://example.com/p/abc"},
    "ttl": 86400,
    "timestamp": "2023-11-14T22:13:20Z",
}
V5_JSON = json.loads("""
{ "format": "site",
  "value": { "version": 1, "protocolVersion": "2.10", "serialNumber": 1,
             "primarySite": true, "multiPrimary": false, "hashOption": 0,
             "attributes": [ { "name": "desc", "value": "secondary node" } ],
             "servers": [ { "serverId": 1, "address": "127.0.0.1",
                            "publicKey": { "format": "base64", "value": "" },
                            "interfaces": [
                              { "query": true, "admin": true,  "protocol": "TCP",  "port": 2641 },
                              { "query": true, "admin": false, "protocol": "UDP",  "port": 2641 },
                              { "query": true, "admin": true,  "protocol": "HTTP", "port": 8000 } ] } ] } }
""")


def test_v2_value_as_json() -> None:
    assert value_to_json(V2_VALUE) == V2_JSON
    assert value_from_json(V2_JSON) == V2_VALUE


def test_v5_as_json_both_ways() -> None:
    assert data_to_json("HS_SITE", V5) == V5_JSON
    assert data_from_json(V5_JSON) == V5


def test_v4_as_admin_json() -> None:
    expected = {
        "format": "admin",
        "value": {"handle": "0.NA/88.1000.1", "index": 200, "permissions": "011111111111"},
    }
    assert data_to_json("HS_ADMIN", V4) == expected
    assert data_from_json(expected) == V4


def test_remembered_typed_data_answers_as_the_first_time() -> None:
    # data_to_json remembers typed values (shared HS_ADMIN values): a repeat, and data that is not a valid
    # typed value (base64 every time), must answer as the first call did.
    first = data_to_json("HS_ADMIN", V4)
    assert data_to_json("HS_ADMIN", V4) == first == data_to_json("HS_ADMIN", bytes(V4))
    broken = V4[:5]
    assert data_to_json("HS_ADMIN", broken)["format"] == "base64"
    assert data_to_json("HS_ADMIN", broken)["format"] == "base64"
    assert data_to_json("URL", V4)["format"] != "admin"  # the memo is keyed by type too


def test_v6_as_vlist_json() -> None:
    expected = {"format": "vlist", "value": [{"handle": "88.1000.1/admin", "index": 300}]}
    assert data_to_json("HS_VLIST", V6) == expected
    assert data_from_json(expected) == V6


def test_admin_legacy_flag_round_trips() -> None:
    out = data_to_json("HS_ADMIN", V4 + b"\x00\x00")
    assert out["value"]["legacyByteLength"] is True
    assert data_from_json(out) == V4 + b"\x00\x00"


@pytest.mark.parametrize(
    ("perms", "mask"),
    [
        ("*", 0x0FFF),
        (True, 0x0FFF),
        (False, 0),
        (0x07FF, 0x07FF),
        ("11", 0x0003),
        ("011111110011", 0x07F3),
        ([True, False, True], 0x0005),
        ([1, 0, 0, 1], 0x0009),
    ],
)
def test_admin_permission_input_forms(perms: Any, mask: int) -> None:
    obj = {"format": "admin", "value": {"handle": "0.NA/88.1", "index": 200, "permissions": perms}}
    assert data_from_json(obj)[:2] == mask.to_bytes(2, "big")


def test_string_fallback_and_allowed_controls() -> None:
    assert data_to_json("URL", b"a\tb\x13c") == {"format": "string", "value": "a\tb\x13c"}
    assert data_to_json("URL", b"a\x14b")["format"] == "base64"
    assert data_to_json("URL", b"a\x7fb")["format"] == "base64"
    assert data_to_json("URL", b"\xff\xfe") == {
        "format": "base64",
        "value": base64.b64encode(b"\xff\xfe").decode(),
    }


def test_unparseable_typed_data_falls_back() -> None:
    assert data_to_json("HS_SITE", b"hello") == {"format": "string", "value": "hello"}
    assert data_to_json("HS_ADMIN", b"\x00")["format"] == "base64"


def test_site_with_unnamed_protocol_falls_back_to_base64() -> None:
    mutated = V5[:-6] + b"\x03\x07\x00\x00\x1f\x40"  # protocol code 7 has no JSON name
    assert data_to_json("HS_SITE", mutated)["format"] == "base64"


def test_key_json() -> None:
    key = PublicKeyData.from_integers("RSA_PUB_KEY", {"e": 65537, "n": (1 << 1023) | 5})
    out = data_to_json("HS_PUBKEY", encode_typed(key))
    assert out["format"] == "key"
    assert out["value"]["kty"] == "RSA" and out["value"]["e"] == "AQAB"
    assert data_from_json(out) == encode_typed(key)


def test_site_server_public_key_as_key_object() -> None:
    key = encode_typed(PublicKeyData.from_integers("DSA_PUB_KEY", {"q": 7, "p": 11, "g": 2, "y": 5}))
    site = json.loads(json.dumps(V5_JSON))
    site["value"]["servers"][0]["publicKey"] = {"format": "base64", "value": base64.b64encode(key).decode()}
    raw = data_from_json(site)
    back = data_to_json("HS_SITE", raw)
    assert back["value"]["servers"][0]["publicKey"] == {
        "format": "key",
        "value": {"kty": "DSA", "y": "BQ", "p": "Cw", "q": "Bw", "g": "Ag"},
    }
    assert data_from_json(back) == raw


def test_site_attributes_as_object() -> None:
    site = {"format": "site", "value": {"attributes": {"desc": "d", "domain": ["a", "b"]}}}
    out = data_to_json("HS_SITE", data_from_json(site))
    assert out["value"]["attributes"] == [
        {"name": "desc", "value": "d"},
        {"name": "domain", "value": "a"},
        {"name": "domain", "value": "b"},
    ]
    assert "hashOption" not in out["value"]


def test_ipv6_server_address() -> None:
    site = json.loads(json.dumps(V5_JSON))
    site["value"]["servers"][0]["address"] = "2001:db8::5"
    assert data_to_json("HS_SITE", data_from_json(site))["value"]["servers"][0]["address"] == "2001:db8::5"


def test_bare_string_data_and_hex() -> None:
    assert data_from_json("abc") == b"abc"
    assert data_from_json({"format": "hex", "value": "00ff"}) == b"\x00\xff"


def test_permissions_written_only_when_not_default() -> None:
    assert "permissions" not in value_to_json(V2_VALUE)
    hidden = HandleValue(1, "URL", b"x", permissions=Permission.ADMIN_READ | Permission.ADMIN_WRITE)
    assert value_to_json(hidden)["permissions"] == "1100"


@pytest.mark.parametrize(
    ("text", "byte"),
    [("*", 0x0F), ("1100", 0x0C), ("0110", 0x06), ("1", 0x0F), ("0", 0x0E), ("01", 0x0D), ("000", 0x08)],
)
def test_permissions_input_applies_every_position(text: str, byte: int) -> None:
    value = value_from_json({"index": 1, "type": "URL", "data": "x", "permissions": text})
    assert int(value.permissions) == byte


def test_absolute_ttl_and_references() -> None:
    value = HandleValue(
        2,
        "URL",
        b"x",
        ttl=1_700_000_000,
        ttl_type=TTLType.ABSOLUTE,
        references=(ValueReference("88.1/r", 3),),
    )
    out = value_to_json(value)
    assert out["ttl"] == "2023-11-14T22:13:20Z"
    assert out["references"] == [{"handle": "88.1/r", "index": 3}]
    assert value_from_json(out) == value


def test_defaults_and_unknown_members_ignored() -> None:
    value = value_from_json({"index": 5, "type": "URL", "data": "x", "extra": [1, 2]})
    assert value == HandleValue(5, "URL", b"x")
    assert value.permissions == DEFAULT_PERMISSIONS


def test_timestamp_with_offset() -> None:
    value = value_from_json(
        {"index": 1, "type": "URL", "data": "x", "timestamp": "2023-11-15T06:13:20+08:00"}
    )
    assert value.timestamp == 1_700_000_000


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"index": True}, r"values\[2\]\.index: expected an integer"),
        ({"index": 0}, r"values\[2\]\.index: 0 is outside"),
        ({"index": "1"}, r"values\[2\]\.index"),
        ({"type": ""}, r"values\[2\]\.type: must not be empty"),
        ({"type": 5}, r"values\[2\]\.type: expected a string"),
        ({"data": {"format": "foo", "value": 1}}, r"values\[2\]\.data\.format: unknown format 'foo'"),
        ({"data": {"value": "x"}}, r"values\[2\]\.data\.format: missing"),
        ({"data": {"format": "base64", "value": "!!"}}, r"values\[2\]\.data\.value: not valid"),
        ({"data": {"format": "hex", "value": "zz"}}, r"values\[2\]\.data\.value: not hex"),
        ({"data": 5}, r"values\[2\]\.data: expected an object"),
        ({"ttl": -1}, r"values\[2\]\.ttl"),
        ({"ttl": "tomorrow"}, r"values\[2\]\.ttl: not an ISO-8601"),
        ({"timestamp": 5}, r"values\[2\]\.timestamp: expected a string"),
        ({"permissions": "12"}, r"values\[2\]\.permissions"),
        ({"permissions": "11111"}, r"values\[2\]\.permissions"),
        ({"references": [{"handle": "x"}]}, r"values\[2\]\.references\[0\]\.index: missing"),
        (
            {"data": {"format": "admin", "value": {"handle": "h", "index": 1, "permissions": "2"}}},
            r"values\[2\]\.data\.value\.permissions",
        ),
        (
            {"data": {"format": "site", "value": {"servers": [{"serverId": 1, "address": "x"}]}}},
            r"values\[2\]\.data\.value\.servers\[0\]\.address",
        ),
        (
            {"data": {"format": "site", "value": {"protocolVersion": "2"}}},
            r"values\[2\]\.data\.value\.protocolVersion",
        ),
        ({"data": {"format": "key", "value": {"kty": "EC"}}}, r"values\[2\]\.data\.value\.kty"),
        ({"data": {"format": "vlist", "value": {}}}, r"values\[2\]\.data\.value: expected an array"),
    ],
)
def test_bad_input_names_the_field(patch: dict[str, Any], message: str) -> None:
    good = {"index": 1, "type": "URL", "data": "x"}
    values = [good, good, {**good, **patch}]
    with pytest.raises(InvalidValue, match=message):
        values_from_json(values)


def test_values_list_helpers() -> None:
    assert values_to_json([V2_VALUE]) == [V2_JSON]
    assert values_from_json([V2_JSON]) == [V2_VALUE]
    with pytest.raises(InvalidValue, match="values: expected an array"):
        values_from_json({})


# --- Hypothesis -----------------------------------------------------------------------------------------

u32 = st.integers(0, 0xFFFF_FFFF)
text = st.text(st.characters(codec="utf-8"), max_size=20)
typed_data = st.one_of(
    st.tuples(st.just("HS_ADMIN"), admins.map(encode_typed)),
    st.tuples(st.sampled_from(["HS_SITE", "HS_SITE.PREFIX"]), sites.map(encode_typed)),
    st.tuples(st.just("HS_VLIST"), vlists.map(encode_typed)),
    st.tuples(st.just("HS_PUBKEY"), known_keys.map(encode_typed)),
    st.tuples(st.sampled_from(["URL", "EMAIL", "HS_SERV"]), st.binary(max_size=40)),
    st.tuples(st.just("URL"), text.map(str.encode)),
)


@st.composite
def handle_values(draw: st.DrawFn) -> HandleValue:
    value_type, data = draw(typed_data)
    return HandleValue(
        index=draw(st.integers(1, 0xFFFF_FFFF)),
        type=value_type,
        data=data,
        ttl=draw(u32),
        ttl_type=draw(st.sampled_from(TTLType)),
        permissions=Permission(draw(st.integers(0, 15))),
        timestamp=draw(u32),
        references=tuple(draw(st.lists(st.builds(ValueReference, text, u32), max_size=2))),
    )


@given(handle_values())
def test_value_json_round_trip(value: HandleValue) -> None:
    through_text = json.loads(json.dumps(value_to_json(value)))
    assert value_from_json(through_text) == value


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | text,
        lambda kids: st.lists(kids, max_size=3) | st.dictionaries(text, kids, max_size=3),
        max_leaves=10,
    )
)
def test_arbitrary_json_gives_value_or_invalid_value(obj: Any) -> None:
    with contextlib.suppress(InvalidValue):
        value_from_json(obj)
