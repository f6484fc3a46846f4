"""Compaction at stop: a dictionary trained on the recording, every payload recompressed,
blobs renamed to short ids, fingerprints stored as bytes."""

from __future__ import annotations

import dataclasses
import re
import shutil
import sqlite3

import httpx2
import pytest
import zstandard

import autorr
from autorr._errors import EventCorrupt
from autorr._events import CallRequest, Event
from autorr._redact import Redactor
from autorr.store import Reader, Writer, compact, segment_paths
from autorr.store import _compact
from autorr.store._codec import DICT_KEY, ZSTD, ZSTD_DICT_BARE, decode_blob, zstd_dict_compressor
from autorr.store._compact import PAYLOAD_COLUMNS, short_id

from conftest import FAKE_KEY, conversation

openai = pytest.importorskip("openai")

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
HEX_KEY = re.compile(r"^[0-9a-f]{32}$")


def _uncompressed(**changes) -> autorr.Config:
    return dataclasses.replace(autorr.load_config(), compression=False, **changes)


def _client(llm_server):
    return openai.OpenAI(base_url=llm_server.openai_base_url, api_key="sk-test-compact-0000000000000000",
                         max_retries=0)


def _conversation(client, turns: int) -> list[str]:
    return conversation(client, turns, repeat=1)


def _copy(path, directory):
    """A copy of every segment of the recording ``path``."""
    directory.mkdir()
    for file in segment_paths(path):
        shutil.copy(file, directory / file.name)
    return directory / path.name


def _tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {name for name, in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}


def _everything(reader: Reader) -> dict:
    """What a recording gives back: events with their requests put back together and bodies,
    answers as replay sees them, the replay lookups, checkpoints."""
    events = [dataclasses.replace(e, request=reader.request(e)) for e in reader.events(with_body=True)]
    return {"events": events, "answers": [reader.answer(e.id) for e in events], "indexes": reader.indexes(),
            "checkpoints": reader.checkpoints(), "count": reader.count()}


def _keys_read(reader: Reader) -> list[str]:
    """Every blob key that reading every request and body follows, chain nodes included."""
    seen, blob = [], reader.blob

    def spy(digest, segment=None):
        seen.append(digest)
        return blob(digest, segment)

    reader.blob = spy
    reader._blob_cache.clear()
    for event in reader.events(with_body=True):
        reader.request(event)
    return seen


def test_stop_compacts_and_the_recording_replays_the_same(llm_server, tmp_path):
    client = _client(llm_server)
    path = tmp_path / "run.db"
    with autorr.recording(path) as recorder:
        recorded = _conversation(client, 24)
    assert recorder.manifest.size_bytes == sum(p.stat().st_size for p in tmp_path.glob("run.db*"))
    with Reader(path) as reader:
        codecs = dict(reader._query("SELECT codec, count(*) FROM blobs GROUP BY codec"))
        assert codecs.get(ZSTD_DICT_BARE, 0) > 0 and reader._query("SELECT 1 FROM blobs WHERE hash = ?", (DICT_KEY,))
        kinds = {t for t, in reader._query("SELECT typeof(response) FROM events")}
        assert kinds == {"blob"}  # payload columns recompressed with the dictionary
        assert reader.count() == (24, recorder.manifest.total_chunks) and recorder.manifest.total_chunks > 0
        events = list(reader.events(with_body=True))
        assert events[-1].meta["model"] == "gpt-4o-mini"
        assert reader.request(events[-1])["json"]["messages"][-1]["content"].startswith("Step 23")
    llm_server.stop()
    with autorr.replaying(path):
        assert _conversation(client, 24) == recorded
    assert autorr.get_recorded_events(str(path))[0].outputs


def test_compaction_shrinks_a_small_recording(llm_server, tmp_path):
    plain = autorr.Recorder(directory=tmp_path, recording_id="plain", config=_uncompressed())
    with plain:
        _conversation(_client(llm_server), 30)
    packed = tmp_path / "packed.db"
    packed.write_bytes((tmp_path / "plain.db").read_bytes())
    sizes = compact(str(packed))  # a path as text does as well
    assert sizes is not None and sizes["after"] < sizes["before"] / 3
    with Reader(packed) as reader, Reader(tmp_path / "plain.db") as original:
        assert _everything(reader) == _everything(original)
    assert compact(packed) is None  # once is enough


