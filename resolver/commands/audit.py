"""`resolver audit tail`: the latest writes from the audit stream (actor, operation, target, time, result)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from resolver.audit import entry_json, entry_line
from resolver.commands._admin_session import add_flags, run_async
from resolver.http.write_ctx import WriteContext

FOLLOW_POLL_S = 0.5
PAGE = 1_000


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("audit", help="show the audit stream of writes")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    tail = actions.add_parser("tail", help="print the latest entries")
    tail.add_argument("-n", "--count", type=int, default=20, help="entries to show (default 20)")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new entries (Ctrl-C stops)")
    add_flags(tail)
    tail.set_defaults(run=_tail)


async def _latest(ctx: WriteContext, count: int) -> tuple[list[Any], str]:
    """The last ``count`` entries: the stream is read forward in pages, keeping a bounded window."""
    window: list[Any] = []
    after = "0"
    while True:
        page = await ctx.store.read_changes(after, PAGE)
        if not page:
            return window[-count:] if count > 0 else [], after
        window = (window + page)[-max(count, 1) :]
        after = page[-1].id


def _tail(args: argparse.Namespace) -> int:
    async def body(ctx: WriteContext) -> Any:
        entries, after = await _latest(ctx, args.count)
        if not args.follow:
            return [entry_json(e) for e in entries] if args.json else [entry_line(e) for e in entries]
        for entry in entries:
            print(entry_line(entry), flush=True)
        while True:  # until Ctrl-C: an operator's terminal tool
            page = await ctx.store.read_changes(after, PAGE)
            for entry in page:
                print(entry_line(entry), flush=True)
            after = page[-1].id if page else after
            if not page:
                await asyncio.sleep(FOLLOW_POLL_S)

    return run_async("audit tail", body, args)
