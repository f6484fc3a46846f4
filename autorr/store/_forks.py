"""fork() while a writer thread is inside SQLite would copy SQLite's held mutexes into
the child, which then hangs on its first query: forks wait for every writer to be
between transactions (each holds its ``_io_lock`` while inside SQLite)."""

from __future__ import annotations

import os
import weakref
from typing import Any

__all__ = ["track"]

_writers: "weakref.WeakSet[Any]" = weakref.WeakSet()


def track(writer: Any) -> None:
    """Make fork() wait for ``writer._io_lock``."""
    _writers.add(writer)


def _before_fork() -> None:
    for writer in list(_writers):
        writer._io_lock.acquire()


def _after_fork() -> None:
    for writer in list(_writers):
        try:
            writer._io_lock.release()
        except RuntimeError:  # pragma: no cover - not held
            pass


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)
