"""Admission on the second sighting: which keys were seen once lately, in a fixed bit table.

A bounded cache that keeps everything it is handed spends, once full, an insertion and an eviction on every
key it will never see again, and lets a sweep of such keys (a crawler walking a prefix, cold traffic)
push out the ones that are asked for. Caches with a doorkeeper (TinyLFU's, as in Caffeine) keep a key only
when it comes back: its first sighting sets its bit here, its second finds the bit set.

One hash function over a table of eight bits per key of the window, emptied after ``window`` first
sightings: a key not seen before is taken for one seen with a chance of at most one in eight (it is then
kept a sighting early, which costs nothing but the room). Emptying costs one allocation (half a megabyte
for the largest cache), never a pass over keys.
"""

from __future__ import annotations

from typing import Final

BITS_PER_KEY: Final = 8
# The table is a list of 32-bit words (small ints): compiled, mypyc indexes a list natively, a bytearray not.
WORD_SHIFT: Final = 5
WORD_MASK: Final = (1 << WORD_SHIFT) - 1


class Doorkeeper:
    """``seen_before(h)``: was hash ``h`` marked since the table was last emptied? Marks it if not."""

    __slots__ = ("_marked", "_mask", "_words", "window")

    def __init__(self, window: int) -> None:
        self.window = max(1, window)
        size = 64
        while size < BITS_PER_KEY * self.window:
            size *= 2
        self._words = [0] * (size >> WORD_SHIFT)
        self._mask = size - 1
        self._marked = 0

    def seen_before(self, h: int) -> bool:
        position = h & self._mask
        words = self._words
        at = position >> WORD_SHIFT
        bit = 1 << (position & WORD_MASK)
        word = words[at]
        if word & bit:
            return True
        if self._marked >= self.window:  # a window's worth of keys seen once: start over from this one
            words = self._words = [0] * len(words)
            word = self._marked = 0
        words[at] = word | bit
        self._marked += 1
        return False
