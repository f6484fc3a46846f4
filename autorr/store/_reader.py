"""Reading recordings: resolve an id or path, list events, load payloads."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterator

import orjson

from .._errors import RecordingNotFound
from .._events import Event
from ..replay._fingerprint import FINGERPRINT_V1
from ._codec import DICT_KEY, REF, decode_blob, join_json, zstd_dict_decompressor
from ._schema import connect

__all__ = ["SUFFIX", "Reader", "list_recordings", "resolve"]

SUFFIX = ".db"


def list_recordings(directory: Path) -> list[Path]:
    """Recording files in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    files = [p for p in directory.glob(f"*{SUFFIX}") if p.is_file()]
    return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))


def resolve(id_or_path: str | Path | None, directory: Path) -> Path:
    """The file of a recording given its id, its file name or path (None: the latest)."""
    if id_or_path is None or str(id_or_path) == "latest":
        found = list_recordings(directory)
        if not found:
            raise RecordingNotFound(f"no recordings in {directory}; record one first (AUTORR_MODE=record)")
        return found[-1]
    text = str(id_or_path)
    for candidate in (Path(text), directory / text, directory / f"{text}{SUFFIX}"):
        if candidate.is_file():
            return candidate
    known = ", ".join(p.stem for p in list_recordings(directory)[-5:]) or "none"
    raise RecordingNotFound(f"recording {text!r} not found in {directory} (latest: {known})")


def _loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


