"""The doorkeeper: admission on the second sighting, in a bit table emptied after a window of keys."""

from __future__ import annotations

import random

from protocol.doorkeeper import Doorkeeper


def test_a_key_is_seen_on_its_second_sighting() -> None:
    door = Doorkeeper(1_000)
    assert not door.seen_before(12_345)
    assert door.seen_before(12_345)
    assert door.seen_before(12_345)
    assert not door.seen_before(-7)  # any int a hash() gives
    assert door.seen_before(-7)


def test_the_table_is_emptied_after_a_window_of_first_sightings() -> None:
    door = Doorkeeper(100)
    assert not door.seen_before(1)
    marked = 1
    h = 2
    while marked < 100:  # fill the window with other first sightings
        if not door.seen_before(h):
            marked += 1
        h += 1
    assert door.seen_before(1)  # still within the window
    assert not door.seen_before(10**9)  # the window's next first sighting empties the table ...
    assert door.seen_before(10**9)  # ... and is kept, its own mark the first of the new window
    assert not door.seen_before(1)


def test_false_positives_stay_under_one_in_eight() -> None:
    rng = random.Random(7)
    door = Doorkeeper(10_000)
    seen = sum(door.seen_before(rng.getrandbits(64)) for _ in range(10_000))
    assert seen < 10_000 / 8
