"""Index / type filters and public-only selection of handle values (handle-protocol.md §9).

Rules of TI ``core/Util.java`` ``filterValues`` / ``isParentTypeInArray``: both lists empty gives all values;
otherwise a value is kept when its index is listed **or** its type matches a listed type. Types compare ASCII
case-insensitively, and a query type ending in ``.`` also matches every type that starts with it and the type
without the dot (``HS_SITE.`` matches ``HS_SITE``, ``HS_SITE.6`` and ``HS_SITE.PREFIX``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from protocol.constants import Permission
from protocol.handle import ascii_upper
from protocol.values import HandleValue

__all__ = ["TypeMatcher", "public_only", "select_values"]


class TypeMatcher:
    """A precompiled type list: exact names in a set, dotted parents as a tuple for ``startswith``."""

    __slots__ = ("_exact", "_parents")

    def __init__(self, types: Iterable[str]) -> None:
        exact: set[str] = set()
        parents: list[str] = []
        for query in types:
            upper = ascii_upper(query)
            if upper.endswith("."):
                exact.add(upper[:-1])
                parents.append(upper)
            else:
                exact.add(upper)
        self._exact = frozenset(exact)
        self._parents = tuple(parents)

    @property
    def empty(self) -> bool:
        return not self._exact

    def matches(self, value_type: str) -> bool:
        upper = ascii_upper(value_type)
        return upper in self._exact or (bool(self._parents) and upper.startswith(self._parents))


def select_values(
    values: Sequence[HandleValue], indexes: Iterable[int], types: Iterable[str]
) -> tuple[HandleValue, ...]:
    """The values a resolution request with IndexList ``indexes`` and TypeList ``types`` asks for."""
    wanted = frozenset(indexes)
    matcher = TypeMatcher(types)
    if not wanted and matcher.empty:
        return tuple(values)
    return tuple(v for v in values if v.index in wanted or matcher.matches(v.type))


def public_only(values: Iterable[HandleValue]) -> tuple[HandleValue, ...]:
    """Drop values without PUBLIC_READ (the PO flag, TI ``core/Util.java`` ``filterOnlyPublicValues``)."""
    return tuple(v for v in values if v.permissions & Permission.PUBLIC_READ)
