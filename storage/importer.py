"""NDJSON import: one ``{"handle": ..., "values": [...]}`` per line in the Handle REST value JSON
(http-apis.md §1.3). Streams in constant memory; bad lines are reported with their number and reason.
``strict`` validates the whole input first and writes nothing if any line is bad. ``homed`` (the prefixes
homed here) makes a line whose identifier's own prefix is not homed a bad line; None accepts any prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from storage.bulk import DEFAULT_BATCH, Encoded, put_encoded
from storage.ndjson import BadLine, check_homed, parse_line_encoded
from storage.parallel import import_parallel
from storage.redis_store import RedisStore

MAX_LISTED_BAD = 1000  # bad lines kept for the summary; all of them go to ``on_bad`` as they are found


@dataclass
class ImportReport:
    imported: int = 0
    bad_count: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)  # the first MAX_LISTED_BAD (line, reason)

    def note_bad(self, line_no: int, reason: str) -> None:
        self.bad_count += 1
        if len(self.bad) < MAX_LISTED_BAD:
            self.bad.append((line_no, reason))


def good_items(
    lines: Iterable[str | bytes], report: ImportReport, on_bad: Callable[[int, str], None],
    homed: frozenset[str] | None = None,
) -> Iterator[Encoded]:
    """(handle, record bytes) of each good line; each bad one goes to ``report`` and ``on_bad``."""
    for line_no, line in enumerate(lines, start=1):
        if not line or line.isspace():  # strip() would copy every line
            continue
        try:
            item = parse_line_encoded(line)
            check_homed(item[0], homed)
            yield item
        except BadLine as exc:
            report.note_bad(line_no, str(exc))
            on_bad(line_no, str(exc))


def validate(
    lines: Iterable[str | bytes], on_bad: Callable[[int, str], None], homed: frozenset[str] | None = None
) -> ImportReport:
    """The strict first pass: parse everything, write nothing."""
    report = ImportReport()
    for _ in good_items(lines, report, on_bad, homed):
        pass
    return report


async def import_lines(
    store: RedisStore,
    lines: Iterable[str | bytes],
    *,
    on_bad: Callable[[int, str], None],
    actor: str = "import",
    batch: int = DEFAULT_BATCH,
    workers: int = 1,
    homed: frozenset[str] | None = None,
) -> ImportReport:
    """Import good lines, report bad ones. ``workers`` > 1 parses and encodes in that many processes."""
    report = ImportReport()
    if workers > 1:
        await import_parallel(
            store, lines, report, on_bad, actor=actor, batch=batch, workers=workers, homed=homed
        )
    else:
        items = good_items(lines, report, on_bad, homed)
        report.imported = await put_encoded(store, items, actor=actor, batch=batch)
    return report
