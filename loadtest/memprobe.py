"""How fast this machine reaches memory right now: a chain of dependent random lookups, timed.

The cold-cache rows are bound by memory latency (a miss walks dicts and allocator pools far larger than the
CPU's caches), the echo rows by system calls. On this shared machine the two drift apart: in one `make bench`
the bare echo answered the same per CPU-second as in the run before while the cold node answered a third
less. So the bench takes this probe before its first search and after its last half run, and the report
shows both: a row that moved between runs can be read against how the machine moved.

Each step reads the index of the next from a list far larger than the caches, in a random cycle, so every
step waits for memory (the list's slot, then the int object it points to) and none can start early.
"""

from __future__ import annotations

import random
import time
from typing import Final

TABLE_ENTRIES: Final = 1 << 21  # 16 MB of slots and ~64 MB of int objects: beyond the caches here
STEPS: Final = 300_000
REPEATS: Final = 3


def dependent_lookup_ns(entries: int = TABLE_ENTRIES, steps: int = STEPS, repeats: int = REPEATS) -> float:
    """Nanoseconds per step of the chain, the best of ``repeats`` walks (noise only ever slows it)."""
    order = list(range(entries))
    random.Random(entries).shuffle(order)
    following = [0] * entries
    for at, then in zip(order, order[1:] + order[:1], strict=True):
        following[at] = then
    del order
    best = float("inf")
    for _ in range(repeats):
        at = 0
        started = time.perf_counter()
        for _ in range(steps):
            at = following[at]
        best = min(best, time.perf_counter() - started)
    return best * 1e9 / steps
