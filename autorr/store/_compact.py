"""Compaction of a closed recording: one zstd dictionary for all its small payloads.

While recording, each payload is compressed alone (fast, and every committed event
is readable after a crash). Alone, a 300-byte message or a response's headers barely
compress: what they share (JSON keys, SSE framing, header names, the agent's own
phrases) lives in the *other* payloads. At stop, a dictionary is trained on the
recording itself and every blob and payload column is compressed again with it;
then the file is rewritten without the pages that freed. A small recording shrinks
about fourfold.

What is left of a small recording is mostly names and framing, so compaction also
renames every blob from its 32-character hash to a short id (`_Rekey`), stores the
fingerprints as 16 bytes instead of 32 hex characters, writes bare zstd frames, and
drops an empty checkpoints table.

Best effort, in one transaction: a file another process still writes is left as it
is, and so is one that fails to compact. Each segment of a rotated recording is
compacted alone, with a dictionary and ids of its own, so every segment stays readable
without the others.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import orjson

from ._codec import DICT_KEY, LIST, RAW, REF, ZSTD, ZSTD_DICT_BARE, _is, decode_blob, zstd_bare_compressor
from ._schema import connect, has_table
from ._segments import segment_paths

__all__ = ["PAYLOAD_COLUMNS", "compact", "short_id"]

log = logging.getLogger("autorr")

PAYLOAD_COLUMNS = ("request", "response", "chunks", "error", "meta")
MAX_RAW_BYTES = 64 << 20  # beyond this the one-off pass costs more than it saves
_SAMPLE_BYTES = 4 << 20
_MIN_SAMPLES = 16
# Each table of a small file ends in a part-filled page: smaller pages waste less, and a
# compacted blob row (about 150 bytes) still fits an index page's 230-byte cell. Measured
# at N=50: 2 KB pages 36-39 KB, 1 KB pages 34-35 KB.
PAGE_SIZE = 1024
BUSY_MS = 200
_DICT_LEVEL = 19  # the dictionary is compressed once and read once per segment


def _dict_size(total: int) -> int:
    # Bigger than the usual guidance: the dictionary ends up holding the recording's own
    # recurring text, stored once (compressed), which every frame then need not repeat.
    # At N=50, 4 KB -> 16 KB saved about 5 KB; beyond 64 KB barely anything.
    return min(max(total // 10, 16 << 10), 64 << 10)


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def short_id(number: int) -> str:
    """The ``number``-th blob's key in a compacted file: base 36, so never 32 characters
    long like the hashes a process joining the recording later keys its blobs by."""
    out = _DIGITS[number % 36]
    while number >= 36:
        number //= 36
        out = _DIGITS[number % 36] + out
    return out


def _split_node(data: bytes) -> tuple[str | None, bytes]:
    """A chain node ``[parent, element]`` (see `_codec._chain`): its parent, and its element
    as the bytes stored, so that an element with no reference is kept byte for byte."""
    comma = data.index(b",")  # the parent, null or a hash, holds none
    parent = orjson.loads(data[data.index(b"[") + 1:comma])
    if parent is not None and not isinstance(parent, str):
        raise ValueError("not a chain node")
    return parent, data[comma + 1:data.rindex(b"]")]


class _Rekey:
    """Short ids for one file's blobs, and every reference to them rewritten.

    The references are where `Reader.request` and `_codec.join_json` follow them: the
    request column's ``$ref`` and ``$list`` values, the body column, and inside chain
    nodes their parent and a ``$ref`` element. Only nodes hold references, so only they
    change; a blob ``$ref``'d is JSON or bytes stored as it is, even where its bytes
    happen to be a node's too (it then gets an id of each kind).
    """

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self.blobs = blobs  # hash -> raw bytes
        self.out: dict[str, bytes] = {}  # short id -> raw bytes, in the order given
        self._values: dict[str, str] = {}  # hash -> short id
        self._nodes: dict[str, str] = {}

    def _new(self, data: bytes) -> str:
        key = short_id(len(self.out))
        self.out[key] = data
        return key

    def value(self, digest: Any) -> Any:
        if not isinstance(digest, str) or digest not in self.blobs:
            return digest  # not a reference after all, or a dangling one: left as it is
        key = self._values.get(digest)
        if key is None:
            key = self._values[digest] = self._new(self.blobs[digest])
        return key

    def chain(self, head: Any) -> Any:
        """The new key of node ``head``: its ancestors first, iteratively (a chain is as long
        as its conversation)."""
        pending, node = [], head
        while isinstance(node, str) and node in self.blobs and node not in self._nodes:
            if len(pending) > len(self.blobs):
                raise ValueError("a chain of nodes loops")
            pending.append(node)
            node = _split_node(self.blobs[node])[0]
        for node in reversed(pending):
            parent, element = _split_node(self.blobs[node])
            parent = None if parent is None else self._nodes.get(parent, parent)
            self._nodes[node] = self._new(b"[" + orjson.dumps(parent) + b"," + self._element(element) + b"]")
        return self._nodes.get(head, head) if isinstance(head, str) else head

    def _element(self, element: bytes) -> bytes:
        if not element.lstrip().startswith(b"{"):
            return element
        parsed = orjson.loads(element)
        if _is(parsed, REF):
            new = self.value(parsed[REF])
            return element if new == parsed[REF] else orjson.dumps({REF: new})
        if _is(parsed, LIST):
            new = self.chain(parsed[LIST])
            return element if new == parsed[LIST] else orjson.dumps({LIST: new})
        return element

    def _resolve(self, item: Any) -> Any:
        if _is(item, REF):
            return {REF: self.value(item[REF])}
        if _is(item, LIST):
            return {LIST: self.chain(item[LIST])}
        return item

    def request(self, request: Any) -> Any:
        if not isinstance(request, dict):
            return request
        out = dict(request)
        if "json" in out:
            value = out["json"]
            if isinstance(value, dict) and not _is(value, LIST):
                out["json"] = {key: self._resolve(item) for key, item in value.items()}
            else:
                out["json"] = self._resolve(value)
        for part in ("body", "headers"):
            value = out.get(part)
            if isinstance(value, dict) and REF in value:
                out[part] = {**value, REF: self.value(value[REF])}
        return out

    def rest(self) -> dict[str, bytes]:
        """Blobs nothing referenced, kept under their hashes: dropping data is not compaction's call."""
        used = self._values.keys() | self._nodes.keys()
        return {digest: data for digest, data in self.blobs.items() if digest not in used}


