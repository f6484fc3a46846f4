"""asyncio subprocesses: ``asyncio.create_subprocess_exec`` and ``create_subprocess_shell``.

asyncio starts its process through ``subprocess.Popen`` from inside the standard
library, which the subprocess integration leaves alone (see there), so these two are
the choke point. Both names are wrapped: ``asyncio.create_subprocess_exec`` is a copy of
``asyncio.subprocess.create_subprocess_exec`` (``from .subprocess import *``), and a
caller's name resolves to one or the other.

Recording runs the process. Its event has the shape of a ``Popen`` one: the same
request (argv or the shell string, so a changed command fails strict replay; cwd and
the names of changed environment variables as metadata) and the same result (return
code, stdout, stderr, pid), plus ``stdin``: what was written to a piped stdin. What is
kept of stdout/stderr is what the caller read from them (``read``, ``readline``,
``readuntil``, ``readexactly``, ``async for``, ``communicate()``).

Replay starts no process. The caller gets a stand-in with the ``Process`` surface:
``stdout``/``stderr`` are real ``asyncio.StreamReader``s holding the recorded bytes
and EOF, ``stdin`` takes and drops what is written, ``wait()`` / ``communicate()`` /
``returncode`` give the recorded code, ``kill()`` / ``terminate()`` / ``send_signal()``
do nothing. An error raised at start (``FileNotFoundError``) is raised again.

Interactive stdin (an MCP-style dialog: write a request, ``readline`` the answer,
repeat) is replayed only approximately: the recorded output is there whatever is
written, and what was written is no part of the fingerprint. It is checked only when
``communicate()`` is called (the input, after any earlier writes, against what the
recording saw): a difference is a mismatch, handled like a file changed since
recording (strict raises, warn serves the recording, hybrid runs the process live).

Not intercepted: ``loop.subprocess_exec`` / ``subprocess_shell`` with a protocol of
one's own. A ``wait()`` cancelled by ``asyncio.wait_for`` is not replayed as a timeout,
and output sent to a file (``stdout=f``) is not written again in replay.
"""

from __future__ import annotations

import inspect
import logging
import os
import weakref
from typing import Any, Callable

import wrapt

from .._events import Kind
from .._patching import Patch
from .._session import Serve, active
from ._calls import call_request, record_error, recorded_result
from .subprocess import _PIPE, _State, _changed_env, _decode_output, _learn_env

__all__ = ["PATCHES"]

log = logging.getLogger("autorr")

_SIGNATURES: dict[bool, inspect.Signature] = {}


def _params(original: Any, args: tuple, kwargs: dict, shell: bool) -> dict[str, Any]:
    """The call's arguments as ``Popen``'s would be: ``args`` is the command, ``**kwds`` flattened."""
    signature = _SIGNATURES.get(shell)
    if signature is None:
        signature = _SIGNATURES[shell] = inspect.signature(original)
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    params = dict(bound.arguments)
    params.update(params.pop("kwds", None) or {})
    params["args"] = params.pop("cmd") if shell else [params.pop("program"), *params["args"]]
    return params


def _ours(wrapped: Any) -> bool:
    # Where asyncio is imported after install() (wrapt imports it first today), the hook
    # on asyncio.subprocess runs before `asyncio` copies its names: the copy is then our
    # proxy wrapped again, and only the inner one may record.
    return getattr(getattr(wrapped, "_self_wrapper", None), "_autorr_asyncio", False)


def _wrapper(shell: bool) -> Callable[..., Any]:
    def wrapper(wrapped, instance, args, kwargs):
        session = active()
        if session is None or _ours(wrapped):
            return wrapped(*args, **kwargs)
        return _start(session, wrapped, args, kwargs, shell)

    wrapper._autorr_asyncio = True  # type: ignore[attr-defined]
    return wrapper