def _varied_recording(llm_server, echo_server, directory, **config):
    """Long messages (blobs of their own, `$ref`'d from chain nodes), short ones (inline in
    them), a raw body, a top-level JSON list, streams and a checkpoint; left uncompacted."""
    with autorr.Recorder(directory=directory, recording_id="run", config=_uncompressed(**config)):
        conversation(_client(llm_server), 12, {5: "half"}, repeat=12)
        _conversation(_client(llm_server), 4)
        with httpx2.Client() as http:
            http.post(echo_server[0] + "/raw", content=b"\x00\x01 not json " * 40,
                      headers={"content-type": "application/octet-stream"})
            http.post(echo_server[0] + "/list", json=[{"n": i, "text": "item " * 80} for i in range(3)])
    return directory / "run.db"


def test_compaction_reads_back_everything_the_recording_held(llm_server, echo_server, tmp_path):
    original = _varied_recording(llm_server, echo_server, tmp_path / "plain")
    packed = _copy(original, tmp_path / "packed")
    assert compact(packed) is not None
    with Reader(packed) as reader, Reader(original) as before:
        assert _everything(reader) == _everything(before)
        (blobs,) = reader._query("SELECT count(*) FROM blobs WHERE hash != ?", (DICT_KEY,))[0]
        keys = set(_keys_read(reader))
        # every blob renamed, every reference to it rewritten: chain parents, `$ref` elements,
        # `$list` heads, headers, raw bodies, response bodies
        assert len(keys) == blobs and all(len(key) <= 2 for key in keys)
        assert not any(HEX_KEY.match(key) for key, in reader._query("SELECT hash FROM blobs"))
        assert _keys_read(before) and all(HEX_KEY.match(key) for key in _keys_read(before))
        # fingerprints as their 16 bytes, read back as hex
        assert reader._query("SELECT DISTINCT typeof(fingerprint), length(fingerprint), typeof(exact),"
                             " length(exact) FROM events") == [("blob", 16, "blob", 16)]
        # bare frames: no magic number in blobs or columns
        codecs = dict(reader._query("SELECT codec, count(*) FROM blobs WHERE hash != ? GROUP BY codec", (DICT_KEY,)))
        assert codecs.get(ZSTD_DICT_BARE, 0) > blobs * 0.9
        assert not reader._query("SELECT 1 FROM blobs WHERE codec = ? AND substr(data, 1, 4) = ?",
                                 (ZSTD_DICT_BARE, ZSTD_MAGIC))
        for column in PAYLOAD_COLUMNS:
            starts = {bytes(s) for s, in reader._query(f"SELECT substr({column}, 1, 4) FROM events"
                                                       f" WHERE typeof({column}) = 'blob'")}
            assert ZSTD_MAGIC not in starts
        # the dictionary itself compressed
        (codec, size, stored), = reader._query("SELECT codec, size, length(data) FROM blobs WHERE hash = ?",
                                               (DICT_KEY,))
        assert codec == ZSTD and stored < size / 2
    assert "checkpoints" in _tables(packed)  # it holds one


def test_each_segment_gets_short_ids_of_its_own(llm_server, tmp_path):
    with autorr.Recorder(directory=tmp_path / "plain", recording_id="run", config=_uncompressed(max_file_size_mb=0.06)):
        conversation(_client(llm_server), 30, {3: "early", 25: "late"})
    original = tmp_path / "plain" / "run.db"
    packed = _copy(original, tmp_path / "packed")
    sizes = compact(packed)
    assert sizes["segments"] >= 3 and sizes["compacted"] == sizes["segments"]
    with Reader(packed) as reader, Reader(original) as before:
        # the same short ids name different blobs in each segment
        named = [dict(reader._query("SELECT hash, data FROM blobs WHERE hash IN ('0', '1', '2')", (), segment))
                 for segment in reader._segments]
        assert all(len(ids) == 3 for ids in named) and named[0] != named[1]
        assert _everything(reader) == _everything(before)
        assert _everything(reader) == _everything(before)  # again, from the blob cache
        assert autorr.list_checkpoints(str(packed)) == autorr.list_checkpoints(str(original))
        # an event whose body's short id names a blob in another segment too
        here, there, row, body = next(
            (here, there, row, body) for here in reader._segments for there in reader._segments if there is not here
            for row, body in reader._query("SELECT id, body FROM events", (), here)
            if reader._query("SELECT 1 FROM blobs WHERE hash = ?", (body,), there))
        event, here, there = here.base + row, here.number, there.number
    llm_server.stop()
    with autorr.replaying(packed):
        conversation(_client(llm_server), 30)

    with sqlite3.connect(segment_paths(packed)[here]) as conn:
        conn.execute("DELETE FROM blobs WHERE hash = ?", (body,))
    with Reader(packed) as reader:  # missing from its segment: never taken from another one
        with pytest.raises(EventCorrupt, match="is missing"):
            reader.event(event)
        with pytest.raises(EventCorrupt, match="is missing"):
            reader.answer(event)
        reader.blob(body, reader._segments[there])  # cached, for the other segment
        with pytest.raises(EventCorrupt, match="is missing"):
            reader.event(event)


