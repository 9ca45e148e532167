"""Which identifiers a load run asks for: seeded key draws (Zipf or uniform) and the names `seed` writes.

Identifier ``i`` of a seeded prefix is ``<prefix>/lt-<i:08d>`` (``key_name``); `loadtest seed` writes exactly
those, and a run draws from the same names, so every drawn key exists unless it is a deliberate miss. Zipf
ranks map to identifiers in order (rank 1 is ``lt-00000000``): the hot set is the low end of the range.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass
from typing import Literal

Distribution = Literal["zipf", "uniform"]


def key_name(prefix: str, index: int) -> str:
    return f"{prefix}/lt-{index:08d}"


def miss_name(prefix: str, nonce: int) -> str:
    # A suffix that `seed` never writes (no "lt-" stem), so the node answers RC_HANDLE_NOT_FOUND.
    return f"{prefix}/miss-{nonce:012d}"


@dataclass(frozen=True, slots=True)
class KeySpec:
    """``zipf:1.1`` or ``uniform`` over ``count`` identifiers of ``prefix``; ``miss_ratio`` of draws miss."""

    distribution: Distribution = "zipf"
    exponent: float = 1.1
    count: int = 1_000_000
    prefix: str = "88.100.1"
    miss_ratio: float = 0.0

    @classmethod
    def parse(cls, text: str, *, count: int, prefix: str, miss_ratio: float) -> KeySpec:
        name, _, arg = text.partition(":")
        if name == "uniform" and not arg:
            return cls("uniform", 0.0, count, prefix, miss_ratio)
        if name == "zipf":
            return cls("zipf", float(arg or "1.1"), count, prefix, miss_ratio)
        raise ValueError(f"unknown key distribution {text!r}: use zipf:S or uniform")

    def label(self) -> str:
        return f"zipf:{self.exponent:g}" if self.distribution == "zipf" else "uniform"


def zipf_cdf(count: int, exponent: float) -> list[float]:
    """Cumulative weights of ranks 1..count with weight 1/rank**exponent, normalised to end at 1.0."""
    weights = (rank**-exponent for rank in range(1, count + 1))
    cdf = list(itertools.accumulate(weights))
    total = cdf[-1]
    return [c / total for c in cdf]


class KeyDrawer:
    """Draws identifier indexes (or -1 for a miss) from a ``KeySpec`` with its own seeded generator."""

    __slots__ = ("_cdf", "_count", "_miss_ratio", "_random", "spec")

    def __init__(self, spec: KeySpec, seed: int) -> None:
        if spec.count < 1:
            raise ValueError("the key space needs at least one identifier")
        self.spec = spec
        self._random = random.Random(seed)
        self._count = spec.count
        self._miss_ratio = spec.miss_ratio
        self._cdf = zipf_cdf(spec.count, spec.exponent) if spec.distribution == "zipf" else None

    def draw_index(self) -> int:
        r = self._random
        if self._miss_ratio and r.random() < self._miss_ratio:
            return -1
        if self._cdf is None:
            return r.randrange(self._count)
        # bisect_left over the CDF is an inverse-transform draw; min() guards float rounding at the top.
        return min(bisect.bisect_left(self._cdf, r.random()), self._count - 1)

    def draw_name(self) -> str:
        index = self.draw_index()
        if index < 0:
            return miss_name(self.spec.prefix, self._random.randrange(10**12))
        return key_name(self.spec.prefix, index)
