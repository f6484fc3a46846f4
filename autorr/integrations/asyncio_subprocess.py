"""asyncio subprocesses, at the event loop: ``BaseEventLoop.subprocess_exec`` / ``subprocess_shell``.

Every asyncio way of starting a process goes through these two methods:
``asyncio.create_subprocess_exec``/``_shell`` call them, and so does anyio's
``open_process`` (>= 4.14.2), which builds its ``asyncio.subprocess.Process`` itself —
the path of the MCP SDK's ``stdio_client`` and of openai-agents' ``MCPServerStdio``.
The process is started by ``subprocess.Popen`` from inside the standard library,
which the subprocess integration leaves alone, so it is recorded once, here.
uvloop's loop is no ``BaseEventLoop``: its processes are not intercepted.

Recording runs the process. The caller's protocol is wrapped (every callback passed
on) and the transport it sees is a proxy whose stdin pipe notes each write. The event
keeps the exchange in order as ``steps``: bytes written to stdin (``in``), received on
fd 1 / fd 2 (``out`` / ``err``), stdin closed (``close``), a signal sent (``signal``),
a pipe at its end (``eof``), the exit code (``exit``), each with its offset ``t`` in
microseconds. The exit comes from ``process_exited``, so a caller that only polls
``returncode`` completes its event too. The request (argv or the shell string) and the
result's ``returncode``/``stdout``/``stderr``/``stdin`` are shaped as the ``Popen``
events are, so a changed command fails strict replay and ``autorr show`` reads both.

Replay starts no process (see ``_asyncio_replay``): the caller's protocol is driven
from the recording through the loop, the dialog in its recorded order, each write to
stdin checked against the recorded one.
"""

from __future__ import annotations

import inspect
import logging
import os
from typing import Any, Callable

import wrapt

from .._events import Kind
from .._patching import Patch
from .._session import Serve, active
from ._calls import call_request, record_error
from .subprocess import PIPE, changed_env, encode_output, learn_env, store_result

__all__ = ["PATCHES"]

log = logging.getLogger("autorr")

_SIGNATURES: dict[bool, inspect.Signature] = {}
_SIGKILL = 9  # what BaseSubprocessTransport.close() sends a process still running


def _params(wrapped: Any, args: tuple, kwargs: dict, shell: bool) -> dict[str, Any]:
    """The call's arguments by name (the loop's own defaults included: PIPE for all three)."""
    signature = _SIGNATURES.get(shell)
    if signature is None:
        signature = _SIGNATURES[shell] = inspect.signature(wrapped)
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    params = dict(bound.arguments)
    params.update(params.pop("kwargs", None) or {})
    params["args"] = params.pop("cmd") if shell else [params.pop("program"), *params["args"]]
    return params


def _wrapper(shell: bool) -> Callable[..., Any]:
    def wrapper(wrapped, instance, args, kwargs):
        session = active()
        if session is None:
            return wrapped(*args, **kwargs)
        return _start(session, wrapped, instance, args, kwargs, shell)

    return wrapper


async def _start(session: Any, wrapped: Any, loop: Any, args: tuple, kwargs: dict, shell: bool) -> Any:
    try:
        params = _params(wrapped, args, kwargs, shell)
        argv = [os.fsdecode(params["args"])] if shell else [os.fsdecode(a) for a in params["args"]]
        request = call_request(Kind.SUBPROCESS, argv[0] if argv else "", {"args": argv, "shell": shell})
        decision = session.decide(Kind.SUBPROCESS, request)
    except Exception as exc:
        if not getattr(session, "fail_open", True):
            raise
        log.warning("autorr: not recording asyncio subprocess %r: %s", args[1:2], exc)
        decision = None
    if decision is None:
        return await wrapped(*args, **kwargs)
    if isinstance(decision, Serve):
        from ._asyncio_replay import replay  # asyncio is loaded by now; `import autorr` stays light

        return await replay(loop, params, decision.event, session, request)
    dialog = _Dialog(decision.handle, params)
    handle = decision.handle
    handle.meta.update(cwd=os.fspath(params["cwd"]) if params.get("cwd") else None,
                       env_changed=changed_env(params.get("env")))
    learn_env(handle, params.get("env"))
    factory = params["protocol_factory"]

    def teed() -> Any:
        return _TeeProtocol(factory(), dialog)

    if args:
        args = (teed, *args[1:])
    else:
        kwargs = dict(kwargs, protocol_factory=teed)
    try:
        transport, protocol = await wrapped(*args, **kwargs)
    except BaseException as exc:  # a cancelled start too: the event must not stay open
        record_error(handle, exc)
        raise
    dialog.pid = transport.get_pid()
    if dialog.transport is None:  # connection_made not called yet (another loop's order)
        dialog.transport = _TransportTee(transport, dialog)
    return dialog.transport, protocol.inner


