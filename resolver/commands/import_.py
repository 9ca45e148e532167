"""`resolver import`: import identifiers from NDJSON."""

from __future__ import annotations

from typing import Any

from resolver.commands._stub import register_stub


def register(sub: Any) -> None:
    register_stub(sub, "import", "import identifiers from NDJSON")