def _binary(value: Any) -> Any:
    """An xxh3-128 fingerprint as its 16 bytes; anything that would not read back the same
    as hex (older blake2b ones of other lengths, upper case) stays text."""
    if isinstance(value, str) and len(value) == 32:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            return value
        if raw.hex() == value:
            return raw
    return value


def _rewrite(conn: sqlite3.Connection) -> None:
    """VACUUM into smaller pages: compacted rows and blobs are a few hundred bytes each."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # The page size only changes outside WAL mode, which needs the file to ourselves.
    # WAL is set back whatever happens, a Ctrl-C at exit included (a recording is a WAL file).
    try:
        if conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0].lower() == "delete":
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            conn.execute("VACUUM")
        else:
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.execute("PRAGMA journal_mode = WAL")


def compact(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Recompress the recording ``path`` (each of its segments) with a dictionary trained on
    it; returns the sizes of all its files before and after, or None if none was compacted."""
    files = segment_paths(Path(path))
    before = [file.stat().st_size for file in files]
    done = [_compact_file(file) is not None for file in files]
    if not any(done):
        return None
    return {"before": sum(before), "after": sum(file.stat().st_size for file in files), "segments": len(files),
            "compacted": sum(done)}


def _train(blobs: dict[str, bytes], rows: list[tuple]) -> bytes | None:
    import zstandard

    samples = [data for data in blobs.values() if data] + [v.encode() for row in rows for v in row[1:] if v]
    sampled, budget = [], _SAMPLE_BYTES
    for sample in samples:
        if budget <= 0:
            break
        sampled.append(sample)
        budget -= len(sample)
    if len(sampled) < _MIN_SAMPLES:
        return None
    return zstandard.train_dictionary(_dict_size(sum(map(len, sampled))), sampled).as_bytes()


