"""Threads started, and thread-pool work submitted, inside a scoped session keep it.

A `Recorder` or `Player` used as a context manager is active for its own thread or
asyncio task (a ContextVar), and a new thread starts with an empty context: without this,
the calls an agent makes from its worker threads would go to the process default — the
recording of whichever agent set it first, or none at all. As OpenTelemetry's threading
instrumentation does, the session of the code that starts a thread (or submits to a pool)
is the one its work runs in. Pool workers serve many submitters, so each piece of work
carries its submitter's session, not the one the worker thread started with.
"""

from __future__ import annotations

import functools
from typing import Any

from .._patching import Patch
from .._session import call_in, scoped

__all__ = ["PATCHES"]


def _start(module: Any):
    def wrapper(wrapped, instance, args, kwargs):
        session = scoped()
        if session is not None:
            # An attribute on the instance, so a subclass's own run() is the one wrapped.
            instance.run = functools.partial(call_in, session, instance.run)
        return wrapped(*args, **kwargs)

    return wrapper


def _submit(module: Any):
    def wrapper(wrapped, instance, args, kwargs):
        if not args:  # submit() without its function: let the pool say what is wrong
            return wrapped(*args, **kwargs)
        # Always, even without a session here: the worker may have started in another's.
        return wrapped(functools.partial(call_in, scoped(), args[0]), *args[1:], **kwargs)

    return wrapper


PATCHES = (
    Patch("threading", "Thread.start", _start),
    Patch("concurrent.futures.thread", "ThreadPoolExecutor.submit", _submit),
)
