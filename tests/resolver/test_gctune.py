"""The worker's garbage-collection policy (resolver/gctune.py), run in a child interpreter so the freezes
do not change how this test process collects."""

from __future__ import annotations

import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent('''
    import asyncio, gc, time
    from resolver.gctune import (
        BUDGET_MULTIPLE, BYTES_PER_CACHE_SLOT, GEN0_THRESHOLD, YoungOnlyCollector, peak_rss_bytes,
    )

    class Node:
        def __init__(self):
            self.other = None

    def cycle():
        a, b = Node(), Node()
        a.other, b.other = b, a

    async def main():
        assert YoungOnlyCollector(1_000).floor == 1_000 * BYTES_PER_CACHE_SLOT
        assert YoungOnlyCollector(1_000, 10**9).floor == 1_000 * BYTES_PER_CACHE_SLOT  # the slots bind
        assert YoungOnlyCollector(400_000, 2**30).floor == 2**30 * BUDGET_MULTIPLE  # the byte budget binds
        collector = YoungOnlyCollector()
        collector.start(asyncio.get_running_loop())
        assert gc.get_threshold()[0] == GEN0_THRESHOLD
        before = gc.get_freeze_count()
        keep = [Node() for _ in range(1000)]
        gc.collect(0)
        assert gc.get_freeze_count() >= before + 1000, "survivors of a young pass are frozen"
        cycle()
        assert gc.collect(0) >= 2, "a cycle dropped before a young pass is collected by it"
        a, b = Node(), Node()
        a.other, b.other = b, a
        gc.collect(0)
        del a, b
        assert gc.collect(0) == 0, "young passes do not walk frozen objects"
        assert collector.collect_all() >= 2, "the full pass finds the frozen cycle"
        passes = collector.full_passes
        assert collector.next_full_at >= 2 * peak_rss_bytes() - 4096
        grown = [bytes(4096) for _ in range(collector.next_full_at // 4096)]  # peak memory doubles
        deadline = time.monotonic() + 10
        while collector.full_passes == passes and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the loop's periodic check runs the full pass
        assert collector.full_passes == passes + 1, "doubling the frozen population triggers a full pass"
        collector.stop()
        assert collector._after_pass not in gc.callbacks
        print("ok", len(keep), len(grown) > 0)

    asyncio.run(main())
''')


def test_young_passes_freeze_survivors_and_a_doubled_heap_gets_a_full_pass() -> None:
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", "1000", "True"]
