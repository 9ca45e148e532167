"""The authenticated caller and the write/read permission rules that depend on it.

A tenant may write only under prefixes homed here for that tenant (the ``PrefixRecord.tenant`` is the one
source of truth, so unhoming takes effect at once); operators may manage everything. Non-public values are
shown only to the owner of the handle's prefix (handle-protocol.md §11.1, §9 steps 6-9).
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.api import HandleStore, PrefixStatus

OPERATOR = "operator"
TENANT = "tenant"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # OPERATOR or TENANT
    name: str  # tenant name, or the operator credential's name
    username: str = ""

    @property
    def is_operator(self) -> bool:
        return self.kind == OPERATOR

    @property
    def actor(self) -> str:
        """How the audit stream names this caller."""
        return f"{self.kind}:{self.name}"


async def owns_prefix(store: HandleStore, principal: Principal | None, prefix: str) -> bool:
    """True when ``principal`` may write handles under canonical ``prefix``."""
    if principal is None:
        return False
    record = await store.get_prefix(prefix)
    if principal.is_operator:
        return record is not None and record.status == PrefixStatus.HOMED
    return record is not None and record.status == PrefixStatus.HOMED and record.tenant == principal.name


async def may_read_restricted(store: HandleStore, principal: Principal | None, prefix: str) -> bool:
    """True when non-public values under ``prefix`` may be shown to ``principal`` (owner or operator)."""
    return await owns_prefix(store, principal, prefix)
