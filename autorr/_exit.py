"""Recordings still open when the process ends: stopped at exit, flushed on SIGTERM and SIGHUP.

The host program comes first here too: whatever happens while a recording is closed at
exit (an error, or Ctrl-C while its compaction trains a dictionary) ends in one line on
stderr, never in a traceback from inside autorr.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._recorder import Recorder

__all__ = ["flush_here", "live", "register"]

log = logging.getLogger("autorr")

# Recorders still open at interpreter exit are stopped, so the last events land.
live: "weakref.WeakSet[Recorder]" = weakref.WeakSet()
_registered = False
_signals_tried = False  # a recording started off the main thread cannot set it: the next one tries


def register(recorder: "Recorder") -> None:
    global _registered
    live.add(recorder)
    if not _registered:
        _registered = True
        atexit.register(stop_all)
    if not _signals_tried:
        _handle_ending_signals()


def _here(recorder: "Recorder") -> bool:
    """Whether this process runs ``recorder``'s writer: a forked child's copy has no thread."""
    from . import _recorder

    return recorder._pid == _recorder._pid


# Sent from outside to end a process, and by default ending it without atexit: SIGTERM
# (docker stop, Kubernetes, `timeout`) and SIGHUP (the terminal closed under it).
_ENDING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _handle_ending_signals() -> None:
    """The default action of SIGTERM and SIGHUP skips atexit and loses the calls still queued
    for the writer. Where nothing handles them, they are committed first, then the process
    dies of the signal as it would have; a program's own handler is left alone."""
    global _signals_tried
    if threading.current_thread() is not threading.main_thread():  # signal() works there only
        return
    _signals_tried = True
    for signum in _ENDING:
        try:
            if signal.getsignal(signum) is signal.SIG_DFL:
                signal.signal(signum, _flush_then_die)
        except (ValueError, OSError, AttributeError) as exc:  # an embedded interpreter
            log.debug("autorr: signal %s left as it is: %s", signum, exc)


def flush_here(timeout: float) -> None:
    """Commit what this process's recordings still have queued, before an end that skips
    atexit (SIGTERM's default, `os._exit`, a fatal signal sent to itself)."""
    for recorder in list(live):
        writer = recorder._writer
        if writer is not None and _here(recorder):
            try:
                writer.flush(timeout)
            except Exception as exc:  # the process is ending anyway: never stop it here
                log.debug("autorr: could not flush %s: %s", recorder.id, exc)


def _flush_then_die(signum: int, frame: Any) -> None:
    try:
        flush_here(5.0)  # well inside a supervisor's grace period
    finally:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def stop_all() -> None:
    """Stop every recording this process still runs. After a Ctrl-C (or a `sys.exit` from a
    signal handler) the others are still closed, since their queued calls are cheap to keep,
    but not compacted: the user asked the process to end."""
    interrupted = False
    for recorder in list(live):
        if not (recorder.active and _here(recorder)):
            continue
        try:
            recorder.stop(compact=not interrupted)
        except (KeyboardInterrupt, SystemExit):
            # Compaction says it was skipped itself (see `Recorder._compact`); anything
            # else interrupted is named here. Either way the user sees one line.
            interrupted = True
            if not recorder._tidy_interrupted:
                log.warning("autorr: closing recording %s was interrupted; calls still queued may be missing",
                            recorder.id)
        except Exception as exc:  # never fail the host's exit
            log.warning("autorr: could not close recording %s: %s", recorder.id, exc)
