"""Replay of an asyncio subprocess: no process, the recorded dialog played in order.

The caller's protocol gets a stand-in ``SubprocessTransport`` and is driven through
the loop (``call_soon``) as the real transport drives it: ``connection_made``, then the
output recorded before the caller's first action; each caller action (a write to
stdin, stdin closed, a signal) is checked against the next recorded one and releases
the output recorded after it; the exit code, the pipes' ends and ``connection_lost``
come where the recording has them. Writes are compared as one stream (a recorded write
may come in several pieces, or several in one); newline-delimited JSON is compared line
by line as canonical JSON, so key order does not matter. A write that differs is a
mismatch (``content_mismatch``): strict raises from the write; warn logs and serves
the recording; hybrid too — a process cannot be joined live halfway through a dialog.

``wait()`` does not force the end: the recording says whether the process ended before
or after the caller's next action, and the stand-in keeps that order.

The stand-in's pid is ``2**31 - 1``: above every platform's pid limit yet a valid
``pid_t``, so ``os.kill``/``os.killpg`` by a caller (the MCP SDK kills its server's
process group) raise ProcessLookupError, as for a process gone, and hit nobody.
``kill``/``terminate``/``send_signal`` on the stand-in send nothing.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import orjson

from .._events import Kind
from ._calls import recorded_result
from .subprocess import PIPE, decode_output

__all__ = ["NO_PID", "replay"]

log = logging.getLogger("autorr")

NO_PID = 2**31 - 1
_CALLER = frozenset({"in", "close", "signal"})


def _steps(result: dict[str, Any], params: dict[str, Any]) -> list[tuple[str, Any]]:
    """(kind, value) in recorded order, bytes decoded; a result without steps (recorded
    before they were kept) as its stdin, its output and its exit."""
    def data(value: Any) -> bytes:
        return decode_output(value, False, params) or b""

    if "steps" not in result:
        old = [("in", data(result.get("stdin"))), ("out", data(result.get("stdout"))),
               ("err", data(result.get("stderr")))]
        return [s for s in old if s[1]] + [("eof", 1), ("eof", 2), ("exit", result.get("returncode"))]
    steps = []
    for step in result["steps"]:
        kind = next(k for k in step if k != "t")
        value = step[kind]
        steps.append((kind, data(value) if kind in ("in", "out", "err") else value))
    return steps


def _json_line(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return _NOT_JSON


_NOT_JSON = object()


class _Transport(asyncio.SubprocessTransport):
    """The stand-in transport; it owns the dialog's cursor."""

    def __init__(self, loop: Any, protocol: Any, params: dict[str, Any], steps: list[tuple[str, Any]],
                 session: Any, request: Any) -> None:
        super().__init__()
        self._loop, self._protocol, self._params = loop, protocol, params
        self._steps, self._at = steps, 0
        self._session, self._request = session, request
        self._pending = b""  # written by the caller, not matched yet
        self._writes = 0  # recorded writes matched so far, to name the one that differs
        self._code: int | None = None
        self._exiting = False  # the exit step is released (maybe not delivered yet)
        self._finished = False
        self._closed = False
        self._aborted = False  # a strict mismatch was raised: the dialog is over
        self._waiters: list[Any] = []
        self._lost: set[int] = set()
        self._pipes: dict[int, Any] = {}
        if params.get("stdin") == PIPE:
            self._pipes[0] = _WritePipe(self)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            if params.get(name) == PIPE:
                self._pipes[fd] = _ReadPipe(self, fd)

    # -- the SubprocessTransport surface --------------------------------------------------
    def get_pid(self) -> int:
        return NO_PID

    def get_returncode(self) -> int | None:
        return self._code

    def get_pipe_transport(self, fd: int) -> Any:
        return self._pipes.get(fd)

    def send_signal(self, signum: int) -> None:
        self._signalled(int(signum))

    def terminate(self) -> None:
        self._signalled(int(signal.SIGTERM))

    def kill(self) -> None:
        self._signalled(int(signal.SIGKILL))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._exiting:  # as live: closing the transport of a running process kills it
            self._signalled(int(signal.SIGKILL))
        for pipe in self._pipes.values():
            pipe.close()

    def is_closing(self) -> bool:
        return self._closed

    async def _wait(self) -> int | None:
        """What ``asyncio.subprocess.Process.wait()`` awaits."""
        if self._code is not None:
            return self._code
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        return await waiter

    # -- the dialog -------------------------------------------------------------------------
    def _start(self) -> None:
        self._protocol.connection_made(self)
        self._release()

    def _next(self) -> tuple[str, Any] | None:
        return self._steps[self._at] if self._at < len(self._steps) else None

    def _release(self) -> None:
        """Play the process's steps up to the caller's next action."""
        while (step := self._next()) is not None and step[0] not in _CALLER:
            kind, value = step
            self._at += 1
            if kind in ("out", "err"):
                self._loop.call_soon(self._deliver, 1 if kind == "out" else 2, value)
            elif kind == "eof":
                self._lose(value)
            elif kind == "exit" and not self._exiting:
                self._exiting = True
                self._loop.call_soon(self._exit, value)
        if step is None:  # the recording ends here: whatever was still open ends with it
            for fd in list(self._pipes):
                self._lose(fd)

    def _deliver(self, fd: int, data: bytes) -> None:
        pipe = self._pipes.get(fd)
        if pipe is not None and not pipe.is_closing():  # the caller closed its end: no more arrives
            self._protocol.pipe_data_received(fd, data)

    def _lose(self, fd: int) -> None:
        if fd in self._pipes and fd not in self._lost:
            self._lost.add(fd)
            self._loop.call_soon(self._protocol.pipe_connection_lost, fd, None)
            self._loop.call_soon(self._try_finish)

    def _exit(self, code: int | None) -> None:
        self._code = code
        self._protocol.process_exited()
        self._lose(0)  # the child's end of stdin is gone with it
        self._try_finish()

    def _try_finish(self) -> None:
        if self._finished or self._code is None or not self._lost >= set(self._pipes):
            return
        self._finished = True
        try:
            self._protocol.connection_lost(None)
        finally:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(self._code)

    def _write(self, data: bytes) -> None:
        if 0 in self._lost or self._aborted or not data:
            return  # the process is gone: live, the bytes would go nowhere as well
        self._pending += data
        while self._pending:
            step = self._next()
            if step is None or step[0] != "in":
                self._mismatch([f"stdin: {len(self._pending)} bytes written where the recording has "
                                f"{'none' if step is None else 'no more before ' + _NAMES[step[0]]}"])
                self._pending = b""
                return
            expected, count = self._expected()
            taken, diff = _compare(expected, self._pending, self._scrub)
            if taken is None and not diff:  # a prefix of what is expected: wait for the rest
                return
            self._writes += 1
            if diff:
                self._mismatch([f"stdin (write #{self._writes}): {line}" if line.startswith("line") else
                                f"stdin: {line}" for line in diff])
                taken = len(self._pending)  # warn: the recording's answer stands for what was written
            self._pending = self._pending[taken:]
            self._at += count
            self._release()

    def _expected(self) -> tuple[bytes, int]:
        """The recorded bytes up to the next step that is not a write, and how many steps."""
        end = self._at
        while end < len(self._steps) and self._steps[end][0] == "in":
            end += 1
        return b"".join(value for _, value in self._steps[self._at:end]), end - self._at

    def _closed_stdin(self) -> None:
        if 0 in self._lost or self._aborted:
            self._lose(0)
            return
        step = self._next()
        if self._pending or step is not None and step[0] == "in":
            owed = len(self._expected()[0]) if step is not None and step[0] == "in" else 0
            self._mismatch([f"stdin: closed with {len(self._pending)} bytes written that the recording does "
                            f"not have and {owed} recorded bytes not written"])
            self._pending = b""
            self._skip_to("close")
        elif step is not None and step[0] == "close":
            self._at += 1
        self._lose(0)
        self._release()

    def _signalled(self, signum: int) -> None:
        if self._exiting:
            return  # after the recorded exit: nothing to stop
        step = self._next()
        if step is not None and step[0] == "signal":
            self._at += 1
        else:
            # Earlier than recorded (or never): the recording's end stands for what follows.
            self._mismatch([f"signal {signum} sent where the recording has {_NAMES[step[0]] if step else 'none'}"],
                           fatal=False)
            self._skip_to("signal")
        self._release()

    def _skip_to(self, kind: str) -> None:
        """Warn-mode recovery: go on from the next ``kind`` step (or the end), the process's
        steps on the way still played."""
        while (step := self._next()) is not None and step[0] != kind:
            if step[0] in _CALLER:
                self._at += 1
            else:
                self._release()
        if self._next() is not None:
            self._at += 1

    def _scrub(self, data: bytes) -> bytes:
        redactor = getattr(self._session, "recording_redactor", None)
        scrubber = redactor() if redactor is not None else None
        return scrubber.scrub(data) if scrubber is not None else data

    def _mismatch(self, diff: list[str], fatal: bool = True) -> None:
        if not hasattr(self._session, "content_mismatch"):
            return
        # Strict raises here, from the caller's write; hybrid cannot go live halfway through
        # a dialog, so it serves the recording as warn does.
        try:
            action = self._session.content_mismatch(Kind.SUBPROCESS, self._request, diff, fatal=fatal)
        except BaseException:
            self._abort()
            raise
        if action == "live":
            log.warning("autorr: hybrid replay cannot run %s live halfway through its dialog: serving the "
                        "recording", self._request.summary)

    def _abort(self) -> None:
        """After a strict mismatch the process ends as if killed, with no more output: the
        caller's clean-up (which often waits for EOF, shielded from cancellation) must end."""
        self._aborted = True
        self._at, self._pending = len(self._steps), b""
        for fd in list(self._pipes):
            self._lose(fd)
        if not self._exiting:
            self._exiting = True
            self._loop.call_soon(self._exit, -int(signal.SIGKILL))


