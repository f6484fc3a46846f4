"""Rotation at `max_file_size_mb`: numbered segments that read, replay and travel as one recording."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys

import pytest

import autorr
from autorr.cli import main
from autorr.store import Reader, list_recordings, resolve, segment_paths

from conftest import AGENTS, FAKE_KEY, _clean_env, conversation, kill_after_calls

openai = pytest.importorskip("openai")

LIMIT_MB = 0.06
LIMIT = LIMIT_MB * 1e6


def _config(**changes) -> autorr.Config:
    return dataclasses.replace(autorr.load_config(), **{"max_file_size_mb": LIMIT_MB, **changes})


def _conversation(client, turns: int, checkpoints: dict[int, str] | None = None) -> list[str]:
    return conversation(client, turns, checkpoints)


def _client(llm_server):
    return openai.OpenAI(base_url=llm_server.openai_base_url, api_key=FAKE_KEY, max_retries=0)


def _record(llm_server, tmp_path, turns=30, checkpoints=None, **config):
    recorder = autorr.Recorder(directory=tmp_path, recording_id="run", config=_config(**config))
    with recorder:
        replies = _conversation(_client(llm_server), turns, checkpoints)
    return tmp_path / "run.db", replies, recorder.manifest


def test_a_long_recording_rotates_into_segments_that_replay_as_one(llm_server, tmp_path, capsys):
    path, replies, manifest = _record(llm_server, tmp_path)
    files = segment_paths(path)
    assert len(files) >= 3
    assert [f.name for f in files] == ["run.db"] + [f"run.db.{n}" for n in range(1, len(files))]
    assert list_recordings(tmp_path) == [path]  # segments are not recordings of their own
    assert resolve("run.db.2", tmp_path) == path  # a segment's name stands for its recording
    assert manifest.total_events == 30 and manifest.size_bytes == sum(f.stat().st_size for f in files)

    with Reader(path) as reader:
        events = list(reader.events())
        assert reader.count()[0] == 30 and reader.count()[1] > 0
        assert reader.meta()["segments"] == len(files) and reader.meta()["recording_id"] == "run"
    assert len({e.id for e in events}) == 30
    assert {e.id // 10**9 for e in events} == set(range(len(files)))  # every segment holds events
    assert [e.started_at for e in events] == sorted(e.started_at for e in events)
    assert len(autorr.get_recorded_events(str(path))) == 30
    storage = autorr.get_storage_info(tmp_path)
    assert storage["recordings"] == 1 and storage["total_bytes"] == manifest.size_bytes
    late = [e for e in events if e.chunks and e.id > 10**9][-1]  # a stream in a later segment
    chunks = list(autorr.replay_streaming_call(str(path), late.id, preserve_timing=False))
    assert len(chunks) == len(late.chunks) and b"".join(c.data for c in chunks).startswith(b"data: ")

    main(["show", str(path)])
    shown = capsys.readouterr().out
    assert f"{len(files)} segments" in shown and shown.count("api.openai.com") + shown.count("127.0.0.1") >= 30
    assert sum(" POST " in line for line in shown.splitlines()) == 30

    llm_server.stop()
    with autorr.replaying(path, mode="strict") as player:
        assert _conversation(_client(llm_server), 30) == replies
    assert player.statistics()["matched"] == 30


def test_each_segment_stays_near_the_limit_and_holds_its_own_payloads(llm_server, tmp_path):
    path, _, _ = _record(llm_server, tmp_path, compression=False)
    files = segment_paths(path)
    assert len(files) >= 3
    for file in files:
        # One event may cross the limit (the one that fills the segment), never more.
        assert file.stat().st_size <= LIMIT * 1.3, (file.name, file.stat().st_size)
        with sqlite3.connect(file) as conn:  # self-contained: every hash its rows name is in the file
            missing = conn.execute("SELECT count(*) FROM events WHERE body IS NOT NULL"
                                   " AND body NOT IN (SELECT hash FROM blobs)").fetchone()[0]
        assert missing == 0
        with Reader(file) as alone:  # any one segment decodes without the others
            last = list(alone.events())[-1]
            assert len(alone.request(last)["json"]["messages"]) % 2 == 1
    for file in files[:-1]:
        assert file.stat().st_size >= LIMIT * 0.5  # filled before the next one began


def _checkpoints_in(file) -> int:
    with sqlite3.connect(file) as conn:  # compaction drops the table from a segment that has none
        if not conn.execute("SELECT 1 FROM sqlite_schema WHERE name = 'checkpoints'").fetchone():
            return 0
        return conn.execute("SELECT count(*) FROM checkpoints").fetchone()[0]


def test_checkpoints_before_and_after_a_rotation(llm_server, tmp_path):
    path, replies, _ = _record(llm_server, tmp_path, turns=24, checkpoints={2: "early", 20: "late"})
    early, late = autorr.list_checkpoints(str(path))
    assert (early["name"], early["events_before"], early["state"]) == ("early", 3, {"turn": 2})
    assert (late["name"], late["events_before"], late["state"]) == ("late", 21, {"turn": 20})
    holders = [f.name for f in segment_paths(path) if _checkpoints_in(f)]
    assert holders[0] == "run.db" and holders[-1] != "run.db"  # written to the segment current then

    for name, before in (("late", 21), ("early", 3)):
        autorr.load_recording(str(path))
        autorr.replay_from_checkpoint(name)
        llm_server.reset()
        now = _conversation(_client(llm_server), 24)
        stats = autorr.get_replay_statistics()
        autorr.stop_replay()
        assert now[:before] == replies[:before]  # the prefix came from the recording, across segments
        assert stats["matched"] == before and stats["live"] == 24 - before and llm_server.hits == 24 - before


def test_unlimited_size_keeps_one_file_with_plain_ids(llm_server, tmp_path):
    path, _, _ = _record(llm_server, tmp_path, turns=6, max_file_size_mb=0)
    assert segment_paths(path) == [path] and not (tmp_path / "run.db.1").exists()
    with Reader(path) as reader:
        assert sorted(e.id for e in reader.events()) == list(range(1, 7)) and "segments" not in reader.meta()


def _agent_env(llm_server, recordings, tmp_path, **extra):
    config = tmp_path / "recording.yaml"
    config.write_text(f"recording:\n  max_file_size_mb: {LIMIT_MB}\n")
    return _clean_env({"AUTORR_DIR": str(recordings), "AUTORR_CONFIG": str(config), "OPENAI_API_KEY": FAKE_KEY,
                       "OPENAI_BASE_URL": llm_server.openai_base_url, "FAKE_SERVER_URL": llm_server.url,
                       "AGENT_TURNS": "24", **extra})


def test_zero_code_run_with_a_fork_pool_rotates_and_replays(llm_server, recordings, tmp_path):
    env = _agent_env(llm_server, recordings, tmp_path, AGENT_POOL="1")
    agent = [sys.executable, str(AGENTS / "long_chat_agent.py")]
    recorded = subprocess.run(agent, env=dict(env, AUTORR_MODE="record"), capture_output=True, text=True,
                              timeout=60)
    assert recorded.returncode == 0, recorded.stderr
    (path,) = list_recordings(recordings)
    assert len(segment_paths(path)) >= 3
    with Reader(path) as reader:
        paths = [e.summary.split(" ", 1)[1] for e in reader.events() if e.kind == "http"]
    assert paths.count("127.0.0.1/v1/chat/completions") == 24 and paths.count("127.0.0.1/v1/embeddings") == 8

    llm_server.stop()
    replayed = subprocess.run(agent, env=dict(env, AUTORR_MODE="replay"), capture_output=True, text=True, timeout=60)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == recorded.stdout


def test_sigkill_keeps_what_every_segment_committed(llm_server, recordings, tmp_path):
    env = _agent_env(llm_server, recordings, tmp_path, AGENT_HANG="1")
    agent = [sys.executable, str(AGENTS / "long_chat_agent.py")]
    lines = kill_after_calls(agent, dict(env, AUTORR_MODE="record"))
    (path,) = list_recordings(recordings)
    assert len(segment_paths(path)) >= 3
    with Reader(path) as reader:
        assert reader.count()[0] == 24
    llm_server.stop()
    replayed = subprocess.run(agent, env=dict(env, AUTORR_MODE="replay", AGENT_HANG=""), capture_output=True,
                              text=True, timeout=60)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == "".join(lines[:-1])


def test_upload_and_download_carry_every_segment(llm_server, tmp_path):
    pytest.importorskip("fsspec")
    path, replies, _ = _record(llm_server, tmp_path / "here")
    count = len(segment_paths(path))
    remote = tmp_path / "bucket"
    url = autorr.upload_recording(str(path), f"file://{remote}/")
    assert url.endswith("/run.db")
    assert sorted(p.name for p in remote.iterdir()) == sorted(["run.db"] + [f"run.db.{n}" for n in range(1, count)])

    there = tmp_path / "there"
    there.mkdir()
    for stale in range(1, count + 3):  # an older, longer recording of the same id
        (there / f"run.db.{stale}").write_bytes(b"stale")
    (there / "run.db").write_bytes(b"stale")
    got = autorr.download_recording("run", f"file://{remote}/", there, overwrite=True)
    assert segment_paths(got) == [there / "run.db"] + [there / f"run.db.{n}" for n in range(1, count)]
    assert not (there / f"run.db.{count}").exists()
    llm_server.stop()
    with autorr.replaying(got, mode="strict"):
        assert _conversation(_client(llm_server), 30) == replies


def test_a_segment_cut_off_while_being_created_is_left_out(llm_server, tmp_path, caplog):
    path, replies, _ = _record(llm_server, tmp_path, turns=12)
    count = len(segment_paths(path))
    # What a kill between creating the next file and writing its schema leaves behind.
    sqlite3.connect(tmp_path / f"run.db.{count}").execute("PRAGMA journal_mode = WAL").close()
    with Reader(path) as reader:
        assert len(reader.paths) == count and reader.count()[0] == 12
    assert f"last segment of {path} left out" in caplog.text
    llm_server.stop()
    with autorr.replaying(path, mode="strict"):
        assert _conversation(_client(llm_server), 12) == replies


def test_a_segment_that_cannot_be_created_leaves_the_recording_going_in_the_current_one(llm_server, tmp_path,
                                                                                        caplog):
    """The directory turned read-only or out of inodes: the open segment still takes every call
    (past the limit, with a warning) rather than none of them."""
    recorder = autorr.Recorder(directory=tmp_path, recording_id="run", config=_config(compression=False))
    with recorder:
        # Something in the way of the next segment's file: a directory cannot be opened as one.
        (tmp_path / "run.db.1").mkdir()
        replies = _conversation(_client(llm_server), 30)
    (tmp_path / "run.db.1").rmdir()
    assert f"could not start segment 1 of {tmp_path / 'run.db'}" in caplog.text
    with Reader(tmp_path / "run.db") as reader:
        assert reader.count()[0] == 30
    llm_server.stop()
    with autorr.replaying(tmp_path / "run.db", mode="strict"):
        assert _conversation(_client(llm_server), 30) == replies
