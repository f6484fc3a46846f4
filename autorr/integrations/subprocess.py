"""Subprocesses: ``subprocess.Popen`` and so ``run``, ``check_output``, ``check_call``, ``call``.

Recording runs the process and keeps argv, return code, stdout and stderr (whether
read through ``communicate()`` or straight from ``p.stdout``), duration and the
names of changed environment variables. Replay starts no process: the ``Popen``
object answers ``communicate`` / ``wait`` / ``poll`` / ``returncode`` / ``stdout``
from the recording.

Calls made by the standard library itself (``platform.processor()`` runs
``uname -p``, which the openai SDK triggers once per process) are left alone: they
are not the agent's tools, and serving or refusing them would make replay depend
on a library's caching.
"""

from __future__ import annotations

import functools
import inspect
import io
import logging
import os
import stat
import subprocess
import sys
import sysconfig
import threading
import weakref
from typing import Any

import wrapt

from .._events import Kind, Status
from .._patching import Patch
from .._session import Serve, active
from ._calls import call_request, decode_bytes, encode_bytes, encode_value, recorded_result, redactor_of, run

__all__ = ["PATCHES", "PIPE", "changed_env", "decode_output", "encode_output", "learn_env", "store_result"]

log = logging.getLogger("autorr")

PIPE = -1
_STDOUT = -2
_STDLIB = tuple({os.path.realpath(sysconfig.get_paths()[k]) + os.sep for k in ("stdlib", "platstdlib")})
_SKIP = (os.path.realpath(os.path.dirname(__file__)).rsplit(os.sep, 1)[0] + os.sep,
         os.path.realpath(os.path.dirname(wrapt.__file__)) + os.sep)
_SIGNATURE: inspect.Signature | None = None


# `os.popen` is the caller's API, not the stdlib's own use: its caller decides. Python
# 3.11+ runs `os` frozen ("<frozen os>"); 3.10 from os.py under the stdlib.
_OS_FILES = ("<frozen os>", os.__file__, os.path.realpath(os.__file__))


def _stdlib_caller() -> bool:
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if not (name.endswith(("subprocess.py", "contextlib.py")) or name.startswith(_SKIP) or name in _OS_FILES):
            real = os.path.realpath(name)
            return real.startswith(_STDLIB) and "-packages" not in real
        frame = frame.f_back
    return False


def _bind(original: Any, args: tuple, kwargs: dict) -> dict[str, Any]:
    global _SIGNATURE
    if _SIGNATURE is None:
        _SIGNATURE = inspect.signature(original)
    bound = _SIGNATURE.bind(*args, **kwargs)  # `original` is bound: no self
    bound.apply_defaults()
    return bound.arguments


def _argv(value: Any) -> list[str]:
    if isinstance(value, (str, bytes, os.PathLike)):
        return [os.fsdecode(value)]
    return [os.fsdecode(a) for a in value]


def _text_mode(params: dict[str, Any]) -> bool:
    return bool(params.get("text") or params.get("universal_newlines") or params.get("encoding")
                or params.get("errors"))


def encode_output(data: Any) -> Any:
    # Bytes as text too (see `encode_bytes`): the writer scrubs secrets in text only.
    if data is None:
        return None
    if isinstance(data, str):
        return {"text": data}
    return encode_bytes(bytes(data))


def decode_output(data: Any, text: bool, params: dict[str, Any]) -> Any:
    if data is None:
        return None
    value = data["text"] if "text" in data else decode_bytes(data)
    encoding = params.get("encoding") or "utf-8"
    if text and isinstance(value, bytes):
        return value.decode(encoding, params.get("errors") or "strict")
    if not text and isinstance(value, str):
        return value.encode(encoding)
    return value


