"""`resolver prefix`: manage prefixes homed on or delegated from this node."""

from __future__ import annotations

from typing import Any

from resolver.commands._stub import register_stub


def register(sub: Any) -> None:
    register_stub(sub, "prefix", "manage prefixes homed on or delegated from this node")
