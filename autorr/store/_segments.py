"""Segments: a recording rotated at `max_file_size_mb` is several SQLite files read as one.

``<id>.db`` is segment 0 and holds the recording's meta; ``<id>.db.1``, ``<id>.db.2``...
follow it in the same directory (the ``*.db`` glob of `list_recordings` never takes
them for recordings). Each segment is a complete recording file with its own blobs,
so any one of them opens with ``sqlite3`` and its events decode without the others.

Event ids stay unique ints across segments: segment ``n``'s row ``r`` is event
``n * 1_000_000_000 + r`` (segment 2's row 17 is 2000000017, readable in `autorr show`),
so segment 0, every unrotated recording, keeps its plain row ids. Rows are counted by
the writer of each segment file, not across processes, which could not keep a shared
counter from colliding when two of them rotate at once.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ._schema import connect

__all__ = ["SEGMENT_SPAN", "Segment", "recording_files", "recording_size", "segment_path", "segment_paths",
           "split_id"]

SEGMENT_SPAN = 1_000_000_000  # rows per segment: a billion rows would be 100 GB and more


def segment_path(path: Path, number: int) -> Path:
    return path if number == 0 else path.with_name(f"{path.name}.{number}")


def segment_paths(path: Path) -> list[Path]:
    """The files of the recording whose segment 0 is ``path``, in order.

    Discovered on disk rather than listed in the meta: a process killed right after
    a rotation leaves a segment the meta may not know yet. A file the rotation had
    created but not yet initialised (empty) ends the list.
    """
    out = [path]
    while True:
        candidate = segment_path(path, len(out))
        try:
            if candidate.stat().st_size == 0:
                break
        except OSError:
            break
        out.append(candidate)
    return out


def recording_files(path: Path) -> list[Path]:
    """A recording's data on disk: its segments and the -wal files holding their latest
    commits (-shm files are an index any open reader creates, not data)."""
    out = []
    for segment in segment_paths(path):
        out += [p for p in (segment, Path(f"{segment}-wal")) if p.is_file()]
    return out


def recording_size(path: Path) -> int:
    return sum(p.stat().st_size for p in recording_files(path))


def split_id(event_id: int) -> tuple[int, int]:
    """(segment number, row id in that segment)"""
    return divmod(event_id, SEGMENT_SPAN)


class Segment:
    """One open segment file of a `Reader`; the reader's lock guards its connection."""

    __slots__ = ("path", "number", "base", "conn", "dictionary")

    def __init__(self, path: Path, number: int) -> None:
        self.path = path
        self.number = number
        self.base = number * SEGMENT_SPAN
        self.conn: sqlite3.Connection = connect(path)
        self.conn.execute("PRAGMA query_only = ON")
        self.dictionary = None  # its zstd dictionary once compacted (each segment trains its own)
