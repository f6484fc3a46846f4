"""Compaction at stop: a dictionary trained on the recording, every payload recompressed."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest

import autorr
from autorr.store import Reader, compact
from autorr.store._codec import DICT_KEY

from conftest import conversation

openai = pytest.importorskip("openai")


def _uncompressed() -> autorr.Config:
    return dataclasses.replace(autorr.load_config(), compression=False)


def _conversation(client, turns: int) -> list[str]:
    return conversation(client, turns, repeat=1)


def test_stop_compacts_and_the_recording_replays_the_same(llm_server, tmp_path):
    client = openai.OpenAI(base_url=llm_server.openai_base_url, api_key="sk-test-compact-0000000000000000")
    path = tmp_path / "run.db"
    with autorr.recording(path) as recorder:
        recorded = _conversation(client, 24)
    assert recorder.manifest.size_bytes == sum(p.stat().st_size for p in tmp_path.glob("run.db*"))
    with Reader(path) as reader:
        codecs = dict(reader._query("SELECT codec, count(*) FROM blobs GROUP BY codec"))
        assert codecs.get(2, 0) > 0 and reader._query("SELECT 1 FROM blobs WHERE hash = ?", (DICT_KEY,))
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
    client = openai.OpenAI(base_url=llm_server.openai_base_url, api_key="sk-test-compact-0000000000000000")
    plain = autorr.Recorder(directory=tmp_path, recording_id="plain", config=_uncompressed())
    with plain:
        _conversation(client, 30)
    packed = tmp_path / "packed.db"
    packed.write_bytes((tmp_path / "plain.db").read_bytes())
    sizes = compact(packed)
    assert sizes is not None and sizes["after"] < sizes["before"] / 1.5
    with Reader(packed) as reader, Reader(tmp_path / "plain.db") as original:
        assert [e.body for e in reader.events(with_body=True)] == [e.body for e in original.events(with_body=True)]
        assert reader.request(list(reader.events())[-1]) == original.request(list(original.events())[-1])
    assert compact(packed) is None  # once is enough


def test_compaction_leaves_a_busy_or_tiny_recording_alone(llm_server, tmp_path):
    client = openai.OpenAI(base_url=llm_server.openai_base_url, api_key="sk-test-compact-0000000000000000")
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
