"""Credentials and tokens kept as storage documents, and the three ways a caller proves who it is.

Document kinds (layout of the values is ours; keys are opaque to storage):

* ``credential`` / username: ``{username, kind, name, secret (scrypt), sealed_sha (SecretBox), identity}``
* ``identity`` / ``<index>:<handle>`` (prefix upper-cased): ``{username}``, for the Handle REST Basic scheme
* ``token`` / sha256(token): ``{username, kind, name, expires_ms, epoch}``, stored with a TTL; the token
  itself is opaque (32 random bytes), never stored, and expires after ``token_ttl_s`` (24 h as in SNMS
  attachment.md). A tenant token also dies with its credential: replacing or removing the credential gives it
  a new ``epoch`` (or none), and a token whose epoch differs is refused.

scrypt runs in a thread so a login does not stall the worker's event loop.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from resolver.auth import secrets as sec
from resolver.auth.principal import OPERATOR, Principal
from resolver.auth.sealed import SealError, SecretBox, sha256_hex
from resolver.auth.snms_login import check_hashed_password
from storage.api import DocPut, HandleStore

CREDENTIAL = "credential"
IDENTITY = "identity"
TOKEN = "token"  # noqa: S105 (a document kind, not a secret)
DEFAULT_TOKEN_TTL_S = 86_400


def canonical_identity(identity: str) -> str:
    """``300:88.1000.1/ADMIN`` with the prefix part ASCII upper-cased (domain.md §3.2)."""
    index, sep, handle = unquote(identity).partition(":")
    prefix, slash, suffix = handle.partition("/")
    return f"{index}{sep}{prefix.upper()}{slash}{suffix}"


@dataclass(frozen=True, slots=True)
class NewCredential:
    username: str
    password: str
    identity: str


class Accounts:
    """Creates credentials and tokens and turns presented secrets into a ``Principal``."""

    def __init__(self, store: HandleStore, box: SecretBox, token_ttl_s: int = DEFAULT_TOKEN_TTL_S) -> None:
        self._store = store
        self._box = box
        self.token_ttl_s = token_ttl_s
        self._dummy_sealed = box.seal(sha256_hex(sec.new_secret()).encode("ascii"))

    async def add_credential(self, principal: Principal, password: str, identity: str, *, actor: str) -> None:
        for op in await self.credential_docs(principal, password, identity):
            await self._store.put_doc(op.kind, op.key, op.doc, actor=actor)

    async def credential_docs(self, principal: Principal, password: str, identity: str) -> list[DocPut]:
        """The credential document (and its identity link), for a caller that writes them in a transaction."""
        secret = await asyncio.to_thread(sec.hash_secret, password)
        doc = {
            "username": principal.username,
            "kind": principal.kind,
            "name": principal.name,
            "secret": secret,
            "sealed_sha": self._box.seal(sha256_hex(password).encode("ascii")),
            "identity": canonical_identity(identity) if identity else "",
            "epoch": sec.new_secret(9),
        }
        ops = [DocPut(CREDENTIAL, principal.username, doc)]
        if identity:
            ops.append(DocPut(IDENTITY, canonical_identity(identity), {"username": principal.username}))
        return ops

    async def remove_credential(self, username: str, *, actor: str) -> None:
        doc = await self._store.get_doc(CREDENTIAL, username)
        if doc and doc.get("identity"):
            await self._store.delete_doc(IDENTITY, str(doc["identity"]), actor=actor)
        await self._store.delete_doc(CREDENTIAL, username, actor=actor)

    async def login_password(self, username: str, password: str) -> Principal | None:
        doc = await self._store.get_doc(CREDENTIAL, username)
        if doc is None:
            # Spend the same time as a real check so usernames cannot be probed by timing.
            await asyncio.to_thread(sec.verify_secret, password, _dummy_hash())
            return None
        ok = await asyncio.to_thread(sec.verify_secret, password, str(doc.get("secret", "")))
        return _principal(doc) if ok else None

    async def login_hashed(self, username: str, hashed: str, now_s: float) -> Principal | None:
        doc = await self._store.get_doc(CREDENTIAL, username)
        # An unknown user goes through the same unseal and comparison (with a sealed dummy that no submitted
        # value matches), so the answer time does not tell whether the username exists.
        sealed = str(doc.get("sealed_sha", "")) if doc is not None else self._dummy_sealed
        try:
            sha_hex = self._box.open(sealed).decode("ascii")
        except (SealError, UnicodeDecodeError):
            return None
        matched = check_hashed_password(hashed, sha_hex, now_s)
        return _principal(doc) if matched and doc is not None else None

    async def login_identity(self, identity: str, secret: str) -> Principal | None:
        """The Handle REST Basic scheme: user ``<index>:<handle>`` (URL-encoded) and its secret."""
        link = await self._store.get_doc(IDENTITY, canonical_identity(identity))
        if link is None:
            return None
        return await self.login_password(str(link["username"]), secret)

    async def issue_token(self, principal: Principal, now_s: float, *, actor: str) -> str:
        token, op = self.token_doc(principal, now_s, await self._epoch(principal))
        await self._store.put_doc(op.kind, op.key, op.doc, actor=actor, ttl_s=op.ttl_s)
        return token

    def token_doc(self, principal: Principal, now_s: float, epoch: str) -> tuple[str, DocPut]:
        """A new token and its document; ``epoch`` is the principal's credential epoch ("" for operators)."""
        token = sec.new_token()
        doc = {
            "username": principal.username,
            "kind": principal.kind,
            "name": principal.name,
            "expires_ms": int((now_s + self.token_ttl_s) * 1000),
            "epoch": epoch,
        }
        return token, DocPut(TOKEN, sec.token_digest(token), doc, ttl_s=self.token_ttl_s)

    async def principal_for_token(self, token: str, now_s: float) -> Principal | None:
        doc = await self._store.get_doc(TOKEN, sec.token_digest(token))
        # The TTL removes expired tokens; the explicit check covers the moments before Redis expires them.
        if doc is None or int(doc.get("expires_ms", 0)) <= now_s * 1000:
            return None
        principal = _principal(doc)
        if doc.get("epoch", "") != await self._epoch(principal):
            return None  # the credential was replaced or removed since the token was issued
        return principal

    async def _epoch(self, principal: Principal) -> str:
        """The credential's current epoch; operators have no credential document (their epoch is empty)."""
        if principal.is_operator:
            return ""
        credential = await self._store.get_doc(CREDENTIAL, principal.username)
        return "" if credential is None else str(credential.get("epoch", ""))


def _principal(doc: dict[str, Any]) -> Principal:
    return Principal(kind=str(doc["kind"]), name=str(doc["name"]), username=str(doc["username"]))


def operator_principal(name: str) -> Principal:
    return Principal(kind=OPERATOR, name=name, username=f"operator:{name}")


@functools.cache
def _dummy_hash() -> str:
    return sec.hash_secret("idnode-timing-equaliser")
