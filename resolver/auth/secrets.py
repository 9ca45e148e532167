"""Slow hashing of stored secrets and constant-time checks (scrypt, stdlib only).

A stored hash is one self-describing string ``scrypt$n$r$p$salt$hash`` (salt and hash urlsafe Base64), so the
cost parameters can be raised later without invalidating existing secrets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ScryptCost:
    """scrypt cost: n=2**14, r=8 is the interactive-login figure of the scrypt paper (16 MiB, ~50 ms)."""

    n: int = 2**14
    r: int = 8
    p: int = 1


DEFAULT_COST = ScryptCost()
_SALT_BYTES = 16
_HASH_BYTES = 32
_MAX_MEM = 64 * 1024 * 1024


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(secret: str, salt: bytes, cost: ScryptCost) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=cost.n, r=cost.r, p=cost.p, maxmem=_MAX_MEM, dklen=_HASH_BYTES
    )


def hash_secret(secret: str, cost: ScryptCost = DEFAULT_COST) -> str:
    """A fresh salted scrypt hash of ``secret`` with its parameters recorded."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(secret, salt, cost)
    return f"scrypt${cost.n}${cost.r}${cost.p}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    """True when ``secret`` matches ``stored``; malformed stored strings never match."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    try:
        cost = ScryptCost(int(parts[1]), int(parts[2]), int(parts[3]))
        salt, expected = _unb64(parts[4]), _unb64(parts[5])
        actual = _scrypt(secret, salt, cost)
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def new_secret(n_bytes: int = 18) -> str:
    """A random password for a new credential (24 urlsafe characters by default)."""
    return secrets.token_urlsafe(n_bytes)


def new_token() -> str:
    """An opaque bearer token: 32 random bytes, urlsafe Base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """The key a token is stored under: its SHA-256, so a leaked store yields no usable token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