_NAMES = {"in": "a write", "close": "stdin closed", "signal": "a signal", "out": "output", "err": "output",
          "eof": "output", "exit": "the exit"}


def _same_line(recorded: bytes, written: bytes, scrub: Any) -> bool:
    if recorded == written or recorded == scrub(written):
        return True
    a = _json_line(recorded)
    return a is not _NOT_JSON and a == _json_line(scrub(written))


def _compare(expected: bytes, written: bytes, scrub: Any) -> tuple[int | None, list[str]]:
    """How much of ``written`` the recorded ``expected`` accounts for: (bytes taken, []),
    (None, []) while ``written`` may still become it, (None, [what differs]) otherwise."""
    if written[:len(expected)] == expected:
        return len(expected), []
    if expected.startswith(written):
        return None, []
    if expected.endswith(b"\n"):  # line by line: JSON lines compare as data, in any key order
        at = 0
        for number, line in enumerate(expected.split(b"\n")[:-1], 1):
            end = written.find(b"\n", at)
            if end < 0:
                return None, []  # the line is not complete yet
            if not _same_line(line, written[at:end], scrub):
                return None, [f"line {number}: {_line_diff(line, written[at:end], scrub)}"]
            at = end + 1
        return at, []
    if scrub(written) == expected:  # a secret the recording masked
        return len(written), []
    return None, [_bytes_diff(expected, written)]


