"""`Recorder`: turns live calls into events and hands them to the background writer."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from . import _alerts, _session
from ._exc_record import error_record as _error_record
from ._exit import register as _register_exit
from ._config import Config, check_recording_id, load_config
from ._errors import ConfigError, NotActive
from ._events import CallRequest, Event, Kind, Status
from ._redact import Redactor
from .replay._engine import endpoint_category

__all__ = ["CallHandle", "Manifest", "Recorder", "new_recording_id"]

log = logging.getLogger("autorr")


def new_recording_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


@dataclass(frozen=True)
class Manifest:
    """What `stop_recording()` returns: counts, sizes and times of a finished recording."""

    recording_id: str
    path: str
    total_events: int
    total_chunks: int
    size_bytes: int
    raw_bytes: int
    stored_bytes: int
    started_at: float
    ended_at: float
    duration_seconds: float
    parent_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_CONTENT_TYPE = ("content-type", b"content-type")
_HTTP = Kind.HTTP.value  # looked up once: an enum's `.value` is a Python property call

# This process's id. `os.getpid()` is a system call (microseconds on a VM, twice per
# recorded call to notice a fork); kept here instead, set again in a forked child.
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):  # no fork (and no hook) on Windows
    os.register_at_fork(after_in_child=_forked)

# Which capture switch governs each override category.
_SWITCH = {"llm_calls": "capture_llm_calls", "http": "capture_tool_calls", "subprocess": "capture_tool_calls",
           "tool_calls": "capture_tool_calls", "files": "capture_file_operations"}


class CallHandle:
    """One live call being recorded; finishes exactly once (end, close, error or GC)."""

    __slots__ = ("recorder", "kind", "fingerprint", "occurrence", "seq", "request", "t0", "started_at",
                 "response", "chunks", "parts", "streamed", "done", "meta", "__weakref__")

    def __init__(self, recorder: "Recorder", kind: Kind, fingerprint: str | None, occurrence: int | None, seq: int,
                 request: CallRequest) -> None:
        self.recorder = recorder
        self.kind = kind
        self.fingerprint = fingerprint
        self.occurrence = occurrence
        self.seq = seq
        self.request = request
        self.t0 = time.perf_counter_ns()
        self.started_at = time.time()
        self.response: dict[str, Any] | None = None
        self.chunks: list[tuple[int, int]] = []
        self.parts: list[bytes] = []
        self.streamed = False
        self.done = False
        self.meta: dict[str, Any] = {}

    def offset_us(self) -> int:
        return (time.perf_counter_ns() - self.t0) // 1000

    def set_response(self, response: dict[str, Any]) -> None:
        response["ttfb_us"] = self.offset_us()
        self.response = response

    def chunk(self, data: bytes) -> None:
        if data:
            self.chunks.append((len(data), (time.perf_counter_ns() - self.t0) // 1000))
            self.parts.append(data)

    def finish(self, status: Status = Status.OK, error: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        try:
            self.recorder._finish(self, status, error)
        except Exception as exc:  # the host program comes first
            log.warning("autorr: failed to record %s: %s", self.request.summary, exc)
            _alerts.notify("recording_failure", self.recorder.id,
                           f"autorr: failed to record {self.request.summary}: {exc}", error=repr(exc))


class Finished:
    """A call that has finished, made into an `Event` by the writer thread (`Writer.put`
    takes either): the agent's thread only notes its duration and status."""

    __slots__ = ("recorder", "handle", "duration_us", "status", "error")

    def __init__(self, recorder: "Recorder", handle: CallHandle, duration_us: int, status: Status,
                 error: dict[str, Any] | None) -> None:
        self.recorder, self.handle, self.duration_us, self.status, self.error = (recorder, handle, duration_us,
                                                                                 status, error)

    def event(self) -> Event:
        return self.recorder._event(self.handle, self.duration_us, self.status, self.error)


