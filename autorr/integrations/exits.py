"""Ends a process gives itself on purpose, none of which runs atexit: ``os._exit``,
``os.abort``, and a signal that kills, sent to itself (``os.kill(os.getpid(), SIGKILL)``,
``signal.raise_signal``, ``os.killpg`` of its own group).

Each first commits the calls the recording still has queued: a crash is when the last
calls matter most. Bounded (`FLUSH_TIMEOUT`), so a stuck disk never holds the exit up.
An end from outside (SIGKILL sent by another process, a segfault) cannot be seen coming;
for those the writer commits each call within milliseconds of its return.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from .. import _exit
from .._patching import Patch

__all__ = ["PATCHES"]

FLUSH_TIMEOUT = 2.0

# Signals whose default action does not end the process.
_HARMLESS = frozenset(getattr(signal, name) for name in
                      ("SIGCHLD", "SIGCONT", "SIGURG", "SIGWINCH", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU")
                      if hasattr(signal, name))


def _ends_process(sig: Any) -> bool:
    """Whether ``sig`` delivered now would end this process without Python running again."""
    try:
        sig = signal.Signals(sig)
    except (ValueError, TypeError):
        return False
    if sig in _HARMLESS:
        return False
    try:
        return signal.getsignal(sig) in (signal.SIG_DFL, None)  # None: a handler set outside Python
    except (ValueError, OSError):  # SIGKILL and SIGSTOP cannot be handled: their default it is
        return True


def _flush_before(wrapped: Any, args: tuple, kwargs: dict) -> Any:
    _exit.flush_here(FLUSH_TIMEOUT)
    return wrapped(*args, **kwargs)


def _exiting(module: Any):
    def wrapper(wrapped, instance, args, kwargs):
        return _flush_before(wrapped, args, kwargs)

    return wrapper


def _signalling(target: str):
    """A wrapper for a call that sends a signal: ``target`` says which argument names whom."""

    def factory(module: Any):
        def wrapper(wrapped, instance, args, kwargs):
            try:
                if target == "self":
                    to_self, sig = True, args[0] if args else kwargs.get("signalnum")
                else:
                    who, sig = args[:2] if len(args) >= 2 else (args[0], kwargs.get("signal"))
                    group = os.getpgrp()
                    # kill(): this process, its group (0 or -group) or every process (-1)
                    to_self = who in ((os.getpid(), 0, -group, -1) if target == "pid" else (0, group))
                mine = to_self and _ends_process(sig)
            except Exception:  # odd arguments: the call itself says what is wrong
                mine = False
            return _flush_before(wrapped, args, kwargs) if mine else wrapped(*args, **kwargs)

        return wrapper

    return factory


PATCHES = (
    Patch("os", "_exit", _exiting),
    Patch("os", "abort", _exiting),
    Patch("os", "kill", _signalling("pid")),
    Patch("os", "killpg", _signalling("group")),
    Patch("signal", "raise_signal", _signalling("self")),
)