def _compact_as_before(path) -> None:
    """What compaction wrote before short ids and bare frames: framed ZSTD_DICT (2)
    payloads, hex keys, the dictionary stored raw, text fingerprints."""
    conn = sqlite3.connect(path, isolation_level=None)
    blobs = [(h, decode_blob(c, d)) for h, c, d in conn.execute("SELECT hash, codec, data FROM blobs")]
    rows = conn.execute(f"SELECT id, {', '.join(PAYLOAD_COLUMNS)} FROM events").fetchall()
    samples = [data for _, data in blobs if data] + [v.encode() for row in rows for v in row[1:] if v]
    dictionary = zstandard.train_dictionary(4096, samples).as_bytes()
    packer = zstd_dict_compressor(dictionary)
    conn.execute("BEGIN")
    conn.execute("INSERT INTO blobs (hash, codec, size, data) VALUES (?, 0, ?, ?)",
                 (DICT_KEY, len(dictionary), dictionary))
    conn.executemany("UPDATE blobs SET codec = 2, data = ? WHERE hash = ?", [(packer.compress(d), h) for h, d in blobs])
    for row_id, *values in rows:
        packed = [packer.compress(v.encode()) if v else v for v in values]
        conn.execute(f"UPDATE events SET {', '.join(f'{c} = ?' for c in PAYLOAD_COLUMNS)} WHERE id = ?",
                     (*packed, row_id))
    conn.execute("COMMIT")
    conn.close()


def test_files_compacted_by_the_previous_version_still_read(llm_server, echo_server, tmp_path):
    original = _varied_recording(llm_server, echo_server, tmp_path / "plain")
    old = _copy(original, tmp_path / "old")
    _compact_as_before(old)
    with Reader(old) as reader, Reader(original) as before:
        assert {c for c, in reader._query("SELECT DISTINCT codec FROM blobs WHERE hash != ?", (DICT_KEY,))} == {2}
        assert _everything(reader) == _everything(before)
    assert compact(old) is None  # compacted once already
    llm_server.stop()
    with autorr.replaying(old):
        conversation(_client(llm_server), 12, repeat=12)


def test_a_process_joins_a_compacted_recording_and_adds_events_and_a_checkpoint(llm_server, recordings, run_agent,
                                                                               tmp_path):
    with autorr.Recorder(directory=recordings, recording_id="run"):
        _conversation(_client(llm_server), 20)
    path = recordings / "run.db"
    assert "checkpoints" not in _tables(path)  # it had none: the empty table went
    with Reader(path) as reader:
        assert reader.checkpoints() == [] and reader.count()[0] == 20
        first = _everything(reader)
    # a child of the recording process (another pid owns the recording) writes into the file
    done = run_agent("checkpoint_agent.py", server=llm_server,
                     env={"AUTORR_MODE": "record", "AUTORR_RECORDING_ID": "run", "_AUTORR_OWNER_PID": "1",
                          "MARKER": str(tmp_path / "marker")})
    assert done.returncode == 0, done.stderr
    assert "checkpoints" in _tables(path)
    with Reader(path) as reader:
        keys = {key for key, in reader._query("SELECT hash FROM blobs WHERE hash != ?", (DICT_KEY,))}
        assert any(HEX_KEY.match(k) for k in keys) and any(len(k) <= 2 for k in keys)  # both kinds of keys
        [checkpoint] = reader.checkpoints()
        assert checkpoint["name"] == "research_done" and len(checkpoint["state"]["notes"]) == 3
        events = list(reader.events(with_body=True))
        assert len(events) >= 25
        assert [dataclasses.replace(e, request=reader.request(e)) for e in events[:20]] == first["events"]
        joined = [reader.request(e)["json"]["messages"][0]["content"] for e in events[20:25]]
        assert joined[0] == "research step 0" and joined[-1].startswith("polish ")
        assert all(isinstance(e.fingerprint, str) and len(e.fingerprint) == 32 for e in events)
        assert compact(path) is None  # compacted once: what joined later stays as written