async def _start(session: Any, wrapped: Any, args: tuple, kwargs: dict, shell: bool) -> Any:
    try:
        params = _params(wrapped, args, kwargs, shell)
        argv = [os.fsdecode(params["args"])] if shell else [os.fsdecode(a) for a in params["args"]]
        request = call_request(Kind.SUBPROCESS, argv[0] if argv else "", {"args": argv, "shell": shell})
        decision = session.decide(Kind.SUBPROCESS, request)
    except Exception as exc:
        if not getattr(session, "fail_open", True):
            raise
        log.warning("autorr: not recording asyncio subprocess %r: %s", args[:1], exc)
        decision = None
    if decision is None:
        return await wrapped(*args, **kwargs)
    if isinstance(decision, Serve):
        return _Replayed(params, decision.event, session, request, lambda: wrapped(*args, **kwargs))
    state = _State(params)
    handle = state.handle = decision.handle
    handle.meta.update(cwd=os.fspath(params["cwd"]) if params.get("cwd") else None,
                       env_changed=_changed_env(params.get("env")))
    _learn_env(handle, params.get("env"))
    try:
        proc = await wrapped(*args, **kwargs)
    except Exception as exc:
        record_error(handle, exc)
        raise
    return _Recorded(proc, state)


class _ReadTee(wrapt.ObjectProxy):  # type: ignore[misc]
    """A StreamReader read by the caller: what it reads is recorded."""

    def __init__(self, wrapped: Any, sink: list, on_eof: Callable[[Any], None]) -> None:
        super().__init__(wrapped)
        self._self_sink = sink
        self._self_on_eof = on_eof

    def _keep(self, data: bytes, eof: bool) -> bytes:
        if data:
            self._self_sink.append(bytes(data))
        if eof:
            self._self_on_eof(self)
        return data

    async def read(self, n: int = -1) -> bytes:
        data = await self.__wrapped__.read(n)
        return self._keep(data, n < 0 or (n > 0 and not data))  # read(0) is no EOF

    async def readline(self) -> bytes:
        data = await self.__wrapped__.readline()
        return self._keep(data, not data)

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        try:
            return self._keep(await self.__wrapped__.readuntil(separator), False)
        except EOFError as exc:  # IncompleteReadError: what was left is consumed, and the caller has it
            self._keep(getattr(exc, "partial", b""), True)
            raise

    async def readexactly(self, n: int) -> bytes:
        try:
            return self._keep(await self.__wrapped__.readexactly(n), False)
        except EOFError as exc:
            self._keep(getattr(exc, "partial", b""), True)
            raise

    def __aiter__(self) -> Any:
        return self

    async def __anext__(self) -> bytes:
        line = await self.readline()
        if not line:
            raise StopAsyncIteration
        return line


class _WriteTee(wrapt.ObjectProxy):  # type: ignore[misc]
    """A piped stdin while recording: what is written (by the caller or communicate()) is kept."""

    def __init__(self, wrapped: Any, sink: list) -> None:
        super().__init__(wrapped)
        self._self_sink = sink

    def write(self, data: Any) -> Any:
        result = self.__wrapped__.write(data)
        self._self_sink.append(bytes(data))
        return result

    def writelines(self, data: Any) -> Any:
        data = list(data)
        result = self.__wrapped__.writelines(data)
        self._self_sink.extend(bytes(d) for d in data)
        return result


class _Recorded(wrapt.ObjectProxy):  # type: ignore[misc]
    """A live Process whose pipes are teed; its end (wait, communicate, or its output read
    to EOF) makes the event."""

    def __init__(self, proc: Any, state: _State) -> None:
        super().__init__(proc)
        self._self_state = state
        state.pid = proc.pid
        process = weakref.ref(proc)  # the pipes must not keep the Process alive

        def on_eof(pipe: Any) -> None:
            if pipe in state.open_pipes:
                state.open_pipes.remove(pipe)
            live = process()
            if not state.open_pipes and not state.communicating and live is not None:
                # Not exited yet: the event is kept ready, and wait() finishes it.
                state.finish(live, final=live.returncode is not None)

        if proc.stdin is not None:
            state.stdin = []
            proc.stdin = _WriteTee(proc.stdin, state.stdin)
        for name, sink in (("stdout", state.out), ("stderr", state.err)):
            pipe = getattr(proc, name)
            if pipe is not None:
                tee = _ReadTee(pipe, sink, on_eof)
                setattr(proc, name, tee)  # the real communicate() reads through it too
                state.open_pipes.append(tee)

    async def wait(self) -> int:
        code = await self.__wrapped__.wait()
        if not self._self_state.communicating:
            self._self_state.finish(self.__wrapped__)
        return code

    async def communicate(self, input: bytes | None = None) -> tuple[Any, Any]:
        state = self._self_state
        state.communicating = True  # its own reads reach EOF before its wait(): finish once, after it
        try:
            result = await self.__wrapped__.communicate(input)
        finally:
            state.communicating = False
        state.finish(self.__wrapped__)
        return result


