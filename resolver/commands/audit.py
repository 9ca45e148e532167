"""`resolver audit`: show the audit stream of writes."""

from __future__ import annotations

from typing import Any

from resolver.commands._stub import register_stub


def register(sub: Any) -> None:
    register_stub(sub, "audit", "show the audit stream of writes")
