"""Strict readers for JSON input: each failure is an ``InvalidValue`` naming the field's path.

Shared by ``protocol.jsonfmt`` and ``protocol.jsondata``. Unknown members are the caller's to ignore; a known
member with the wrong JSON type is always an error (http-apis.md §1.3).
"""

from __future__ import annotations

from typing import Any

from protocol.errors import InvalidValue

U32_MAX = 0xFFFF_FFFF  # every integer field of a value record is an int4 on the wire (§11)


def fail(path: str, message: str) -> InvalidValue:
    return InvalidValue(f"{path}: {message}")


def expect_object(obj: Any, path: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise fail(path, f"expected an object, got {type_name(obj)}")
    return obj


def expect_list(obj: Any, path: str) -> list[Any]:
    if not isinstance(obj, list):
        raise fail(path, f"expected an array, got {type_name(obj)}")
    return obj


def expect_str(obj: Any, path: str, *, non_empty: bool = False) -> str:
    if not isinstance(obj, str):
        raise fail(path, f"expected a string, got {type_name(obj)}")
    if non_empty and not obj:
        raise fail(path, "must not be empty")
    return obj


def expect_bool(obj: Any, path: str) -> bool:
    if not isinstance(obj, bool):
        raise fail(path, f"expected true or false, got {type_name(obj)}")
    return obj


def expect_int(obj: Any, path: str, *, minimum: int = 0, maximum: int = U32_MAX) -> int:
    """An integer (an integral JSON float is accepted, a bool is not) within [minimum, maximum]."""
    if isinstance(obj, float) and obj.is_integer():
        obj = int(obj)
    if isinstance(obj, bool) or not isinstance(obj, int):
        raise fail(path, f"expected an integer, got {type_name(obj)}")
    if not minimum <= obj <= maximum:
        raise fail(path, f"{obj} is outside {minimum}..{maximum}")
    return obj


def member(obj: dict[str, Any], name: str, path: str) -> Any:
    """A required member."""
    if name not in obj:
        raise fail(f"{path}.{name}", "missing")
    return obj[name]


def type_name(obj: Any) -> str:
    if obj is None:
        return "null"
    if isinstance(obj, bool):
        return "a boolean"
    if isinstance(obj, int | float):
        return "a number"
    if isinstance(obj, str):
        return "a string"
    if isinstance(obj, list):
        return "an array"
    if isinstance(obj, dict):
        return "an object"
    return type(obj).__name__
