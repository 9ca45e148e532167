"""`resolver export FILE`: export identifiers to NDJSON (``-`` for stdout), optionally under one prefix."""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import ExitStack
from typing import IO, Any

from protocol.handle import canonical_prefix
from resolver.commands._storage_args import add_storage_args, storage_config
from storage import open_store
from storage.api import StorageError
from storage.exporter import export_lines


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("export", help="export identifiers to NDJSON")
    parser.add_argument("file", help="output file, or - for stdout")
    parser.add_argument("--prefix", default=None, help="only identifiers under this prefix")
    add_storage_args(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        with ExitStack() as stack:
            out: IO[str] = sys.stdout
            if args.file != "-":
                out = stack.enter_context(open(args.file, "w", encoding="utf-8"))
            count = asyncio.run(_export(args, out))
    except (OSError, StorageError) as exc:
        print(f"resolver export: {exc}", file=sys.stderr)
        return 2
    print(f"exported {count}", file=sys.stderr)
    return 0


async def _export(args: argparse.Namespace, out: IO[str]) -> int:
    store = await open_store(storage_config(args))
    try:
        prefix = None if args.prefix is None else canonical_prefix(args.prefix)
        return await export_lines(store, out.write, prefix)
    finally:
        await store.aclose()
