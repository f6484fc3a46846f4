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

_NONE = object()  # the thread had no `run` of its own (the usual case)


class _RunIn:
    """A thread's ``run`` in the session of the code that started it.

    Set on the instance, so a subclass's own ``run`` is the one wrapped; taken off again
    once it has run (or the start failed): the thread holds it and it holds the thread's
    bound ``run``, a cycle that would keep the thread and all it refers to alive until a
    cyclic collection, and a second ``start()`` would wrap it again.
    """

    __slots__ = ("session", "thread", "run", "before")

    def __init__(self, session: Any, thread: Any, before: Any) -> None:
        self.session, self.thread, self.before = session, thread, before
        self.run = thread.run

    def __call__(self) -> Any:
        try:
            return call_in(self.session, self.run)
        finally:
            self.remove()

    def remove(self) -> None:
        thread, self.thread, self.run = self.thread, None, None
        if thread is None:
            return
        own = thread.__dict__
        if own.get("run") is self:
            if self.before is _NONE:
                del own["run"]
            else:
                own["run"] = self.before


def _start(module: Any):
    def wrapper(wrapped, instance, args, kwargs):
        session = scoped()
        if session is None:
            return wrapped(*args, **kwargs)
        run = _RunIn(session, instance, instance.__dict__.get("run", _NONE))
        instance.run = run
        try:
            return wrapped(*args, **kwargs)
        except RuntimeError:  # started twice, or no thread to start: it never runs
            run.remove()
            raise

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
