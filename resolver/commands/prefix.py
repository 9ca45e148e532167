"""`resolver prefix add|remove|list`: the prefixes this node is home for (or delegates to enterprise nodes).

Works against the same store as ``serve`` (``--data-dir`` / ``--redis-url``); with the embedded Redis it
uses the running node's server or starts one for the command (storage/embedded.py). Running workers see the
change through the change feed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any

from protocol.errors import ProtocolError
from protocol.handle import parse_identifier
from protocol.values import HandleValue
from resolver.demo_data import site_value
from resolver.settings import Settings, SettingsError, add_setting_flags, load_settings, parse_address
from storage import open_store
from storage.api import PrefixRecord, PrefixStatus, StorageError

_ACTOR = "cli"


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("prefix", help="manage homed and delegated prefixes")
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="home a prefix here, or delegate it with --delegate-to")
    add.add_argument("prefix")
    add.add_argument("--tenant", default=None)
    add.add_argument("--delegate-to", action="append", default=[], metavar="HOST:PORT",
                     help="enterprise node serving the prefix (repeatable): the prefix becomes delegated")
    add.add_argument("--site", default=None, metavar="HOST:PORT",
                     help="this node's public Handle address, published as HS_SITE in 0.NA/<prefix>")
    remove = actions.add_parser("remove", help="forget a prefix")
    remove.add_argument("prefix")
    listing = actions.add_parser("list", help="list known prefixes")
    for p in (add, remove, listing):
        p.add_argument("--config", default=None)
        add_setting_flags(p, ("redis_url", "data_dir"))
    parser.set_defaults(run=run)


def _record(args: argparse.Namespace, prefix: str) -> PrefixRecord:
    if args.delegate_to:
        values = tuple(
            site_value(i, a.host, a.port, "HS_SITE.PREFIX")
            for i, a in enumerate(map(parse_address, args.delegate_to), start=1)
        )
        return PrefixRecord(prefix, PrefixStatus.DELEGATED, args.tenant, values)
    site: tuple[HandleValue, ...] = ()
    if args.site:
        address = parse_address(args.site)
        site = (site_value(1, address.host, address.port),)
    return PrefixRecord(prefix, PrefixStatus.HOMED, args.tenant, site)


async def _act(args: argparse.Namespace, settings: Settings) -> int:
    store = await open_store(settings.storage)
    try:
        if args.action == "list":
            for rec in await store.list_prefixes():
                print(f"{rec.prefix}\t{rec.status}\t{rec.tenant or '-'}\t{len(rec.values)} values")
            return 0
        prefix = parse_identifier(args.prefix).naming_prefix
        if args.action == "add":
            await store.put_prefix(_record(args, prefix), actor=_ACTOR)
            print(f"{prefix}: {'delegated' if args.delegate_to else 'homed'}")
            return 0
        if await store.remove_prefix(prefix, actor=_ACTOR):
            print(f"{prefix}: removed")
            return 0
        print(f"{prefix}: not known", file=sys.stderr)
        return 1
    finally:
        await store.aclose()


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(vars(args), os.environ, args.config)
        return asyncio.run(_act(args, settings))
    except (SettingsError, ProtocolError, StorageError) as exc:
        print(f"resolver prefix: {exc}", file=sys.stderr)
        return 2
