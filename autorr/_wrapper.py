"""`StreamingLLMWrapper`: route one client's calls to a chosen recorder or player.

With several agents in one process, each agent's client can be bound to its own
`Recorder` (or `Player`) without touching the code that calls it:

    client = StreamingLLMWrapper(openai.OpenAI(), recorder=autorr.Recorder(agent_id="planner"))
    client.chat.completions.create(..., stream=True)    # recorded by that recorder

Every method reached through the wrapper runs with that session active (for async
methods, for the whole awaited call). Streams are teed at the HTTP layer as always.
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Any, Iterator

import wrapt

from . import _session

__all__ = ["StreamingLLMWrapper"]


class StreamingLLMWrapper(wrapt.ObjectProxy):  # type: ignore[misc]
    """Proxy of an LLM client whose calls go to ``recorder`` (a Recorder or a Player)."""

    def __init__(self, client: Any, recorder: Any = None) -> None:
        super().__init__(client)
        if recorder is not None and not getattr(recorder, "active", False):
            recorder.start()
        self._self_session = recorder

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.__wrapped__, name)
        if name.startswith("_"):
            return value
        if callable(value) and not isinstance(value, type):
            return _bound_call(value, self._self_session)
        return StreamingLLMWrapper(value, self._self_session) if _is_namespace(value) else value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _bound_call(self.__wrapped__, self._self_session)(*args, **kwargs)


def _is_namespace(value: Any) -> bool:
    # SDK resource objects (client.chat, client.chat.completions) hold the methods.
    return not isinstance(value, (str, bytes, int, float, bool, list, dict, tuple)) and value is not None


@contextlib.contextmanager
def _active(session: Any) -> Iterator[None]:
    token = _session.activate(session)
    try:
        yield
    finally:
        _session.deactivate(token)


def _bound_call(function: Any, session: Any) -> Any:
    if session is None:
        return function

    def call(*args: Any, **kwargs: Any) -> Any:
        with _active(session):
            result = function(*args, **kwargs)
        if inspect.isawaitable(result):
            return _awaited(result, session)
        if hasattr(result, "__enter__") or hasattr(result, "__aenter__"):
            return _Entered(result, session)
        return result

    return call


class _Entered(wrapt.ObjectProxy):  # type: ignore[misc]
    """A context manager an SDK helper returns (``.stream()``, ``with_streaming_response``):
    its request goes out on entry, after the call that made it has returned, so the
    session is active for entering and leaving it too."""

    def __init__(self, manager: Any, session: Any) -> None:
        super().__init__(manager)
        self._self_session = session

    def __enter__(self) -> Any:
        with _active(self._self_session):
            return self.__wrapped__.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        with _active(self._self_session):
            return self.__wrapped__.__exit__(*exc)

    async def __aenter__(self) -> Any:
        with _active(self._self_session):
            return await self.__wrapped__.__aenter__()

    async def __aexit__(self, *exc: Any) -> Any:
        with _active(self._self_session):
            return await self.__wrapped__.__aexit__(*exc)


async def _awaited(awaitable: Any, session: Any) -> Any:
    with _active(session):
        return await awaitable
