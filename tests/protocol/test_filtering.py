"""Index / type filters and public-only (handle-protocol.md §9)."""

from __future__ import annotations

from protocol.constants import Permission
from protocol.filtering import public_only, select_values
from protocol.values import HandleValue

VALUES = (
    HandleValue(1, "URL", b"u"),
    HandleValue(2, "EMAIL", b"e"),
    HandleValue(100, "HS_ADMIN", b""),
    HandleValue(3, "HS_SITE", b""),
    HandleValue(4, "HS_SITE.6", b""),
    HandleValue(5, "HS_SITE.PREFIX", b""),
    HandleValue(6, "HS_SITEX", b""),
    HandleValue(7, "url", b"", permissions=Permission.ADMIN_READ | Permission.ADMIN_WRITE),
)


def indexes(values: tuple[HandleValue, ...]) -> list[int]:
    return [v.index for v in values]


def test_both_empty_gives_all() -> None:
    assert select_values(VALUES, (), ()) == VALUES


def test_index_only() -> None:
    assert indexes(select_values(VALUES, [2, 100], [])) == [2, 100]


def test_type_only_case_insensitive() -> None:
    assert indexes(select_values(VALUES, [], ["Url"])) == [1, 7]


def test_index_or_type() -> None:
    assert indexes(select_values(VALUES, [2], ["URL"])) == [1, 2, 7]


def test_exact_type_does_not_match_children() -> None:
    assert indexes(select_values(VALUES, [], ["HS_SITE"])) == [3]


def test_dotted_type_matches_parent_and_children() -> None:
    assert indexes(select_values(VALUES, [], ["hs_site."])) == [3, 4, 5]


def test_no_match_gives_empty() -> None:
    assert select_values(VALUES, [999], ["NOPE"]) == ()


def test_order_is_kept() -> None:
    assert indexes(select_values(VALUES, [100, 1], [])) == [1, 100]


def test_public_only_drops_values_without_public_read() -> None:
    assert indexes(public_only(VALUES)) == [1, 2, 100, 3, 4, 5, 6]
