"""Compaction of a closed recording: one zstd dictionary for all its small payloads.

While recording, each payload is compressed alone (fast, and every committed event
is readable after a crash). Alone, a 300-byte message or a response's headers barely
compress: what they share (JSON keys, SSE framing, header names, the agent's own
phrases) lives in the *other* payloads. At stop, a dictionary is trained on the
recording itself and every blob and payload column is compressed again with it;
then the file is rewritten without the pages that freed. A small recording shrinks
about twofold. Best effort: a file another process still writes is left as it is.
Each segment of a rotated recording is compacted alone, with a dictionary of its own,
so every segment stays readable without the others.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from ._codec import DICT_KEY, ZSTD_DICT, decode_blob, zstd_dict_compressor
from ._schema import connect
from ._segments import segment_paths

__all__ = ["PAYLOAD_COLUMNS", "compact"]

log = logging.getLogger("autorr")

PAYLOAD_COLUMNS = ("request", "response", "chunks", "error", "meta")
MAX_RAW_BYTES = 64 << 20  # beyond this the one-off pass costs more than it saves
_SAMPLE_BYTES = 4 << 20
_MIN_SAMPLES = 16
PAGE_SIZE = 2048
BUSY_MS = 200


def _dict_size(total: int) -> int:
    return 4096 if total < (1 << 20) else 16384


def _rewrite(conn: sqlite3.Connection) -> None:
    """VACUUM into smaller pages: compacted rows and blobs are a few hundred bytes each."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # The page size only changes outside WAL mode, which needs the file to ourselves.
    if conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0].lower() == "delete":
        try:
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            conn.execute("VACUUM")
        finally:
            conn.execute("PRAGMA journal_mode = WAL")
    else:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def compact(path: Path) -> dict[str, Any] | None:
    """Recompress the recording ``path`` (each of its segments) with a dictionary trained on
    it; returns the sizes of all its files before and after, or None if none was compacted."""
    files = segment_paths(path)
    before = [file.stat().st_size for file in files]
    done = [_compact_file(file) is not None for file in files]
    if not any(done):
        return None
    return {"before": sum(before), "after": sum(file.stat().st_size for file in files), "segments": len(files),
            "compacted": sum(done)}


def _compact_file(path: Path) -> dict[str, Any] | None:
    import zstandard

    before = path.stat().st_size
    conn = connect(path, create=True)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_MS}")  # another writer: skip rather than wait
        conn.execute("BEGIN IMMEDIATE")
        if conn.execute("SELECT 1 FROM blobs WHERE hash = ?", (DICT_KEY,)).fetchone():
            conn.execute("ROLLBACK")
            return None  # compacted before (a joined recording): new blobs stay as they are
        (raw,) = conn.execute("SELECT coalesce(sum(size), 0) FROM blobs").fetchone()
        if raw > MAX_RAW_BYTES:
            conn.execute("ROLLBACK")
            return None
        blobs = [(h, decode_blob(c, d), len(d)) for h, c, d in conn.execute("SELECT hash, codec, data FROM blobs")]
        columns = ", ".join(PAYLOAD_COLUMNS)
        rows = conn.execute(f"SELECT id, {columns} FROM events").fetchall()
        samples = [data for _, data, _ in blobs if data] + [v.encode() for row in rows for v in row[1:] if v]
        sampled, budget = [], _SAMPLE_BYTES
        for sample in samples:
            if budget <= 0:
                break
            sampled.append(sample)
            budget -= len(sample)
        if len(sampled) < _MIN_SAMPLES:
            conn.execute("ROLLBACK")
            return None
        trained = zstandard.train_dictionary(_dict_size(sum(map(len, sampled))), sampled)
        compressor = zstd_dict_compressor(trained.as_bytes())
        conn.execute("INSERT INTO blobs (hash, codec, size, data) VALUES (?, 0, ?, ?)",
                     (DICT_KEY, len(trained.as_bytes()), trained.as_bytes()))
        updates = []
        for digest, data, stored in blobs:
            packed = compressor.compress(data)
            if len(packed) < stored:
                updates.append((ZSTD_DICT, packed, digest))
        conn.executemany("UPDATE blobs SET codec = ?, data = ? WHERE hash = ?", updates)
        for row in rows:
            changed = {}
            for name, value in zip(PAYLOAD_COLUMNS, row[1:]):
                if value:
                    packed = compressor.compress(value.encode())
                    if len(packed) < len(value):
                        changed[name] = packed
            if changed:
                conn.execute(f"UPDATE events SET {', '.join(f'{k} = ?' for k in changed)} WHERE id = ?",
                             (*changed.values(), row[0]))
        conn.execute("COMMIT")
        _rewrite(conn)
    except (sqlite3.Error, zstandard.ZstdError) as exc:  # busy (a child process still writes), too few samples
        log.debug("autorr: %s not compacted: %s", path, exc)
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return None
    finally:
        conn.close()
    return {"before": before, "after": path.stat().st_size}
