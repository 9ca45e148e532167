"""`resolver status --data-dir DIR`: is the node there? ports.json, the workers' PIDs, and /readyz."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from resolver.health import fetch_readyz, pid_alive
from resolver.settings import SettingsError, add_setting_flags, load_settings
from resolver.supervisor import PORTS_FILE


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("status", help="show the node's status")
    parser.add_argument("--config", default=None)
    add_setting_flags(parser, ("data_dir",))
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(vars(args), os.environ, args.config)
    except SettingsError as exc:
        print(f"resolver status: {exc}", file=sys.stderr)
        return 2
    path: Path = settings.data_dir / PORTS_FILE
    try:
        ports: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        print(f"not running (no {path})")
        return 1
    alive = [pid for pid in ports["workers"] if pid_alive(pid)]
    up = pid_alive(ports["pid"])
    print(f"supervisor pid {ports['pid']}: {'running' if up else 'GONE'}")
    print(f"handle port {ports['handle_port']} (TCP+UDP), HTTP port {ports['http_port']}")
    if "metrics_port" in ports:  # ops work: --metrics-listen
        print(f"metrics port {ports['metrics_port']} (/metrics, /healthz, /readyz)")
    print(f"workers: {len(alive)}/{len(ports['workers'])} alive {ports['workers']}")
    try:
        status, body = fetch_readyz(f"http://127.0.0.1:{ports['http_port']}")
    except ValueError:  # a node without the ops routes answers /readyz with something else than JSON
        status, body = -1, {}
    if status > 0:
        print(f"/readyz: HTTP {status} {json.dumps(body)}")
        for name, check in sorted(body.get("checks", {}).items()):  # ops work: one line per check
            print(f"  {name}: {'ok' if check.get('ok') else 'FAILED'} {check.get('detail', '')}".rstrip())
    else:
        print("/readyz: not available" if status < 0 else "/readyz: no answer")
    healthy = up and len(alive) == len(ports["workers"]) and status in (200, -1)
    return 0 if healthy else 1
