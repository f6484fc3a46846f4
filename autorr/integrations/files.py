"""File reads and writes under the project (``open``, ``io.open`` and so ``pathlib``).

Only files under the project root (the working directory when recording or replay
starts, or ``files_root``) that match ``files_include`` and not ``files_exclude`` are
captured; never the interpreter's own files (stdlib, site-packages, ``.pyc``),
``/proc``, ``/dev``, ``/sys``, hidden folders (``.git``, ``.venv``, ``.cache``...),
credentials files (``.env``, keys), or the recordings directory.

Reads keep path, size, sha256 and the content (up to ``file_content_max_bytes``);
replay serves the recorded content without opening the file, and reports a file
that exists but changed since recording as a mismatch (strict raises, warn serves
the recording, hybrid reads the file). Writes keep size and sha256 and are performed
in replay too (``{"files": {"live_mode": false}}`` discards them), with a changed
content reported the same way when the file is closed.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import locale
import os
import sys
import sysconfig
import tempfile
import weakref
from typing import Any

import wrapt

from .._events import Kind, Status
from .._patching import Patch
from .._session import Serve, active
from ._calls import call_request

__all__ = ["PATCHES", "FilePolicy"]

_NEVER_DIRS = {"__pycache__", "venv", "node_modules", "site-packages"}
# Package metadata that importlib reads (`pip install --target .`, an editable install).
_NEVER_DIR_SUFFIXES = (".dist-info", ".egg-info")
_NEVER_SUFFIXES = (".pyc", ".pyo", ".db-wal", ".db-shm", ".db-journal")
# Credentials files are configuration, not tool I/O: read live, never stored.
_NEVER_NAMES = (".env", ".env.*", "*.pem", "*.key", ".netrc", ".npmrc", ".pypirc", "id_rsa*", "id_ed25519*")
_SYSTEM = ("/proc/", "/dev/", "/sys/")
# Modules whose frames call the C traceback printer directly (a thread's excepthook).
_TRACEBACK_PRINTERS = ("threading", "traceback", "linecache")


def _interpreter_dirs() -> tuple[str, ...]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    paths.update(v for k, v in sysconfig.get_paths().items() if k in ("stdlib", "platstdlib", "purelib", "platlib"))
    return tuple(sorted({os.path.realpath(p) + os.sep for p in paths if p}, key=len))


class FilePolicy:
    """Which paths a session captures; built once per session."""

    def __init__(self, session: Any) -> None:
        config = session.config
        self.root = os.path.realpath(config.files_root or getattr(session, "started_cwd", None) or os.getcwd())
        self.include = config.files_include
        self.exclude = config.files_exclude
        self.max_bytes = config.file_content_max_bytes
        recordings = os.path.realpath(os.fspath(session.directory))
        package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
        self.never = _interpreter_dirs() + (recordings + os.sep, package + os.sep)
        self.prefix = self.root + os.sep
        # Replay: files it wrote that the recording never saw (a temporary or time-stamped
        # name); reading one back is no input the recording could hold, so it is read live.
        self.written_live: set[str] = set()

    def relative(self, file: Any) -> str | None:
        """The path relative to the root when it is captured, else None."""
        if isinstance(file, int):
            return None
        try:
            path = os.path.abspath(os.fsdecode(file))
        except TypeError:
            return None
        if not path.startswith(self.prefix) or path.startswith(_SYSTEM) or path.endswith(_NEVER_SUFFIXES):
            return None
        real = os.path.realpath(path)
        if any(real.startswith(p) for p in self.never if not self.root.startswith(p)):
            return None
        rel = os.path.relpath(path, self.root).replace(os.sep, "/")
        parts = rel.split("/")
        # Hidden folders are tool state (.cache, .git, .venv...), not the agent's inputs.
        if any(p.startswith(".") or p.endswith(_NEVER_DIR_SUFFIXES) for p in parts[:-1]) \
                or _NEVER_DIRS.intersection(parts[:-1]) or any(fnmatch.fnmatch(parts[-1], g) for g in _NEVER_NAMES):
            return None
        if self.include and not any(fnmatch.fnmatch(rel, g) for g in self.include):
            return None
        if any(fnmatch.fnmatch(rel, g) for g in self.exclude):
            return None
        return rel


def _policy(session: Any) -> FilePolicy:
    policy = session.__dict__.get("_file_policy")
    if policy is None or policy.root != os.path.realpath(
            session.config.files_root or getattr(session, "started_cwd", None) or os.getcwd()):
        policy = session.__dict__["_file_policy"] = FilePolicy(session)
    return policy


def _bind(args: tuple, kwargs: dict) -> dict[str, Any]:
    names = ("file", "mode", "buffering", "encoding", "errors", "newline", "closefd", "opener")
    params = dict(zip(names, args))
    params.update(kwargs)
    params.setdefault("mode", "r")
    return params


def _writes(mode: str) -> bool:
    return any(c in mode for c in "wax+")


def _read_whole(original: Any, path: str, limit: int) -> tuple[bytes, int, str | None, bool]:
    """(content, size, sha256, truncated); a file over ``limit`` is only sized, not read twice."""
    try:
        size = os.stat(path).st_size
    except OSError:
        size = 0  # let the real open() raise its own error
    if size > limit:
        return b"", size, None, True
    digest, kept, size = hashlib.sha256(), [], 0
    with original(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            if size < limit:
                kept.append(block[: limit - size])
            size += len(block)
    return b"".join(kept), size, digest.hexdigest(), size > limit


def _digest(original: Any, path: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with original(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


class _Written:
    """Size and sha256 of what was written; reported once, at close or garbage collection."""

    __slots__ = ("digest", "size", "on_close")

    def __init__(self, on_close: Any) -> None:
        self.digest = hashlib.sha256()
        self.size = 0
        self.on_close = on_close

    def done(self) -> None:
        callback, self.on_close = self.on_close, None
        if callback is not None:
            callback(self.size, self.digest.hexdigest())


class _WriteTee(wrapt.ObjectProxy):  # type: ignore[misc]
    """A file opened for writing: what goes through it is hashed; closing ends the event."""

    def __init__(self, wrapped: Any, on_close: Any, text: bool, encoding: str) -> None:
        super().__init__(wrapped)
        self._self_written = _Written(on_close)
        self._self_encoding = encoding
        # `open(p, "w").write(x)` never calls close(): the file is collected instead.
        weakref.finalize(self, self._self_written.done)

    def write(self, data: Any) -> Any:
        result = self.__wrapped__.write(data)
        raw = data.encode(self._self_encoding) if isinstance(data, str) else bytes(data)
        self._self_written.digest.update(raw)
        self._self_written.size += len(raw)
        return result

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_written.done()

    def __enter__(self) -> "_WriteTee":
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _encoding(params: dict[str, Any]) -> str:
    encoding = params.get("encoding")
    # pathlib passes "locale" (PEP 597): the encoding open() would pick.
    return locale.getpreferredencoding(False) if encoding in (None, "locale") else encoding


def _served_reader(content: bytes, params: dict[str, Any], path: str) -> Any:
    # An anonymous file, already unlinked, rather than a BytesIO: fileno(), os.fstat()
    # and mmap work on it as on the file it stands for, and `name` is that file's path.
    try:
        buffer: Any = tempfile.TemporaryFile()
        buffer.write(content)
        buffer.seek(0)
        buffer.raw.name = path
    except OSError:  # no writable temporary directory: an in-memory stand-in
        buffer = io.BytesIO(content)
        buffer.name = path
    if "b" in params["mode"]:
        return buffer
    return io.TextIOWrapper(buffer, encoding=_encoding(params), errors=params.get("errors"),
                            newline=params.get("newline"))


def _showing_a_traceback() -> bool:
    """Whether ``open`` was called by Python's own traceback printer, which opens source
    files through ``io.open`` to show their lines (an uncaught exception, in the main
    thread or another): the interpreter's business, not a file the agent reads."""
    try:
        caller = sys._getframe(2)  # here, the wrapper (wrapt calls it from C), the caller
    except ValueError:  # no Python code under the call: the interpreter, printing at exit
        return True
    return caller.f_globals.get("__name__") in _TRACEBACK_PRINTERS


