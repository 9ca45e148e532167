"""Identifier rules (domain.md §3), helpers and the §13.1 server choice."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import InvalidHandle
from protocol.handle import (
    MAX_HANDLE_LENGTH,
    IdentifierLimits,
    canonical_prefix,
    parent_prefix,
    parse_identifier,
    parse_identifier_bytes,
    prefix_chain,
    prefix_handle,
    server_index,
)


def test_plain_handle_parts() -> None:
    ident = parse_identifier("88.100.1/abc")
    assert (ident.text, ident.prefix, ident.suffix) == ("88.100.1/abc", "88.100.1", "abc")
    assert ident.key == "88.100.1/abc"
    assert not ident.is_prefix_handle
    assert ident.naming_prefix == "88.100.1"


def test_prefix_case_is_folded() -> None:
    assert parse_identifier("88.100.abc/X").key == parse_identifier("88.100.ABC/X").key


def test_suffix_case_is_kept() -> None:
    assert parse_identifier("88.100.1/abc").key != parse_identifier("88.100.1/ABC").key


def test_text_keeps_the_given_spelling() -> None:
    ident = parse_identifier("88.100.abc/X")
    assert ident.text == "88.100.abc/X"
    assert ident.prefix == "88.100.abc"
    assert ident.naming_prefix == "88.100.ABC"


def test_zero_na_handle_is_upper_cased_whole() -> None:
    ident = parse_identifier("0.na/88.1")
    assert ident.key == "0.NA/88.1"
    assert ident.is_prefix_handle
    assert ident.naming_prefix == "88.1"
    assert parse_identifier("0.NA/88.abc").key == "0.NA/88.ABC"


def test_other_zero_prefix_upper_cased_whole() -> None:
    assert parse_identifier("0.0/abc").key == "0.0/ABC"


def test_slashless_is_prefix_handle() -> None:
    ident = parse_identifier("88.100.1")
    assert ident.is_prefix_handle
    assert ident.key == "0.NA/88.100.1"
    assert ident.naming_prefix == "88.100.1"
    assert ident.key == parse_identifier("0.NA/88.100.1").key


def test_non_ascii_prefix_folds_ascii_only() -> None:
    ident = parse_identifier("88.straße/x")
    assert ident.naming_prefix == "88.STRAßE"


def test_suffix_may_hold_slash_colon_and_unicode() -> None:
    ident = parse_identifier("88.1/a/b:c 标识")
    assert ident.suffix == "a/b:c 标识"
    assert ident.key == "88.1/a/b:c 标识"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("", "empty"),
        ("/abc", "prefix is empty"),
        ("88.1/", "suffix is empty"),
        ("88..1/x", "empty dot segment"),
        (".88/x", "empty dot segment"),
        ("88./x", "empty dot segment"),
        ("0.NA/88..1", "empty dot segment"),
        ("88.1/a\nb", "control character"),
        ("88.1/a\x7fb", "control character"),
        ("88.1/a\x85b", "control character"),
    ],
)
def test_rejections_name_the_rule(text: str, rule: str) -> None:
    with pytest.raises(InvalidHandle, match=rule):
        parse_identifier(text)


def test_too_long_in_characters() -> None:
    with pytest.raises(InvalidHandle, match="too long: 256 characters"):
        parse_identifier("88.1/" + "x" * 251)
    assert parse_identifier("88.1/" + "x" * 250).suffix == "x" * 250


def test_too_long_in_bytes() -> None:
    limits = IdentifierLimits(max_length=10_000)
    with pytest.raises(InvalidHandle, match="bytes"):
        parse_identifier("88.1/" + "标" * 700, limits)
    with pytest.raises(InvalidHandle, match="bytes"):
        parse_identifier_bytes(b"88.1/" + b"x" * MAX_HANDLE_LENGTH, limits)


def test_prefix_too_long() -> None:
    with pytest.raises(InvalidHandle, match="prefix too long"):
        parse_identifier("8" * 65 + "/x")
    assert parse_identifier("8" * 64 + "/x").prefix == "8" * 64


def test_limits_are_configurable() -> None:
    with pytest.raises(InvalidHandle, match="too long"):
        parse_identifier("88.1/abcdef", IdentifierLimits(max_length=8))


def test_bytes_bad_utf8() -> None:
    with pytest.raises(InvalidHandle, match="UTF-8"):
        parse_identifier_bytes(b"88.1/\xff")


def test_bytes_good_utf8() -> None:
    assert parse_identifier_bytes("88.1/标识".encode()).suffix == "标识"


def test_lone_surrogate_rejected() -> None:
    with pytest.raises(InvalidHandle, match="surrogate"):
        parse_identifier("88.1/" + "\ud800")


def test_helpers() -> None:
    assert prefix_handle("88.1") == "0.NA/88.1"
    assert parent_prefix("88.1000.1") == "88.1000"
    assert parent_prefix("88") is None
    assert canonical_prefix("88.abc") == "88.ABC"
    assert prefix_chain("88.100.1") == ("88.100.1", "88.100", "88")
    assert prefix_chain("88") == ("88",)


@pytest.mark.parametrize(
    ("option", "expected"),
    [(0, (0, 2, 0)), (1, (0, 1, 2)), (2, (1, 1, 1))],
)
def test_server_index_worked_example(option: int, expected: tuple[int, int, int]) -> None:
    # handle-protocol.md §13.1 worked example for 88.1000.1/abc with n = 2, 3, 4.
    got = tuple(server_index("88.1000.1/abc", option, n) for n in (2, 3, 4))
    assert got == expected
    assert tuple(server_index(b"88.1000.1/abc", option, n) for n in (2, 3, 4)) == expected


def test_server_index_case_insensitive_ascii() -> None:
    assert server_index("88.1000.1/ABC", 2, 7) == server_index("88.1000.1/abc", 2, 7)


def test_server_index_needs_servers() -> None:
    with pytest.raises(ValueError, match="positive"):
        server_index("88.1/x", 2, 0)


@given(st.text(max_size=80))
def test_arbitrary_text_gives_identifier_with_a_stable_key(text: str) -> None:
    try:
        ident = parse_identifier(text)
    except InvalidHandle:
        return
    assert parse_identifier(ident.key).key == ident.key


@given(st.binary(max_size=80))
def test_arbitrary_bytes_give_identifier_or_invalid_handle(raw: bytes) -> None:
    try:
        ident = parse_identifier_bytes(raw)
    except InvalidHandle:
        return
    assert ident.text.encode() == raw
