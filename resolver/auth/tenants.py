"""Tenants (enterprises) and their prefixes: create, home, unhome, delegate, list, remove.

One place used by both the admin HTTP API and the ``resolver tenant`` command. A tenant is a ``tenant``
document ``{name, prefixes, created_ms}`` plus one credential (username = tenant name, identity
``300:<prefix>/ADMIN``). Homing a prefix writes its ``PrefixRecord`` with the prefix handle's values: an
HS_ADMIN at index 100 naming the tenant's admin identity (handle-protocol.md §12.1, domain.md §2.3, §4.2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from protocol.constants import AdminPermission
from protocol.errors import InvalidHandle
from protocol.handle import DEFAULT_LIMITS, IdentifierLimits, parse_identifier
from protocol.valuedata import AdminData, encode_typed
from protocol.values import HandleValue
from resolver.auth import secrets as sec
from resolver.auth.accounts import Accounts, operator_principal
from resolver.auth.principal import TENANT, Principal
from storage.api import HandleStore, PrefixRecord, PrefixStatus, Record

TENANT_DOC = "tenant"
ADMIN_INDEX = 100  # domain.md §4.2: HS_ADMIN conventionally at 100
IDENTITY_INDEX = 300  # domain.md §4.4: an identity is 300:<handle>
# Everything but derived-prefix rights (0x07F3 is SURF's usual prefix admin, http-apis.md §1.4) plus listing.
PREFIX_ADMIN_PERMS = AdminPermission(0x0FF3)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,49}")  # SNMS username: at most 50 (domain.md §3.4)


class TenantError(ValueError):
    """A tenant operation that cannot be done; ``status`` is the HTTP status it maps to."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class TenantCredentials:
    tenant: str
    prefixes: tuple[str, ...]
    username: str
    password: str
    token: str
    identity: str

    def to_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "prefixes": list(self.prefixes),
            "username": self.username,
            "password": self.password,
            "token": self.token,
            "identity": self.identity,
        }


def canonical_prefix_text(prefix: str, limits: IdentifierLimits = DEFAULT_LIMITS) -> str:
    """Validate a prefix given alone (``88.1000.1`` or ``0.NA/88.1000.1``) and return its canonical form."""
    try:
        parsed = parse_identifier(prefix, limits)
    except InvalidHandle as exc:
        raise TenantError(f"invalid prefix {prefix!r}: {exc}") from None
    if not parsed.is_prefix_handle:
        raise TenantError(f"not a prefix: {prefix!r} (give it without a suffix)")
    return parsed.naming_prefix


def admin_identity(prefix: str) -> str:
    return f"{IDENTITY_INDEX}:{prefix}/ADMIN"


def prefix_admin_values(prefix: str) -> Record:
    data = encode_typed(AdminData(PREFIX_ADMIN_PERMS, f"{prefix}/ADMIN", IDENTITY_INDEX))
    return (HandleValue(ADMIN_INDEX, "HS_ADMIN", data),)