class _Tee(wrapt.ObjectProxy):  # type: ignore[misc]
    """A pipe read straight by the caller: what it reads is recorded."""

    def __init__(self, wrapped: Any, sink: list, on_eof: Any) -> None:
        super().__init__(wrapped)
        self._self_sink = sink
        self._self_on_eof = on_eof

    def _keep(self, data: Any, whole: bool = False) -> Any:
        if data:
            self._self_sink.append(data)
        if whole or not data:
            self._self_on_eof(self)
        return data

    def read(self, *args: Any) -> Any:
        return self._keep(self.__wrapped__.read(*args), not args or args[0] is None or args[0] < 0)

    def read1(self, *args: Any) -> Any:
        return self._keep(self.__wrapped__.read1(*args))

    def readline(self, *args: Any) -> Any:
        return self._keep(self.__wrapped__.readline(*args))

    def readlines(self, *args: Any) -> list:
        lines = self.__wrapped__.readlines(*args)
        self._self_sink.extend(lines)
        if not args:
            self._self_on_eof(self)
        return lines

    def __iter__(self) -> Any:
        return self

    def __next__(self) -> Any:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class _State:
    """What autorr keeps on a recorded or replayed Popen."""

    __slots__ = ("handle", "event", "params", "text", "out", "err", "result", "communicating", "timeouts",
                 "open_pipes", "files", "pid")

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params
        self.text = _text_mode(params)
        self.handle: Any = None
        self.event: Any = None
        self.out: list = []
        self.err: list = []
        self.result: dict[str, Any] | None = None
        self.communicating = False  # communicate() waits internally: finish once, after it
        self.timeouts: list = []  # TimeoutExpired raised by communicate()/wait(), in order
        self.open_pipes: list = []  # the teed pipes not read to the end yet
        self.files: dict[str, Any] = {}  # "stdout"/"stderr" -> _FileOutput, when sent to a file
        self.pid = 0

    def finish(self, popen: Any | None, communicated: tuple[Any, Any] | None = None, final: bool = True) -> None:
        handle = self.handle
        if handle is None or handle.done:
            return
        joiner = "" if self.text else b""
        out, err = communicated or (joiner.join(self.out) if self.out else None,
                                    joiner.join(self.err) if self.err else None)
        returncode = None if popen is None else popen.returncode
        result = {"returncode": returncode, "stdout": encode_output(out), "stderr": encode_output(err),
                  "pid": self.pid, "text": self.text}
        if self.timeouts:
            result["timeouts"] = self.timeouts
        for name, output in self.files.items():
            result[f"{name}_file"] = encode_output(output.written(final))
        # Not final: the caller read the pipes to the end but has not waited (yet). The
        # event is kept ready, so a recording stopped before that wait still replays it.
        store_result(handle, result, final)

    def eof(self, pipe: Any, popen: Any) -> None:
        if pipe in self.open_pipes:
            self.open_pipes.remove(pipe)
        if self.open_pipes or self.communicating or self.handle is None or self.handle.done:
            return
        if popen is None:  # `os.popen(cmd).read()`: the Popen is gone, nobody can wait for it
            self.finish(None)
        elif popen.poll() is None:  # never block here: a process may close its output and go on
            self.finish(popen, final=False)


class _FileOutput:
    """A regular file given as ``stdout=``/``stderr=``: what the child writes there is
    kept. A duplicate of the descriptor shares its offset (where the child got to) and
    stays valid if the caller closes its file first; the file is read back through a
    descriptor of its own (the caller's is usually write-only)."""

    __slots__ = ("fd", "reader", "start")

    def __init__(self, fd: int) -> None:
        self.fd = self.reader = -1
        self.reader = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY)  # Linux; elsewhere OSError: not kept
        self.fd = os.dup(fd)
        self.start = os.fstat(fd).st_size if _appends(fd) else os.lseek(fd, 0, os.SEEK_CUR)

    def written(self, final: bool) -> bytes | None:
        try:
            end = os.fstat(self.fd).st_size if _appends(self.fd) else os.lseek(self.fd, 0, os.SEEK_CUR)
            return os.pread(self.reader, max(0, end - self.start), self.start)
        except OSError:
            return None
        finally:
            if final:
                self.close()

    def close(self) -> None:
        for fd in (self.fd, self.reader):
            if fd >= 0:
                os.close(fd)
        self.fd = self.reader = -1

    __del__ = close


def _appends(fd: int) -> bool:
    import fcntl

    return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND)


def _regular_fd(target: Any) -> int | None:
    """The descriptor of a regular file given as ``stdout=``/``stderr=``, else None."""
    if target is None or isinstance(target, int) and target < 0:
        return None  # inherited, PIPE, STDOUT, DEVNULL
    try:
        fd = target if isinstance(target, int) else target.fileno()
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None


