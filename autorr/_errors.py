"""Every error autorr raises, in one tree.

    AutorrError                      (Exception)
     ├── ConfigError                 bad env var, YAML key or value
     ├── RecordingNotFound           no recording with that id or path
     ├── RecordingCorrupt            the file is not an autorr recording
     │    └── EventCorrupt           one recorded event's payload cannot be decoded
     ├── ReplayMismatch              a replayed call has no recorded answer
     └── NotActive                   an API call that needs a recording/replay running
    StrictReplayMismatch             (BaseException) what strict replay raises
     ├── OverrideError               an override that cannot apply to a call (e.g. a model
     │                               of another provider with no base URL for it)
     └── WorkerReplayMismatch        (also an Exception) the same, in a multiprocessing child

Strict replay raises a ``BaseException`` subclass, as pytest's ``fail()`` does: the LLM
SDKs retry any ``Exception`` raised under ``send()`` (turning it into a connection
error) and agent frameworks swallow ``Exception``; a mismatch must reach the user.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = [
    "AutorrError",
    "ConfigError",
    "EventCorrupt",
    "NotActive",
    "OverrideError",
    "RecordingCorrupt",
    "RecordingNotFound",
    "ReplayMismatch",
    "StrictReplayMismatch",
    "WorkerReplayMismatch",
    "strict_mismatch",
]


class AutorrError(Exception):
    """Base class of the errors autorr raises (but `StrictReplayMismatch`)."""


class ConfigError(AutorrError):
    """A setting (environment variable, config file key or value) is invalid."""


class RecordingNotFound(AutorrError):
    """No recording matches the given id or path."""


class RecordingCorrupt(AutorrError):
    """The file exists but cannot be read as an autorr recording."""


class EventCorrupt(RecordingCorrupt):
    """One event of a recording cannot be decoded (a blob missing, bytes that do not
    decompress or parse); the rest of the file can: replay fails only the call needing it."""


class NotActive(AutorrError):
    """The operation needs an active recording or replay."""


class _MismatchMixin:
    details: dict[str, Any]

    def _init(self, message: str, details: dict[str, Any]) -> None:
        self.details = details
        self.message = message


class ReplayMismatch(_MismatchMixin, AutorrError):
    """A call made during replay has no matching recorded answer."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self._init(message, details or {})


class StrictReplayMismatch(_MismatchMixin, BaseException):
    """Strict replay met a call it has no recorded answer for.

    Derives from ``BaseException`` so that SDK retry loops and ``except Exception``
    in agent frameworks let it through; the process ends with a non-zero status.
    """

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self._init(message, details or {})


class OverrideError(StrictReplayMismatch):
    """A replay override cannot apply to a call (raised inside the call, so it is not retried)."""


class WorkerReplayMismatch(StrictReplayMismatch, Exception):  # noqa: N818 - a StrictReplayMismatch
    """`StrictReplayMismatch` as raised in a multiprocessing child: also an ``Exception``.

    A pool worker hands an ``Exception`` back to the parent, whose ``map()`` raises it;
    a ``BaseException`` kills the worker instead, and the parent waits for its result
    for ever.
    """


def strict_mismatch(message: str, details: dict[str, Any]) -> StrictReplayMismatch:
    """The error strict replay raises in this process (see `WorkerReplayMismatch`)."""
    multiprocessing = sys.modules.get("multiprocessing")
    in_child = multiprocessing is not None and multiprocessing.parent_process() is not None
    return (WorkerReplayMismatch if in_child else StrictReplayMismatch)(message, details)
