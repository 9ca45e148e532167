"""The REST read route's payload of the usual answer, written from the stored bytes
(``answers.stored_resolution_json``), is byte for byte the one written from the decoded values
(``dump_json(resolution_json(...))``), compact or pretty, whatever the handle text and the values."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocol.constants import Permission, ResponseCode
from protocol.values import HandleValue
from resolver.cache import CacheEntry
from resolver.http.answers import dump_json, resolution_json, stored_resolution_json
from resolver.http.handles_api import rest_payload
from resolver.service import Resolution, http_status
from storage.records import encode_record, read_record
from tests.protocol.test_jsonfmt import handle_values

HANDLES = st.one_of(
    st.just("88.100.1/lt-00000007"),
    st.text(max_size=30),  # non-ASCII, controls, lone surrogates (which orjson refuses)
)


def usual_answer(raw: bytes) -> Resolution:
    """``Resolver._record_answer``'s unfiltered answer of the record (wire form and public values)."""
    record = read_record(raw)
    entry = CacheEntry("88.100.1/x", record, 0.0)
    if record.wire is None or not record.public_count:
        return Resolution(ResponseCode.SUCCESS, entry, record.values)  # not the stored-bytes case
    return Resolution(ResponseCode.SUCCESS, entry, record, "", "", record.wire)


@given(st.lists(handle_values(), min_size=1, max_size=6), HANDLES, st.booleans())
def test_the_payload_is_the_decoded_values_payload(
    values: list[HandleValue], handle: str, pretty: bool
) -> None:
    raw = encode_record(values)
    expected = dump_json(resolution_json(handle, usual_answer(raw)), pretty)
    assert rest_payload(handle, usual_answer(raw), pretty) == (expected, http_status(ResponseCode.SUCCESS))


def test_the_usual_answer_is_written_from_the_stored_bytes() -> None:
    values = [
        HandleValue(1, "URL", "https://id.example.cn/产品".encode(), timestamp=1_767_225_600),
        HandleValue(2, "EMAIL", b"x@y", permissions=Permission.ADMIN_READ),
    ]
    answer = usual_answer(encode_record(values))
    written = stored_resolution_json("88.100.1/产品", answer)
    assert written == dump_json(resolution_json("88.100.1/产品", usual_answer(encode_record(values))), False)
    assert b"EMAIL" not in written


def test_other_answers_are_left_to_the_decoded_values() -> None:
    raw = encode_record([HandleValue(1, "URL", b"x")])
    decoded_first = usual_answer(raw)
    assert decoded_first.values  # the values are decoded: the stored bytes are gone
    assert stored_resolution_json("a/b", decoded_first) is None
    assert stored_resolution_json("\ud800", usual_answer(raw)) is None  # a handle orjson refuses
    nothing = CacheEntry("k", None, 0.0)
    not_found = Resolution(ResponseCode.HANDLE_NOT_FOUND, nothing, message="Handle not found")
    assert stored_resolution_json("a/b", not_found) is None
    record = read_record(raw)
    filtered = Resolution(ResponseCode.SUCCESS, CacheEntry("k", record, 0.0), read_record(raw).values)
    assert stored_resolution_json("a/b", filtered) is None
