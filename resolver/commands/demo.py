"""`resolver demo`: a node on the embedded Redis in ./var with the demo prefix 88.100.1 and a few identifiers.

It prints the exact commands and URLs to try, then runs until Ctrl-C (``make run``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from resolver.commands.serve import add_common_flags, serve_node, settings_from_args
from resolver.demo_data import DELEGATED_PREFIX, DEMO_PREFIX, load_demo
from resolver.settings import Settings, SettingsError
from resolver.worker import WorkerSockets
from storage import open_store


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "demo", help="start a node on the embedded Redis with a demo prefix and identifiers"
    )
    add_common_flags(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
    except SettingsError as exc:
        print(f"resolver demo: {exc}", file=sys.stderr)
        return 2
    return serve_node(settings, print_tour, _load)


def _load(settings: Settings, sockets: WorkerSockets) -> None:
    async def load() -> None:
        store = await open_store(settings.storage)
        try:
            await load_demo(store, sockets.tcp.getsockname()[1])
        finally:
            await store.aclose()

    asyncio.run(load())


def print_tour(ports: dict[str, object]) -> None:
    hp, wp = ports["handle_port"], ports["http_port"]
    server, web = f"127.0.0.1:{hp}", f"http://127.0.0.1:{wp}"
    p = DEMO_PREFIX
    print(f"""
idnode demo is running (pid {ports['pid']}, workers {ports['workers']}). Ctrl-C stops it.
Homed prefix {p}; {DELEGATED_PREFIX} is delegated to an enterprise node (answers RC 303).

Handle protocol (TCP and UDP port {hp}):
  resolver resolve {p}/demo-url --server {server}
  resolver resolve {p}/demo-url --server {server} --tcp --type URL
  resolver resolve {p}/demo-big --server {server} --udp      # > 492 bytes: fragmented UDP answer
  resolver resolve {p}/demo-private --server {server}        # the non-public value is not returned
  resolver resolve {p}/missing --server {server}             # RC 100
  resolver resolve {DELEGATED_PREFIX}/x --server {server}               # RC 303 referral
  resolver resolve 0.NA/{p} --server {server}                # the prefix record

HTTP (port {wp}):
  curl -s '{web}/api/handles/{p}/demo-url?pretty'
  curl -si '{web}/{p}/demo-url'                  # 302 to the URL value (what a QR code scan does)
  open {web}/{p}/demo-text                       # an HTML page of a record without URL
  curl -s -H 'Accept: application/json' '{web}/{p}/demo-text'
  curl -si '{web}/{p}/%E4%BA%A7%E5%93%81-001'     # a UTF-8 identifier
  curl -s '{web}/api/prefixes'
""", flush=True)
