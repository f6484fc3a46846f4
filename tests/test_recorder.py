"""`Recorder` in processes that share one recording."""

from __future__ import annotations

import subprocess
import sys

from autorr.store import Reader

from conftest import _clean_env

# A forked child that records a call and ends the ordinary way (atexit runs), while the
# parent goes on recording.
FORKS = """
import json, os, sys, urllib.request

def ask(q):
    request = urllib.request.Request(sys.argv[1], data=json.dumps({"q": q}).encode(),
                                     headers={"content-type": "application/json"})
    return json.load(urllib.request.urlopen(request))["echo"]["q"]

ask("before")
pid = os.fork()
if pid == 0:
    ask("child")
    sys.exit(0)
os.waitpid(pid, 0)
ask("after")
"""


def test_a_forked_child_ending_normally_leaves_the_recording_to_its_parent(echo_server, tmp_path):
    """The child's exit closes its part only: no false "could not write" (nor its alert) from
    a writer multiprocessing's exit hook closed first, no end time or manifest of its own."""
    url, _ = echo_server
    agent = tmp_path / "agent.py"
    agent.write_text(FORKS)
    done = subprocess.run([sys.executable, str(agent), url + "/ask"], capture_output=True, text=True, timeout=60,
                          env=_clean_env({"AUTORR_MODE": "record", "AUTORR_DIR": str(tmp_path),
                                          "AUTORR_RECORDING_ID": "run"}))
    # Python 3.12+ warns of fork() in a threaded process itself: autorr must say nothing.
    assert done.returncode == 0 and "autorr" not in done.stderr, done.stderr

    with Reader(tmp_path / "run.db") as reader:
        assert sorted(reader.request(e)["json"]["q"] for e in reader.events()) == ["after", "before", "child"]
        meta = reader.meta()
    assert meta["manifest"]["total_events"] == 3 and meta["ended_at"] == meta["manifest"]["ended_at"]