def _open(module: Any):
    def wrapper(wrapped, instance, args, kwargs):
        session = active()
        if session is None or not hasattr(session, "config"):
            return wrapped(*args, **kwargs)
        params = _bind(args, kwargs)
        policy = _policy(session)
        rel = policy.relative(params["file"])
        if rel is None or _showing_a_traceback():
            return wrapped(*args, **kwargs)
        mode = str(params["mode"])
        path = os.fsdecode(params["file"])
        if not _writes(mode) and os.path.exists(path) and not os.path.isfile(path):
            return wrapped(*args, **kwargs)  # a FIFO or device: reading it ahead could block
        if policy.written_live and not _writes(mode) and rel in policy.written_live:
            return wrapped(*args, **kwargs)  # a file this replay wrote itself, unrecorded: read it back
        request = call_request(Kind.FILE, rel, {"path": rel, "op": "write" if _writes(mode) else "read"})
        decision = session.decide(Kind.FILE, request, output=_writes(mode))
        if decision is None:
            if _writes(mode) and hasattr(session, "content_mismatch"):  # a replay (see `written_live`)
                policy.written_live.add(rel)
            return wrapped(*args, **kwargs)
        if not isinstance(decision, Serve):
            decision.handle.meta["mode"] = mode
        if _writes(mode):
            return _write(wrapped, args, kwargs, params, session, request, decision)
        if isinstance(decision, Serve):
            return _serve_read(wrapped, args, kwargs, params, session, request, decision.event, path)
        handle = decision.handle
        try:
            content, size, sha, truncated = _read_whole(wrapped, path, policy.max_bytes)
            opened = wrapped(*args, **kwargs)
        except Exception as exc:
            from ._calls import record_error

            record_error(handle, exc)
            raise
        handle.set_response({"status": 0, "size": size, "sha256": sha, "truncated": truncated})
        handle.chunk(content)
        handle.finish(Status.OK)
        return opened

    return wrapper


