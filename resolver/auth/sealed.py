"""Authenticated encryption of small secrets with a node key kept outside Redis (stdlib only).

Why it exists: the SNMS hashed login (/identity/token/v1, http-apis.md §2.2) sends
``sha256hex(sha256hex(password) + date)``. Checking it needs ``sha256hex(password)`` itself, which a slow
one-way hash cannot give back. So each credential keeps that value sealed with the node key: a copy of Redis
alone reveals nothing usable; a copy of Redis *and* the key file reveals ``sha256hex(password)``, which is a
password equivalent for the v1 login and a fast hash to brute-force. The plaintext login never uses it (it
checks the scrypt hash). Keep the key file (mode 0600) out of Redis backups.

Construction: HMAC-SHA256 in counter mode as the keystream, then HMAC-SHA256 over nonce and ciphertext
(encrypt-then-MAC), with separate keys derived from the node key.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

_KEY_BYTES = 32
_NONCE_BYTES = 16


class SealError(ValueError):
    """A sealed value was altered, is malformed, or was sealed with another key."""


class SecretBox:
    """Seals and opens short byte strings with one node key."""

    __slots__ = ("_enc_key", "_mac_key")

    def __init__(self, key: bytes) -> None:
        if len(key) < _KEY_BYTES:
            raise ValueError("node key must be at least 32 bytes")
        self._enc_key = hmac.digest(key, b"idnode-seal-enc", "sha256")
        self._mac_key = hmac.digest(key, b"idnode-seal-mac", "sha256")

    def _keystream(self, nonce: bytes, length: int) -> bytes:
        blocks = (
            hmac.digest(self._enc_key, nonce + counter.to_bytes(4, "big"), "sha256")
            for counter in range((length + 31) // 32)
        )
        return b"".join(blocks)[:length]

    def seal(self, plaintext: bytes) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        cipher = bytes(a ^ b for a, b in zip(plaintext, self._keystream(nonce, len(plaintext)), strict=True))
        tag = hmac.digest(self._mac_key, nonce + cipher, "sha256")
        return base64.urlsafe_b64encode(nonce + tag + cipher).decode("ascii")

    def open(self, sealed: str) -> bytes:
        try:
            raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise SealError("sealed value is not Base64") from exc
        nonce, tag, cipher = (
            raw[:_NONCE_BYTES],
            raw[_NONCE_BYTES : _NONCE_BYTES + 32],
            raw[_NONCE_BYTES + 32 :],
        )
        expected = hmac.digest(self._mac_key, nonce + cipher, "sha256")
        if len(tag) != 32 or not hmac.compare_digest(tag, expected):
            raise SealError("sealed value does not verify")
        return bytes(a ^ b for a, b in zip(cipher, self._keystream(nonce, len(cipher)), strict=True))


def load_or_create_key(path: Path) -> bytes:
    """The node key at ``path``, created with mode 0600 on first use.

    Race-safe for workers starting together: the key is written whole to a private temporary file and then
    hard-linked into place, so a reader never sees a partial key and only one creator wins.
    """
    if path.exists():
        return _read_key(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(_KEY_BYTES))
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return _read_key(path)


def create_key(path: Path) -> None:
    """Write a new random key to ``path`` (mode 0600); refuses to replace an existing file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_bytes(_KEY_BYTES))


def read_key(path: Path) -> bytes:
    """A configured key (e.g. a mounted k8s Secret): it must exist, it is never created here."""
    try:
        return _read_key(path)
    except OSError as exc:
        raise ValueError(f"cannot read node key file {path}: {exc.strerror}") from None


def _read_key(path: Path) -> bytes:
    key = path.read_bytes()
    if len(key) < _KEY_BYTES:
        raise ValueError(f"node key file {path} is shorter than {_KEY_BYTES} bytes")
    return key


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