class _Dialog:
    """The exchange of one recorded process, in order, and when its event is complete."""

    def __init__(self, handle: Any, params: dict[str, Any]) -> None:
        self.handle = handle
        self.params = params
        self.steps: list[dict[str, Any]] = []
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self.written: list[bytes] | None = [] if params.get("stdin") == PIPE else None
        self.open = {fd for fd, name in ((1, "stdout"), (2, "stderr")) if params.get(name) == PIPE}
        self.code: int | None = None
        self.exited = False
        self.stdin_done = False  # closed by the caller, or lost with the process: no more caller steps
        self.pid = 0
        self.transport: Any = None

    def step(self, kind: str, value: Any) -> None:
        self.steps.append({kind: value, "t": self.handle.offset_us()})

    def wrote(self, data: bytes) -> None:
        if data and not self.stdin_done:
            self.step("in", encode_output(data))
            if self.written is not None:
                self.written.append(data)

    def received(self, fd: int, data: bytes) -> None:
        if data:
            (self.out if fd == 1 else self.err).append(data)
            self.step("out" if fd == 1 else "err", encode_output(data))

    def closed_stdin(self) -> None:
        if not self.stdin_done:
            self.stdin_done = True
            self.step("close", None)

    def signalled(self, signum: int) -> None:
        if not self.exited:
            self.step("signal", int(signum))

    def lost(self, fd: int) -> None:
        if fd == 0:
            # The process closed its end (or died): the protocol then closes stdin itself,
            # which is no step of the caller's.
            self.stdin_done = True
        elif fd in self.open:
            self.open.discard(fd)
            self.step("eof", fd)
            self.save()

    def exit(self, code: int | None) -> None:
        if not self.exited:
            self.exited, self.code = True, code
            self.step("exit", code)
            self.save()

    def save(self) -> None:
        # Kept ready at the exit (a pipe the caller never reads may stay open: the event is
        # there all the same) and final once the output is complete as well.
        if not self.exited or self.handle.done:
            return
        result = {"returncode": self.code, "stdout": encode_output(b"".join(self.out)) if self.out else None,
                  "stderr": encode_output(b"".join(self.err)) if self.err else None, "pid": self.pid,
                  "text": False, "steps": self.steps}
        if self.written is not None:
            result["stdin"] = encode_output(b"".join(self.written))
        try:
            store_result(self.handle, result, final=not self.open)
        except Exception as exc:  # the host program comes first
            log.warning("autorr: failed to record asyncio subprocess %r: %s", self.params["args"], exc)


class _TeeProtocol:
    """The protocol the real transport talks to: notes each callback, then passes it on."""

    def __init__(self, inner: Any, dialog: _Dialog) -> None:
        self.inner = inner
        self.dialog = dialog

    def connection_made(self, transport: Any) -> None:
        self.dialog.transport = _TransportTee(transport, self.dialog)
        self.inner.connection_made(self.dialog.transport)

    def _note(self, method: Callable[..., None], *args: Any) -> None:
        # These run inside the loop's pipe callbacks: an autorr fault loses this call's
        # record, never the host's transport.
        try:
            method(*args)
        except Exception as exc:
            log.warning("autorr: not recording the rest of a subprocess's exchange: %s", exc)

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self._note(self.dialog.received, fd, bytes(data))
        self.inner.pipe_data_received(fd, data)

    def pipe_connection_lost(self, fd: int, exc: BaseException | None) -> None:
        self._note(self.dialog.lost, fd)
        self.inner.pipe_connection_lost(fd, exc)

    def process_exited(self) -> None:
        transport = self.dialog.transport
        self._note(self.dialog.exit, transport.get_returncode() if transport is not None else None)
        self.inner.process_exited()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _TransportTee(wrapt.ObjectProxy):  # type: ignore[misc]
    """The transport the caller sees while recording: its stdin pipe and signals are noted."""

    def __init__(self, wrapped: Any, dialog: _Dialog) -> None:
        super().__init__(wrapped)
        self._self_dialog = dialog
        self._self_stdin: Any = None

    def get_pipe_transport(self, fd: int) -> Any:
        pipe = self.__wrapped__.get_pipe_transport(fd)
        if fd != 0 or pipe is None:
            return pipe
        if self._self_stdin is None:
            self._self_stdin = _StdinTee(pipe, self._self_dialog)
        return self._self_stdin

    def send_signal(self, signum: int) -> None:
        self.__wrapped__.send_signal(signum)
        self._self_dialog.signalled(signum)

    def terminate(self) -> None:
        self.__wrapped__.terminate()
        self._self_dialog.signalled(15)

    def kill(self) -> None:
        self.__wrapped__.kill()
        self._self_dialog.signalled(_SIGKILL)

    def close(self) -> None:
        if self.__wrapped__.get_returncode() is None and not self.__wrapped__.is_closing():
            self._self_dialog.signalled(_SIGKILL)  # closing a running process's transport kills it
        self.__wrapped__.close()


class _StdinTee(wrapt.ObjectProxy):  # type: ignore[misc]
    """The stdin pipe transport while recording: what the caller (or communicate()) writes is noted."""

    def __init__(self, wrapped: Any, dialog: _Dialog) -> None:
        super().__init__(wrapped)
        self._self_dialog = dialog

    def write(self, data: Any) -> None:
        closing = self.__wrapped__.is_closing()
        self.__wrapped__.write(data)
        if not closing:  # a write after close goes nowhere, live as in replay
            self._self_dialog.wrote(bytes(data))

    def writelines(self, data: Any) -> None:
        for piece in data:
            self.write(piece)

    def write_eof(self) -> None:
        self.__wrapped__.write_eof()
        self._self_dialog.closed_stdin()

    def close(self) -> None:
        self.__wrapped__.close()
        self._self_dialog.closed_stdin()

    def abort(self) -> None:
        self.__wrapped__.abort()
        self._self_dialog.closed_stdin()


def _exec(module: Any) -> Callable[..., Any]:
    return _wrapper(shell=False)


def _shell(module: Any) -> Callable[..., Any]:
    return _wrapper(shell=True)


PATCHES = (
    Patch("asyncio.base_events", "BaseEventLoop.subprocess_exec", _exec),
    Patch("asyncio.base_events", "BaseEventLoop.subprocess_shell", _shell),
)