class _DroppedStdin:
    """A piped stdin in replay: takes what is written (for communicate()'s check), sends it nowhere."""

    transport = None

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self._closed = False

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def writelines(self, data: Any) -> None:
        for piece in data:
            self.write(piece)

    def write_eof(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        self._closed = True

    def is_closing(self) -> bool:
        return self._closed

    async def drain(self) -> None:
        pass

    async def wait_closed(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class _Replayed:
    """What ``create_subprocess_*`` returns in replay: a Process answered from the recording."""

    def __init__(self, params: dict[str, Any], event: Any, session: Any, request: Any,
                 live: Callable[[], Any]) -> None:
        import asyncio

        result = recorded_result(event)  # raises what the real start raised (FileNotFoundError, ...)
        if not isinstance(result, dict):  # a process still running when its recording stopped
            raise RuntimeError(f"autorr: the recorded process {params['args']!r} has no result (the recording "
                               "stopped before its output was read): record it again")
        self._params, self._session, self._request, self._live = params, session, request, live
        self._code = result.get("returncode")
        self._recorded_stdin = result.get("stdin")
        self._waited = False
        self.pid = result.get("pid") or 0
        loop = asyncio.get_running_loop()

        def reader(name: str) -> Any:
            if params.get(name) != _PIPE:
                return None
            stream = asyncio.StreamReader(limit=params["limit"], loop=loop)
            data = _decode_output(result.get(name), False, params)
            if data:
                stream.feed_data(data)
            stream.feed_eof()
            return stream

        self.stdin = _DroppedStdin() if params.get("stdin") == _PIPE else None
        self.stdout, self.stderr = reader("stdout"), reader("stderr")

    def __repr__(self) -> str:
        return f"<Process {self.pid}>"

    @property
    def returncode(self) -> int | None:
        # As live: known once the process is waited for or its output read to the end.
        if self._waited or all(p is None or p.at_eof() for p in (self.stdout, self.stderr)):
            return self._code
        return None

    async def wait(self) -> int | None:
        self._waited = True
        return self._code

    async def communicate(self, input: bytes | None = None) -> tuple[Any, Any]:
        if input is not None:
            self.stdin.write(input)  # no stdin pipe: AttributeError, as live
        if self.stdin is not None and self._recorded_stdin is not None and self._stdin_changed() == "live":
            return await self._communicate_live()
        out = await self.stdout.read() if self.stdout is not None else None
        err = await self.stderr.read() if self.stderr is not None else None
        self._waited = True
        return out, err

    def _stdin_changed(self) -> str:
        written = b"".join(self.stdin.written)
        recorded = _decode_output(self._recorded_stdin, False, self._params)
        if written == recorded or not hasattr(self._session, "content_mismatch"):
            return "serve"
        redactor = getattr(self._session, "_recording_redactor", None)
        if redactor is not None and redactor().scrub(written) == recorded:  # a secret the recording masked
            return "serve"
        at = next((i for i, (a, b) in enumerate(zip(recorded, written)) if a != b), min(len(recorded), len(written)))
        # Sizes and where they part, not the content: stdin often carries a password.
        diff = [f"stdin: recorded {len(recorded)} bytes, now {len(written)} bytes (first difference at byte {at})"]
        return self._session.content_mismatch(Kind.SUBPROCESS, self._request, diff)

    async def _communicate_live(self) -> tuple[Any, Any]:
        """Hybrid replay of a process whose input changed: run it now, unrecorded."""
        proc = await self._live()
        out, err = await proc.communicate(b"".join(self.stdin.written))
        self.pid, self._code, self._waited = proc.pid, proc.returncode, True
        return out, err

    def send_signal(self, signal: int) -> None:
        pass

    def terminate(self) -> None:
        pass

    def kill(self) -> None:
        pass


def _exec(module: Any) -> Callable[..., Any]:
    return _wrapper(shell=False)


def _shell(module: Any) -> Callable[..., Any]:
    return _wrapper(shell=True)


PATCHES = (
    Patch("asyncio.subprocess", "create_subprocess_exec", _exec),
    Patch("asyncio.subprocess", "create_subprocess_shell", _shell),
    Patch("asyncio", "create_subprocess_exec", _exec),
    Patch("asyncio", "create_subprocess_shell", _shell),
)
