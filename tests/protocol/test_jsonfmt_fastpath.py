"""The common-shape reader of value JSON gives exactly what the strict reader gives, errors included."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.constants import DEFAULT_PERMISSIONS
from protocol.errors import InvalidValue
from protocol.jsonfmt import permissions_to_json, plain_value_parts, value_from_json, values_from_json
from protocol.values import HandleValue

# Adding the default permissions changes no value but takes every value off the common-shape path.
STRICT = {"permissions": permissions_to_json(DEFAULT_PERMISSIONS)}


def outcome(obj: Any) -> HandleValue | str:
    try:
        return value_from_json(obj, path="values[3]")
    except InvalidValue as exc:
        return f"InvalidValue: {exc}"


def test_plain_value_parts_reads_the_common_shape() -> None:
    assert plain_value_parts({"index": 1, "type": "URL", "data": "x"}) == (1, "URL", b"x", 86400, 0)
    obj = {"index": 2, "type": "T", "data": {"format": "base64", "value": "AAE="}, "ttl": 5, "references": []}
    assert plain_value_parts(obj) == (2, "T", b"\x00\x01", 5, 0)
    assert plain_value_parts({"index": 1, "type": "T", "data": {"format": "string", "value": "é"}}) == (
        1, "T", "é".encode(), 86400, 0,
    )
    # A timestamp is read too (the NDJSON import's common shape), as seconds since the epoch.
    stamped = {"index": 1, "type": "URL", "data": "x", "timestamp": "2024-01-01T00:00:00Z"}
    assert plain_value_parts(stamped) == (1, "URL", b"x", 86400, 1_704_067_200)


@pytest.mark.parametrize(
    "obj",
    [
        {"index": 1, "type": "URL", "data": "x", **STRICT},
        {"index": 1, "type": "URL", "data": "x", "references": [{"handle": "a/b", "index": 1}]},
        {"index": 1, "type": "URL", "data": "x", "ttl": "2030-01-01T00:00:00Z"},
        {"index": 1, "type": "URL", "data": "x", "ttl": 5.0},
        {"index": 1.0, "type": "URL", "data": "x"},
        {"index": True, "type": "URL", "data": "x"},
        {"index": 1, "type": "URL", "data": {"format": "hex", "value": "00"}},
        {"index": 1, "type": "URL", "data": {"format": "base64", "value": "!!"}},
        {"index": 1, "type": "URL", "data": "\ud800"},
        {"index": 1, "type": "URL", "data": "x", "extra": 1},
        {"index": 1, "type": "", "data": "x"},
        [],
    ],
)
def test_other_shapes_take_the_strict_reader(obj: Any) -> None:
    assert plain_value_parts(obj) is None


def test_errors_keep_their_paths() -> None:
    with pytest.raises(InvalidValue, match=r"^values\[1\]\.ttl: -1 is outside 0\.\.4294967295$"):
        good, bad = {"index": 1, "type": "A", "data": "x"}, {"index": 2, "type": "B", "data": "y", "ttl": -1}
        values_from_json([good, bad])
    with pytest.raises(InvalidValue, match=r"^values\[0\]\.data\.value: not valid standard base64$"):
        values_from_json([{"index": 1, "type": "A", "data": {"format": "base64", "value": "a"}}])


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 2**32 + 1), st.floats(allow_nan=False), st.text(max_size=8)
)
datas = st.one_of(
    json_scalars,
    st.builds(
        lambda fmt, value: {"format": fmt, "value": value},
        st.sampled_from(["string", "base64", "hex", "nope"]),
        st.one_of(json_scalars, st.binary(max_size=8).map(lambda b: base64.b64encode(b).decode())),
    ),
)
candidates: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "index": st.one_of(st.integers(-1, 2**32), json_scalars),
        "type": st.one_of(st.text(max_size=5), json_scalars),
        "data": datas,
    },
    optional={
        "ttl": st.one_of(st.integers(-1, 2**32), json_scalars),
        "references": st.sampled_from([[], None, 1]),
    },
)


@given(candidates)
def test_common_path_equals_strict_path(obj: dict[str, Any]) -> None:
    assert outcome(obj) == outcome({**obj, **STRICT})
