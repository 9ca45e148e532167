"""The prefix registry a worker answers from: every PrefixRecord, loaded at start and on PREFIX changes.

Routing an identifier means finding the longest known prefix in its chain (``88.100.1.7`` -> ``88.100.1`` ->
``88.100`` -> ``88``): homed prefixes are answered here, delegated ones are referred (handle-protocol.md §13).
"""

from __future__ import annotations

from collections.abc import Iterable

from protocol.handle import prefix_chain
from storage.api import PrefixRecord


class PrefixRegistry:
    """Known prefixes by canonical form. Replaced wholesale: prefix changes are rare."""

    __slots__ = ("_records",)

    def __init__(self, records: Iterable[PrefixRecord] = ()) -> None:
        self._records: dict[str, PrefixRecord] = {r.prefix: r for r in records}

    def __len__(self) -> int:
        return len(self._records)

    def replace_all(self, records: Iterable[PrefixRecord]) -> None:
        self._records = {r.prefix: r for r in records}

    def get(self, prefix: str) -> PrefixRecord | None:
        return self._records.get(prefix)

    def route(self, prefix: str) -> PrefixRecord | None:
        """The longest known prefix of ``prefix`` (itself included), or None when the node knows none."""
        records = self._records
        if prefix in records:
            return records[prefix]
        for candidate in prefix_chain(prefix)[1:]:
            record = records.get(candidate)
            if record is not None:
                return record
        return None

    def records(self) -> list[PrefixRecord]:
        return sorted(self._records.values(), key=lambda r: r.prefix)
