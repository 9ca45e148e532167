"""`resolver resolve`: resolve an identifier against a node, like qresolve."""

from __future__ import annotations

from typing import Any

from resolver.commands._stub import register_stub


def register(sub: Any) -> None:
    register_stub(sub, "resolve", "resolve an identifier against a node, like qresolve")
