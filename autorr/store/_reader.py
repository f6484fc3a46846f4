"""Reading recordings: resolve an id or path, list events, load payloads.

A rotated recording is read through its segment 0 and reads as one (see `_segments`).
"""

from __future__ import annotations

import heapq
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterator

import orjson

from .._errors import EventCorrupt, RecordingCorrupt, RecordingNotFound
from .._events import Event
from ..replay._fingerprint import FINGERPRINT_V1
from ._codec import DICT_KEY, REF, ZSTD_DICT, ZSTD_DICT_BARE, Dictionary, decode_blob, join_json
from ._segments import Segment, recording_size, segment_paths, split_id

__all__ = ["SUFFIX", "Reader", "check_directory", "list_recordings", "resolve", "stored_labels"]

log = logging.getLogger("autorr")

SUFFIX = ".db"


def list_recordings(directory: Path) -> list[Path]:
    """Recording files in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    files = [p for p in directory.glob(f"*{SUFFIX}") if p.is_file()]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


def resolve(id_or_path: str | Path | None, directory: Path, labels: dict[str, str] | None = None) -> Path:
    """The file of a recording given its id, its file name or path (None: the latest).

    ``labels`` (the replaying agent's `AUTORR_AGENT_ID`, `..._SESSION_ID`, `..._TASK_ID`)
    narrow "the latest" when several agents record into one directory: the latest
    recording with those labels, else the latest whose labels do not contradict them
    (one recorded without labels), else none."""
    if id_or_path is None or str(id_or_path) == "latest":
        found = list_recordings(directory)
        if not found:
            check_directory(directory)
            raise RecordingNotFound(f"no recordings in {directory}; record one first (AUTORR_MODE=record)")
        return _latest_labelled(found, labels) if labels else found[-1]
    text = str(id_or_path)
    for candidate in (Path(text), directory / text, directory / f"{text}{SUFFIX}"):
        if candidate.is_file():
            return _first_segment(candidate)
    if Path(text).is_dir():
        raise RecordingNotFound(f"recording {text!r} is a directory; give a recording's id or its .db file"
                                f" (or the directory as AUTORR_DIR / --dir)")
    check_directory(directory)
    known = ", ".join(p.stem for p in list_recordings(directory)[-5:]) or "none"
    raise RecordingNotFound(f"recording {text!r} not found in {directory} (latest: {known})")


def check_directory(directory: Path) -> None:
    """A recordings directory that is a file is a mistake to name, not "no recordings"."""
    if directory.exists() and not directory.is_dir():
        raise RecordingNotFound(f"{directory} is a file, not a directory of recordings (AUTORR_DIR / --dir)")


def stored_labels(path: Path) -> dict[str, Any]:
    """The labels a recording was made with ({} when none, or unreadable)."""
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'labels'").fetchone()
        finally:
            conn.close()
        labels = orjson.loads(row[0]) if row else {}
    except (sqlite3.Error, orjson.JSONDecodeError):
        return {}
    return labels if isinstance(labels, dict) else {}


def _latest_labelled(found: list[Path], labels: dict[str, str]) -> Path:
    stored = {path: stored_labels(path) for path in reversed(found)}
    for path, have in stored.items():
        if all(have.get(k) == v for k, v in labels.items()):
            return path
    for path, have in stored.items():
        if all(have.get(k) in (None, v) for k, v in labels.items()):
            return path
    wanted = ", ".join(f"{k}={v}" for k, v in labels.items())
    latest = ", ".join(f"{k}={v}" for k, v in stored[found[-1]].items()) or "no labels"
    raise RecordingNotFound(f"no recording in {found[-1].parent} was made with {wanted} (the latest, "
                            f"{found[-1].stem}, has {latest}); name one with AUTORR_RECORDING")


def _first_segment(path: Path) -> Path:
    # `<id>.db.2` names the recording it is a segment of: replaying it alone would miss the rest.
    stem, dot, number = path.name.rpartition(".")
    if dot and number.isdigit() and stem.endswith(SUFFIX) and (path.parent / stem).is_file():
        return path.parent / stem
    return path


def _loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def _hex(value: str | bytes | None) -> str | None:
    """A fingerprint or exact key: compaction stores them as their 16 bytes."""
    return value.hex() if isinstance(value, bytes) else value


def _unreadable(segment: Segment, exc: sqlite3.DatabaseError) -> RecordingCorrupt:
    # A damaged page passes the checks made on opening (header, schema version) and fails
    # only when a query reaches it: the caller (the start-up hook, the CLI) must see a
    # RecordingCorrupt naming the file, not a bare sqlite3 error.
    return RecordingCorrupt(f"{segment.path}: cannot read this recording ({exc})")


def _undecodable(exc: Exception, what: str, kind: type[RecordingCorrupt] = EventCorrupt) -> Exception:
    """``exc`` raised while decoding ``what`` ("<file>: event 3"), as the RecordingCorrupt
    that names it; anything else (a bug, KeyError for an id not recorded) as it is.

    Bytes that do not decompress or parse raise errors that name neither the file nor the
    event (orjson, UTF-8, zstandard), and reached the agent or the CLI as tracebacks."""
    if isinstance(exc, RecordingCorrupt):
        return exc
    if isinstance(exc, (ValueError, TypeError)) or type(exc).__module__.startswith("zstandard"):
        return kind(f"{what} cannot be read ({type(exc).__name__}: {exc})")
    return exc


# Blob keys: hashes are unique across segments, the short ids of a compacted one only in it.
_HASH_LENGTH = 32


class Reader:
    """Read access to one recording, all its segments; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._segments: list[Segment] = []
        files = segment_paths(self.path)
        try:
            for number, file in enumerate(files):
                try:
                    self._segments.append(Segment(file, number))
                except RecordingCorrupt as exc:
                    if number == 0 or number < len(files) - 1:
                        raise
                    # A rotation killed (or caught) while creating its file: nothing committed there yet.
                    log.warning("autorr: last segment of %s left out: %s", self.path, exc)
        except BaseException:
            self.close()
            raise
        self._conn = self._segments[0].conn
        self._lock = threading.Lock()
        self._blob_cache: dict[Any, bytes] = {}  # hash, or (segment number, short id) -> bytes
        self._ahead: dict[int, tuple] = {}  # see `answer`

    def close(self) -> None:
        for segment in self._segments:
            segment.conn.close()

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, args: tuple = (), segment: Segment | None = None) -> list[sqlite3.Row | tuple]:
        """``sql`` on one segment (default: segment 0, the whole of an unrotated recording)."""
        segment = segment or self._segments[0]
        with self._lock:
            try:
                return segment.conn.execute(sql, args).fetchall()
            except sqlite3.DatabaseError as exc:
                raise _unreadable(segment, exc) from None

    @property
    def paths(self) -> list[Path]:
        """The recording's files, segment 0 first."""
        return [segment.path for segment in self._segments]

    def size_bytes(self) -> int:
        """Bytes on disk, every segment and its -wal file included."""
        return recording_size(self.path)

    def blob_bytes(self) -> tuple[int, int]:
        """(raw, stored) bytes of the payloads of all segments."""
        sums = [self._query("SELECT coalesce(sum(size), 0), coalesce(sum(length(data)), 0) FROM blobs", (), segment)[0]
                for segment in self._segments]
        return sum(raw for raw, _ in sums), sum(stored for _, stored in sums)

    def meta(self) -> dict[str, Any]:
        rows = self._query("SELECT key, value FROM meta")
        try:
            return {k: orjson.loads(v) for k, v in rows}
        except Exception as exc:
            raise _undecodable(exc, f"{self.path}: its meta", RecordingCorrupt) from None

    @property
    def id(self) -> str:
        return self.meta().get("recording_id") or self.path.stem

    def blob(self, digest: str, segment: Segment | None = None) -> bytes:
        """A payload by key, from ``segment`` (where its event lives; default segment 0). A hash
        is looked for in the other segments too; a short id names a blob of its segment only."""
        segment = segment or self._segments[0]
        shared = isinstance(digest, str) and len(digest) == _HASH_LENGTH
        key = digest if shared else (segment.number, digest)
        cached = self._blob_cache.get(key)
        if cached is not None:
            return cached
        order = [segment, *(s for s in self._segments if s is not segment)] if shared else [segment]
        for where in order:
            rows = self._query("SELECT codec, data, size FROM blobs WHERE hash = ?", (digest,), where)
            if rows:
                codec, data, size = rows[0]
                try:
                    data = decode_blob(codec, data, self._dict(codec, where), size)
                except Exception as exc:
                    raise _undecodable(exc, f"{where.path}: blob {digest}") from None
                if len(data) < 64_000:  # messages of a growing history are fetched again and again
                    self._blob_cache[key] = data
                return data
        raise EventCorrupt(f"{self.path if shared else segment.path}: blob {digest} is missing")

    def _dict(self, codec: int, segment: Segment | None = None) -> Dictionary | None:
        segment = segment or self._segments[0]
        if codec not in (ZSTD_DICT, ZSTD_DICT_BARE) or segment.dictionary is not None:
            return segment.dictionary
        rows = self._query("SELECT codec, data FROM blobs WHERE hash = ?", (DICT_KEY,), segment)
        if rows:  # stored raw by the first compactions, compressed since
            try:
                segment.dictionary = Dictionary(decode_blob(rows[0][0], rows[0][1]))
            except Exception as exc:  # every compressed payload needs it: the whole file is unreadable
                raise _undecodable(exc, f"{segment.path}: its zstd dictionary", RecordingCorrupt) from None
        return segment.dictionary

    def _json(self, value: str | bytes | None, segment: Segment | None = None) -> Any:
        """A JSON column: text, or (compacted) compressed with its segment's dictionary."""
        if value is None:
            return None
        if isinstance(value, bytes):
            dictionary = self._dict(ZSTD_DICT, segment)
            if dictionary is None:
                raise RecordingCorrupt(f"{self.path}: a compressed column but no dictionary")
            value = dictionary.column(value)
        return orjson.loads(value)

    def _segment(self, event_id: int) -> tuple[Segment, int]:
        number, row = split_id(event_id)
        if event_id < 0 or number >= len(self._segments):
            raise KeyError(event_id)
        return self._segments[number], row

    def index(self) -> dict[tuple[str, str], dict[int, int]]:
        """(kind, fingerprint) -> {occurrence: event id}: the O(1) replay lookup."""
        return self.indexes()[0]

    def indexes(self) -> tuple[dict[tuple[str, str], dict[int, int]], dict[tuple[str, str], str]]:
        """`index`, and (kind, exact key) -> fingerprint: the lookup that needs no parsing."""
        out: dict[tuple[str, str], dict[int, int]] = {}
        exact: dict[tuple[str, str], str] = {}
        ambiguous: set[tuple[str, str]] = set()
        for segment in self._segments:
            base = segment.base
            for kind, fp, occurrence, row, key in self._query(
                "SELECT kind, fingerprint, occurrence, id, exact FROM events ORDER BY id", (), segment
            ):
                fp = _hex(fp)
                out.setdefault((kind, fp), {}).setdefault(occurrence, base + row)
                if key is not None:
                    key = (kind, _hex(key))
                    if exact.setdefault(key, fp) != fp:
                        ambiguous.add(key)
        # The exact key hashes the bytes sent, not all the fingerprint depends on (the same body
        # sent as JSON and as text/plain): a key seen with two fingerprints cannot stand for
        # either, and the player computes the fingerprint of such a call instead.
        for key in ambiguous:
            del exact[key]
        return out, exact

    @property
    def fingerprint_version(self) -> str:
        """How this recording's fingerprints were computed (older files: blake2b)."""
        rows = self._query("SELECT value FROM meta WHERE key = 'fingerprint'")
        try:
            return orjson.loads(rows[0][0]) if rows else FINGERPRINT_V1
        except Exception as exc:
            raise _undecodable(exc, f"{self.path}: its meta 'fingerprint'", RecordingCorrupt) from None

    def count(self) -> tuple[int, int]:
        """(events, chunks)"""
        events = chunks = 0
        for segment in self._segments:
            # Chunk lists of a compacted recording are compressed: counted here, not in SQL.
            lists = self._query("SELECT chunks FROM events WHERE chunks IS NOT NULL", (), segment)
            (n,), = self._query("SELECT count(*) FROM events", (), segment)
            events += n
            try:
                chunks += sum(len(self._json(c, segment)) for c, in lists)
            except Exception as exc:
                raise _undecodable(exc, f"{segment.path}: a stream's chunk list", RecordingCorrupt) from None
        return events, chunks

    _COLUMNS = ("id, seq, kind, fingerprint, occurrence, started_at, duration_us, status, request, response, body,"
                " chunks, error, meta, labels, pid, exact")

    def event(self, event_id: int, *, with_body: bool = True) -> Event:
        segment, row = self._segment(event_id)
        rows = self._query(f"SELECT {self._COLUMNS} FROM events WHERE id = ?", (row,), segment)
        if not rows:
            raise KeyError(event_id)
        return self._event(rows[0], with_body, segment)

    READ_AHEAD = 64

    def answer(self, event_id: int) -> Event:
        """What replay serves: the event with its body (the request stays unparsed).

        Replay mostly asks for events in recorded order, so one query fetches this event
        and the next `READ_AHEAD` of its segment; bodies are decompressed only when served.
        """
        with self._lock:
            row = self._ahead.pop(event_id, None)
            if row is None:
                segment, first = self._segment(event_id)
                base = segment.base
                try:
                    self._ahead = {base + r[0]: r for r in segment.conn.execute(
                        "SELECT e.id, e.seq, e.kind, e.fingerprint, e.occurrence, e.started_at, e.duration_us,"
                        " e.status, e.response, e.chunks, e.error, e.body, b.codec, b.data, b.size FROM events e"
                        " LEFT JOIN blobs b ON b.hash = e.body WHERE e.id >= ? ORDER BY e.id LIMIT ?",
                        (first, self.READ_AHEAD))}
                except sqlite3.DatabaseError as exc:
                    raise _unreadable(segment, exc) from None
                row = self._ahead.pop(event_id, None)
        if row is None:
            raise KeyError(event_id)
        (_, seq, kind, fp, occ, started, dur, status, response, chunks, error, digest, codec, data, size) = row
        segment = self._segment(event_id)[0]
        if digest is not None and data is None:
            raise EventCorrupt(f"{segment.path}: event {event_id} cannot be read (blob {digest} is missing)")
        try:
            return Event(
                id=event_id, seq=seq, kind=kind, fingerprint=_hex(fp), occurrence=occ, started_at=started,
                duration_us=dur, status=status, request={}, response=self._json(response, segment),
                body=None if data is None else decode_blob(codec, data, self._dict(codec, segment), size),
                chunks=[tuple(c) for c in self._json(chunks, segment)] if chunks else None,
                error=self._json(error, segment),
            )
        except Exception as exc:
            raise _undecodable(exc, f"{segment.path}: event {event_id}") from None

    def events(self, *, with_body: bool = False, kind: str | None = None) -> Iterator[Event]:
        """Every event, by start time (then id): the segments interleave where their times do."""
        sql = f"SELECT {self._COLUMNS} FROM events"
        args: tuple = ()
        if kind:
            sql += " WHERE kind = ?"
            args = (kind,)
        sql += " ORDER BY started_at, id"
        if len(self._segments) == 1:
            segment = self._segments[0]
            for row in self._query(sql, args):
                yield self._event(row, with_body, segment)
            return
        runs = [[(row[5], segment.base + row[0], row, segment) for row in self._query(sql, args, segment)]
                for segment in self._segments]
        for _, _, row, segment in heapq.merge(*runs, key=lambda item: item[:2]):
            yield self._event(row, with_body, segment)

    def request(self, event: Event) -> dict[str, Any]:
        """The recorded request with its JSON body put back together."""
        req = dict(event.request) if isinstance(event.request, dict) else {}
        segment = self._segment(event.id)[0] if isinstance(event.id, int) and event.id >= 0 else None

        def load(digest: str) -> bytes:
            return self.blob(digest, segment)

        try:
            if "json" in req:
                req["json"] = join_json(req["json"], load)
            for part in ("body", "headers"):
                value = req.get(part)
                if isinstance(value, dict) and REF in value:
                    data = load(value[REF])
                    req[part] = data if part == "body" else [tuple(h) for h in orjson.loads(data)]
        except Exception as exc:
            raise _undecodable(exc, f"{self.path}: the request of event {event.id}") from None
        return req

    def checkpoints(self) -> list[dict[str, Any]]:
        """Every checkpoint, in the order written (segment by segment)."""
        out = []
        for segment in self._segments:
            if not self._query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'checkpoints'", (),
                               segment):
                continue  # dropped by compaction, as it had none
            rows = self._query(
                "SELECT name, seq, events_before, created_at, state, pid FROM checkpoints ORDER BY id", (), segment
            )
            try:
                out += [{"name": n, "seq": s, "events_before": e, "created_at": c, "state": _loads(st), "pid": p}
                        for n, s, e, c, st, p in rows]
            except Exception as exc:
                raise _undecodable(exc, f"{segment.path}: the state of a checkpoint", RecordingCorrupt) from None
        return out

    def _event(self, row: tuple, with_body: bool, segment: Segment) -> Event:
        (row_id, seq, kind, fp, occ, started, dur, status, request, response, body, chunks, error, meta,
         labels, pid, exact) = row
        try:
            return Event(
                id=segment.base + row_id, seq=seq, kind=kind, fingerprint=_hex(fp), occurrence=occ,
                started_at=started, duration_us=dur, status=status, request=self._json(request, segment),
                response=self._json(response, segment),
                body=self.blob(body, segment) if (with_body and body) else None,
                chunks=[tuple(c) for c in self._json(chunks, segment)] if chunks else None,
                error=self._json(error, segment), meta=self._json(meta, segment) or {}, labels=_loads(labels) or {},
                pid=pid, exact=_hex(exact),
            )
        except Exception as exc:
            raise _undecodable(exc, f"{segment.path}: event {segment.base + row_id}") from None