def _serve_read(wrapped: Any, args: tuple, kwargs: dict, params: dict, session: Any, request: Any, event: Any,
                path: str) -> Any:
    meta = event.response or {}
    if event.response is None or meta.get("status") != 0:  # the read failed when recorded
        from ._calls import recorded_result

        recorded_result(event)
    if meta.get("truncated"):
        return wrapped(*args, **kwargs)  # too large to have been kept: read the file itself
    if os.path.exists(path):
        size, sha = _digest(wrapped, path)
        if sha != meta.get("sha256"):
            diff = [f"content: recorded {meta.get('size')} bytes sha256 {str(meta.get('sha256'))[:12]}, "
                    f"now {size} bytes sha256 {sha[:12]}"]
            if session.content_mismatch(Kind.FILE, request, diff) == "live":
                return wrapped(*args, **kwargs)
    return _served_reader(event.body or b"", params, path)


def _write(wrapped: Any, args: tuple, kwargs: dict, params: dict, session: Any, request: Any,
           decision: Any) -> Any:
    text = "b" not in params["mode"]
    encoding = _encoding(params)
    if isinstance(decision, Serve):
        recorded = decision.event.response or {}
        if session.overrides.get("files", {}).get("live_mode") is False:
            sink: Any = io.StringIO() if text else io.BytesIO()  # replay without touching the disk
        else:
            sink = wrapped(*args, **kwargs)

        def check(size: int, sha: str) -> None:
            # Reported, never raised: logs and caches written with timestamps differ on
            # every run, and a close() (often at exit) is no place to fail a replay.
            if recorded.get("sha256") and sha != recorded["sha256"]:
                session.content_mismatch(Kind.FILE, request, [
                    f"written content: recorded {recorded.get('size')} bytes sha256 {recorded['sha256'][:12]}, "
                    f"now {size} bytes sha256 {sha[:12]}"], fatal=False)

        return _WriteTee(sink, check, text, encoding)
    handle = decision.handle
    try:
        opened = wrapped(*args, **kwargs)
    except Exception as exc:
        from ._calls import record_error

        record_error(handle, exc)
        raise

    def finish(size: int, sha: str) -> None:
        handle.set_response({"status": 0, "size": size, "sha256": sha})
        handle.finish(Status.OK)

    return _WriteTee(opened, finish, text, encoding)


PATCHES = (
    Patch("builtins", "open", _open),
    Patch("io", "open", _open),
    # Python 3.10's pathlib calls the io.open it bound at import (3.11+: io.open itself).
    Patch("pathlib", "_NormalAccessor.open", _open),
)
