"""Custom tools: ``@autorr.tool`` records a function's arguments and result (or raised
exception); replay returns the recorded result without calling the function.

A generator (or async generator) tool is recorded as what it yielded, item by item as
the caller takes them (never drained ahead), and replays those items."""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any, AsyncIterator, Callable, Iterator, TypeVar, overload

from .._events import Kind
from .._session import Serve
from ._calls import arun, decide, fingerprintable, record_items, recorded_items, run

__all__ = ["tool"]

F = TypeVar("F", bound=Callable[..., Any])


def _payload(name: str, args: tuple, kwargs: dict) -> dict[str, Any]:
    return {"tool": name, "args": fingerprintable(list(args)), "kwargs": fingerprintable(kwargs)}


# Parameters whose values are credentials. Passed by position, such a value is stored in
# the args list with no name to say what it is: the recording learns it instead, and
# masks it there and wherever else it shows up (the tool's result, a request it makes).
_SECRET_ARG = re.compile(r"secret|passw(?:or)?d|api_?key|credential|private_?key|access_?key|(?:^|_)token$", re.I)


def _no_secrets(args: tuple, kwargs: dict) -> list:
    return []


def _secret_values(func: Any) -> Callable[[tuple, dict], list]:
    """What of a call's arguments is under a credential parameter name (none: no work per call)."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return _no_secrets
    names = [n for n, p in signature.parameters.items() if _SECRET_ARG.search(n)
             and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if not names:
        return _no_secrets

    def values(args: tuple, kwargs: dict) -> list:
        try:
            bound = signature.bind_partial(*args, **kwargs).arguments
        except TypeError:  # the call itself will fail the same way, unrecorded or not
            return []
        return [bound[n] for n in names if n in bound]

    return values


class _Items:
    """One call of a generator tool: its items served from the recording, or recorded as
    the caller takes them (the sync and async drivers below share this)."""

    def __init__(self, name: str, args: tuple, kwargs: dict, secrets: list) -> None:
        decision = decide(Kind.TOOL, name, _payload(name, args, kwargs), secrets)
        self.served = recorded_items(decision.event) if isinstance(decision, Serve) else None
        self.handle = decision.handle if decision is not None and self.served is None else None
        self.items: list = []

    def took(self, item: Any) -> None:
        if self.handle is not None:
            self.items.append(item)

    def end(self, exc: BaseException | None = None) -> None:
        """The generator finished, was closed (a replay stops at the same item) or raised
        ``exc`` (an Exception is replayed after the items; a KeyboardInterrupt is not)."""
        if self.handle is not None and not self.handle.done:
            record_items(self.handle, self.items, exc if isinstance(exc, Exception) else None)


def _generator(func: Any, name: str) -> Any:
    secrets = _secret_values(func)

    @functools.wraps(func)
    def generator_tool(*args: Any, **kwargs: Any) -> Iterator[Any]:
        call = _Items(name, args, kwargs, secrets(args, kwargs))
        if call.served is not None:
            items, raised = call.served
            yield from items
            if raised is not None:
                raise raised
            return None
        gen = func(*args, **kwargs)
        # Driven by hand, not `for`: what the caller send()s or throw()s reaches the tool,
        # as it does with no recording, and its return value comes back.
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            try:
                item = gen.send(sent) if thrown is None else gen.throw(thrown)
            except StopIteration as stop:
                call.end()
                return stop.value
            except BaseException as exc:
                call.end(exc)
                raise
            call.took(item)
            sent, thrown = None, None
            try:
                sent = yield item
            except GeneratorExit:
                call.end()
                gen.close()
                raise
            except BaseException as exc:  # thrown in by the caller: the tool handles it
                thrown = exc

    return generator_tool


def _async_generator(func: Any, name: str) -> Any:
    secrets = _secret_values(func)

    @functools.wraps(func)
    async def async_generator_tool(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        call = _Items(name, args, kwargs, secrets(args, kwargs))
        if call.served is not None:
            items, raised = call.served
            for item in items:
                yield item
            if raised is not None:
                raise raised
            return
        agen = func(*args, **kwargs)
        sent: Any = None
        thrown: BaseException | None = None
        while True:  # by hand, as `_generator` is: asend()/athrow() reach the tool
            try:
                item = await (agen.asend(sent) if thrown is None else agen.athrow(thrown))
            except StopAsyncIteration:
                call.end()
                return
            except BaseException as exc:
                call.end(exc)
                raise
            call.took(item)
            sent, thrown = None, None
            try:
                sent = yield item
            except GeneratorExit:
                call.end()
                await agen.aclose()
                raise
            except BaseException as exc:
                thrown = exc

    return async_generator_tool


def _wrap(func: F, name: str) -> F:
    if inspect.isasyncgenfunction(func):
        return _async_generator(func, name)  # type: ignore[return-value]
    if inspect.isgeneratorfunction(func):
        return _generator(func, name)  # type: ignore[return-value]
    secrets = _secret_values(func)
    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def async_tool(*args: Any, **kwargs: Any) -> Any:
            return await arun(Kind.TOOL, name, _payload(name, args, kwargs), lambda: func(*args, **kwargs),
                              secrets(args, kwargs))

        return async_tool  # type: ignore[return-value]

    @functools.wraps(func)
    def sync_tool(*args: Any, **kwargs: Any) -> Any:
        return run(Kind.TOOL, name, _payload(name, args, kwargs), lambda: func(*args, **kwargs), secrets(args, kwargs))

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