def _bytes_diff(recorded: bytes, written: bytes) -> str:
    at = next((i for i, (a, b) in enumerate(zip(recorded, written)) if a != b), min(len(recorded), len(written)))
    # Sizes and where they part, not the content: stdin often carries a password.
    return f"recorded {len(recorded)} bytes, now {len(written)} bytes (first difference at byte {at})"


def _line_diff(recorded: bytes, written: bytes, scrub: Any) -> str:
    a, b = _json_line(recorded), _json_line(scrub(written))
    if a is _NOT_JSON or b is _NOT_JSON:
        return _bytes_diff(recorded, written)
    from ..replay._matchers import json_diff

    # Which JSON paths differ, not their values (see _bytes_diff).
    paths = [line.split(": ", 1)[0] for line in json_diff(a, b)]
    return "JSON differs at " + ", ".join(paths[:5]) + (" ..." if len(paths) > 5 else "")


class _WritePipe(asyncio.WriteTransport):
    """Stdin: what is written goes to the dialog's check, nowhere else."""

    def __init__(self, owner: _Transport) -> None:
        super().__init__()
        self._owner = owner
        self._closing = False

    def write(self, data: Any) -> None:
        if not self._closing:  # live, a write after close is dropped (with a warning)
            self._owner._write(bytes(data))

    def writelines(self, data: Any) -> None:
        self.write(b"".join(data))

    def write_eof(self) -> None:
        self.close()

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._owner._closed_stdin()

    abort = close

    def is_closing(self) -> bool:
        return self._closing

    def get_write_buffer_size(self) -> int:
        return 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return 0, 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


class _ReadPipe(asyncio.ReadTransport):
    """Stdout or stderr: the recorded output is all in hand, so pausing holds nothing back."""

    def __init__(self, owner: _Transport, fd: int) -> None:
        super().__init__()
        self._owner, self._fd = owner, fd
        self._closing = False
        self._paused = False

    def pause_reading(self) -> None:
        self._paused = True

    def resume_reading(self) -> None:
        self._paused = False

    def is_reading(self) -> bool:
        return not (self._paused or self._closing)

    def close(self) -> None:
        if not self._closing:  # as live: the caller closing its end ends what it receives
            self._closing = True
            self._owner._lose(self._fd)

    def is_closing(self) -> bool:
        return self._closing


async def replay(loop: Any, params: dict[str, Any], event: Any, session: Any, request: Any) -> tuple[Any, Any]:
    """What ``loop.subprocess_exec``/``_shell`` returns in replay: (transport, the caller's protocol)."""
    result = recorded_result(event)  # raises what the real start raised (FileNotFoundError, ...)
    if not isinstance(result, dict):
        raise RuntimeError(f"autorr: the recorded process {params['args']!r} has no result (the recording "
                           "stopped before it exited): record it again")
    protocol = params["protocol_factory"]()
    transport = _Transport(loop, protocol, params, _steps(result, params), session, request)
    transport._start()
    return transport, protocol
