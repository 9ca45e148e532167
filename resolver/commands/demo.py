"""`resolver demo`: start a node on the embedded Redis with a demo prefix and identifiers."""

from __future__ import annotations

from typing import Any

from resolver.commands._stub import register_stub


def register(sub: Any) -> None:
    register_stub(sub, "demo", "start a node on the embedded Redis with a demo prefix and identifiers")
