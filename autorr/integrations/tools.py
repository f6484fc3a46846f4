"""Custom tools: ``@autorr.tool`` records a function's arguments and result (or raised
exception); replay returns the recorded result without calling the function.

A generator (or async generator) tool is recorded as what it yielded, item by item as
the caller takes them (never drained ahead), and replays those items."""

from __future__ import annotations

import functools
import inspect
from typing import Any, AsyncIterator, Callable, Iterator, TypeVar, overload

from .._events import Kind
from .._session import Serve
from ._calls import arun, decide, fingerprintable, record_items, recorded_items, run

__all__ = ["tool"]

F = TypeVar("F", bound=Callable[..., Any])


def _payload(name: str, args: tuple, kwargs: dict) -> dict[str, Any]:
    return {"tool": name, "args": fingerprintable(list(args)), "kwargs": fingerprintable(kwargs)}


def _generator(func: Any, name: str) -> Any:
    @functools.wraps(func)
    def generator_tool(*args: Any, **kwargs: Any) -> Iterator[Any]:
        decision = decide(Kind.TOOL, name, _payload(name, args, kwargs))
        if isinstance(decision, Serve):
            items, raised = recorded_items(decision.event)
            yield from items
            if raised is not None:
                raise raised
            return None
        if decision is None:
            return (yield from func(*args, **kwargs))
        items: list = []
        try:
            for item in func(*args, **kwargs):
                items.append(item)
                yield item
        except GeneratorExit:  # the caller stopped here; a replay stops here too
            record_items(decision.handle, items)
            raise
        except Exception as exc:
            record_items(decision.handle, items, exc)
            raise
        record_items(decision.handle, items)
        return None

    return generator_tool


def _async_generator(func: Any, name: str) -> Any:
    @functools.wraps(func)
    async def async_generator_tool(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        decision = decide(Kind.TOOL, name, _payload(name, args, kwargs))
        if isinstance(decision, Serve):
            items, raised = recorded_items(decision.event)
            for item in items:
                yield item
            if raised is not None:
                raise raised
            return
        items: list = []
        try:
            async for item in func(*args, **kwargs):
                items.append(item)
                yield item
        except GeneratorExit:
            if decision is not None:
                record_items(decision.handle, items)
            raise
        except Exception as exc:
            if decision is not None:
                record_items(decision.handle, items, exc)
            raise
        if decision is not None:
            record_items(decision.handle, items)

    return async_generator_tool


def _wrap(func: F, name: str) -> F:
    if inspect.isasyncgenfunction(func):
        return _async_generator(func, name)  # type: ignore[return-value]
    if inspect.isgeneratorfunction(func):
        return _generator(func, name)  # type: ignore[return-value]
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

    Works on sync and async functions, generators and async generators, and methods;
    arguments go into the call's fingerprint, the return value (or the items yielded)
    or raised exception into the recording.
    """
    def decorate(f: F) -> F:
        return _wrap(f, name or f"{f.__module__}.{f.__qualname__}")

    return decorate(func) if func is not None else decorate
