"""``keys.record_locations`` (a read batch's bucket keys and fields at once, issue 4) names exactly what
``record_key`` and ``record_field`` name, one handle at a time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from storage import keys


@given(handles=st.lists(st.text(min_size=1, max_size=60), max_size=30), buckets=st.integers(1, 70_000))
def test_the_same_keys_and_fields_as_one_at_a_time(handles: list[str], buckets: int) -> None:
    bucket_keys, fields = keys.record_locations(handles, buckets)
    assert bucket_keys == [keys.record_key(handle, buckets) for handle in handles]
    assert fields == [keys.record_field(handle) for handle in handles]


def test_bucket_names_are_per_bucket_count() -> None:
    handle = "88.100.1/lt-00000042"
    for buckets in (1, 7, 16_384, 7, 1):  # a name kept for one count never answers for another
        assert keys.record_locations([handle], buckets)[0] == [keys.record_key(handle, buckets)]
