"""Opening the store and the write context for the admin commands (tenant, token, audit)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from resolver.auth.tenants import TenantError
from resolver.commands.serve import add_common_flags, settings_from_args
from resolver.http.write_ctx import WriteContext, build_context
from resolver.settings import SettingsError
from storage.api import StorageError
from storage.open import open_store

OPERATOR_ACTOR = "operator:cli"


def add_flags(parser: argparse.ArgumentParser) -> None:
    add_common_flags(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")


@contextlib.asynccontextmanager
async def session(args: argparse.Namespace) -> AsyncIterator[WriteContext]:
    settings = settings_from_args(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = await open_store(settings.storage)
    try:
        yield build_context(store, settings)
    finally:
        await store.aclose()


def run_async(name: str, body: Callable[[WriteContext], Awaitable[Any]], args: argparse.Namespace) -> int:
    """Run ``body`` in a session and print its result (JSON with --json); errors go to stderr, exit 1/2."""

    async def main() -> Any:
        async with session(args) as ctx:
            return await body(ctx)

    try:
        result = asyncio.run(main())
    except SettingsError as exc:
        print(f"resolver {name}: {exc}", file=sys.stderr)
        return 2
    except (TenantError, StorageError, ValueError, OSError) as exc:
        print(f"resolver {name}: {exc}", file=sys.stderr)
        return 1
    emit(result, as_json=args.json)
    return 0


def emit(result: Any, *, as_json: bool) -> None:
    if result is None:
        return
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    elif isinstance(result, list):
        for row in result:
            print(row if isinstance(row, str) else json.dumps(row, ensure_ascii=False))
    elif isinstance(result, dict):
        for key, value in result.items():
            print(f"{key}: {value}")
    else:
        print(result)
