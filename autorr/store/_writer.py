"""Background writer: the agent's thread only queues; this thread encodes and commits.

The agent's side is a deque append and, when the writer is waiting, a ring of its bell
(a lock released: one C call, never a wait). A call that returned is committed within
milliseconds, not at the next poll: the calls just before a crash are the ones a user
wants to replay, and a process killed with SIGKILL keeps every committed event. What
queues while the writer works goes into its next transaction, so a busy agent's calls
are committed in batches; payloads are compressed only when worth it (see
`_codec.COMPRESS_MIN`), and each SQLite or zstd call releases the GIL.

With ``max_bytes`` the recording rotates: once the current segment holds that much,
the next transaction goes to a new segment file (see `_segments`), which starts with
no known blobs, so every segment holds the blobs its own events reference.
"""

from __future__ import annotations

import _thread
import collections
import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import orjson

from .._errors import AutorrError
from .._events import Event
from .._redact import Redactor
from ..replay._fingerprint import FINGERPRINT_V1, FINGERPRINT_V2
from . import _forks
from ._codec import BlobSink, zstd_compress
from ._growth import Conversations
from ._rows import EventRows
from ._schema import connect, insert_rows
from ._scrubbed import scrubbed_json
from ._segments import segment_path, segment_paths

__all__ = ["Checkpoint", "Writer"]

log = logging.getLogger("autorr")

POLL_INTERVAL = 0.5  # seconds: a backstop; the bell wakes the writer for every item put
# After a transaction the writer rests this long, so that a busy agent's calls are
# committed a batch at a time: a wake-up per call cost the anthropic benchmark (2.5 ms
# calls) ~27% more CPU than the old 100 ms poll; with this rest, +1.7% (16 pairs, within
# noise). A call that ends after a pause is committed at once.
GATHER_INTERVAL = 0.025
WARM_AFTER = 0.05  # seconds of quiet before the writer loads its imports and tables
MAX_BATCH = 512
MEASURE_INTERVAL = 1.0  # seconds between measures of the segment's size (see _rotate_if_full)


@dataclass
class Checkpoint:
    name: str
    seq: int
    created_at: float
    state: Any = None
    pid: int = field(default_factory=os.getpid)


@dataclass
class _Meta:
    values: dict[str, Any]


@dataclass
class _Barrier:
    done: threading.Event = field(default_factory=threading.Event)


_STOP = object()


# Blobs keyed by hash land at random places in their B-tree, whose pages stay about
# two-thirds full: a segment grows by about this much more than the bytes written.
_PAGE_OVERHEAD = 1.5


def _is_call(item: Any) -> bool:
    """A recorded call: an Event, or a call finished on the agent's thread (`Finished`)."""
    return isinstance(item, Event) or hasattr(item, "event")


def _row_bytes(row: tuple) -> int:
    """About what an event row adds to the file (its blobs are counted by the sink)."""
    return 64 + sum(len(v) for v in row if isinstance(v, str))


