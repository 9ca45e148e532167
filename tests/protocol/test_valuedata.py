"""Typed value data (handle-protocol.md §12) against the §17 vectors V4, V5, V6 and Hypothesis."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.constants import AdminPermission
from protocol.errors import InvalidValue, ProtocolError
from protocol.valuedata import (
    AdminData,
    Interface,
    PublicKeyData,
    ServerInfo,
    SiteInfo,
    TypedData,
    VList,
    address_from_text,
    address_to_text,
    decode_admin,
    decode_pubkey,
    decode_site,
    decode_typed,
    decode_vlist,
    encode_typed,
    java_int_bytes,
)
from protocol.values import ValueReference

V4 = bytes.fromhex("07ff0000000e302e4e412f38382e313030302e31000000c8")
V5 = bytes.fromhex(
    "0001020a00018000000000000000000100000004646573630000000e7365636f6e64617279206e6f6465000000010000"
    "00010000000000000000000000007f0000010000000000000003030100000a51020000000a51030200001f40"
)
V6 = bytes.fromhex("000000010000000f38382e313030302e312f61646d696e0000012c")

V4_ADMIN = AdminData(AdminPermission(0x07FF), "0.NA/88.1000.1", 200)
V5_SITE = SiteInfo(
    version=1,
    protocol_major=2,
    protocol_minor=10,
    serial_number=1,
    primary_mask=0x80,
    hash_option=0,
    hash_filter="",
    attributes=(("desc", "secondary node"),),
    servers=(
        ServerInfo(
            1,
            bytes(12) + bytes([127, 0, 0, 1]),
            b"",
            (Interface(3, 1, 2641), Interface(2, 0, 2641), Interface(3, 2, 8000)),
        ),
    ),
)
V6_VLIST = VList((ValueReference("88.1000.1/admin", 300),))
VECTORS = [("HS_ADMIN", V4, V4_ADMIN), ("HS_SITE", V5, V5_SITE), ("HS_VLIST", V6, V6_VLIST)]


@pytest.mark.parametrize(("value_type", "raw", "typed"), VECTORS)
def test_vectors_decode(value_type: str, raw: bytes, typed: TypedData) -> None:
    assert decode_typed(value_type, raw) == typed


@pytest.mark.parametrize(("value_type", "raw", "typed"), VECTORS)
def test_vectors_encode(value_type: str, raw: bytes, typed: TypedData) -> None:
    assert encode_typed(typed) == raw


@pytest.mark.parametrize(("value_type", "raw", "typed"), VECTORS)
def test_vectors_truncated_at_every_byte(value_type: str, raw: bytes, typed: TypedData) -> None:
    for cut in range(len(raw)):
        with pytest.raises(ProtocolError):
            decode_typed(value_type, raw[:cut])


@pytest.mark.parametrize(("value_type", "raw"), [("HS_SITE", V5), ("HS_VLIST", V6), ("HS_ADMIN", V4)])
def test_vectors_reject_trailing_bytes(value_type: str, raw: bytes) -> None:
    with pytest.raises(ProtocolError, match="trailing"):
        decode_typed(value_type, raw + b"\x01")


def test_v5_helpers() -> None:
    assert V5_SITE.is_primary and not V5_SITE.is_multi_primary
    iface = V5_SITE.servers[0].interfaces[1]
    assert iface.query and not iface.admin
    assert address_to_text(V5_SITE.servers[0].address) == "127.0.0.1"


def test_admin_legacy_form_round_trips() -> None:
    legacy = V4 + b"\x00\x00"
    admin = decode_admin(legacy)
    assert admin.legacy_byte_length
    assert encode_typed(admin) == legacy


def test_admin_two_nonzero_trailing_bytes_rejected() -> None:
    with pytest.raises(ProtocolError):
        decode_admin(V4 + b"\x00\x01")


def test_type_lookup_is_case_insensitive_and_site_aliases() -> None:
    for name in ("hs_site", "HS_SITE.6", "HS_SITE.PREFIX", "HS_NA_DELEGATE"):
        assert decode_typed(name, V5) == V5_SITE


def test_unknown_type_gives_none() -> None:
    assert decode_typed("URL", b"\xff") is None


def test_text_types() -> None:
    assert decode_typed("HS_SERV", b"0.NA/0.NA") == "0.NA/0.NA"
    assert decode_typed("HS_ALIAS", "88.1/别名".encode()) == "88.1/别名"
    with pytest.raises(InvalidValue, match="UTF-8"):
        decode_typed("HS_SERV.PREFIX", b"\xff")


def test_addresses() -> None:
    assert address_from_text("127.0.0.1") == bytes(12) + b"\x7f\x00\x00\x01"
    v6 = address_from_text("2001:db8::1")
    assert len(v6) == 16
    assert address_to_text(v6) == "2001:db8::1"
    with pytest.raises(InvalidValue, match="address"):
        address_from_text("not-an-ip")


def test_java_int_bytes() -> None:
    assert java_int_bytes(0) == b"\x00"
    assert java_int_bytes(127) == b"\x7f"
    assert java_int_bytes(128) == b"\x00\x80"  # BigInteger.toByteArray keeps the sign byte
    assert java_int_bytes(65537) == b"\x01\x00\x01"
    assert java_int_bytes(-1) == b"\xff"
    assert java_int_bytes(-128) == b"\x80"
    assert java_int_bytes(-129) == b"\xff\x7f"


def test_rsa_key_round_trip_byte_exact_with_leading_zero() -> None:
    modulus = (1 << 2047) + 12345  # top bit set: Java writes a leading 0x00
    key = PublicKeyData.from_integers("RSA_PUB_KEY", {"e": 65537, "n": modulus})
    raw = encode_typed(key)
    assert raw[:15] == b"\x00\x00\x00\x0bRSA_PUB_KEY"
    assert b"\x00\x00\x01\x01\x00\x80" in raw  # length 257, then 0x00 0x80...
    decoded = decode_pubkey(raw)
    assert decoded == key
    assert decoded.integers() == {"e": 65537, "n": modulus}
    assert encode_typed(decoded) == raw


def test_dsa_key_field_order() -> None:
    key = PublicKeyData.from_integers("DSA_PUB_KEY", {"q": 1, "p": 2, "g": 3, "y": 4})
    assert list(key.fields) == [b"\x01", b"\x02", b"\x03", b"\x04"]
    assert decode_pubkey(encode_typed(key)).integers() == {"q": 1, "p": 2, "g": 3, "y": 4}


@given(st.integers())
def test_java_int_bytes_is_minimal_and_exact(number: int) -> None:
    raw = java_int_bytes(number)
    assert int.from_bytes(raw, "big", signed=True) == number
    assert len(raw) == 1 or int.from_bytes(raw[1:], "big", signed=True) != number  # no redundant sign byte


def test_non_minimal_key_bytes_kept() -> None:
    key = PublicKeyData("RSA_PUB_KEY", (b"\x00\x00\x01", b"\x00\x00\x02"))
    assert decode_pubkey(encode_typed(key)) == key


def test_unknown_key_type_kept_raw() -> None:
    raw = b"\x00\x00\x00\x06XX_KEY" + b"\x00\x00anything"
    key = decode_pubkey(raw)
    assert key.key_type == "XX_KEY" and key.raw == b"\x00\x00anything"
    assert key.integers() == {}
    assert encode_typed(key) == raw


def test_encode_rejects_out_of_range() -> None:
    with pytest.raises(InvalidValue):
        encode_typed(AdminData(AdminPermission(0x1_0000), "x", 1))
    with pytest.raises(InvalidValue):
        encode_typed(SiteInfo(servers=(ServerInfo(1, b"\x01"),)))


# --- Hypothesis -----------------------------------------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
text = st.text(st.characters(codec="utf-8"), max_size=20)

admins = st.builds(AdminData, st.builds(AdminPermission, u16), text, u32, st.booleans())
interfaces = st.builds(Interface, u8, u8, u32)
servers = st.builds(
    ServerInfo,
    u32,
    st.binary(min_size=16, max_size=16),
    st.binary(max_size=20),
    st.lists(interfaces, max_size=3).map(tuple),
)
sites = st.builds(
    SiteInfo,
    u16,
    u8,
    u8,
    u16,
    u8,
    u8,
    text,
    st.lists(st.tuples(text, text), max_size=3).map(tuple),
    st.lists(servers, max_size=3).map(tuple),
)
vlists = st.builds(VList, st.lists(st.builds(ValueReference, text, u32), max_size=4).map(tuple))
known_keys = st.one_of(
    st.builds(
        lambda e, n: PublicKeyData.from_integers("RSA_PUB_KEY", {"e": e, "n": n}),
        st.integers(0, 1 << 64),
        st.integers(0, 1 << 600),
    ),
    st.builds(
        lambda q, p, g, y: PublicKeyData.from_integers("DSA_PUB_KEY", {"q": q, "p": p, "g": g, "y": y}),
        st.integers(),
        st.integers(),
        st.integers(),
        st.integers(),
    ),
    st.builds(lambda f: PublicKeyData("SM2_PUB_KEY", (f,)), st.binary(max_size=30)),
)
unknown_keys = st.builds(
    lambda tag, raw: PublicKeyData(tag, raw=raw),
    text.filter(
        lambda t: t not in ("RSA_PUB_KEY", "DSA_PUB_KEY", "DH_PUB_KEY", "SM2_PUB_KEY", "SM9_PUB_KEY")
    ),
    st.binary(max_size=30),
)


@given(admins)
def test_admin_round_trip(admin: AdminData) -> None:
    assert decode_admin(encode_typed(admin)) == admin


@given(sites)
def test_site_round_trip(site: SiteInfo) -> None:
    assert decode_site(encode_typed(site)) == site


@given(vlists)
def test_vlist_round_trip(vlist: VList) -> None:
    assert decode_vlist(encode_typed(vlist)) == vlist


@given(st.one_of(known_keys, unknown_keys))
def test_pubkey_round_trip(key: PublicKeyData) -> None:
    assert decode_pubkey(encode_typed(key)) == key


@given(text)
def test_text_round_trip(value: str) -> None:
    assert decode_typed("HS_ALIAS", encode_typed(value)) == value


TYPES = ["HS_ADMIN", "HS_SITE", "HS_VLIST", "HS_SERV", "HS_ALIAS", "HS_PUBKEY"]


@given(st.sampled_from(TYPES), st.binary(max_size=200))
def test_arbitrary_bytes_give_value_or_protocol_error(value_type: str, raw: bytes) -> None:
    try:
        typed = decode_typed(value_type, raw)
    except ProtocolError:
        return
    assert typed is not None
    assert encode_typed(typed) == raw  # whatever decodes re-encodes to the same bytes


@given(st.sampled_from(TYPES), sites.map(encode_typed) | admins.map(encode_typed), st.data())
def test_mutated_records_give_value_or_protocol_error(
    value_type: str, raw: bytes, data: st.DataObject
) -> None:
    pos = data.draw(st.integers(0, len(raw) - 1))
    mutated = raw[:pos] + bytes([data.draw(u8)]) + raw[pos + 1 :]
    with contextlib.suppress(ProtocolError):
        decode_typed(value_type, mutated)
