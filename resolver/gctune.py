"""Garbage-collector settings for a worker that has finished starting up (issue 4, cold-cache rate).

A cold-cache resolution allocates a few dozen container objects (decoded values, the cache entry, futures,
callbacks), most of which die within the same batch or live on in the cache for minutes. With CPython's
default gen-0 threshold of 700 the collector ran every ~20 misses and each run walked the young cache
entries again: py-spy put about a quarter of a cold request's worker CPU in ``gc``. Nothing in the request
path builds reference cycles on purpose, so collecting rarely costs memory only for the cycles that do occur
(exception tracebacks, mostly), which a gen-0 pass of 50,000 objects still reclaims within a second.
"""

from __future__ import annotations

import gc
from typing import Final

# Measured on the cold UDP benchmark (BENCHMARKS.md, issue 4): 700 -> 50,000 took gc from ~26 % of the
# worker's CPU to a few per cent; past ~50,000 the gain is flat and a gen-0 pass starts to be visible as
# latency (it walks every young object). Gen 1 every 20 gen-0 passes, gen 2 every 100 gen-1 passes, and
# CPython 3.11 also waits for the long-lived population to grow by 25 % before a full pass.
GEN0_THRESHOLD: Final = 50_000
GEN1_THRESHOLD: Final = 20
GEN2_THRESHOLD: Final = 100


def tune_after_startup() -> None:
    """Collect once, move everything start-up built (modules, settings, app routes, the prefix registry)
    to the permanent generation so no later pass walks it again, and collect young objects rarely."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD)