class Writer(EventRows):
    def __init__(self, path: Path, *, redactor: Redactor, compression: bool = True, max_queue: int = 10_000,
                 on_error: Callable[[BaseException], None] | None = None,
                 enrich: Callable[[Event], None] | None = None, synchronous: bool = False,
                 warm: Callable[[], None] | None = None, max_bytes: int = 0) -> None:
        self.path = path  # segment 0: the recording's meta always goes there
        self.enrich = enrich  # adds metadata to an event, here rather than on the agent's thread
        self._warm = warm  # one-time imports and tables, loaded before the first event arrives
        self.redactor = redactor
        self.compression = compression
        self.on_error = on_error
        self.events_written = self.chunks_written = self.raw_bytes = self.stored_bytes = 0
        self.failed: BaseException | None = None  # the last error that lost a batch
        self.lost_events = 0  # calls that could not be written (see _lost)
        self.models: set[str] = set()  # requested model ids, for the recording's provenance
        self._occurrences: dict[tuple[str, str], int] = {}
        self._pending: collections.deque[Any] = collections.deque()
        self._max_queue = max_queue
        self._summarised = False
        # Held while the writer has nothing to do; releasing it wakes the writer. A lock, not
        # a threading.Event: `set()` is Python code taking a lock on the agent's thread.
        self._bell = _thread.allocate_lock()
        self._bell.acquire()
        self._known: set[str] = set()
        self._chains: dict = {}  # see _codec._chain
        self._conversations: dict[tuple[str, str], Conversations] = {}  # by (host, path); see _growth
        path.parent.mkdir(parents=True, exist_ok=True)
        self._io_lock = threading.Lock()  # held while inside SQLite; see _forks
        self._conn0 = self._conn = connect(path, create=True)
        self.fingerprint_version = self._fingerprint_version()
        self.max_bytes = max_bytes  # 0: never rotate
        self.segment = 0
        self._events_before = 0  # events in the segments before this one, for checkpoints
        self._size = 0  # bytes in the current segment: last measured, plus what this writer added since
        self._measured_at = 0.0
        # A process joining a rotated recording (a child) writes where the others write.
        last = len(segment_paths(path)) - 1
        if last:
            self._open_segment(last)
        else:
            self._known.update(r[0] for r in self._conn.execute("SELECT hash FROM blobs"))
            self._size = self._segment_bytes() if max_bytes else 0
        # Forked workers (multiprocessing pools) are often killed right after their last
        # task returns: there, each event is committed before the call returns.
        self.synchronous = synchronous
        self._thread = threading.Thread(target=self._run, name="autorr-writer", daemon=True)
        _forks.track(self)
        if not synchronous:
            self._thread.start()

    def _open_segment(self, number: int) -> None:
        """Write to segment ``number`` from now on, creating it (or joining it: another
        process rotated first). Its blobs are its own: nothing known carries over."""
        file = segment_path(self.path, number)
        created = not file.exists()
        conn = connect(file, create=True)
        try:
            before = sum(self._count(segment_path(self.path, n)) for n in range(number))
            if created:
                conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('segment', ?), ('fingerprint', ?)",
                             (str(number), orjson.dumps(self.fingerprint_version).decode()))
                # Segment 0 counts the files: `autorr show` and a remote copy go by it.
                self._conn0.execute(
                    "INSERT INTO meta (key, value) VALUES ('segments', ?) ON CONFLICT(key) DO UPDATE"
                    " SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))", (str(number + 1),))
        except BaseException:
            conn.close()
            raise
        if self._conn is not self._conn0:
            self._conn.close()  # the last connection to close folds its WAL into the file
        self._conn, self.segment, self._events_before = conn, number, before
        self._known = set(r[0] for r in conn.execute("SELECT hash FROM blobs"))
        self._chains.clear()
        self._size = self._segment_bytes()
        self._measured_at = time.monotonic()

    def _count(self, path: Path) -> int:
        if path == self.path:
            return self._conn0.execute("SELECT count(*) FROM events").fetchone()[0]
        if self._conn is not self._conn0 and path == segment_path(self.path, self.segment):
            return self._conn.execute("SELECT count(*) FROM events").fetchone()[0]
        conn = connect(path)
        try:
            return conn.execute("SELECT count(*) FROM events").fetchone()[0]
        finally:
            conn.close()

    def _segment_bytes(self) -> int:
        # Pages in use, committed WAL content included; the -wal file itself is scratch.
        return self._conn.execute("PRAGMA page_count").fetchone()[0] * self._conn.execute(
            "PRAGMA page_size").fetchone()[0]

    def _fingerprint_version(self) -> str:
        # Joining a recording (a child process) fingerprints the way it was begun.
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
        if row is not None:
            return orjson.loads(row[0])
        if self._conn.execute("SELECT 1 FROM events LIMIT 1").fetchone() is not None:
            return FINGERPRINT_V1  # written before the key was stored
        self._conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('fingerprint', ?)",
                           (orjson.dumps(FINGERPRINT_V2).decode(),))
        return FINGERPRINT_V2

    # -- producer side (the agent's threads) ---------------------------------------
    def put(self, item: Any) -> None:
        """Queue an Event, a Checkpoint, meta values, or anything with an ``event()`` that makes an Event."""
        if self.synchronous:
            self._write([item])
            return
        self._pending.append(item)  # atomic in CPython: no lock on the agent's thread
        if self._bell.locked():
            self._ring()
        if len(self._pending) >= self._max_queue:
            # Waiting (rather than dropping) keeps every event; the queue only fills
            # if the disk is far slower than the agent's calls.
            while len(self._pending) >= self._max_queue and self._thread.is_alive():
                time.sleep(0.001)

    def _ring(self) -> None:
        try:
            self._bell.release()
        except RuntimeError:  # rung already (by another thread, just now)
            pass

    queued = property(lambda self: len(self._pending), doc="Items waiting for the writer thread.")

    @property
    def queued_events(self) -> int:
        """Finished calls waiting for the writer thread (not checkpoints or meta)."""
        return sum(1 for item in list(self._pending) if _is_call(item))

    def set_meta(self, **values: Any) -> None:
        self.put(_Meta(values))

    def flush(self, timeout: float | None = 10.0) -> bool:
        if not self._thread.is_alive():
            return False
        barrier = _Barrier()
        self._pending.append(barrier)
        self._ring()
        return barrier.done.wait(timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        if self._thread.is_alive():
            self._pending.append(_STOP)
            self._ring()
            self._thread.join(timeout)
        if self.lost_events and not self._summarised:
            self._summarised = True
            log.error("autorr: %d recorded call(s) could not be written to %s (last error: %s); replaying this "
                      "recording will miss them", self.lost_events, self.path, self.failed)
        for conn in {id(c): c for c in (self._conn, self._conn0)}.values():
            try:
                conn.close()
            except Exception:  # pragma: no cover - closing twice or a dead handle
                pass

    # -- consumer side (the writer thread) -----------------------------------------
    def _run(self) -> None:
        from .. import _session

        _session.suspend()  # files this thread opens (price table, ...) are autorr's own
        stop, warm = False, True
        pending = self._pending
        while not stop:
            if not pending:
                rung = self._bell.acquire(timeout=WARM_AFTER if warm else POLL_INTERVAL)
                if warm and not rung:
                    # Once nothing has come for a moment, not first: a call made (and a
                    # crash) right at start is committed before the tables load.
                    warm = False
                    self._warm_up()
                    continue
            else:  # a ring for what is already here: spent now (no wait, no GIL hand-over), not
                self._bell.acquire(False)  # left to wake the writer for nothing next time round
            batch = []
            while pending and len(batch) < MAX_BATCH:
                batch.append(pending.popleft())
            barriers = [b for b in batch if isinstance(b, _Barrier)]
            stop = any(b is _STOP for b in batch)
            work = [b for b in batch if not isinstance(b, _Barrier) and b is not _STOP]
            if work:
                self._write(work)
            for barrier in barriers:
                barrier.done.set()
            if not stop and not pending and any(map(_is_call, work)):
                time.sleep(GATHER_INTERVAL)  # after calls only: the recording's start (meta) is no burst
        # What was queued behind the stop (a call that finished while close() waited, a flush
        # from a SIGTERM handler) is written too, and no flush is left waiting for nothing.
        rest = [pending.popleft() for _ in range(len(pending))]
        work = [b for b in rest if not isinstance(b, _Barrier) and b is not _STOP]
        if work:
            self._write(work)
        for barrier in rest:
            if isinstance(barrier, _Barrier):
                barrier.done.set()

    def _warm_up(self) -> None:
        try:
            zstd_compress(b"autorr warm-up " * 8)
            if self._warm is not None:
                self._warm()
        except Exception as exc:  # pragma: no cover - the first event pays instead
            log.debug("autorr: writer warm-up failed: %s", exc)

    def _write(self, items: list[Any]) -> None:
        for attempt in range(3):
            try:
                with self._io_lock:
                    while items:  # more than one transaction when the batch fills a segment
                        items = items[self._write_once(items):]
                return
            except Exception as exc:  # disk full, locked for too long, a bug: never kill the host
                if attempt == 2:
                    self._lost(items, exc)
                else:
                    time.sleep(0.05 * (attempt + 1))

    def _lost(self, items: list[Any], exc: BaseException) -> None:
        """A batch that could not be written. Reported once: a full disk fails every batch
        for as long as it lasts, and a line per batch would bury the program's own output;
        `close` says how many calls were lost in all."""
        first = self.failed is None
        self.failed = exc
        lost = sum(1 for item in items if _is_call(item))
        self.lost_events += lost
        kept = [item for item in items if isinstance(item, (_Meta, Checkpoint))]
        if kept and len(kept) < len(items):
            # Meta (`ended_at`, models) and checkpoints are a few bytes: they may fit where
            # a batch of large responses did not.
            try:
                with self._io_lock:
                    self._write_once(kept)
            except Exception as again:
                log.debug("autorr: meta and checkpoints not written to %s either: %s", self.path, again)
        if not first:
            log.debug("autorr: could not write %d item(s) to %s: %s", len(items), self.path, exc)
            return
        log.error("autorr: could not write %d item(s) to %s: %s. The program goes on, but the calls it makes "
                  "while this lasts are not recorded; the number lost is logged when the recording stops",
                  len(items), self.path, exc)
        if self.on_error:
            self.on_error(exc)

    def _rotate_if_full(self, items: list[Any]) -> None:
        # Meta goes to segment 0 whatever the size: it alone never opens a segment.
        if not self.max_bytes or all(isinstance(item, _Meta) for item in items):
            return
        # Measured now and then (other processes write this segment too) and always
        # before rotating; in between, what this writer commits is added to the last
        # measure (two PRAGMAs per transaction cost as much as its inserts).
        now = time.monotonic()
        if self._size >= self.max_bytes or now - self._measured_at >= MEASURE_INTERVAL:
            self._size = self._segment_bytes()
            self._measured_at = now
        while self._size >= self.max_bytes:
            try:
                self._open_segment(self.segment + 1)
            except (OSError, sqlite3.Error, AutorrError) as exc:
                # The directory turned read-only, no inode left...: the open segment still takes
                # events (its files are open), past the limit rather than none at all.
                log.warning("autorr: could not start segment %d of %s (%s); recording goes on in segment %d",
                            self.segment + 1, self.path, exc, self.segment)
                self.max_bytes = 0
                return

    def _write_once(self, items: list[Any]) -> int:
        """Commit a prefix of ``items`` (all of them unless the segment fills); returns its length."""
        self.redactor.refresh()
        self._rotate_if_full(items)
        if len(self._chains) > 200_000:  # bounded: a cache, not a second index
            self._chains.clear()
        sink = BlobSink(self._known, self.compression, self.redactor.scrub, self._chains)
        rows, checkpoints, metas = [], [], {}
        room = self.max_bytes - self._size if self.max_bytes else None
        taken = added = 0
        try:
            for item in items:
                if room is not None and rows and (sink.stored_bytes + added) * _PAGE_OVERHEAD >= room:
                    break  # the segment is full: the rest goes to the next one
                taken += 1
                if hasattr(item, "event"):  # a call finished on the agent's thread, made into an Event here
                    item = items[taken - 1] = item.event()
                if isinstance(item, Event):
                    rows.append(self._event_row(item, sink))
                    added += _row_bytes(rows[-1])
                elif isinstance(item, Checkpoint):
                    checkpoints.append((item, len(rows)))  # events queued before it
                elif isinstance(item, _Meta):
                    metas.update(item.values)
            conn = self._conn
            if metas and conn is not self._conn0:
                # The recording's meta lives in segment 0; written first, so a retry of
                # this batch after a failure only writes the same values again.
                self._put_meta(self._conn0, metas)
            conn.execute("BEGIN IMMEDIATE")
            try:
                insert_rows(conn, "INSERT OR IGNORE INTO blobs (hash, codec, size, data)", sink.rows)
                (stored,) = conn.execute("SELECT count(*) FROM events").fetchone() if checkpoints else (0,)
                for cp, before in checkpoints:
                    conn.execute(
                        "INSERT INTO checkpoints (name, seq, events_before, created_at, state, pid) VALUES (?,?,?,?,?,?)",
                        # The name is the agent's text too: "after-login-<token>" stays off the disk.
                        (self.redactor.scrub_text(cp.name), cp.seq, self._events_before + stored + before,
                         cp.created_at, None if cp.state is None else self._json(cp.state), cp.pid),
                    )
                insert_rows(conn, "INSERT INTO events (seq, kind, fingerprint, occurrence, started_at, duration_us,"
                            " status, summary, request, response, body, chunks, error, meta, labels, pid, exact)", rows)
                if conn is self._conn0:
                    self._put_meta(conn, metas)
                conn.execute("COMMIT")
            except BaseException:
                # After some errors (disk full, I/O) SQLite has rolled back already: a failing
                # ROLLBACK must not replace the error that says what went wrong.
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error as exc:
                        log.debug("autorr: rollback on %s failed: %s", self.path, exc)
                raise
        except BaseException:
            self._known.difference_update(row[0] for row in sink.rows)  # those blobs never landed
            self._chains.clear()
            raise
        self.events_written += len(rows)
        self._size += int((sink.stored_bytes + added) * _PAGE_OVERHEAD)
        self.raw_bytes += sink.raw_bytes
        self.stored_bytes += sink.stored_bytes
        return taken

    def _put_meta(self, conn: Any, metas: dict[str, Any]) -> None:
        conn.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(k, self._json(v)) for k, v in metas.items()],
        )

    def _json(self, value: Any) -> str:
        return scrubbed_json(self.redactor, value)