def test_a_failed_compaction_leaves_the_file_as_it_was(llm_server, echo_server, tmp_path, monkeypatch):
    original = _varied_recording(llm_server, echo_server, tmp_path / "plain")
    copy = _copy(original, tmp_path / "copy")

    def broken(*args):  # fails after every blob and event was rewritten
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(_compact, "has_table", broken)
    assert compact(copy) is None
    with Reader(copy) as reader, Reader(original) as before:
        assert _everything(reader) == _everything(before)
        assert all(HEX_KEY.match(key) for key, in reader._query("SELECT hash FROM blobs"))
        assert reader._query("SELECT DISTINCT typeof(fingerprint) FROM events") == [("text",)]
    monkeypatch.undo()
    assert compact(copy) is not None


def test_only_fingerprints_that_read_back_the_same_are_stored_as_bytes(tmp_path):
    path = tmp_path / "r.db"
    writer = Writer(path, redactor=Redactor(environ={}))
    kept = ["fp-short", "ABCDEF0123456789ABCDEF0123456789", "0123456789abcdef0123456789abcdeX", "ab" * 20]
    for i in range(24):
        request = CallRequest("POST", "http://h/v1/x", "h", "/v1/x", [], [], b"{}",
                              json={"i": i, "text": f"payload {i} " * 30}, content_type="application/json")
        fingerprint = kept[i] if i < len(kept) else f"{i:032x}"
        writer.put(Event(kind="http", fingerprint=fingerprint, occurrence=0, seq=i, started_at=1000.0 + i,
                         duration_us=10, status="ok", request=request, body=b'{"ok": %d}' % i))
    writer.close()
    copy = _copy(path, tmp_path / "copy")
    assert compact(copy) is not None
    with Reader(copy) as reader, Reader(path) as before:
        assert _everything(reader) == _everything(before)
        types = reader._query("SELECT fingerprint, typeof(fingerprint) FROM events ORDER BY id")
    assert [t for _, t in types] == ["text"] * len(kept) + ["blob"] * (24 - len(kept))
    assert [fp for fp, _ in types[:len(kept)]] == kept


def test_short_ids_are_unique_and_never_look_like_hashes():
    ids = [short_id(n) for n in range(50_000)]
    assert ids[:3] == ["0", "1", "2"] and ids[35:37] == ["z", "10"] and short_id(36 ** 2) == "100"
    assert len(set(ids)) == len(ids) and max(map(len, ids)) < 32
    assert all(re.fullmatch(r"[0-9a-z]+", i) for i in ids) and DICT_KEY not in ids


def test_compaction_leaves_a_busy_or_tiny_recording_alone(llm_server, tmp_path):
    client = _client(llm_server)
    with autorr.recording(tmp_path / "tiny.db"):
        _conversation(client, 1)
    with Reader(tmp_path / "tiny.db") as reader:
        assert not reader._query("SELECT 1 FROM blobs WHERE hash = ?", (DICT_KEY,))
    with autorr.Recorder(directory=tmp_path, recording_id="busy", config=_uncompressed()):
        _conversation(client, 20)
    other = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process still writing
    try:
        assert compact(tmp_path / "busy.db") is None
    finally:
        other.execute("ROLLBACK")
        other.close()
    with Reader(tmp_path / "busy.db") as reader:
        assert reader.count()[0] == 20


def test_the_manifest_states_the_size_of_the_file_it_is_stored_in(tmp_path, monkeypatch):
    from autorr import _recorder

    store = _recorder._store_manifest
    grown = []

    def store_and_grow(path, manifest):  # storing the manifest adds a page, the first time
        store(path, manifest)
        if not grown:
            conn = sqlite3.connect(path)
            conn.execute("INSERT INTO meta (key, value) VALUES ('padding', ?)", ('"' + "x" * 8192 + '"',))
            conn.commit()
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
            grown.append(True)

    monkeypatch.setattr(_recorder, "_store_manifest", store_and_grow)
    recorder = autorr.Recorder("sized", directory=tmp_path)
    recorder.start()
    manifest = recorder.stop()
    assert manifest.size_bytes == sum(p.stat().st_size for p in tmp_path.glob("sized.db*"))
    with Reader(tmp_path / "sized.db") as reader:
        assert reader.meta()["manifest"]["size_bytes"] == manifest.size_bytes
