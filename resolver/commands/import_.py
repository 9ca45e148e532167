"""`resolver import FILE`: import identifiers from NDJSON (``-`` for stdin).

Only identifiers whose own prefix is homed here are imported (the node answers for no others,
handle-protocol.md §9 step 3); the rest are bad lines unless ``--allow-unhomed`` is given (an operator tool,
e.g. loading records before their prefix is homed).

Exit codes: 0 all lines imported, 1 some bad lines (the good ones were written), 2 ``--strict`` abort or a
usage / storage error.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from contextlib import ExitStack
from typing import IO, Any

from resolver.cgroup import usable_cpus
from resolver.commands._storage_args import add_storage_args, storage_config
from storage import open_store
from storage.api import PrefixStatus, StorageError
from storage.importer import import_lines, validate


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("import", help="import identifiers from NDJSON")
    parser.add_argument("file", help="NDJSON file, or - for stdin")
    parser.add_argument("--strict", action="store_true", help="write nothing if any line is bad")
    parser.add_argument("--batch", type=int, default=1000, help="identifiers per write batch")
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="processes that parse lines (default %(default)s: one per CPU, at most 4); 1: in this process",
    )
    parser.add_argument(
        "--allow-unhomed", action="store_true", help="also import identifiers whose prefix is not homed here"
    )
    add_storage_args(parser)
    parser.set_defaults(run=run)


MAX_DEFAULT_WORKERS = 4  # past this the one writing process and Redis's single thread set the pace


def default_workers() -> int:
    """One parsing process per CPU: parsing is ~3/4 of an import's CPU (loadtest.storagebench), and the
    writer and Redis each need a fraction of a core beside them."""
    return min(MAX_DEFAULT_WORKERS, usable_cpus())


def _report_bad(line_no: int, reason: str) -> None:
    print(f"line {line_no}: {reason}", file=sys.stderr)


def _open_input(args: argparse.Namespace, stack: ExitStack) -> IO[bytes]:
    if args.file != "-":
        return stack.enter_context(open(args.file, "rb"))
    if not args.strict:
        return sys.stdin.buffer
    # --strict reads its input twice: spool stdin to disk (constant memory).
    spool = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 - closed by the stack
    shutil.copyfileobj(sys.stdin.buffer, spool)
    spool.seek(0)
    return spool


def run(args: argparse.Namespace) -> int:
    try:
        with ExitStack() as stack:
            source = _open_input(args, stack)
            if args.strict:
                checked = validate(source, _report_bad)
                if checked.bad_count:
                    print(f"--strict: {checked.bad_count} bad line(s); nothing written", file=sys.stderr)
                    return 2
                source.seek(0)
            return asyncio.run(_import(args, source))
    except (OSError, StorageError) as exc:
        print(f"resolver import: {exc}", file=sys.stderr)
        return 2


async def _import(args: argparse.Namespace, source: IO[bytes]) -> int:
    store = await open_store(storage_config(args))
    try:
        homed = None
        if not args.allow_unhomed:
            homed = frozenset(p.prefix for p in await store.list_prefixes() if p.status is PrefixStatus.HOMED)
        if args.strict and homed is not None:  # a second pass for the prefixes (the input is a file here)
            if validate(source, _report_bad, homed).bad_count:
                print("--strict: identifiers under prefixes not homed here; nothing written", file=sys.stderr)
                return 2
            source.seek(0)
        report = await import_lines(
            store, source, on_bad=_report_bad, batch=args.batch, workers=args.workers, homed=homed
        )
    finally:
        await store.aclose()
    print(f"imported {report.imported}, bad lines {report.bad_count}", file=sys.stderr)
    return 1 if report.bad_count else 0
