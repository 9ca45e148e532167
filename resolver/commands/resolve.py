"""`resolver resolve HANDLE --server HOST:PORT [--udp | --tcp | --http]`: like the Handle tools' qresolve."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from protocol.errors import ProtocolError
from resolver.client import format_json, format_message, resolve_http, resolve_tcp, resolve_udp
from resolver.settings import SettingsError, parse_address


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "resolve", help="resolve an identifier against a node and print the record and response code"
    )
    parser.add_argument("handle")
    parser.add_argument("--server", default="127.0.0.1:2641",
                        help="HOST:PORT of the Handle port (or of the HTTP port with --http)")
    transport = parser.add_mutually_exclusive_group()
    transport.add_argument("--udp", dest="transport", action="store_const", const="udp")
    transport.add_argument("--tcp", dest="transport", action="store_const", const="tcp")
    transport.add_argument("--http", dest="transport", action="store_const", const="http")
    parser.add_argument("--type", dest="types", action="append", default=[], help="value type (repeatable)")
    parser.add_argument("--index", dest="indexes", action="append", type=int, default=[],
                        help="value index (repeatable)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer")
    parser.set_defaults(run=run, transport="udp")


async def _resolve(args: argparse.Namespace, host: str, port: int) -> tuple[str, int]:
    """(printed text, response code)."""
    if args.transport == "http":
        status, body = await resolve_http(host, port, args.handle, args.indexes, args.types, args.timeout)
        return format_json(status, body), int(body.get("responseCode", 0))
    resolve = resolve_tcp if args.transport == "tcp" else resolve_udp
    message = await resolve(host, port, args.handle, args.indexes, args.types, args.timeout)
    return format_message(message), int(message.header.response_code)


def run(args: argparse.Namespace) -> int:
    try:
        address = parse_address(args.server)
        text, code = asyncio.run(_resolve(args, address.host, address.port))
    except (SettingsError, ProtocolError, OSError, TimeoutError) as exc:
        print(f"resolver resolve: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(text)
    return 0 if code == 1 else 1
