"""The log-linear histogram: bucket layout, percentile accuracy (<= 1 %), merging and JSON."""

from __future__ import annotations

import json
import random

import pytest

from loadtest.stats import BUCKETS, MAX_VALUE_US, Histogram, bucket_bounds, bucket_index, merged


def test_buckets_are_contiguous_and_cover_every_value() -> None:
    previous_high = -1
    for index in range(BUCKETS):
        low, high = bucket_bounds(index)
        assert low == previous_high + 1, index
        assert bucket_index(low) == index
        assert bucket_index(high) == index
        previous_high = high
    assert previous_high == MAX_VALUE_US


@pytest.mark.parametrize("value", [0, 1, 255, 256, 257, 1_000, 12_345, 999_999, 10**9])
def test_a_single_value_reads_back_within_one_percent(value: int) -> None:
    h = Histogram()
    h.record(value)
    for p in (0.0, 50.0, 99.9, 100.0):
        assert abs(h.percentile(p) - value) <= max(1, value * 0.01)


def test_percentiles_of_a_known_distribution_are_within_one_percent() -> None:
    rng = random.Random(7)
    values = sorted(int(rng.lognormvariate(7, 1.2)) for _ in range(50_000))
    h = Histogram()
    for v in values:
        h.record(v)
    for p in (50.0, 90.0, 99.0, 99.9):
        exact = values[max(0, int(p / 100 * len(values) + 0.999999) - 1)]
        assert abs(h.percentile(p) - exact) <= exact * 0.01, p
    assert h.max_us == values[-1]
    assert h.min_us == values[0]
    assert h.count == len(values)


def test_merge_equals_recording_everything_in_one() -> None:
    rng = random.Random(3)
    parts = [Histogram() for _ in range(3)]
    whole = Histogram()
    for i in range(9_000):
        v = rng.randrange(5_000_000)
        parts[i % 3].record(v)
        whole.record(v)
    total = merged(parts)
    assert total.counts == whole.counts
    assert (total.count, total.min_us, total.max_us, total.sum_us) == (
        whole.count, whole.min_us, whole.max_us, whole.sum_us)


def test_json_round_trip_keeps_every_count() -> None:
    h = Histogram()
    for v in (5, 500, 50_000, 5_000_000):
        h.record(v)
    back = Histogram.from_json(json.loads(json.dumps(h.to_json())))
    assert back.counts == h.counts
    assert back.summary() == h.summary()


def test_out_of_range_values_are_clamped_not_lost() -> None:
    h = Histogram()
    h.record(-5)
    h.record(MAX_VALUE_US * 4)
    assert h.count == 2
    assert h.min_us == 0
    assert h.max_us == MAX_VALUE_US


def test_spectrum_rises_and_ends_at_the_max() -> None:
    h = Histogram()
    for v in range(1, 10_001):
        h.record(v)
    points = list(h.spectrum())
    assert points[0][0] == 50.0
    assert points[-1] == (100.0, 10_000)
    values = [v for _, v in points]
    assert values == sorted(values)


def test_an_empty_histogram_answers_zero() -> None:
    h = Histogram()
    assert h.percentile(99) == 0
    assert list(h.spectrum()) == []
