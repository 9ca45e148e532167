"""Options shared by the commands that open the store directly (import, export)."""

from __future__ import annotations

import argparse
from pathlib import Path

from storage.api import StorageConfig


def add_storage_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, default=Path("var"), help="data directory (default ./var)")
    parser.add_argument("--redis-url", default=None, help="Redis URL; default: the embedded redis-server")


def storage_config(args: argparse.Namespace) -> StorageConfig:
    return StorageConfig(redis_url=args.redis_url, data_dir=args.data_dir)
