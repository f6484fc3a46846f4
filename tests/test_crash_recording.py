"""Record mode when the agent is stopped or crashes: every call that returned stays replayable."""

from __future__ import annotations

import shutil
import signal
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
# stopped. SLOW_WRITER makes the writer thread sleep between polls for longer than the test
# runs, so what the calls queued is still queued when the signal comes, on any machine.
AGENT = """
import os, signal, sys, time
import openai
import autorr

if os.environ.get("SLOW_WRITER"):
    from autorr.store import _writer
    _writer.POLL_INTERVAL = 3600
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


@pytest.mark.parametrize(("own_handler", "status"), [("", -signal.SIGTERM), ("1", 3)])
def test_sigterm_right_after_the_calls_keeps_them_all(llm_server, tmp_path, own_handler, status):
    """docker stop, Kubernetes and `timeout` send SIGTERM: the calls still queued for the writer
    are committed before the process dies of it (with the status it would have had), and a
    program's own SIGTERM handler is left as it is."""
    proc, lines = _start(tmp_path, _env(tmp_path, llm_server, "record", SLOW_WRITER="1", OWN_HANDLER=own_handler))
    proc.send_signal(signal.SIGTERM)
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
