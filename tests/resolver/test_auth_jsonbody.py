"""Strict JSON bodies: depth, constants, encoding, emptiness (resolver/http/jsonbody.py)."""

from __future__ import annotations

import pytest

from resolver.http.jsonbody import MAX_DEPTH, BodyError, parse_json


def test_nesting_at_the_limit_is_accepted() -> None:
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_json(text.encode()) is not None


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "deeper than 32"),
        (b"[" * 100_000 + b"]" * 100_000, "deeper than 32"),  # past the parser's own recursion limit
        (b'{"a": ' * 40 + b"1" + b"}" * 40, "deeper than 32"),
        (b"[Infinity]", "Infinity"),
        (b"   ", "empty"),
        (b"\xff[]", "not UTF-8"),
        (b'{"a": 1', "invalid JSON"),
    ],
)
def test_refusals_name_the_problem(raw: bytes, names: str) -> None:
    with pytest.raises(BodyError, match=names) as caught:
        parse_json(raw)
    assert caught.value.status == 400
