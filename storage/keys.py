"""The Redis key layout: the only module that knows key names.

* ``meta`` (hash): ``format`` and ``buckets``, written once by the first node so every node agrees.
* ``r:<bucket>`` (hash): identifier records. Bucket = CRC-32 of the canonical handle modulo ``buckets``; field
  = the handle, value = ``storage.records`` bytes. Many small hashes stay in Redis's compact ziplist/listpack
  encoding, which costs a few bytes per entry instead of ~70+ for a key per identifier (issue 3 "Memory").
  Bucket keys carry no hash tag, so on a cluster they spread over all slots; each write touches one key.
* ``px`` (hash): the prefix registry, field = canonical prefix, value = packed [status, tenant, record].
* ``d:{<kind>}:<key>`` (string, optional TTL) and ``d:{<kind>}`` (set of keys): documents. The hash tag
  keeps a document and its kind's index in one slot so one script updates both on a cluster.
* ``chg`` (stream): the capped change feed; ``inv`` (pub/sub channel): invalidations.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Final

META = "meta"
RECORD_PREFIX: Final = "r:"
PREFIXES = "px"
CHANGES = "chg"
INVALIDATIONS = "inv"
CHANGES_MAXLEN = 100_000  # entries kept in the change stream (approximate trimming)


def bucket_of(handle: str, buckets: int) -> int:
    # CRC-32 is stable across processes and languages (unlike hash()), so every node picks the same bucket.
    return zlib.crc32(handle.encode()) % buckets


def bucket_key(bucket: int) -> str:
    return f"{RECORD_PREFIX}{bucket:x}"


def record_key(handle: str, buckets: int) -> str:
    return bucket_key(bucket_of(handle, buckets))


def record_field(handle: str) -> bytes:
    return handle.encode()


# Final names: compiled (setup.py), each is read from a C static, not looked up in the module per use.
# bucket -> bucket_key(bucket); at most one per bucket (16,384 by default)
_BUCKET_NAMES: Final[dict[int, str]] = {}


def record_locations(handles: Sequence[str], buckets: int) -> tuple[list[str], list[bytes]]:
    """``record_key`` and ``record_field`` of each handle, for a batch of reads (issue 4: this runs for every
    cache miss): each handle encoded once, each bucket's name formatted once per process."""
    fields = [handle.encode() for handle in handles]
    names = _BUCKET_NAMES
    bucket_keys = []
    for field in fields:
        bucket = zlib.crc32(field) % buckets  # bucket_of
        name = names.get(bucket)
        if name is None:
            name = names[bucket] = bucket_key(bucket)
        bucket_keys.append(name)
    return bucket_keys, fields


def doc_key(kind: str, key: str) -> str:
    _check_kind(kind)
    return f"d:{{{kind}}}:{key}"


def doc_index(kind: str) -> str:
    _check_kind(kind)
    return f"d:{{{kind}}}"


def _check_kind(kind: str) -> None:
    # A brace or colon in a kind would move the hash tag or collide with another kind's keys.
    if not kind or any(c in kind for c in "{}:"):
        raise ValueError(f"bad document kind {kind!r}")


def invalidation_message(kind: str, key: str, at_ms: int = 0) -> bytes:
    """Channel payload ``<kind>\\x00<key>`` (kind: handle, prefix, all), then ``\\x00<at_ms>`` when the commit
    time is known (ops work: change-feed lag; keys never contain NUL, protocol.handle rejects C0 controls)."""
    text = f"{kind}\x00{key}\x00{at_ms}" if at_ms else f"{kind}\x00{key}"
    return text.encode()


BATCH_KIND: Final = "handles"  # internal: many handles in one message, split by the subscriber


def batch_invalidation_message(handles: list[str]) -> bytes:
    # Handles never contain C0 controls (protocol.handle rejects them), so "\n" separates them safely.
    return invalidation_message(BATCH_KIND, "\n".join(handles))


def parse_invalidation(payload: bytes) -> tuple[str, str]:
    kind, key, _at_ms = parse_invalidation_at(payload)
    return kind, key


def parse_invalidation_at(payload: bytes) -> tuple[str, str, int]:
    """``(kind, key, at_ms)``; at_ms 0 when the message does not carry it."""
    kind, _, rest = payload.decode(errors="replace").partition("\x00")
    key, sep, at = rest.rpartition("\x00")
    if sep and at.isdigit():
        return kind, key, int(at)
    return kind, rest, 0
