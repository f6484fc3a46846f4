"""Custom tools: ``@autorr.tool`` records a function's arguments and result (or raised
exception); replay returns the recorded result without calling the function."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, TypeVar, overload

from .._events import Kind
from ._calls import arun, fingerprintable, run

__all__ = ["tool"]

F = TypeVar("F", bound=Callable[..., Any])


def _payload(name: str, args: tuple, kwargs: dict) -> dict[str, Any]:
    return {"tool": name, "args": fingerprintable(list(args)), "kwargs": fingerprintable(kwargs)}


def _wrap(func: F, name: str) -> F:
    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def async_tool(*args: Any, **kwargs: Any) -> Any:
            return await arun(Kind.TOOL, name, _payload(name, args, kwargs), lambda: func(*args, **kwargs))

        return async_tool  # type: ignore[return-value]

    @functools.wraps(func)
    def sync_tool(*args: Any, **kwargs: Any) -> Any:
        return run(Kind.TOOL, name, _payload(name, args, kwargs), lambda: func(*args, **kwargs))

    return sync_tool  # type: ignore[return-value]


@overload
def tool(func: F) -> F: ...
@overload
def tool(*, name: str | None = None) -> Callable[[F], F]: ...


def tool(func: Any = None, *, name: str | None = None) -> Any:
    """Record (and replay) a tool function: ``@autorr.tool`` or ``@autorr.tool(name="search")``.

    Works on sync and async functions; arguments go into the call's fingerprint, the
    return value or raised exception into the recording.
    """
    def decorate(f: F) -> F:
        return _wrap(f, name or f"{f.__module__}.{f.__qualname__}")

    return decorate(func) if func is not None else decorate