def store_result(handle: Any, result: dict[str, Any], final: bool = True) -> None:
    """Put a process's result dict on its event; ``final`` finishes the event, otherwise
    the event is only kept ready (replaced by a later call)."""
    handle.parts, handle.chunks = [], []
    handle.set_response({"status": result.get("returncode")})
    handle.chunk(_dumps({"value": encode_value(result)}))
    if final:
        handle.finish(Status.OK)


def _dumps(value: Any) -> bytes:
    import orjson

    return orjson.dumps(value)


def changed_env(env: Any) -> list[str]:
    if env is None:
        return []
    keys = set(os.environ) | set(env)
    return sorted(k for k in keys if os.environ.get(k) != env.get(k))


def learn_env(handle: Any, env: Any) -> None:
    """Credentials handed to the child only (``env=dict(os.environ, DB_PASSWORD=...)``) are
    no secret the recording knows from its own environment: learn them, or the child
    echoing one would store it."""
    redactor = redactor_of(handle)
    if env is not None and redactor is not None:
        try:
            redactor.learn_environ({os.fsdecode(k): os.fsdecode(v) for k, v in env.items()})
        except (TypeError, ValueError, AttributeError):  # an env Popen itself will refuse
            pass


def _init(module: Any):
    def wrapper(wrapped, instance, args, kwargs):
        session = active()
        if session is None or _stdlib_caller():
            return wrapped(*args, **kwargs)
        try:
            params = _bind(wrapped, args, kwargs)
            argv = _argv(params["args"])
            payload = {"args": argv, "shell": bool(params.get("shell"))}
            request = call_request(Kind.SUBPROCESS, argv[0] if argv else "", payload)
            decision = session.decide(Kind.SUBPROCESS, request)
        except Exception as exc:
            if not session.fail_open:
                raise
            log.warning("autorr: not recording subprocess %r: %s", args[:1], exc)
            decision = None
        if decision is None:
            return wrapped(*args, **kwargs)
        state = _State(params)
        if isinstance(decision, Serve):
            _become_replayed(instance, state, decision.event)
            return None
        handle = state.handle = decision.handle
        handle.meta.update(cwd=os.fspath(params["cwd"]) if params.get("cwd") else None,
                           env_changed=changed_env(params.get("env")))
        learn_env(handle, params.get("env"))
        for name in ("stdout", "stderr"):
            fd = _regular_fd(params.get(name))
            if fd is not None:
                try:
                    state.files[name] = _FileOutput(fd)
                except OSError:  # no /proc: the output goes unrecorded, as before
                    pass
        try:
            wrapped(*args, **kwargs)
        except Exception as exc:
            from ._calls import record_error

            record_error(handle, exc)
            raise
        instance._autorr = state
        state.pid = instance.pid
        popen = weakref.ref(instance)  # the pipes must not keep the Popen alive

        def on_eof(pipe: Any) -> None:
            state.eof(pipe, popen())

        if instance.stdout is not None:
            instance.stdout = _Tee(instance.stdout, state.out, on_eof)
            state.open_pipes.append(instance.stdout)
        if instance.stderr is not None:
            instance.stderr = _Tee(instance.stderr, state.err, on_eof)
            state.open_pipes.append(instance.stderr)
        return None

    return wrapper


def _become_replayed(popen: Any, state: _State, event: Any) -> None:
    result = recorded_result(event)  # raises what the real Popen raised (e.g. FileNotFoundError)
    if not isinstance(result, dict):  # a process still running when its recording stopped
        raise RuntimeError(f"autorr: the recorded process {state.params['args']!r} has no result (the recording "
                           "stopped before its output was read): record it again")
    params, text = state.params, state.text
    for name in ("stdout", "stderr"):
        data = result.get(f"{name}_file")
        fd = _regular_fd(params.get(name)) if data else None
        if fd is not None:  # what the process wrote into the caller's file, written again
            os.write(fd, decode_output(data, False, params))
    state.event, state.result = event, result
    out = decode_output(result.get("stdout"), text, params)
    err = decode_output(result.get("stderr"), text, params)
    state.out, state.err = [out], [err]

    def pipe(data: Any) -> Any:
        return io.StringIO(data or "") if text else io.BytesIO(data or b"")

    popen.args = params["args"]
    popen.stdin = pipe(None) if params.get("stdin") == PIPE else None
    popen.stdout = pipe(out) if params.get("stdout") == PIPE else None
    popen.stderr = pipe(err) if params.get("stderr") == PIPE else None
    popen.pid = result.get("pid") or 0
    popen.returncode = None
    popen.text_mode = text
    popen.encoding, popen.errors = params.get("encoding"), params.get("errors")
    popen.universal_newlines = params.get("universal_newlines")
    popen._child_created = False  # nothing to reap, kill or warn about
    popen._communication_started = False
    popen._waitpid_lock = threading.Lock()
    popen._input = None
    popen._sigint_wait_secs = 0.25
    popen._closed_child_pipe_fds = True
    popen._autorr = state