class Tenants:
    """Tenant administration over a store; ``actor`` names the operator in the audit stream."""

    def __init__(self, store: HandleStore, accounts: Accounts) -> None:
        self._store = store
        self._accounts = accounts

    async def get(self, name: str) -> dict[str, Any] | None:
        return await self._store.get_doc(TENANT_DOC, name)

    async def all(self) -> list[dict[str, Any]]:
        return [doc for _key, doc in sorted(await self._store.list_docs(TENANT_DOC))]

    async def create(
        self, name: str, prefix: str, password: str | None, now_s: float, *, actor: str
    ) -> TenantCredentials:
        if not _NAME.fullmatch(name):
            raise TenantError(
                f"invalid tenant name {name!r}: 1-50 of A-Z a-z 0-9 _ . - (starting alphanumeric)"
            )
        canon = canonical_prefix_text(prefix)
        if await self.get(name) is not None:
            raise TenantError(f"tenant {name!r} already exists", status=409)
        await self._check_free(canon, name)
        password = password or sec.new_secret()
        principal = Principal(kind=TENANT, name=name, username=name)
        doc = {"name": name, "prefixes": [], "created_ms": int(now_s * 1000)}
        await self._store.put_doc(TENANT_DOC, name, doc, actor=actor)
        await self._accounts.add_credential(principal, password, admin_identity(canon), actor=actor)
        await self.home(name, canon, actor=actor)
        token = await self._accounts.issue_token(principal, now_s, actor=actor)
        return TenantCredentials(name, (canon,), name, password, token, admin_identity(canon))

    async def _check_free(self, prefix: str, tenant: str) -> None:
        record = await self._store.get_prefix(prefix)
        if record is not None and record.tenant not in (None, tenant):
            raise TenantError(f"prefix {prefix} belongs to tenant {record.tenant!r}", status=409)

    async def _tenant_doc(self, name: str) -> dict[str, Any]:
        doc = await self.get(name)
        if doc is None:
            raise TenantError(f"no tenant {name!r}", status=404)
        return doc

    async def _set_prefixes(self, doc: dict[str, Any], prefixes: list[str], *, actor: str) -> None:
        await self._store.put_doc(TENANT_DOC, str(doc["name"]), {**doc, "prefixes": prefixes}, actor=actor)

    async def home(self, name: str, prefix: str, *, actor: str) -> str:
        """Home ``prefix`` here for tenant ``name`` (idempotent for the same tenant)."""
        doc = await self._tenant_doc(name)
        canon = canonical_prefix_text(prefix)
        await self._check_free(canon, name)
        record = PrefixRecord(canon, PrefixStatus.HOMED, name, prefix_admin_values(canon))
        await self._store.put_prefix(record, actor=actor)
        prefixes = [p for p in doc.get("prefixes", []) if p != canon] + [canon]
        await self._set_prefixes(doc, prefixes, actor=actor)
        return canon

    async def delegate(self, name: str, prefix: str, values: Record, *, actor: str) -> str:
        """Point ``prefix`` at the tenant's own enterprise node: answers become referrals (RC 303)."""
        doc = await self._tenant_doc(name)
        canon = canonical_prefix_text(prefix)
        await self._check_free(canon, name)
        if not any(v.type.upper().startswith(("HS_SITE", "HS_SERV")) for v in values):
            raise TenantError("a delegation needs an HS_SITE or HS_SERV value (handle-protocol.md §8.6)")
        values = (*prefix_admin_values(canon), *(v for v in values if v.index != ADMIN_INDEX))
        await self._store.put_prefix(PrefixRecord(canon, PrefixStatus.DELEGATED, name, values), actor=actor)
        prefixes = [p for p in doc.get("prefixes", []) if p != canon] + [canon]
        await self._set_prefixes(doc, prefixes, actor=actor)
        return canon

    async def unhome(self, name: str, prefix: str, *, actor: str) -> str:
        doc = await self._tenant_doc(name)
        canon = canonical_prefix_text(prefix)
        record = await self._store.get_prefix(canon)
        if record is None or record.tenant != name:
            raise TenantError(f"prefix {canon} is not homed for tenant {name!r}", status=404)
        await self._store.remove_prefix(canon, actor=actor)
        await self._set_prefixes(doc, [p for p in doc.get("prefixes", []) if p != canon], actor=actor)
        return canon

    async def remove(self, name: str, *, actor: str) -> None:
        """Unhome every prefix of the tenant and delete its credential (its identifiers stay in Redis)."""
        doc = await self._tenant_doc(name)
        for prefix in list(doc.get("prefixes", [])):
            record = await self._store.get_prefix(prefix)
            if record is not None and record.tenant == name:
                await self._store.remove_prefix(prefix, actor=actor)
        await self._accounts.remove_credential(name, actor=actor)
        await self._store.delete_doc(TENANT_DOC, name, actor=actor)

    async def new_token(self, name: str, now_s: float, *, actor: str) -> str:
        await self._tenant_doc(name)
        return await self._accounts.issue_token(Principal(TENANT, name, name), now_s, actor=actor)

    async def new_operator_token(self, name: str, now_s: float, *, actor: str) -> str:
        return await self._accounts.issue_token(operator_principal(name), now_s, actor=actor)
