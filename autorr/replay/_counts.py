"""Counters that threads sharing a `Player` take numbers from without a lock.

Every replayed call numbers its occurrence and counts itself. Between two SDK calls the
first use of a lock costs microseconds (its code is cold); ``next()`` on an
`itertools.count` is one C call, which no other thread can interrupt.
"""

from __future__ import annotations

import itertools
from typing import Any

__all__ = ["bump", "taken"]


def bump(counters: dict[Any, Any], key: Any) -> int:
    """The next number of ``key``'s counter, from 0 (a racing first call: `setdefault` keeps one counter)."""
    counter = counters.get(key)
    if counter is None:
        counter = counters.setdefault(key, itertools.count())
    return next(counter)


def taken(counter: Any) -> int:
    """How many numbers ``counter`` (or None: none) gave out. `itertools.count` has no
    public read; its repr is its state ("count(3)")."""
    return int(repr(counter)[6:-1]) if counter is not None else 0
