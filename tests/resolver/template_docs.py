"""The v5 template document the template tests share (http-apis.md §2.5): prefix 88.1000.1, version 1.0,
a required ``name`` item (index 2000) and an optional ``model`` item (index 2001)."""

from __future__ import annotations

from typing import Any


def template_obj(**overrides: Any) -> dict[str, Any]:
    """A fresh copy of the document, with top-level fields replaced by ``overrides``."""
    obj: dict[str, Any] = {
        "prefix": "88.1000.1",
        "version": "1.0",
        "industryCategory": "C",
        "industrySpecific": "34",
        "industryTrade": "344",
        "industrySubclass": "3441",
        "type": 2,
        "items": [
            {
                "name": "名称",
                "idType": "name",
                "idIndex": "2000",
                "required": True,
                "metadata": {"type": "string", "minLength": 1, "maxLength": 20},
            },
            {
                "name": "型号",
                "idType": "model",
                "idIndex": 2001,
                "metadata": {"type": "string", "minLength": 0, "maxLength": 5},
            },
        ],
    }
    obj.update(overrides)
    return obj
