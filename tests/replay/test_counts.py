"""The replay counters: numbers from 0 per key, and a read that takes none."""

from __future__ import annotations

from autorr.replay._counts import bump, taken


def test_each_key_numbers_from_zero_and_a_read_takes_nothing():
    counters: dict = {}
    assert [bump(counters, "a") for _ in range(3)] + [bump(counters, "b")] == [0, 1, 2, 0]
    assert (taken(counters["a"]), taken(counters["a"]), taken(counters["b"]), taken(counters.get("c"))) == (3, 3, 1, 0)
    assert bump(counters, "a") == 3
