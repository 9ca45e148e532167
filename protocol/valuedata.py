"""Typed value data: the layouts of HS_ADMIN, HS_SITE, HS_VLIST, HS_SERV, HS_ALIAS and HS_PUBKEY (§12).

``HandleValue.data`` always keeps the raw bytes; ``decode_typed(type, data)`` gives the typed view of the
standard types (None for any other type) and ``encode_typed`` writes it back byte for byte, including the
legacy HS_ADMIN form and Java's two's-complement key integers. Every decoder raises only ``ProtocolError``.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from protocol.constants import MAX_ARRAY_SIZE, AdminPermission
from protocol.errors import InvalidValue
from protocol.handle import ascii_upper
from protocol.values import ValueReference
from protocol.wire import Reader, Writer

__all__ = [
    "KEY_FIELDS",
    "AdminData",
    "Interface",
    "PublicKeyData",
    "ServerInfo",
    "SiteInfo",
    "TypedData",
    "VList",
    "address_from_text",
    "address_to_text",
    "decode_admin",
    "decode_pubkey",
    "decode_site",
    "decode_text",
    "decode_typed",
    "decode_vlist",
    "encode_typed",
    "java_int_bytes",
]

SITE_FORMAT_VERSION = 1  # TI core/Common.java SITE_RECORD_FORMAT_VERSION (§12.2)
PRIMARY_SITE: Final = 0x80  # §12.2: the implementations' bit, not the RFC text's
MULTI_PRIMARY: Final = 0x40
SERVICE_ADMIN: Final = 0x01  # TI core/Interface.java: 1 admin, 2 query, 3 both (§12.2)
SERVICE_QUERY: Final = 0x02
_IPV4_PAD: Final = bytes(12)  # §12.2: IPv4 is right-aligned after 12 zero bytes


# --- HS_ADMIN (§12.1) ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AdminData:
    """An HS_ADMIN record. ``legacy_byte_length`` keeps the 2 extra zero bytes of the legacy form."""

    permissions: AdminPermission
    handle: str
    index: int
    legacy_byte_length: bool = False


def decode_admin(data: bytes) -> AdminData:
    reader = Reader(data)
    mask = reader.u16()
    handle = reader.string()
    index = reader.u32()
    # §12.1 legacy form: exactly two extra zero bytes; anything else trailing is an error.
    legacy = reader.remaining() == 2 and data[-2:] == b"\x00\x00"
    if legacy:
        reader.raw(2)
    reader.expect_end("HS_ADMIN data")
    return AdminData(AdminPermission(mask), handle, index, legacy)


def _encode_admin(admin: AdminData, writer: Writer) -> None:
    writer.u16(int(admin.permissions))
    writer.string(admin.handle)
    writer.u32(admin.index)
    if admin.legacy_byte_length:
        writer.raw(b"\x00\x00")


# --- HS_SITE (§12.2) -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interface:
    """One server interface: service type (1 admin, 2 query, 3 both), protocol (0 UDP..3 HTTPS), port."""

    service_type: int
    protocol: int
    port: int

    @property
    def admin(self) -> bool:
        return bool(self.service_type & SERVICE_ADMIN)

    @property
    def query(self) -> bool:
        return bool(self.service_type & SERVICE_QUERY)


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """A server of a site; ``address`` is the 16 wire bytes (see ``address_to_text``)."""

    server_id: int
    address: bytes
    public_key: bytes = b""
    interfaces: tuple[Interface, ...] = ()


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """An HS_SITE / HS_SITE.6 / HS_SITE.PREFIX / HS_NA_DELEGATE record."""

    version: int = SITE_FORMAT_VERSION
    protocol_major: int = 2
    protocol_minor: int = 10
    serial_number: int = 0
    primary_mask: int = PRIMARY_SITE
    hash_option: int = 2
    hash_filter: str = ""
    attributes: tuple[tuple[str, str], ...] = ()
    servers: tuple[ServerInfo, ...] = ()

    @property
    def is_primary(self) -> bool:
        return bool(self.primary_mask & PRIMARY_SITE)

    @property
    def is_multi_primary(self) -> bool:
        return bool(self.primary_mask & MULTI_PRIMARY)


def address_to_text(address: bytes) -> str:
    """Dotted IPv4 for 12 zero bytes + 4, else IPv6 text (Java ``InetAddress`` semantics)."""
    if len(address) != 16:
        raise InvalidValue(f"server address must be 16 bytes, got {len(address)}")
    if address[:12] == _IPV4_PAD:
        return str(ipaddress.IPv4Address(address[12:]))
    return str(ipaddress.IPv6Address(address))


def address_from_text(text: str) -> bytes:
    """The 16 wire bytes of a dotted IPv4 or an IPv6 address text."""
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidValue(f"not an IPv4 or IPv6 address: {text!r}") from None
    if isinstance(parsed, ipaddress.IPv4Address):
        return _IPV4_PAD + parsed.packed
    return parsed.packed


def decode_site(data: bytes) -> SiteInfo:
    reader = Reader(data)
    version, major, minor, serial, mask, hash_option = (
        reader.u16(),
        reader.u8(),
        reader.u8(),
        reader.u16(),
        reader.u8(),
        reader.u8(),
    )
    hash_filter = reader.string()
    attributes = tuple((reader.string(), reader.string()) for _ in range(reader.count(MAX_ARRAY_SIZE, 8)))
    servers = tuple(_pull_server(reader) for _ in range(reader.count(MAX_ARRAY_SIZE, 28)))
    reader.expect_end("HS_SITE data")
    return SiteInfo(version, major, minor, serial, mask, hash_option, hash_filter, attributes, servers)


def _pull_server(reader: Reader) -> ServerInfo:
    server_id = reader.u32()
    address = reader.raw(16)
    public_key = reader.counted_bytes()
    count = reader.count(MAX_ARRAY_SIZE, 6)
    interfaces = tuple(Interface(reader.u8(), reader.u8(), reader.u32()) for _ in range(count))
    return ServerInfo(server_id, address, public_key, interfaces)


def _encode_site(site: SiteInfo, writer: Writer) -> None:
    writer.u16(site.version)
    writer.u8(site.protocol_major)
    writer.u8(site.protocol_minor)
    writer.u16(site.serial_number)
    writer.u8(site.primary_mask)
    writer.u8(site.hash_option)
    writer.string(site.hash_filter)
    writer.u32(len(site.attributes))
    for name, value in site.attributes:
        writer.string(name)
        writer.string(value)
    writer.u32(len(site.servers))
    for server in site.servers:
        _push_server(server, writer)


def _push_server(server: ServerInfo, writer: Writer) -> None:
    if len(server.address) != 16:
        raise InvalidValue(f"server address must be 16 bytes, got {len(server.address)}")
    writer.u32(server.server_id)
    writer.raw(server.address)
    writer.counted_bytes(server.public_key)
    writer.u32(len(server.interfaces))
    for iface in server.interfaces:
        writer.u8(iface.service_type)
        writer.u8(iface.protocol)
        writer.u32(iface.port)


# --- HS_VLIST (§12.3) ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VList:
    """An HS_VLIST record: the admin identities of a group."""

    members: tuple[ValueReference, ...] = ()


def decode_vlist(data: bytes) -> VList:
    reader = Reader(data)
    count = reader.count(MAX_ARRAY_SIZE, 8)
    members = tuple(ValueReference(reader.string(), reader.u32()) for _ in range(count))
    reader.expect_end("HS_VLIST data")  # §12.3: decoders reject trailing bytes
    return VList(members)


def _encode_vlist(vlist: VList, writer: Writer) -> None:
    writer.u32(len(vlist.members))
    for ref in vlist.members:
        writer.string(ref.handle)
        writer.u32(ref.index)


# --- HS_PUBKEY (§12.6) -----------------------------------------------------------------------------------

# Field names per key-type tag, in wire order (TI core/Util.java getBytesFromPublicKey).
KEY_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "RSA_PUB_KEY": ("e", "n"),
    "DSA_PUB_KEY": ("q", "p", "g", "y"),
    "DH_PUB_KEY": ("y", "p", "g"),
    "SM2_PUB_KEY": ("pem",),
    "SM9_PUB_KEY": ("key",),
}


@dataclass(frozen=True, slots=True)
class PublicKeyData:
    """An HS_PUBKEY record. Known tags keep their byte arrays in ``fields`` exactly as sent (so a Java
    leading 0x00 survives); an unknown tag keeps everything after the tag in ``raw``."""

    key_type: str
    fields: tuple[bytes, ...] = ()
    flags: int = 0
    raw: bytes | None = None

    def integers(self) -> dict[str, int]:
        """The fields as integers (two's complement, Java ``BigInteger``), by name; {} for unknown tags."""
        names = KEY_FIELDS.get(self.key_type, ()) if self.raw is None else ()
        pairs = zip(names, self.fields, strict=False)
        return {name: int.from_bytes(field, "big", signed=True) for name, field in pairs}

    @classmethod
    def from_integers(cls, key_type: str, values: dict[str, int]) -> PublicKeyData:
        """Build a key of a known tag from its integers, encoded like Java ``BigInteger.toByteArray``."""
        names = KEY_FIELDS[key_type]
        return cls(key_type, tuple(java_int_bytes(values[name]) for name in names))


def java_int_bytes(value: int) -> bytes:
    """Minimal two's-complement big-endian bytes (Java ``BigInteger.toByteArray``: 128 -> 00 80)."""
    magnitude = value if value >= 0 else ~value  # Java's bitLength() of a negative number excludes the sign
    return value.to_bytes(magnitude.bit_length() // 8 + 1, "big", signed=True)


def decode_pubkey(data: bytes) -> PublicKeyData:
    reader = Reader(data)
    key_type = reader.string()
    names = KEY_FIELDS.get(key_type)
    if names is None:
        return PublicKeyData(key_type, raw=reader.rest())
    flags = reader.u16()
    fields = tuple(reader.counted_bytes() for _ in names)
    reader.expect_end(f"{key_type} key data")
    return PublicKeyData(key_type, fields, flags)


def _encode_pubkey(key: PublicKeyData, writer: Writer) -> None:
    writer.string(key.key_type)
    if key.raw is not None:
        writer.raw(key.raw)
        return
    names = KEY_FIELDS.get(key.key_type, ())
    if len(names) != len(key.fields):
        raise InvalidValue(f"{key.key_type} needs {len(names)} fields, got {len(key.fields)}")
    writer.u16(key.flags)
    for field in key.fields:
        writer.counted_bytes(field)


# --- text types (§12.4, §12.5) and dispatch --------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """HS_SERV / HS_SERV.PREFIX / HS_ALIAS: a handle as UTF-8 text."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidValue(f"data is not valid UTF-8 at byte {exc.start}") from None


TypedData = AdminData | SiteInfo | VList | PublicKeyData | str

_DECODERS: Final[dict[str, Callable[[bytes], TypedData]]] = {
    "HS_ADMIN": decode_admin,
    "HS_SITE": decode_site,
    "HS_SITE.6": decode_site,
    "HS_SITE.PREFIX": decode_site,
    "HS_NA_DELEGATE": decode_site,
    "HS_VLIST": decode_vlist,
    "HS_SERV": decode_text,
    "HS_SERV.PREFIX": decode_text,
    "HS_ALIAS": decode_text,
    "HS_PUBKEY": decode_pubkey,
}

_ENCODERS: Final[dict[type, Callable[[Any, Writer], None]]] = {
    AdminData: _encode_admin,
    SiteInfo: _encode_site,
    VList: _encode_vlist,
    PublicKeyData: _encode_pubkey,
}


def decode_typed(value_type: str, data: bytes) -> TypedData | None:
    """The typed view of ``data`` for a standard type, None for other types; ProtocolError if malformed."""
    decoder = _DECODERS.get(ascii_upper(value_type))
    return None if decoder is None else decoder(data)


def encode_typed(typed: TypedData) -> bytes:
    """The data bytes of a typed record (the inverse of ``decode_typed``)."""
    if isinstance(typed, str):
        try:
            return typed.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidValue("text is not encodable as UTF-8") from None
    writer = Writer()
    try:
        _ENCODERS[type(typed)](typed, writer)
    except (struct.error, ValueError, OverflowError) as exc:  # a field out of its wire range
        raise InvalidValue(f"cannot encode {type(typed).__name__}: {exc}") from None
    return writer.getvalue()
