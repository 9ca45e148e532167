"""The request-digest (RD) prefix of response bodies (handle-protocol.md §8.1).

The digest covers the request's Header + Body as received (not the envelope, not the credential). The
algorithm follows the peer's version as the CNRI server picks it (TI core/AbstractIdResponse.java
takeDigestOfRequest): below 2.1 the legacy MD5 form, 2.1 to 2.6 SHA-1, 2.7 and later SHA-256.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass

from protocol.constants import DigestAlgorithm
from protocol.errors import MalformedField
from protocol.wire import Reader, Writer

_HASHES: dict[int, tuple[Callable[[bytes], hashlib._Hash], int]] = {
    DigestAlgorithm.MD5_OLD_FORMAT: (hashlib.md5, 16),
    DigestAlgorithm.MD5: (hashlib.md5, 16),
    DigestAlgorithm.SHA1: (hashlib.sha1, 20),
    DigestAlgorithm.SHA256: (hashlib.sha256, 32),
}
_LEGACY_MAX = 64  # a legacy digest is an MD5 (16 bytes); allow slack but never a huge allocation


@dataclass(frozen=True, slots=True)
class RequestDigest:
    algorithm: DigestAlgorithm
    digest: bytes


def effective_version(major: int, minor: int) -> tuple[int, int]:
    """Major 5 was sent by very old clients by mistake and ranks below every 2.x (§16.3)."""
    return (1, minor) if major == 5 else (major, minor)


def digest_algorithm_for(major: int, minor: int) -> DigestAlgorithm:
    version = effective_version(major, minor)
    if version < (2, 1):
        return DigestAlgorithm.MD5_OLD_FORMAT
    if version < (2, 7):
        return DigestAlgorithm.SHA1
    return DigestAlgorithm.SHA256


def compute_digest(signed_part: bytes, algorithm: DigestAlgorithm) -> RequestDigest:
    # MD5 here is the protocol's integrity echo, not a security decision (§8.1).
    hasher, _ = _HASHES[algorithm]
    return RequestDigest(algorithm, hasher(signed_part).digest())


def encode_digest(d: RequestDigest) -> bytes:
    if d.algorithm == DigestAlgorithm.MD5_OLD_FORMAT:
        # The 0 "algorithm" byte is the first byte of an int4 length (§8.1 legacy form).
        return struct.pack(">I", len(d.digest)) + d.digest
    return bytes((d.algorithm,)) + d.digest


def pull_digest(reader: Reader) -> RequestDigest:
    if reader.remaining() >= 1 and reader.data[reader.pos] == 0:
        return RequestDigest(DigestAlgorithm.MD5_OLD_FORMAT, reader.counted_bytes(_LEGACY_MAX))
    algorithm = reader.u8()
    if algorithm not in _HASHES:
        raise MalformedField(f"unknown request digest algorithm {algorithm}")
    return RequestDigest(DigestAlgorithm(algorithm), reader.raw(_HASHES[algorithm][1]))


def push_digest(writer: Writer, d: RequestDigest) -> None:
    writer.raw(encode_digest(d))
