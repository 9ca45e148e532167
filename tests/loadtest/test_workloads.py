"""Key draws: Zipf and uniform shapes, the miss ratio, determinism, and the names `seed` writes."""

from __future__ import annotations

import collections
import itertools
import math

import pytest

from loadtest.workloads import KeyDrawer, KeySpec, key_name, zipf_cdf

DRAWS = 200_000


def _counts(spec: KeySpec, seed: int = 1) -> collections.Counter[int]:
    drawer = KeyDrawer(spec, seed)
    return collections.Counter(drawer.draw_index() for _ in range(DRAWS))


def test_zipf_rank_frequencies_follow_one_over_rank_to_the_s() -> None:
    spec = KeySpec("zipf", 1.1, count=10_000)
    counts = _counts(spec)
    harmonic = sum(r**-1.1 for r in range(1, 10_001))
    for rank in (1, 2, 3, 10, 100):
        expected = DRAWS * rank**-1.1 / harmonic
        observed = counts[rank - 1]
        # 5 standard deviations of a binomial count: fails on a wrong shape, not on chance.
        assert abs(observed - expected) <= 5 * math.sqrt(expected), rank
    assert counts[0] / counts[1] == pytest.approx(2**1.1, rel=0.05)


def test_zipf_keeps_its_heavy_head_over_a_million_keys() -> None:
    cdf = zipf_cdf(1_000_000, 1.1)
    assert cdf[-1] == pytest.approx(1.0)
    assert all(a <= b for a, b in itertools.pairwise(cdf[:1001]))
    # With s = 1.1 the 1,000 hottest of 10^6 keys take roughly two thirds of the draws.
    assert 0.55 < cdf[999] < 0.8


def test_uniform_draws_are_flat() -> None:
    spec = KeySpec("uniform", 0.0, count=100)
    counts = _counts(spec)
    expected = DRAWS / 100
    chi_square = sum((counts[k] - expected) ** 2 / expected for k in range(100))
    assert set(counts) == set(range(100))
    assert chi_square < 150  # 99 degrees of freedom: p ~ 0.0006 at 150


def test_miss_ratio_gives_that_share_of_misses() -> None:
    counts = _counts(KeySpec("uniform", 0.0, count=1_000, miss_ratio=0.25))
    assert counts[-1] / DRAWS == pytest.approx(0.25, abs=0.01)


def test_the_same_seed_gives_the_same_keys_and_another_seed_does_not() -> None:
    spec = KeySpec(count=1_000)
    first = [KeyDrawer(spec, 5).draw_name() for _ in range(1)]
    a, b, c = KeyDrawer(spec, 5), KeyDrawer(spec, 5), KeyDrawer(spec, 6)
    seq_a = [a.draw_name() for _ in range(100)]
    assert seq_a == [b.draw_name() for _ in range(100)]
    assert seq_a != [c.draw_name() for _ in range(100)]
    assert first[0] == seq_a[0]


def test_names_are_the_seeded_ones_and_misses_are_not() -> None:
    spec = KeySpec("uniform", 0.0, count=10, prefix="88.100.1", miss_ratio=0.5)
    drawer = KeyDrawer(spec, 1)
    seeded = {key_name("88.100.1", i) for i in range(10)}
    names = [drawer.draw_name() for _ in range(200)]
    hits = [n for n in names if n in seeded]
    misses = [n for n in names if n not in seeded]
    assert hits and misses
    assert all(n.startswith("88.100.1/miss-") for n in misses)


@pytest.mark.parametrize(("text", "label"), [("zipf:1.1", "zipf:1.1"), ("zipf", "zipf:1.1"),
                                             ("zipf:0.8", "zipf:0.8"), ("uniform", "uniform")])
def test_key_spec_parses_the_cli_forms(text: str, label: str) -> None:
    assert KeySpec.parse(text, count=5, prefix="p", miss_ratio=0.0).label() == label


@pytest.mark.parametrize("text", ["gauss", "uniform:3", "zipf:x"])
def test_key_spec_rejects_other_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r".+"):
        KeySpec.parse(text, count=5, prefix="p", miss_ratio=0.0)
