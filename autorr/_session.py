"""Which recorder or player a patched call talks to, read at call time.

A `ContextVar` lets several agents in one process (threads, asyncio tasks) each use
their own `Recorder`/`Player`; where none is set for the current context, the
process-wide default (the one the start-up hook or `start_recording()` made) is used.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, Union

if TYPE_CHECKING:
    from ._events import CallRequest, Event, Kind
    from ._recorder import CallHandle

__all__ = [
    "SUSPENDED", "Decision", "Record", "Scoped", "Serve", "Session", "activate", "active", "call_in", "deactivate",
    "get_default", "scoped", "set_default", "suspend",
]


@dataclass(slots=True)
class Serve:
    """Replay: answer with this recorded event."""

    event: "Event"
    timing_preserve: bool = False


@dataclass(slots=True)
class Record:
    """Go live and record through this handle (``rewrite``: an A/B override to apply)."""

    handle: "CallHandle"
    rewrite: dict[str, Any] | None = None


Decision = Union[Serve, Record, None]  # None: go live, record nothing


class Session(Protocol):
    def decide(self, kind: "Kind", request: "CallRequest", *, output: bool = False) -> Decision: ...


class Scoped:
    """``with session:`` starts it and makes it the active one for this thread / task."""

    def start(self) -> Any:  # pragma: no cover - provided by Recorder / Player
        raise NotImplementedError

    def stop(self) -> Any:  # pragma: no cover
        raise NotImplementedError

    def __enter__(self) -> Any:
        self.start()
        self.__dict__.setdefault("_tokens", []).append(activate(self))  # type: ignore[arg-type]
        return self

    def __exit__(self, *exc: object) -> None:
        deactivate(self.__dict__["_tokens"].pop())
        self.stop()


_current: contextvars.ContextVar[Any] = contextvars.ContextVar("autorr_session", default=None)
_default: Any = None


def active() -> Session | None:
    session = _current.get()
    return session if session is not None else _default


def scoped() -> Session | None:
    """The session activated for this thread / task itself; None where it follows the default."""
    return _current.get()


def call_in(session: Session | None, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` with ``session`` as this context's own (None: the default's)."""
    token = _current.set(session)
    try:
        return fn(*args, **kwargs)
    finally:
        _current.reset(token)


def activate(session: Session) -> contextvars.Token:
    return _current.set(session)


def deactivate(token: contextvars.Token) -> None:
    _current.reset(token)


def set_default(session: Session | None) -> None:
    global _default
    _default = session


def get_default() -> Session | None:
    return _default


class _Suspended:
    """Marks autorr's own work (provenance, writer): nothing in it is recorded."""

    def decide(self, kind: Any, request: Any, *, output: bool = False) -> Decision:
        return None


SUSPENDED = _Suspended()


def suspend() -> contextvars.Token:
    return _current.set(SUSPENDED)


# Every module that logs imports this one: its log lines are scrubbed from the first.
from . import _log_redact  # noqa: E402 - after the names it looks up at log time

_log_redact.install()