class Recorder(_session.Scoped):
    """Records the calls made while it is active (see `autorr.recording`)."""

    fail_open = True  # an autorr failure lets the call through unrecorded

    def __init__(self, recording_id: str | None = None, *, directory: str | os.PathLike[str] | None = None,
                 session_id: str | None = None, task_id: str | None = None, agent_id: str | None = None,
                 config: Config | None = None, parent: dict[str, Any] | None = None) -> None:
        self.config = config or load_config()
        self.directory = Path(directory) if directory is not None else self.config.output_dir
        # Checked here too, not only from AUTORR_RECORDING_ID: `recording("../x")` would
        # write outside the directory, `start_recording(recording_id="a/b")` into a folder.
        self.id = (check_recording_id(recording_id, "recording id") if recording_id is not None else None) \
            or self.config.recording_id or new_recording_id()
        self.labels = {k: v for k, v in (("session_id", session_id or self.config.session_id),
                                         ("task_id", task_id or self.config.task_id),
                                         ("agent_id", agent_id or self.config.agent_id)) if v}
        self.parent = parent
        self.capture = {name: getattr(self.config, name) for name in
                        ("capture_llm_calls", "capture_tool_calls", "capture_streaming", "capture_file_operations")}
        self.redactor = Redactor(self.config.redaction_level, patterns=self.config.redact_sensitive_data)
        self.path = self.directory / f"{self.id}.db"
        self._seq = 0  # the last sequence number given out
        self._seqs = itertools.count(1)
        # Calls under way, by seq (a dict: a WeakSet's add is Python code on the hot path).
        # A stream dropped half-read still finishes, from its tee's __del__.
        self._open: dict[int, CallHandle] = {}
        self._writer: Any = None
        self._pid = 0
        self._owner = False
        self._started_at = 0.0
        self.manifest: Manifest | None = None
        self._provenance_thread: threading.Thread | None = None
        self._tidy_interrupted = False  # Ctrl-C at exit cut a step of stop() short (see _tidy)

    # -- lifecycle ----------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self._writer is not None

    def start(self, *, join: bool = False) -> str:
        """Open the recording file; ``join`` appends to one another process created."""
        if self._writer is not None:
            return self.id
        from .integrations import install_all
        from .store import Writer, segment_path

        install_all()
        claimed = False
        try:
            # A leftover segment would be joined and read as part of the new recording.
            taken = next((p for p in (self.path, segment_path(self.path, 1)) if p.exists()), None)
            if taken is not None and not join:
                raise ConfigError(f"recording {self.id!r} already exists at {taken}; choose another id")
            if not join:
                claimed = self._claim()
            # A process joining its parent's recording (a spawned pool worker, a tool run
            # as a python subprocess) commits each event before the call returns: pools
            # end their workers with SIGTERM (`with Pool()`), before a writer thread's turn.
            self._writer = Writer(self.path, redactor=self.redactor, compression=self.config.compression,
                                  on_error=self._on_write_error, enrich=_enrich, warm=_warm,
                                  max_bytes=self._max_bytes, synchronous=join)
        except (OSError, sqlite3.Error) as exc:
            if claimed:
                self.path.unlink(missing_ok=True)  # no recording started there after all
            if os.path.isfile(self.directory):  # mkdir's "File exists" would not say which is wrong
                raise ConfigError(f"AUTORR_DIR={str(self.directory)!r} is a file, not a directory") from None
            raise ConfigError(f"cannot write recording {self.path} (AUTORR_DIR={self.directory}): {exc}") from None
        self._pid = _pid
        self._owner = not join  # the process that created the file compacts it at stop
        self._started_at = time.time()
        self.started_cwd = os.getcwd()
        if not join:
            meta = {"recording_id": self.id, "started_at": self._started_at, "labels": self.labels,
                    "config": self.config.as_dict(), "schema": "autorr/1"}
            if self.parent:
                meta["parent"] = self.parent
            self._writer.set_meta(**meta)
            # Git, versions and host take tens of ms: computed on the writer's side of the queue.
            self._provenance_thread = threading.Thread(target=self._write_provenance, daemon=True,
                                                       name="autorr-provenance")
            self._provenance_thread.start()
        _register_exit(self)
        return self.id

    def _claim(self) -> bool:
        """Create the file, failing if it exists: two processes started with the same
        AUTORR_RECORDING_ID both pass the check above, and would both own one file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            raise ConfigError(f"recording {self.id!r} already exists at {self.path}; choose another id") from None
        return True

    def _write_provenance(self) -> None:
        from ._provenance import provenance

        _session.suspend()  # its `git` subprocesses are autorr's, not the agent's
        try:
            info = provenance(self.config)
        except Exception as exc:  # provenance is a nicety; recording goes on
            info = {"error": str(exc)}
        writer = self._writer
        if writer is not None:
            writer.set_meta(provenance=info)

    def stop(self, *, compact: bool = True) -> Manifest:
        """Close the recording and return its manifest; ``compact=False`` leaves it
        uncompressed by a dictionary (as after a crash: complete, only larger)."""
        writer = self._writer
        if writer is None:
            if self.manifest is not None:
                return self.manifest
            raise NotActive("this recorder is not recording")
        if self._provenance_thread is not None:
            self._provenance_thread.join(5)
        for handle in list(self._open.values()):  # streams still open: keep what arrived
            handle.finish(Status.INCOMPLETE)
        ended = time.time()
        writer.flush()
        if writer.models:
            writer.set_meta(models=sorted(writer.models))
        if self._owner:
            # A child (forked, or joined) ends while its creator goes on: the recording's end
            # time and manifest are the creator's to write.
            writer.set_meta(ended_at=ended)
        writer.close()
        self._writer = None
        interrupted = self._rescrub() if self._owner else None
        if interrupted is None and compact and self._owner and self.config.compression:
            interrupted = self._compact()
        try:
            self.manifest = self._manifest(ended)
            if self._owner:
                self._store_manifest()
                _alerts.check_storage(self.id, self.manifest.size_bytes, str(self.path))
        finally:
            if _session.get_default() is self:
                _session.set_default(None)
        if interrupted is not None:
            raise interrupted  # the program's Ctrl-C, now that the recording is whole
        return self.manifest

    def _store_manifest(self) -> None:
        # The manifest holds the file's size, and storing it can add a page: stored again
        # until the size it states is the size of the file it is in.
        from .store import recording_size

        for _ in range(3):
            _store_manifest(self.path, self.manifest)
            size = recording_size(self.path)
            if size == self.manifest.size_bytes:
                return
            self.manifest = dataclasses.replace(self.manifest, size_bytes=size)

    def _rescrub(self) -> BaseException | None:
        """Mask the values learned during the run where the file still holds them (see
        `store._rescrub`); returns a Ctrl-C (or `sys.exit`) that came meanwhile."""
        from .store._rescrub import rescrub

        return self._tidy(lambda path: rescrub(path, self.redactor),
                          "autorr: could not mask secrets learned late in %s: %s",
                          "autorr: masking secrets learned late in %s was interrupted; a copy stored before autorr "
                          "learned it may remain")

    def _compact(self) -> BaseException | None:
        """Compact the closed file; returns a Ctrl-C (or `sys.exit`) that came meanwhile."""
        from .store import compact

        return self._tidy(compact, "autorr: could not compact %s: %s",
                          "autorr: compaction of %s skipped (interrupted); the recording is complete, only larger")

    def _tidy(self, step: Any, failed: str, interrupted: str) -> BaseException | None:
        """``step(path)`` on the closed file. A failure is logged: the recording is complete
        without it. Training a dictionary takes seconds, and a user presses Ctrl-C at exit to
        end the process, not autorr's tidying: each step is one transaction, rolled back, and
        the Ctrl-C (or `sys.exit`) is returned, for stop() to raise once the file is whole."""
        try:
            step(self.path)
        except Exception as exc:
            log.warning(failed, self.path, exc)
        except (KeyboardInterrupt, SystemExit) as exc:
            self._tidy_interrupted = True
            log.warning(interrupted, self.path)
            return exc
        return None

    def _manifest(self, ended: float) -> Manifest:
        from .store import Reader, recording_size

        with Reader(self.path) as reader:
            events, chunks = reader.count()
            raw, stored = reader.blob_bytes()
            parent = (reader.meta().get("parent") or {}).get("recording_id")
        size = recording_size(self.path)  # once closed: an open reader has a -wal of its own
        return Manifest(self.id, str(self.path), events, chunks, size, raw, stored, self._started_at, ended,
                        round(ended - self._started_at, 6), parent)

    @property
    def _max_bytes(self) -> int:
        return int(self.config.max_file_size_mb * 1_000_000)

    def _on_write_error(self, exc: BaseException) -> None:
        # Called once, at the first lost batch: the writer logs it (and the total at close).
        _alerts.notify("recording_failure", self.id, f"autorr: recording {self.id} lost events: {exc}",
                       error=repr(exc))

    def _ensure_writer(self) -> Any:
        # After fork() the writer thread is gone and the SQLite handle must not be shared.
        if self._pid != _pid and self._writer is not None:
            from multiprocessing import util

            from .store import Writer

            # The parent's SQLite handle must never be closed (or used) here: keep it alive.
            _inherited.append(self._writer)
            self._writer = Writer(self.path, redactor=self.redactor, compression=self.config.compression,
                                  enrich=_enrich, synchronous=True, max_bytes=self._max_bytes)
            self._pid = _pid
            self._owner = False
            self._open = {}
            # A forked multiprocessing worker leaves through os._exit(): atexit never runs there.
            util.Finalize(None, self._close_forked, args=(self._writer,), exitpriority=0)
        return self._writer

    def _close_forked(self, writer: Any) -> None:
        # multiprocessing's exit hook runs before autorr's when the child imported it last
        # (here, at its first call): the recording is closed in this process then, and
        # stop_all() must not write into the closed writer.
        writer.close()
        if self._writer is writer:
            self._writer = None

    # -- the hot path ---------------------------------------------------------------
    def decide(self, kind: Kind, request: CallRequest, *, output: bool = False) -> "_session.Decision":
        if self._writer is None:
            return None
        category = endpoint_category(kind, request.host, request.path)  # None: telemetry
        if category is None or not self.capture.get(_SWITCH[category], True):
            return None
        return _session.Record(self.begin(kind, request))

    def begin(self, kind: Kind, request: CallRequest, fingerprint: str | None = None,
              occurrence: int | None = None) -> CallHandle:
        """A handle to record one call through. Without a fingerprint (the usual case) the
        writer thread parses and fingerprints the request and numbers its occurrence:
        the agent's thread never pays for a long history."""
        if self._pid != _pid:
            self._ensure_writer()
        seq = self._seq = next(self._seqs)  # atomic under the GIL: no lock on the hot path
        handle = self._open[seq] = CallHandle(self, kind, fingerprint, occurrence, seq, request)
        return handle

    def _finish(self, handle: CallHandle, status: Status, error: BaseException | None) -> None:
        self._open.pop(handle.seq, None)
        writer = self._writer if self._pid == _pid else self._ensure_writer()
        if writer is None:
            return
        # The Event is built on the writer thread (see Finished): here only what must be
        # taken now, the duration and the error (an exception holds its frames alive).
        writer.put(Finished(self, handle, handle.offset_us(), Status.ERROR if error is not None else status,
                            None if error is None else _error_record(error)))

    def _event(self, handle: CallHandle, duration_us: int, status: Status, error: dict[str, Any] | None) -> Event:
        response, parts, chunks = handle.response, handle.parts, handle.chunks
        if response is not None and response.get("decode"):
            from .integrations._decode import decode_recorded

            response, parts, chunks = decode_recorded(response, parts, chunks)
        body = b"".join(parts) if parts or response is not None else None
        return Event(  # `_value_`: an enum's `.value` is a Python property call
            kind=handle.kind._value_, fingerprint=handle.fingerprint, occurrence=handle.occurrence, seq=handle.seq,
            started_at=handle.started_at, duration_us=duration_us, status=status._value_, request=handle.request,
            response=response, body=body, chunks=chunks if self._keeps_chunks(response) else None,
            error=error, meta=dict(handle.meta), labels=self.labels, pid=_pid,
        )

    def _keeps_chunks(self, response: dict[str, Any] | None) -> bool:
        # Chunk timing matters for streams (SSE), whether or not the caller iterated them.
        if response is None or not self.capture.get("capture_streaming", True):
            return False
        if response.get("streamed"):
            return True
        for name, value in response.get("headers") or ():  # raw (bytes) pairs from httpx
            if name.lower() in _CONTENT_TYPE:
                return (b"event-stream" if isinstance(value, bytes) else "event-stream") in value
        return False

    def checkpoint(self, name: str, state: Any = None) -> None:
        from .store import Checkpoint

        writer = self._ensure_writer()
        if writer is None:
            raise NotActive("checkpoint() needs an active recording")
        # The calls started so far (one int read: begin() assigns it without a lock).
        writer.put(Checkpoint(name=name, seq=self._seq, created_at=time.time(), state=state))

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()


def _store_manifest(path: Path, manifest: Manifest) -> None:
    from .store import connect

    try:
        conn = connect(path, create=True)
        try:
            conn.execute("INSERT INTO meta (key, value) VALUES ('manifest', ?) ON CONFLICT(key) DO UPDATE"
                         " SET value = excluded.value", (orjson.dumps(manifest.as_dict()).decode(),))
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # leave one self-contained file behind
        finally:
            conn.close()
    except sqlite3.Error as exc:  # the events are all there; only the summary row is missing
        log.warning("autorr: could not store the manifest of %s: %s", path, exc)


def _warm() -> None:
    from ._llm import price_table

    price_table()


def _enrich(event: Event) -> None:
    request = event.request
    if not isinstance(request, CallRequest):
        return
    body = request.json
    model = body.get("model") if isinstance(body, dict) else None
    if isinstance(model, str):
        event.meta.setdefault("model", model)
    if event.kind == _HTTP:
        from ._llm import describe_llm_call

        view = {"host": request.host, "path": request.path, "json": body}
        event.meta.update(describe_llm_call(view, event.response, event.body, event.chunks, event.duration_us))


_inherited: list[Any] = []
