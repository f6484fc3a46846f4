"""A process that ends itself without atexit (os._exit, os.abort, a fatal signal sent to
itself) still keeps the calls it made: they are committed first."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from autorr import _exit
from autorr._patching import install
from autorr.integrations import exits
from autorr.store import Reader

from conftest import _clean_env

# Three recorded calls, then the end under test. The writer is held as a busy one would be
# (not woken by the calls, its poll far away), so the calls are still queued at the end.
AGENT = """
import os, signal, subprocess, sys
from autorr.store import _writer

_writer.POLL_INTERVAL = 3600
_writer.Writer.put = lambda self, item: self._pending.append(item)
for i in range(3):
    subprocess.run(["echo", str(i)], capture_output=True)
print("CALLS DONE", flush=True)
exec(sys.argv[1])
"""

ENDS = [
    ("os._exit(0)", 0),
    ("os.abort()", -signal.SIGABRT),
    ("os.kill(os.getpid(), signal.SIGKILL)", -signal.SIGKILL),
    ("signal.raise_signal(signal.SIGKILL)", -signal.SIGKILL),
    ("os.killpg(os.getpgrp(), signal.SIGKILL)", -signal.SIGKILL),
    ("signal.signal(signal.SIGUSR1, signal.SIG_DFL); os.kill(0, signal.SIGUSR1)", -signal.SIGUSR1),
]


@pytest.mark.parametrize(("end", "status"), ENDS, ids=[e for e, _ in ENDS])
def test_an_end_that_skips_atexit_keeps_the_calls_made_before_it(tmp_path, end, status):
    agent = tmp_path / "agent.py"
    agent.write_text(AGENT)
    env = _clean_env({"AUTORR_MODE": "record", "AUTORR_DIR": str(tmp_path / "rec"), "AUTORR_RECORDING_ID": "run"})
    # A session of its own: killpg(0) must reach the agent's group only.
    done = subprocess.run([sys.executable, str(agent), end], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, start_new_session=True)
    assert done.stdout.startswith("CALLS DONE"), done.stderr
    assert done.returncode == status, done.stderr
    with Reader(tmp_path / "rec" / "run.db") as reader:
        assert [e.kind for e in reader.events()] == ["subprocess"] * 3


@pytest.fixture
def flushes(monkeypatch):
    calls: list[float] = []
    monkeypatch.setattr(_exit, "flush_here", calls.append)
    install(exits.PATCHES)  # taken off again by conftest's uninstall()
    return calls


def test_signals_that_do_not_end_this_process_do_not_flush(flushes):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        os.kill(child.pid, signal.SIGTERM)  # another process
        assert child.wait(10) == -signal.SIGTERM
        os.kill(os.getpid(), signal.SIGCHLD)  # ignored by default
        os.kill(os.getpid(), 0)  # not a signal: a check that the process exists
        previous = signal.signal(signal.SIGUSR2, lambda *_: None)  # handled in Python: the process goes on
        try:
            os.kill(os.getpid(), signal.SIGUSR2)
            signal.raise_signal(signal.SIGUSR2)
        finally:
            signal.signal(signal.SIGUSR2, previous)
    finally:
        child.kill()
        child.wait()
    assert flushes == []
    with pytest.raises(ProcessLookupError):  # the call's own error, as without autorr
        os.kill(child.pid, signal.SIGKILL)
    assert flushes == []
