"""Record mode when the agent is stopped or crashes: every call that returned stays replayable."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import autorr
from autorr import ConfigError
from autorr.store import Reader

from conftest import FAKE_KEY, _clean_env

pytest.importorskip("openai")

# A tool-using agent: an LLM call, a streamed one, a tool and a file read, then it waits to be
# stopped. SLOW_WRITER holds the writer as a busy one would be (the calls do not wake it and
# its poll is far away), so what the calls queued is still queued when the signal comes.
AGENT = """
import os, signal, sys, time
import openai
import autorr

if os.environ.get("SLOW_WRITER"):
    from autorr.store import _writer
    _writer.POLL_INTERVAL = 3600
    _writer.Writer.put = lambda self, item: self._pending.append(item)
if os.environ.get("OWN_HANDLER"):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))

@autorr.tool
def lookup(q):
    return {"q": q, "hits": len(q)}

client = openai.OpenAI(max_retries=0)
print("chat:", client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "plan"}])
      .choices[0].message.content)
stream = client.chat.completions.create(model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "go"}])
print("stream:", "".join(c.choices[0].delta.content or "" for c in stream if c.choices))
print("tool:", lookup("weather in Paris"))
print("file:", open("task.txt").read())
print("CALLS DONE", flush=True)
if os.environ.get("AUTORR_MODE") == "record":
    while True:
        time.sleep(1)
"""


def _env(tmp_path: Path, server, mode: str, **extra: str) -> dict[str, str]:
    return _clean_env({"AUTORR_MODE": mode, "AUTORR_DIR": str(tmp_path / "recordings"), "AUTORR_RECORDING_ID": "run",
                       "OPENAI_BASE_URL": server.openai_base_url, "OPENAI_API_KEY": FAKE_KEY,
                       "PYTHONUNBUFFERED": "1", **extra})


def _start(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], list[str]]:
    """Run the agent until it has made its calls; returns it still running, and what it printed."""
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    (tmp_path / "task.txt").write_text("find the weather")
    proc = subprocess.Popen([sys.executable, str(agent)], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("CALLS DONE"):
            return proc, lines
    proc.wait(30)
    pytest.fail(f"the agent ended before its calls were made:\n{proc.stderr.read()}")


def _replay(tmp_path: Path, server) -> subprocess.CompletedProcess[str]:
    server.stop()
    return subprocess.run([sys.executable, str(tmp_path / "agent.py")], env=_env(tmp_path, server, "replay"),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("signum", "own_handler", "status"),
                         [(signal.SIGTERM, "", -signal.SIGTERM), (signal.SIGTERM, "1", 3),
                          (signal.SIGHUP, "", -signal.SIGHUP)], ids=["sigterm", "own-handler", "sighup"])
def test_sigterm_right_after_the_calls_keeps_them_all(llm_server, tmp_path, signum, own_handler, status):
    """docker stop, Kubernetes and `timeout` send SIGTERM, a closed terminal SIGHUP: the calls
    still queued for the writer are committed before the process dies of it (with the status
    it would have had), and a program's own SIGTERM handler is left as it is."""
    proc, lines = _start(tmp_path, _env(tmp_path, llm_server, "record", SLOW_WRITER="1", OWN_HANDLER=own_handler))
    proc.send_signal(signum)
    assert proc.wait(30) == status, proc.stderr.read()

    with Reader(tmp_path / "recordings" / "run.db") as reader:
        assert sorted(e.kind for e in reader.events()) == ["file", "http", "http", "tool"]
    replay = _replay(tmp_path, llm_server)
    assert replay.returncode == 0, replay.stderr
    assert replay.stdout.splitlines(True) == lines


