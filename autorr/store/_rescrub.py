"""Secrets learned late, masked at stop in what was stored before.

The writer masks a credential from the moment autorr knows it: by its format, its name,
the environment. A bare copy stored before that (a key file read before the key was
first sent in a header, a tool that printed a token the agent then used) would stay.
When a recording stops, every value learned during the run is looked for in all that
was stored, and masked where found: blobs, the text columns of events, checkpoints and
meta. A streamed body's chunk list stays true to it (`Redactor.scrub_chunked`).
`secure_delete` zeroes the bytes replaced, and the WAL that held them is truncated.

Runs before compaction (a compacted file's payloads need its dictionary: left as they
are). A recording killed before it stops keeps what it had. A checkpoint whose name
loses a value here is found at replay by its stored name ("after-[REDACTED]"), or by
its real one when the replay's rules mask that value too.
"""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path
from typing import Any

import orjson

from ._codec import DICT_KEY, RAW, decode_blob, encode_blob
from ._schema import connect, has_table
from ._segments import segment_paths

__all__ = ["rescrub"]

# Text columns that hold what the agent sent or received (the rest are hashes and numbers).
_TEXT_COLUMNS = {
    "events": ("id", ("summary", "request", "response", "error", "meta", "labels")),
    "checkpoints": ("rowid", ("name", "state")),
    "meta": ("key", ("value",)),
}


def rescrub(path: str | os.PathLike[str], redactor: Any) -> int:
    """Mask the values ``redactor`` learned wherever the recording ``path`` (each of its
    segments) still holds them; returns how many blobs and rows changed."""
    known = redactor.known()
    if known is None:
        return 0
    return sum(_rescrub_file(file, redactor, known) for file in segment_paths(Path(path)))


def _rescrub_file(path: Path, redactor: Any, known: re.Pattern[bytes]) -> int:
    conn = connect(path)
    try:
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM blobs WHERE hash = ?", (DICT_KEY,)).fetchone():
                changed = 0  # compacted: see the module's docstring
            else:
                changed = _blobs(conn, redactor, known) + _rows(conn, redactor, known)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if changed:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the pages as they were live on in the WAL
        return changed
    finally:
        conn.close()


def _blobs(conn: sqlite3.Connection, redactor: Any, known: re.Pattern[bytes]) -> int:
    found: dict[str, tuple[bytes, bool]] = {}  # hash -> (bytes, whether stored compressed)
    for digest, codec, data in conn.execute("SELECT hash, codec, data FROM blobs"):
        raw = decode_blob(codec, bytes(data))
        if known.search(raw):
            found[digest] = raw, codec != RAW
    if not found:
        return 0
    # A body's chunk list first, from the body as it was (several events may share one body).
    marks = ", ".join("?" * len(found))
    for row_id, body, chunks in conn.execute(
            f"SELECT id, body, chunks FROM events WHERE chunks IS NOT NULL AND body IN ({marks})", list(found)).fetchall():
        if isinstance(chunks, str):
            _, rechunked = redactor.scrub_chunked(found[body][0], [tuple(c) for c in orjson.loads(chunks)])
            conn.execute("UPDATE events SET chunks = ? WHERE id = ?", (orjson.dumps(rechunked).decode(), row_id))
    for digest, (raw, compressed) in found.items():
        data = redactor.scrub(raw)
        # Compressed again if it was: a recording made with compression off stays so.
        codec, stored = encode_blob(data, compressed)
        conn.execute("UPDATE blobs SET codec = ?, size = ?, data = ? WHERE hash = ?", (codec, len(data), stored, digest))
    return len(found)


def _rows(conn: sqlite3.Connection, redactor: Any, known: re.Pattern[bytes]) -> int:
    changed = 0
    for table, (key, columns) in _TEXT_COLUMNS.items():
        if not has_table(conn, table):
            continue
        updates = []
        for row_key, *values in conn.execute(f"SELECT {key}, {', '.join(columns)} FROM {table}"):
            masked = [redactor.scrub_text(v) if isinstance(v, str) and known.search(v.encode()) else v for v in values]
            if masked != values:
                updates.append((*masked, row_key))
        if updates:
            assignments = ", ".join(f"{column} = ?" for column in columns)
            conn.executemany(f"UPDATE {table} SET {assignments} WHERE {key} = ?", updates)
            changed += len(updates)
    return changed