def _replayed_returncode(popen: Any, state: _State) -> int:
    popen.returncode = state.result["returncode"]
    return popen.returncode


def _replay_timeout(popen: Any, state: _State) -> None:
    """Raise the next TimeoutExpired the recorded process raised, if any is left."""
    recorded = state.result.get("timeouts") or ()
    if len(state.timeouts) < len(recorded):
        timeout = recorded[len(state.timeouts)]
        state.timeouts.append(timeout)
        raise subprocess.TimeoutExpired(popen.args, timeout["timeout"],
                                        output=decode_output(timeout["stdout"], False, state.params),
                                        stderr=decode_output(timeout["stderr"], False, state.params))


def _note_timeout(state: _State, exc: subprocess.TimeoutExpired) -> None:
    state.timeouts.append({"timeout": exc.timeout, "stdout": encode_output(exc.stdout),
                           "stderr": encode_output(exc.stderr)})


def _communicate(module: Any):
    def wrapper(wrapped, instance, args, kwargs):
        state = getattr(instance, "_autorr", None)
        if state is None:
            return wrapped(*args, **kwargs)
        if state.result is not None:  # replayed
            _replay_timeout(instance, state)
            _replayed_returncode(instance, state)
            params = state.params
            out = state.out[0] if params.get("stdout") == PIPE else None
            err = state.err[0] if params.get("stderr") == PIPE else None
            for pipe in (instance.stdout, instance.stderr):
                if pipe is not None:
                    pipe.close()
            return out, err
        state.communicating = True
        try:
            out, err = wrapped(*args, **kwargs)
        except subprocess.TimeoutExpired as exc:
            _note_timeout(state, exc)
            raise
        finally:
            state.communicating = False
        state.finish(instance, (out, err))
        return out, err

    return wrapper


def _wait_or_poll(module: Any, *, waits: bool):
    """``Popen.wait`` (``waits``: a recorded timeout is raised again) or ``Popen.poll``."""
    def wrapper(wrapped, instance, args, kwargs):
        state = getattr(instance, "_autorr", None)
        if state is None:
            return wrapped(*args, **kwargs)
        if state.result is not None:
            if waits:
                _replay_timeout(instance, state)
            return _replayed_returncode(instance, state)
        try:
            code = wrapped(*args, **kwargs)
        except subprocess.TimeoutExpired as exc:
            if not state.communicating:  # communicate() notes its own
                _note_timeout(state, exc)
            raise
        if code is not None and not state.communicating:
            state.finish(instance)
        return code

    return wrapper


def _system(module: Any):
    # os.system's output goes to the terminal (not replayed); its exit status and its
    # side effects are what replay must reproduce and prevent.
    def wrapper(wrapped, instance, args, kwargs):
        if active() is None or _stdlib_caller():
            return wrapped(*args, **kwargs)
        command = os.fsdecode(args[0] if args else kwargs["command"])
        return run(Kind.SUBPROCESS, command, {"args": [command], "shell": True, "via": "os.system"},
                   lambda: wrapped(*args, **kwargs))

    return wrapper


PATCHES = (
    Patch("subprocess", "Popen.__init__", _init),
    Patch("subprocess", "Popen.communicate", _communicate),
    Patch("subprocess", "Popen.wait", functools.partial(_wait_or_poll, waits=True)),
    Patch("subprocess", "Popen.poll", functools.partial(_wait_or_poll, waits=False)),
    Patch("os", "system", _system),
)
