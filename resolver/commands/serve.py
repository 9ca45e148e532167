"""`resolver serve`: run the node: Handle TCP/UDP and HTTP workers."""

from __future__ import annotations

from typing import Any

from resolver.commands._stub import register_stub


def register(sub: Any) -> None:
    register_stub(sub, "serve", "run the node: Handle TCP/UDP and HTTP workers")