def test_a_copy_taken_without_its_wal_file_is_named_as_such(llm_server, tmp_path):
    """cp of a recording still being written, without its -wal: a clear error naming the file and why."""
    proc, _ = _start(tmp_path, _env(tmp_path, llm_server, "record"))
    try:
        path = tmp_path / "recordings" / "run.db"
        deadline = time.monotonic() + 30
        while True:  # the writer commits within its bound
            with Reader(path) as reader:
                if reader.count()[0] == 4:
                    break
            assert time.monotonic() < deadline, "the calls never reached the recording"
            time.sleep(0.05)
        copy = tmp_path / "copy"
        copy.mkdir()
        shutil.copy(path, copy / "run.db")
    finally:
        proc.kill()
        proc.wait(10)
    shown = subprocess.run([sys.executable, "-m", "autorr", "show", str(copy / "run.db")],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 2
    assert f"{copy / 'run.db'}: not an autorr recording" in shown.stderr
    assert "no run.db-wal beside it" in shown.stderr


def test_two_recorders_starting_with_the_same_id_never_share_the_file(tmp_path, monkeypatch):
    """Two processes given one AUTORR_RECORDING_ID: the second to start must be refused even when
    both looked for the file before either had created it."""
    from autorr import store

    made = []

    class Racing(store.Writer):  # the other recorder starts between this one's check and its file
        def __init__(self, *args, **kwargs):
            if not made:
                made.append(None)
                other = autorr.Recorder("same", directory=tmp_path)
                with pytest.raises(ConfigError, match="already exists"):
                    other.start()
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(store, "Writer", Racing)
    recorder = autorr.Recorder("same", directory=tmp_path)
    recorder.start()
    recorder.stop()
    assert made


# Records a few calls, then ends; its compaction at exit is made slow (a large recording's
# dictionary takes seconds to train) and says when it has begun.
COMPACTED_AT_EXIT = """
import json, os, sys, time, urllib.request
from autorr.store import _compact

def slow_train(blobs, rows):
    print("COMPACTING", flush=True)
    time.sleep(120)

if os.environ.get("AUTORR_MODE") == "record":
    _compact._train = slow_train
for i in range(5):
    request = urllib.request.Request(os.environ["URL"], data=json.dumps({"q": i}).encode(),
                                     headers={"content-type": "application/json"})
    print("answer:", json.load(urllib.request.urlopen(request))["echo"], flush=True)
"""


def test_ctrl_c_during_compaction_at_exit_skips_it_in_one_line(echo_server, tmp_path):
    """Ctrl-C while the recording compacts at exit: no traceback from autorr, one line saying
    compaction was skipped, and a complete recording, with its end time and manifest."""
    from autorr.store._codec import DICT_KEY

    url, srv = echo_server
    agent = tmp_path / "agent.py"
    agent.write_text(COMPACTED_AT_EXIT)
    env = _clean_env({"AUTORR_MODE": "record", "AUTORR_DIR": str(tmp_path / "recordings"),
                      "AUTORR_RECORDING_ID": "run", "URL": url + "/ask", "PYTHONUNBUFFERED": "1"})
    # Ctrl-C at its default: a CI job started in the background without job control (`cmd &`
    # in a script) ignores SIGINT, and Python leaves an inherited SIG_IGN as it is.
    proc = subprocess.Popen([sys.executable, str(agent)], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    answers = []
    try:
        for line in proc.stdout:
            if line.startswith("COMPACTING"):
                proc.send_signal(signal.SIGINT)
                break
            answers.append(line)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert len(answers) == 5, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    skipped = [line for line in err.splitlines() if "compaction" in line]
    assert len(skipped) == 1 and "skipped" in skipped[0], err
    assert proc.returncode == 0  # the program itself had finished its work

    path = tmp_path / "recordings" / "run.db"
    with Reader(path) as reader:
        assert reader.count()[0] == 5
        meta = reader.meta()
        assert meta["manifest"]["total_events"] == 5 and meta["ended_at"] == meta["manifest"]["ended_at"]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT 1 FROM blobs WHERE hash = ?", (DICT_KEY,)).fetchone() is None  # uncompacted
    finally:
        conn.close()

    srv.shutdown()
    srv.server_close()
    replayed = subprocess.run([sys.executable, str(agent)], env={**env, "AUTORR_MODE": "replay"}, cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.splitlines(keepends=True) == answers


def test_a_first_recording_started_off_the_main_thread_still_lets_a_later_one_handle_sigterm(tmp_path):
    script = """
import signal, threading, autorr
from autorr import _exit
t = threading.Thread(target=lambda: autorr.Recorder("a", directory=%r).start())
t.start(); t.join()
assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # signal() works on the main thread only
autorr.Recorder("b", directory=%r).start()
print(signal.getsignal(signal.SIGTERM) is _exit._flush_then_die)
""" % (str(tmp_path), str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            env=_clean_env({}))
    assert result.stdout.strip() == "True", result.stderr
