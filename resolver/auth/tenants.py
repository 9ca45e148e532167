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
from resolver.auth.accounts import CREDENTIAL, IDENTITY, Accounts, operator_principal
from resolver.auth.principal import TENANT, Principal
from storage.api import (
    DocDelete,
    DocPut,
    HandleStore,
    PrefixPut,
    PrefixRecord,
    PrefixRemove,
    PrefixStatus,
    Record,
    TxnOp,
    TxnView,
)

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
        """Tenant document, credential, identity link, homed prefix and a first token: one transaction, so
        two operators racing for one prefix cannot both win and a failure leaves no half-made tenant."""
        if not _NAME.fullmatch(name):
            raise TenantError(
                f"invalid tenant name {name!r}: 1-50 of A-Z a-z 0-9 _ . - (starting alphanumeric)"
            )
        canon = canonical_prefix_text(prefix)
        password = password or sec.new_secret()
        principal = Principal(kind=TENANT, name=name, username=name)
        credential = await self._accounts.credential_docs(principal, password, admin_identity(canon))
        token, token_op = self._accounts.token_doc(principal, now_s, str(credential[0].doc["epoch"]))
        doc = {"name": name, "prefixes": [canon], "created_ms": int(now_s * 1000)}
        record = PrefixRecord(canon, PrefixStatus.HOMED, name, prefix_admin_values(canon))

        def decide(view: TxnView) -> list[TxnOp]:
            if view.docs[(TENANT_DOC, name)] is not None:
                raise TenantError(f"tenant {name!r} already exists", status=409)
            _check_free(view.prefixes[canon], canon, name)
            return [DocPut(TENANT_DOC, name, doc), *credential, PrefixPut(record), token_op]

        await self._store.transact([(TENANT_DOC, name)], [canon], decide, actor=actor)
        return TenantCredentials(name, (canon,), name, password, token, admin_identity(canon))

    async def home(self, name: str, prefix: str, *, actor: str) -> str:
        """Home ``prefix`` here for tenant ``name`` (idempotent for the same tenant)."""
        canon = canonical_prefix_text(prefix)
        record = PrefixRecord(canon, PrefixStatus.HOMED, name, prefix_admin_values(canon))
        await self._claim(name, record, actor=actor)
        return canon

    async def delegate(self, name: str, prefix: str, values: Record, *, actor: str) -> str:
        """Point ``prefix`` at the tenant's own enterprise node: answers become referrals (RC 303)."""
        canon = canonical_prefix_text(prefix)
        if not any(v.type.upper().startswith(("HS_SITE", "HS_SERV")) for v in values):
            raise TenantError("a delegation needs an HS_SITE or HS_SERV value (handle-protocol.md §8.6)")
        values = (*prefix_admin_values(canon), *(v for v in values if v.index != ADMIN_INDEX))
        await self._claim(name, PrefixRecord(canon, PrefixStatus.DELEGATED, name, values), actor=actor)
        return canon

    async def _claim(self, name: str, record: PrefixRecord, *, actor: str) -> None:
        """Write ``record`` for tenant ``name`` if the prefix is free or already the tenant's, and add it to
        the tenant's list, in one transaction (the check and the write cannot be separated)."""
        canon = record.prefix

        def decide(view: TxnView) -> list[TxnOp]:
            doc = _existing(view, name)
            _check_free(view.prefixes[canon], canon, name)
            prefixes = [p for p in doc.get("prefixes", []) if p != canon] + [canon]
            return [PrefixPut(record), DocPut(TENANT_DOC, name, {**doc, "prefixes": prefixes})]

        await self._store.transact([(TENANT_DOC, name)], [canon], decide, actor=actor)

    async def unhome(self, name: str, prefix: str, *, actor: str) -> str:
        canon = canonical_prefix_text(prefix)

        def decide(view: TxnView) -> list[TxnOp]:
            doc = _existing(view, name)
            current = view.prefixes[canon]
            if current is None or current.tenant != name:
                raise TenantError(f"prefix {canon} is not homed for tenant {name!r}", status=404)
            prefixes = [p for p in doc.get("prefixes", []) if p != canon]
            return [PrefixRemove(canon), DocPut(TENANT_DOC, name, {**doc, "prefixes": prefixes})]

        await self._store.transact([(TENANT_DOC, name)], [canon], decide, actor=actor)
        return canon

    async def remove(self, name: str, *, actor: str) -> None:
        """Unhome every prefix of the tenant and delete its credential (its identifiers stay in Redis), in
        one transaction; a prefix homed for the tenant meanwhile makes it read again (TenantError 409)."""
        listed = list((await self._tenant_doc(name)).get("prefixes", []))
        credential = await self._store.get_doc(CREDENTIAL, name)
        identity = str(credential.get("identity", "")) if credential else ""
        reads = [(TENANT_DOC, name), (CREDENTIAL, name), *([(IDENTITY, identity)] if identity else [])]

        def decide(view: TxnView) -> list[TxnOp]:
            doc = _existing(view, name)
            if list(doc.get("prefixes", [])) != listed:
                raise TenantError(f"tenant {name!r} changed while being removed; try again", status=409)
            ops: list[TxnOp] = [
                PrefixRemove(p) for p, rec in view.prefixes.items() if rec is not None and rec.tenant == name
            ]
            ops += [DocDelete(kind, key) for (kind, key), found in view.docs.items() if found is not None]
            return ops

        await self._store.transact(reads, listed, decide, actor=actor)

    async def _tenant_doc(self, name: str) -> dict[str, Any]:
        doc = await self.get(name)
        if doc is None:
            raise TenantError(f"no tenant {name!r}", status=404)
        return doc

    async def new_token(self, name: str, now_s: float, *, actor: str) -> str:
        await self._tenant_doc(name)
        return await self._accounts.issue_token(Principal(TENANT, name, name), now_s, actor=actor)

    async def new_operator_token(self, name: str, now_s: float, *, actor: str) -> str:
        return await self._accounts.issue_token(operator_principal(name), now_s, actor=actor)


def _existing(view: TxnView, name: str) -> dict[str, Any]:
    doc = view.docs[(TENANT_DOC, name)]
    if doc is None:
        raise TenantError(f"no tenant {name!r}", status=404)
    return doc


def _check_free(record: PrefixRecord | None, prefix: str, tenant: str) -> None:
    if record is not None and record.tenant not in (None, tenant):
        raise TenantError(f"prefix {prefix} belongs to tenant {record.tenant!r}", status=409)
