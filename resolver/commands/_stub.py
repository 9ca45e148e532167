"""A placeholder for a sub-command whose issue has not landed yet."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register_stub(sub: Any, name: str, help_text: str) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=f"{help_text} (not yet available)")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(run=lambda _args: _not_yet(name))


def _not_yet(name: str) -> int:
    print(f"resolver {name}: not implemented yet", file=sys.stderr)
    return 2