class Reader:
    """Read access to one recording file; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._conn = connect(self.path)
        self._conn.execute("PRAGMA query_only = ON")
        self._lock = threading.Lock()
        self._blob_cache: dict[str, bytes] = {}
        self._ahead: dict[int, tuple] = {}  # see `answer`
        self._dictionary: Any = None  # a compacted recording's zstd dictionary, once needed

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row | tuple]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def meta(self) -> dict[str, Any]:
        return {k: orjson.loads(v) for k, v in self._query("SELECT key, value FROM meta")}

    @property
    def id(self) -> str:
        return self.meta().get("recording_id") or self.path.stem

    def blob(self, digest: str) -> bytes:
        cached = self._blob_cache.get(digest)
        if cached is not None:
            return cached
        rows = self._query("SELECT codec, data FROM blobs WHERE hash = ?", (digest,))
        if not rows:
            raise KeyError(f"blob {digest} missing from {self.path}")
        data = decode_blob(rows[0][0], rows[0][1], self._dict(rows[0][0]))
        if len(data) < 64_000:  # messages of a growing history are fetched again and again
            self._blob_cache[digest] = data
        return data

    def _dict(self, codec: int) -> Any:
        if codec != 2 or self._dictionary is not None:
            return self._dictionary
        rows = self._query("SELECT data FROM blobs WHERE hash = ?", (DICT_KEY,))
        if rows:
            self._dictionary = zstd_dict_decompressor(bytes(rows[0][0]))
        return self._dictionary

    def _json(self, value: str | bytes | None) -> Any:
        """A JSON column: text, or (compacted) compressed with the recording's dictionary."""
        if value is None:
            return None
        if isinstance(value, bytes):
            value = self._dict(2).decompress(value)
        return orjson.loads(value)

    def index(self) -> dict[tuple[str, str], dict[int, int]]:
        """(kind, fingerprint) -> {occurrence: event id}: the O(1) replay lookup."""
        return self.indexes()[0]

    def indexes(self) -> tuple[dict[tuple[str, str], dict[int, int]], dict[tuple[str, str], str]]:
        """`index`, and (kind, exact key) -> fingerprint: the lookup that needs no parsing."""
        out: dict[tuple[str, str], dict[int, int]] = {}
        exact: dict[tuple[str, str], str] = {}
        for kind, fp, occurrence, event_id, key in self._query(
            "SELECT kind, fingerprint, occurrence, id, exact FROM events ORDER BY id"
        ):
            out.setdefault((kind, fp), {}).setdefault(occurrence, event_id)
            if key is not None:
                exact[(kind, key)] = fp
        return out, exact

    @property
    def fingerprint_version(self) -> str:
        """How this recording's fingerprints were computed (older files: blake2b)."""
        rows = self._query("SELECT value FROM meta WHERE key = 'fingerprint'")
        return orjson.loads(rows[0][0]) if rows else FINGERPRINT_V1

    def count(self) -> tuple[int, int]:
        """(events, chunks)"""
        # Chunk lists of a compacted recording are compressed: counted here, not in SQL.
        chunks = self._query("SELECT chunks FROM events WHERE chunks IS NOT NULL")
        (events,), = self._query("SELECT count(*) FROM events")
        return events, sum(len(self._json(c)) for c, in chunks)

    _COLUMNS = ("id, seq, kind, fingerprint, occurrence, started_at, duration_us, status, request, response, body,"
                " chunks, error, meta, labels, pid, exact")

    def event(self, event_id: int, *, with_body: bool = True) -> Event:
        rows = self._query(f"SELECT {self._COLUMNS} FROM events WHERE id = ?", (event_id,))
        if not rows:
            raise KeyError(event_id)
        return self._event(rows[0], with_body)

    READ_AHEAD = 64

    def answer(self, event_id: int) -> Event:
        """What replay serves: the event with its body (the request stays unparsed).

        Replay mostly asks for events in recorded order, so one query fetches this event
        and the next `READ_AHEAD`; bodies are decompressed only when served.
        """
        with self._lock:
            row = self._ahead.pop(event_id, None)
            if row is None:
                self._ahead = {r[0]: r for r in self._conn.execute(
                    "SELECT e.id, e.seq, e.kind, e.fingerprint, e.occurrence, e.started_at, e.duration_us, e.status,"
                    " e.response, e.chunks, e.error, e.body, b.codec, b.data FROM events e"
                    " LEFT JOIN blobs b ON b.hash = e.body WHERE e.id >= ? ORDER BY e.id LIMIT ?",
                    (event_id, self.READ_AHEAD))}
                row = self._ahead.pop(event_id, None)
        if row is None:
            raise KeyError(event_id)
        (event_id, seq, kind, fp, occ, started, dur, status, response, chunks, error, digest, codec,
         data) = row
        if digest is not None and data is None:
            raise KeyError(f"blob {digest} missing from {self.path}")
        return Event(
            id=event_id, seq=seq, kind=kind, fingerprint=fp, occurrence=occ, started_at=started, duration_us=dur,
            status=status, request={}, response=self._json(response),
            body=None if data is None else decode_blob(codec, data, self._dict(codec)),
            chunks=[tuple(c) for c in self._json(chunks)] if chunks else None, error=self._json(error),
        )

    def events(self, *, with_body: bool = False, kind: str | None = None) -> Iterator[Event]:
        sql = f"SELECT {self._COLUMNS} FROM events"
        args: tuple = ()
        if kind:
            sql += " WHERE kind = ?"
            args = (kind,)
        for row in self._query(sql + " ORDER BY started_at, id", args):
            yield self._event(row, with_body)

    def request(self, event: Event) -> dict[str, Any]:
        """The recorded request with its JSON body put back together."""
        req = dict(event.request) if isinstance(event.request, dict) else {}
        if "json" in req:
            req["json"] = join_json(req["json"], self.blob)
        for part in ("body", "headers"):
            value = req.get(part)
            if isinstance(value, dict) and REF in value:
                data = self.blob(value[REF])
                req[part] = data if part == "body" else [tuple(h) for h in orjson.loads(data)]
        return req

    def checkpoints(self) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT name, seq, events_before, created_at, state, pid FROM checkpoints ORDER BY id"
        )
        return [
            {"name": n, "seq": s, "events_before": e, "created_at": c, "state": _loads(st), "pid": p}
            for n, s, e, c, st, p in rows
        ]

    def _event(self, row: tuple, with_body: bool) -> Event:
        (event_id, seq, kind, fp, occ, started, dur, status, request, response, body, chunks, error, meta,
         labels, pid, exact) = row
        return Event(
            id=event_id, seq=seq, kind=kind, fingerprint=fp, occurrence=occ, started_at=started,
            duration_us=dur, status=status, request=self._json(request), response=self._json(response),
            body=self.blob(body) if (with_body and body) else None,
            chunks=[tuple(c) for c in self._json(chunks)] if chunks else None,
            error=self._json(error), meta=self._json(meta) or {}, labels=_loads(labels) or {}, pid=pid, exact=exact,
        )
