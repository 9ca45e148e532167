"""Identifiers: parsing, the rules they must follow and their canonical lookup key (domain.md §3).

A handle is ``<prefix>/<suffix>``; a slashless identifier means the prefix handle ``0.NA/<it>``
(handle-protocol.md §9 step 1, §13). The lookup key upper-cases ASCII ``a``-``z`` in the prefix only and keeps
the suffix byte-exact; a handle whose prefix starts with ``0.`` is upper-cased whole (domain.md §3.2, TI
``core/Util.java`` ``upperCasePrefix``). An empty suffix (``88.1/``) is rejected: no implementation creates
such handles and accepting it would give ``88.1/`` and ``0.NA/88.1`` two different meanings.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, fields
from typing import Any, Final

from protocol.constants import MAX_HANDLE_LENGTH
from protocol.errors import InvalidHandle

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_HANDLE_LENGTH",
    "PREFIX_HANDLE_PREFIX",
    "Identifier",
    "IdentifierLimits",
    "ascii_upper",
    "canonical_prefix",
    "parent_prefix",
    "parse_identifier",
    "parse_identifier_bytes",
    "prefix_chain",
    "prefix_handle",
    "server_index",
]

PREFIX_HANDLE_PREFIX: Final = "0.NA"  # domain.md §3.1: the prefix handle of P is 0.NA/P

# C0 controls, DEL and C1 controls never appear in identifiers; they would corrupt logs and JSON echoes.
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")
# str.upper() would also map non-ASCII (``ß`` -> ``SS``); the CNRI code upper-cases ASCII bytes only (§13.1).
_ASCII_UPPER: Final = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}


@dataclass(frozen=True, slots=True)
class IdentifierLimits:
    """Configurable identifier limits; defaults from the SNMS API (domain.md §3.4)."""

    max_length: int = 255  # characters, GUIDE dev-tools/snms/v5/handle-operate.md
    max_prefix_length: int = 64  # characters, GUIDE dev-tools/snms/v5/template.md


DEFAULT_LIMITS: Final = IdentifierLimits()


@dataclass(frozen=True, slots=True)
class Identifier:
    """A parsed identifier. ``text`` and ``prefix`` keep the spelling given, for echoing in answers."""

    text: str
    prefix: str
    suffix: str | None
    key: str
    is_prefix_handle: bool
    naming_prefix: str


# Slot setters of Identifier's fields, in order: ``_identifier`` builds one at a third of the frozen
# dataclass __init__'s cost (one object.__setattr__ per field), for the per-request parse (issue 4).
_ID_SETTERS: tuple[Any, ...] = tuple(getattr(Identifier, f.name).__set__ for f in fields(Identifier))
if len(_ID_SETTERS) != 6:  # _identifier below sets exactly these six fields
    raise RuntimeError("Identifier changed: update protocol.handle._identifier")
# Final, one a line: compiled (setup.py), a Final name is a C static, any other a module-dict lookup.
_set_text: Final = _ID_SETTERS[0]
_set_prefix: Final = _ID_SETTERS[1]
_set_suffix: Final = _ID_SETTERS[2]
_set_key: Final = _ID_SETTERS[3]
_set_is_prefix_handle: Final = _ID_SETTERS[4]
_set_naming_prefix: Final = _ID_SETTERS[5]
_new_object: Final = Identifier.__new__  # object.__new__, or a compiled Identifier's allocator (setup.py)


def _identifier(
    text: str, prefix: str, suffix: str | None, key: str, is_prefix_handle: bool, naming_prefix: str
) -> Identifier:
    """``Identifier(...)`` with every field given, without the frozen ``__init__``."""
    ident: Identifier = _new_object(Identifier)
    _set_text(ident, text)
    _set_prefix(ident, prefix)
    _set_suffix(ident, suffix)
    _set_key(ident, key)
    _set_is_prefix_handle(ident, is_prefix_handle)
    _set_naming_prefix(ident, naming_prefix)
    return ident


def ascii_upper(text: str) -> str:
    """Upper-case ASCII ``a``-``z`` only (CNRI byte semantics)."""
    return text.upper() if text.isascii() else text.translate(_ASCII_UPPER)


def canonical_prefix(prefix: str) -> str:
    """The lookup form of a prefix: ASCII upper-cased (domain.md §3.2)."""
    return ascii_upper(prefix)


def prefix_handle(prefix: str) -> str:
    """``0.NA/<prefix>``, the handle that holds a prefix's service information (§13)."""
    return f"{PREFIX_HANDLE_PREFIX}/{prefix}"


