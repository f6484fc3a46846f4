"""The SQLite layout of a recording, and the one place that opens its files.

One recording = one SQLite file in WAL mode: portable, readable by ``sqlite3`` and
``sqlite-utils``. Several processes (an agent and its subprocesses) may write it at
once; WAL plus a busy timeout serialises their short transactions.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from .._errors import RecordingCorrupt

__all__ = ["SCHEMA_VERSION", "connect", "has_table", "insert_rows"]

SCHEMA_VERSION = 2

# Compaction drops the checkpoints table of a recording that has none (its empty root
# is a page of a small file); a process that joins the recording later creates it again.
_CHECKPOINTS = """
    CREATE TABLE IF NOT EXISTS checkpoints (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        seq INTEGER NOT NULL,            -- calls started before it
        events_before INTEGER NOT NULL,  -- events stored before it
        created_at REAL NOT NULL,
        state TEXT,                      -- JSON
        pid INTEGER NOT NULL
    )"""

# Migrations by target version; a file at version N gets N+1.. applied in order.
_MIGRATIONS: dict[int, str] = {
    1: """
    -- A rowid table, though its key's index costs a page: WITHOUT ROWID, a value over about
    -- a quarter of a page (the config, the manifest) would spill to an overflow page.
    CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL              -- JSON
    );
    -- Content-addressed payloads: a message re-sent in every turn is stored once.
    CREATE TABLE IF NOT EXISTS blobs (
        hash TEXT PRIMARY KEY,           -- xxh3-128 (older: blake2b-128) of the bytes before
                                         -- redaction; a short id once compacted (see _compact)
        codec INTEGER NOT NULL,          -- 0 raw, 1 zstd, 2 and 3 zstd with the dictionary
        size INTEGER NOT NULL,           -- raw size
        data BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY,          -- completion order
        seq INTEGER NOT NULL,            -- start order within its process
        kind TEXT NOT NULL,
        fingerprint TEXT NOT NULL,       -- hex; 16 bytes once compacted, like exact
        occurrence INTEGER NOT NULL,
        started_at REAL NOT NULL,        -- unix seconds
        duration_us INTEGER NOT NULL,
        status TEXT NOT NULL,            -- ok | error | incomplete
        summary TEXT NOT NULL,           -- "POST api.openai.com/v1/chat/completions"
        request TEXT NOT NULL,           -- JSON, where {"$ref": hash} points into blobs
        response TEXT,                   -- JSON: status, headers, streamed, ttfb_us...
        body TEXT,                       -- blob hash of the response body
        chunks TEXT,                     -- JSON [[size, offset_us], ...] for streams
        error TEXT,                      -- JSON: type, message
        meta TEXT,                       -- JSON: provider, model, usage...
        labels TEXT,                     -- JSON: session/task/agent ids
        pid INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS events_match ON events (kind, fingerprint, occurrence);
    """ + _CHECKPOINTS + ";",
    # Fingerprints become xxh3-128 (FINGERPRINT_V2); `exact` hashes the request bytes as sent.
    2: """
    ALTER TABLE events ADD COLUMN exact TEXT;
    -- Replay builds its lookup in memory from one scan, the index only cost pages.
    DROP INDEX IF EXISTS events_match;
    """,
}


def _sql(text: str) -> str:
    # SQLite keeps each CREATE statement's text in the file: the comments above are for
    # readers of this module, and in a small recording they would cost a page.
    return " ".join(re.sub(r"--[^\n]*", "", text).split())


class _Connection(sqlite3.Connection):
    """A connection that may write: creates the checkpoints table again when a statement
    needs it (a process joining a compacted recording, see `_CHECKPOINTS`).

    On first use rather than on opening: the recorder opens the file once more after
    compaction to store its manifest, and an empty table would be a page again.
    """

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            if str(exc) != "no such table: checkpoints":
                raise
        super().execute(_sql(_CHECKPOINTS))
        return super().execute(sql, parameters)


# Rows per INSERT statement: its parameters stay well under SQLite's limit (32,766).
_ROWS_PER_INSERT = 256


def insert_rows(conn: sqlite3.Connection, head: str, rows: list[tuple]) -> None:
    """``head`` ("INSERT ... INTO t (a, b)") with ``rows``, many rows to a statement.

    `executemany` runs a statement per row, and the sqlite3 module lets go of the GIL for
    every one: each time, a busy agent thread takes it, and the writer waits up to the
    5 ms switch interval to get it back. A few statements a batch keep those hand-overs few.
    """
    if not rows:
        return
    marks = "(" + ",".join("?" * len(rows[0])) + ")"
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        part = rows[start:start + _ROWS_PER_INSERT]
        conn.execute(f"{head} VALUES {','.join([marks] * len(part))}", [value for row in part for value in row])


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


def _without_wal(path: Path) -> str:
    """Why a file may have no schema: a copy of a recording being written, taken without
    the -wal file that held all its commits so far."""
    try:
        with open(path, "rb") as file:
            header = file.read(20)
    except OSError:
        return ""
    wal = Path(f"{path}-wal")
    # Byte 18 is 2 in WAL mode; opening the file made an empty -wal if there was none.
    if header[:16] != b"SQLite format 3\x00" or header[18] != 2 or (wal.exists() and wal.stat().st_size):
        return ""
    return (f"; it is a WAL-mode file with no {path.name}-wal beside it: copy a recording still being"
            " written together with its -wal file, or once it has stopped (`autorr upload` snapshots it)")


def connect(path: Path, *, create: bool = False) -> sqlite3.Connection:
    """Open (and with ``create``, initialise or migrate) a recording file; with ``create``,
    a statement on the checkpoints table creates it if compaction dropped it."""
    if not create and not path.is_file():
        raise RecordingCorrupt(f"{path}: no such recording file")
    conn = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None,
                           factory=_Connection if create else sqlite3.Connection)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if create:
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode survives a killed process (not a power cut) and is fast.
            conn.execute("PRAGMA synchronous = NORMAL")
            if version < SCHEMA_VERSION:
                conn.execute("BEGIN IMMEDIATE")
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                for target in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _sql(_MIGRATIONS[target]).split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {target}")
                conn.execute("COMMIT")
        elif version == 0:
            raise RecordingCorrupt(f"{path}: not an autorr recording (no schema){_without_wal(path)}")
        if version > SCHEMA_VERSION:
            raise RecordingCorrupt(f"{path}: written by a newer autorr (schema {version} > {SCHEMA_VERSION})")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise RecordingCorrupt(f"{path}: not an autorr recording ({exc})") from None
    except BaseException:
        conn.close()
        raise
    return conn
