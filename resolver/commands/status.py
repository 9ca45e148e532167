"""`resolver status`: show the node's status."""

from __future__ import annotations

from typing import Any

from resolver.commands._stub import register_stub


def register(sub: Any) -> None:
    register_stub(sub, "status", "show the node's status")
