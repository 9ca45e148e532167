"""Handle values: the record of RFC 3651 §3.1 (handle-protocol.md §11) and its wire codec.

``HandleValue`` is the one in-memory form of a value everywhere in the project: the wire codec, the REST JSON
form (``protocol.jsonfmt``), the Redis record (``storage.records``) and the resolver all use it.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.constants import DEFAULT_PERMISSIONS, DEFAULT_TTL_S, Permission, TTLType


@dataclass(frozen=True, slots=True)
class ValueReference:
    """A reference to another value: ``<index>:<handle>``."""

    handle: str
    index: int


@dataclass(frozen=True, slots=True)
class HandleValue:
    """One value of a handle. ``data`` is the raw data field; ``protocol.valuedata`` decodes typed data."""

    index: int
    type: str
    data: bytes
    ttl: int = DEFAULT_TTL_S
    ttl_type: TTLType = TTLType.RELATIVE
    permissions: Permission = DEFAULT_PERMISSIONS
    timestamp: int = 0
    references: tuple[ValueReference, ...] = ()

    @property
    def public_read(self) -> bool:
        return bool(self.permissions & Permission.PUBLIC_READ)