def _compact_file(path: Path) -> dict[str, Any] | None:
    import zstandard

    before = path.stat().st_size
    conn = connect(path, create=True)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_MS}")  # another writer: skip rather than wait
        conn.execute("BEGIN IMMEDIATE")
        if not _recompress(conn):
            conn.execute("ROLLBACK")
            return None
        conn.execute("COMMIT")
        _rewrite(conn)
    except (sqlite3.Error, zstandard.ZstdError) as exc:  # busy: a child process still writes
        log.debug("autorr: %s not compacted: %s", path, exc)
        return _rolled_back(conn)
    except Exception as exc:  # noqa: BLE001 - the file as it was is a complete recording
        log.warning("autorr: %s not compacted: %r", path, exc)
        return _rolled_back(conn)
    except BaseException:  # Ctrl-C at exit: undone here, the caller says so (see Recorder._compact)
        _rolled_back(conn)
        raise
    finally:
        conn.close()
    return {"before": before, "after": path.stat().st_size}


def _rolled_back(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    return None


def _recompress(conn: sqlite3.Connection) -> bool:
    """Rewrite the file's blobs and events inside the open transaction; False: not worth it
    (compacted before, too large, too few payloads to train on)."""
    import zstandard

    if conn.execute("SELECT 1 FROM blobs WHERE hash = ?", (DICT_KEY,)).fetchone():
        return False  # compacted before (a joined recording): new blobs stay as they are
    (raw,) = conn.execute("SELECT coalesce(sum(size), 0) FROM blobs").fetchone()
    if raw > MAX_RAW_BYTES:
        return False
    stored = {h: (codec, bytes(data)) for h, codec, data in conn.execute("SELECT hash, codec, data FROM blobs")}
    rekey = _Rekey({h: decode_blob(codec, data) for h, (codec, data) in stored.items()})
    columns = ", ".join(PAYLOAD_COLUMNS)
    rows = []
    for row_id, request, *rest, body, fingerprint, exact in conn.execute(
            f"SELECT id, {columns}, body, fingerprint, exact FROM events ORDER BY id"):
        if request is not None:
            request = orjson.dumps(rekey.request(orjson.loads(request))).decode()
        rows.append((row_id, request, *rest, rekey.value(body), _binary(fingerprint), _binary(exact)))
    payload_rows = [row[:1 + len(PAYLOAD_COLUMNS)] for row in rows]
    dictionary = _train(rekey.out, payload_rows)
    if dictionary is None:
        return False
    compressor = zstd_bare_compressor(dictionary)
    blobs = [(DICT_KEY, ZSTD, len(dictionary),
              zstandard.ZstdCompressor(level=_DICT_LEVEL).compress(dictionary))]
    for key, data in rekey.out.items():
        packed = compressor.compress(data)
        blobs.append((key, ZSTD_DICT_BARE, len(data), packed) if len(packed) < len(data) else
                     (key, RAW, len(data), data))
    for digest, data in rekey.rest().items():
        codec, kept = stored[digest]
        blobs.append((digest, codec, len(data), kept))
    conn.execute("DELETE FROM blobs")
    conn.executemany("INSERT INTO blobs (hash, codec, size, data) VALUES (?, ?, ?, ?)", blobs)
    updates = []
    for row_id, *values, body, fingerprint, exact in rows:
        packed = []
        for value in values:
            if value:
                encoded = value.encode()
                squeezed = compressor.compress(encoded)
                value = squeezed if len(squeezed) < len(encoded) else value
            packed.append(value)
        updates.append((*packed, body, fingerprint, exact, row_id))
    assignments = ", ".join(f"{name} = ?" for name in (*PAYLOAD_COLUMNS, "body", "fingerprint", "exact"))
    conn.executemany(f"UPDATE events SET {assignments} WHERE id = ?", updates)
    if has_table(conn, "checkpoints") and not conn.execute("SELECT 1 FROM checkpoints LIMIT 1").fetchone():
        conn.execute("DROP TABLE checkpoints")  # see _schema._CHECKPOINTS
    return True
