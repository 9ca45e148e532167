"""The ``resolver`` command: one sub-command per module in ``resolver.commands``.

Only this module and the command modules read argv and the environment; they build settings and hand them to
the code that runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from resolver.commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="resolver",
        description="Secondary node of the Industrial Internet Identifier Resolution system.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except BrokenPipeError:
        # `resolver ... | head` closed our stdout: not an error of ours. Point stdout at devnull so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by a broken pipe
    return code


if __name__ == "__main__":
    sys.exit(main())
