"""File reads and writes under the project: served in replay, changes reported."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import autorr


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    (root / "data" / "notes.txt").write_text("first line\nsecond line\n")
    (root / "data" / "blob.bin").write_bytes(bytes(range(256)))
    monkeypatch.chdir(root)
    return root


def _agent(root):
    out = [open("data/notes.txt").read(), Path("data/blob.bin").read_bytes()[:4],
           (root / "data" / "notes.txt").read_text().splitlines()]
    with open("data/notes.txt", "rb") as f:
        out.append(f.readline())
    Path("out.txt").write_text("result: 42\n")
    with open("log.txt", "a") as f:
        f.write("ran\n")
    return out


def test_reads_are_served_and_writes_performed(project, tmp_path):
    recordings = tmp_path / "recs"
    with autorr.recording(recordings / "f.db") as rec:
        live = _agent(project)
    assert rec.manifest.total_events == 6
    events = autorr.get_recorded_events(recordings / "f.db")
    reads = [e for e in events if e.inputs["op"] == "read"]
    assert reads[0].inputs["path"] == "data/notes.txt" and reads[0].event_type == "file"
    assert reads[0].outputs["content"] == "first line\nsecond line\n" and reads[0].outputs["size"] == 23
    os.remove("out.txt")
    os.remove("log.txt")
    # the input file disappears (another machine): replay still has its content
    (project / "data" / "notes.txt").unlink()
    with autorr.replaying(recordings / "f.db") as player:
        assert _agent(project) == live
    assert player.statistics()["matched"] == 6
    assert Path("out.txt").read_text() == "result: 42\n"  # writes are performed


def test_changed_input_file_is_a_mismatch(project, tmp_path):
    recordings = tmp_path / "recs"
    with autorr.recording(recordings / "f.db"):
        open("data/notes.txt").read()
    (project / "data" / "notes.txt").write_text("edited\n")
    with autorr.replaying(recordings / "f.db"):
        with pytest.raises(autorr.StrictReplayMismatch, match="FILE data/notes.txt changed since it was recorded"):
            open("data/notes.txt").read()
    with autorr.replaying(recordings / "f.db", mode="warn") as player:
        assert open("data/notes.txt").read() == "first line\nsecond line\n"
    assert player.mismatches()[0]["type"] == "content_changed"
    with autorr.replaying(recordings / "f.db", mode="hybrid"):
        assert open("data/notes.txt").read() == "edited\n"


def test_changed_write_is_reported(project, tmp_path):
    recordings = tmp_path / "recs"
    with autorr.recording(recordings / "f.db"):
        Path("out.txt").write_text("one")
    with autorr.replaying(recordings / "f.db", mode="warn") as player:
        Path("out.txt").write_text("two")
    assert "written content" in player.mismatches()[0]["diff"][0]


def test_outside_the_project_and_excluded_files_are_not_captured(project, tmp_path):
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("x")
    (project / ".git").mkdir()
    (project / ".git" / "HEAD").write_text("ref")
    (project / "skip.log").write_text("x")
    (project / "lib" / "brotli-1.1.0.dist-info").mkdir(parents=True)  # `pip install --target lib`
    (project / "lib" / "brotli-1.1.0.dist-info" / "METADATA").write_text("Name: brotli")
    autorr.configure_capture({"files_exclude": ["*.log"]})
    try:
        with autorr.recording(tmp_path / "recs" / "f.db") as rec:
            outside.read_text()
            (project / ".git" / "HEAD").read_text()
            (project / "skip.log").read_text()
            (project / "lib" / "brotli-1.1.0.dist-info" / "METADATA").read_text()
            import json  # noqa: F401 - stdlib files are never captured
            open(os.__file__).read()
        assert rec.manifest.total_events == 0
    finally:
        autorr.configure_capture({"files_exclude": []})


def test_capture_switch_off(project, tmp_path):
    autorr.configure_capture({"capture_file_operations": False})
    try:
        with autorr.recording(tmp_path / "recs" / "f.db") as rec:
            open("data/notes.txt").read()
        assert rec.manifest.total_events == 0
    finally:
        autorr.configure_capture({"capture_file_operations": True})


def test_secrets_files_are_never_stored_and_env_keys_learned_late(project, tmp_path, monkeypatch):
    (project / ".env").write_text("MY_SERVICE_TOKEN=late-loaded-token-12345\n")
    with autorr.recording(tmp_path / "recs" / "f.db") as rec:
        line = open(".env").read().strip()
        monkeypatch.setenv(*line.split("=", 1))  # what python-dotenv does
        Path("notes.txt").write_text("the token is late-loaded-token-12345")
        open("notes.txt").read()
    assert rec.manifest.total_events == 2  # the write and the read; not .env
    for file in (tmp_path / "recs").iterdir():
        assert b"late-loaded-token-12345" not in file.read_bytes()


def test_changed_writes_never_fail_strict_replay(project, tmp_path):
    with autorr.recording(tmp_path / "recs" / "f.db"):
        Path("run.log").write_text("started at 10:00")
    with autorr.replaying(tmp_path / "recs" / "f.db") as player:
        Path("run.log").write_text("started at 11:00")
    assert player.mismatches()[0]["action"] == "served_recorded"


def test_large_files_are_sized_not_stored_and_read_live_in_replay(project, tmp_path):
    big = project / "data" / "big.bin"
    big.write_bytes(b"x" * 5000)
    autorr.configure_capture({"file_content_max_bytes": 1000})
    try:
        with autorr.recording(tmp_path / "recs" / "f.db"):
            assert len(big.read_bytes()) == 5000
        (event,) = autorr.get_recorded_events(tmp_path / "recs" / "f.db")
        assert event.outputs["truncated"] is True and event.outputs["size"] == 5000
        big.write_bytes(b"y" * 10)
        with autorr.replaying(tmp_path / "recs" / "f.db"):
            assert big.read_bytes() == b"y" * 10  # not kept: the file itself is read
    finally:
        autorr.configure_capture({"file_content_max_bytes": 10_000_000})


def test_fifos_are_not_captured(project, tmp_path):
    fifo = project / "pipe"
    os.mkfifo(fifo)
    with autorr.recording(tmp_path / "recs" / "f.db") as rec:
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # a writer end, so open() below does not block
        with open(fifo, "rb", buffering=0):
            pass
        os.close(fd)
    assert rec.manifest.total_events == 0


def test_a_new_output_file_is_reported_not_raised(project, tmp_path):
    with autorr.recording(tmp_path / "recs" / "f.db"):
        Path("run-1000.log").write_text("started")
        data = open("data/notes.txt").read()
    with autorr.replaying(tmp_path / "recs" / "f.db") as player:
        Path("run-1100.log").write_text("started")  # named by the time: a new file each run
        assert open("data/notes.txt").read() == data
    assert Path("run-1100.log").read_text() == "started"
    (reported,) = player.mismatches()
    assert reported["action"] == "reported" and "run-1100.log" in reported["call"]
    with pytest.raises(autorr.StrictReplayMismatch):  # a new *input* still fails strict replay
        with autorr.replaying(tmp_path / "recs" / "f.db"):
            open("data/blob.bin", "rb").read()


@pytest.mark.parametrize("where", ["main", "thread"])
def test_a_traceback_shows_its_source_and_is_no_file_read(project, where):
    """Python's traceback printer opens the failing script's source through io.open: not
    the agent reading a file (recorded, it made every later edit of the script a mismatch,
    and in replay the traceback lost its lines and the crash was blamed on autorr)."""
    import subprocess
    import sys

    from autorr.store import Reader

    script = project / "crash.py"
    body = "open('data/notes.txt').read()\n\ndef fail():\n    raise ValueError('boom')  # the agent's own bug\n\n"
    body += "fail()\n" if where == "main" else "import threading\nt = threading.Thread(target=fail)\nt.start(); t.join()\n"
    script.write_text(body)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTORR_")}
    env.update(AUTORR_DIR=str(project / "recordings"), AUTORR_RECORDING_ID="crash", AUTORR_RECORDING="crash")
    runs = {mode: subprocess.run([sys.executable, str(script)], cwd=project, env={**env, "AUTORR_MODE": mode},
                                 capture_output=True, text=True, timeout=60) for mode in ("record", "replay")}
    for run in runs.values():
        assert "raise ValueError('boom')  # the agent's own bug" in run.stderr, run.stderr
        assert "no recorded answer" not in run.stderr and "strict replay failed" not in run.stderr
    with Reader(project / "recordings" / "crash.db") as reader:
        assert [e.summary for e in reader.events()] == ["FILE data/notes.txt"]


def test_a_served_file_is_a_real_file_object(project, tmp_path):
    """os.fstat(f.fileno()) and mmap work on a file replay serves, and its name is its path."""
    import mmap

    def agent():
        with open("data/notes.txt", "rb") as f:
            size = os.fstat(f.fileno()).st_size
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                first = mapped[:10]
            return size, first, f.name

    with autorr.recording(tmp_path / "recs" / "f.db"):
        live = agent()
    with autorr.replaying(tmp_path / "recs" / "f.db") as player:
        assert agent() == live == (23, b"first line", "data/notes.txt")
    assert player.statistics()["matched"] == 1


def test_a_file_replay_wrote_without_a_recording_is_read_back_live(project, tmp_path):
    """A scratch file named anew on every run is written live in replay and reported;
    reading it back reads that file, not a recording that cannot hold it."""
    import uuid

    def agent():
        name = f"scratch-{uuid.uuid4().hex}.txt"
        with open(name, "w") as f:
            f.write("scratch")
        content = open(name).read()
        os.remove(name)
        return content

    recordings = tmp_path / "recs"
    with autorr.recording(recordings / "f.db"):
        assert agent() == "scratch"
    with autorr.replaying(recordings / "f.db") as player:
        assert agent() == "scratch"
    assert [m["action"] for m in player.mismatches()] == ["reported"]
