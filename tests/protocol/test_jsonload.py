"""protocol.jsonload reads what json reads, but for the differences it documents."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import jsonload

int64 = st.integers(-(2**63), 2**63 - 1)
scalars = st.none() | st.booleans() | int64 | st.floats(allow_nan=False, allow_infinity=False) | st.text()
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


@given(documents, st.booleans(), st.booleans())
def test_what_orjson_accepts_reads_as_json_reads_it(doc: Any, ensure_ascii: bool, as_bytes: bool) -> None:
    text = json.dumps(doc, ensure_ascii=ensure_ascii)
    data: bytes | str = text.encode("utf-8", "surrogatepass") if as_bytes else text
    try:
        fast = jsonload.decode(data)
    except ValueError:  # lone surrogates: refused, as documented
        assert any(0xD800 <= ord(c) <= 0xDFFF for c in json.dumps(doc, ensure_ascii=False))
        return
    assert repr(fast) == repr(json.loads(data))  # repr tells 1 from 1.0 and True, and shows key order


@pytest.mark.parametrize(
    "text",
    [b'{"ttl": NaN}', b'"\\ud800"', b'\xef\xbb\xbf{"a": 1}', b'"\xed\xa0\x80"', b'{"a": 1} x', b""],
)
def test_refusals_are_value_errors(text: bytes) -> None:
    with pytest.raises(ValueError):
        jsonload.decode(text)


def test_integers_beyond_64_bits_are_floats() -> None:
    """The documented difference: callers must not take such a reading as json's."""
    assert jsonload.decode(b"[18446744073709551615, 18446744073709551617]") == [2**64 - 1, float(2**64)]
    assert json.loads(b"18446744073709551617") == 2**64 + 1