def parent_prefix(prefix: str) -> str | None:
    """Drop the last dot segment: ``88.1000.1`` -> ``88.1000``; None for a top-level prefix (§13 step 4)."""
    cut = prefix.rfind(".")
    return prefix[:cut] if cut > 0 else None


def prefix_chain(prefix: str) -> tuple[str, ...]:
    """The prefix and its ancestors, longest first: ``88.1.2`` -> (``88.1.2``, ``88.1``, ``88``)."""
    chain = [prefix]
    cut = prefix.rfind(".")
    while cut > 0:
        chain.append(prefix[:cut])
        cut = prefix.rfind(".", 0, cut)
    return tuple(chain)


def parse_identifier_bytes(raw: bytes, limits: IdentifierLimits = DEFAULT_LIMITS) -> Identifier:
    """Parse a handle as received on the wire (UTF-8)."""
    if len(raw) > MAX_HANDLE_LENGTH:
        raise InvalidHandle(f"identifier too long: {len(raw)} bytes > {MAX_HANDLE_LENGTH}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidHandle(f"identifier is not valid UTF-8 at byte {exc.start}") from None
    return _parse(text, limits)


def parse_identifier(text: str, limits: IdentifierLimits = DEFAULT_LIMITS) -> Identifier:
    """Parse a handle given as text (REST path, configuration)."""
    size = len(text)
    if not text.isascii():
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidHandle("identifier contains a lone surrogate (not encodable as UTF-8)") from None
    if size > MAX_HANDLE_LENGTH:
        raise InvalidHandle(f"identifier too long: {size} bytes > {MAX_HANDLE_LENGTH}")
    return _parse(text, limits)


def _parse(text: str, limits: IdentifierLimits) -> Identifier:
    if not text:
        raise InvalidHandle("identifier is empty")
    if len(text) > limits.max_length:
        raise InvalidHandle(f"identifier too long: {len(text)} characters > {limits.max_length}")
    # isprintable() is the fast path; it also refuses harmless format characters, so confirm with the regex.
    if not text.isprintable() and _CONTROL.search(text) is not None:
        raise InvalidHandle("identifier contains a control character")
    prefix, slash, suffix = text.partition("/")
    if not slash:
        # §9 step 1: a slashless identifier is the prefix handle 0.NA/<it>.
        named = _check_prefix(text, limits)
        return _identifier(text, PREFIX_HANDLE_PREFIX, text, f"0.NA/{named}", True, named)
    if not suffix:
        raise InvalidHandle("suffix is empty after '/'")
    canon = _check_prefix(prefix, limits)
    if canon == PREFIX_HANDLE_PREFIX:
        named = _check_prefix(suffix, limits)
        return _identifier(text, prefix, suffix, f"0.NA/{named}", True, named)
    if canon.startswith("0."):
        # domain.md §3.2: handles under the global 0.* prefixes are compared upper-cased whole.
        return _identifier(text, prefix, suffix, ascii_upper(text), False, canon)
    return _identifier(text, prefix, suffix, f"{canon}/{suffix}", False, canon)


def _check_prefix(prefix: str, limits: IdentifierLimits) -> str:
    """Validate a prefix and return its canonical form."""
    if not prefix:
        raise InvalidHandle("prefix is empty")
    if len(prefix) > limits.max_prefix_length:
        raise InvalidHandle(f"prefix too long: {len(prefix)} characters > {limits.max_prefix_length}")
    if prefix[0] == "." or prefix[-1] == "." or ".." in prefix:
        raise InvalidHandle(f"prefix has an empty dot segment: {prefix!r}")
    return ascii_upper(prefix)


def server_index(handle: str | bytes, hash_option: int, server_count: int) -> int:
    """The server of a site that is responsible for ``handle`` (handle-protocol.md §13.1).

    Hash option 0 hashes the prefix, 1 the suffix, anything else the whole handle (2 is the default); a
    slashless handle is hashed whole. The Java ``Math.abs(Integer.MIN_VALUE)`` quirk is not reproduced.
    """
    if server_count <= 0:
        raise ValueError("server_count must be positive")
    raw = handle.encode("utf-8") if isinstance(handle, str) else handle
    prefix, slash, suffix = raw.partition(b"/")
    part = raw
    if slash and hash_option == 0:
        part = prefix
    elif slash and hash_option == 1:
        part = suffix
    digest = hashlib.md5(part.upper(), usedforsecurity=False).digest()
    return abs(int.from_bytes(digest[-4:], "big", signed=True)) % server_count
