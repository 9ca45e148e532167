"""The worker's garbage-collection policy (resolver/gctune.py), run in a child interpreter so the freezes
and the disabled automatic passes do not change how this test process collects."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent('''
    import asyncio, gc, time, weakref
    from resolver.gctune import (
        BUDGET_MULTIPLE, BYTES_PER_CACHE_SLOT, MAX_INTERVAL_S, MIN_INTERVAL_S, YoungOnlyCollector,
        next_young_interval, peak_rss_bytes,
    )

    class Node:
        def __init__(self):
            self.other = None

    def cycle():
        a, b = Node(), Node()
        a.other, b.other = b, a
        return weakref.ref(a)

    async def next_young_pass(collector):
        passes = collector.young_passes
        deadline = time.monotonic() + 5
        while collector.young_passes == passes and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert collector.young_passes > passes, "young passes run on the loop's clock"

    async def main():
        assert YoungOnlyCollector(1_000).floor == 1_000 * BYTES_PER_CACHE_SLOT
        assert YoungOnlyCollector(1_000, 10**9).floor == 1_000 * BYTES_PER_CACHE_SLOT  # the slots bind
        assert YoungOnlyCollector(400_000, 2**30).floor == 2**30 * BUDGET_MULTIPLE  # the byte budget binds
        assert next_young_interval(0.0) == MIN_INTERVAL_S
        assert next_young_interval(0.01) == 0.5, "passes take at most 2 % of the time"
        assert next_young_interval(0.1) == MAX_INTERVAL_S
        pauses = []
        collector = YoungOnlyCollector(observe=pauses.append)
        collector.start(asyncio.get_running_loop())
        assert not gc.isenabled(), "CPython's allocation-counted passes are off"
        before = gc.get_freeze_count()
        keep = [Node() for _ in range(1000)]
        await next_young_pass(collector)
        assert gc.get_freeze_count() >= before + 1000, "survivors of a young pass are frozen"
        assert pauses and all(0 <= p < 1 for p in pauses), "every pass is observed"
        dropped = cycle()
        await next_young_pass(collector)
        assert dropped() is None, "a cycle dropped before a young pass is collected by it"
        a, b = Node(), Node()
        a.other, b.other = b, a
        frozen = weakref.ref(a)
        await next_young_pass(collector)
        del a, b
        await next_young_pass(collector)
        assert frozen() is not None, "young passes do not walk frozen objects"
        observed = len(pauses)
        assert collector.collect_all() >= 2, "the full pass finds the frozen cycle"
        assert frozen() is None and len(pauses) == observed + 1
        passes = collector.full_passes
        assert collector.next_full_at >= 2 * peak_rss_bytes() - 4096
        grown = [bytes(4096) for _ in range(collector.next_full_at // 4096)]  # peak memory doubles
        deadline = time.monotonic() + 10
        while collector.full_passes == passes and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the loop's periodic check runs the full pass
        assert collector.full_passes == passes + 1, "doubling the frozen population triggers a full pass"
        collector.stop()
        assert gc.isenabled(), "a stopped collector gives CPython its passes back"
        young = collector.young_passes
        await asyncio.sleep(3 * MIN_INTERVAL_S)
        assert collector.young_passes == young, "stop cancels the young passes"
        print("ok", len(keep), len(grown) > 0)

    asyncio.run(main())
''')


def test_paced_young_passes_freeze_survivors_and_a_doubled_heap_gets_a_full_pass() -> None:
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", "1000", "True"]
