"""The zero-code path: AUTORR_MODE in the environment, real subprocesses, real sockets."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autorr.store import Reader, list_recordings

from conftest import AGENTS, FAKE_KEY, _clean_env, kill_after_calls


def _stop(srv):
    srv.shutdown()
    srv.server_close()


def test_record_then_replay_with_server_stopped(run_agent, echo_server, recordings):
    url, srv = echo_server
    recorded = run_agent("plain_http.py", env={"AUTORR_MODE": "record"}, url=url)
    assert recorded.returncode == 0, recorded.stderr
    (path,) = list_recordings(recordings)
    with Reader(path) as reader:
        assert reader.count()[0] == 3
        assert reader.meta()["provenance"]["python"] == sys.version.split()[0]
    _stop(srv)
    replayed = run_agent("plain_http.py", env={"AUTORR_MODE": "replay"}, url=url)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == recorded.stdout


def test_urllib3_used_directly_records_and_replays_with_no_code_change(run_agent, echo_server, recordings):
    url, srv = echo_server
    env = {"AGENT_URLLIB3": "FwoGZXIvYXdzEJr//////////wEaDsession-token-value"}
    recorded = run_agent("plain_http.py", env={"AUTORR_MODE": "record", **env}, url=url)
    assert recorded.returncode == 0, recorded.stderr
    assert '{"echo": {"bedrock"' in recorded.stdout
    (path,) = list_recordings(recordings)
    with Reader(path) as reader:
        assert reader.count()[0] == 4
        (signed,) = [reader.request(e) for e in reader.events() if "bedrock" in str(reader.request(e))]
    assert dict((k.lower(), v) for k, v in signed["headers"])["x-amz-security-token"] == "[REDACTED]"
    assert "session-token-value" not in str(signed)
    _stop(srv)
    replayed = run_agent("plain_http.py", env={"AUTORR_MODE": "replay", **env}, url=url)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == recorded.stdout


def test_api_key_never_reaches_the_disk(run_agent, echo_server, recordings):
    url, _ = echo_server  # the echo server sends the auth header's key back in its body
    assert run_agent("plain_http.py", env={"AUTORR_MODE": "record"}, url=url).returncode == 0
    for file in recordings.rglob("*"):
        assert FAKE_KEY.encode() not in file.read_bytes(), file


@pytest.mark.parametrize("env, message", [
    ({"AUTORR_MODE": "recrod"}, "AUTORR_MODE='recrod' is not valid; use one of: off, record, replay"),
    ({"AUTORR_MODE": "replay", "AUTORR_REPLAY_MODE": "loose"}, "AUTORR_REPLAY_MODE='loose' is not valid"),
    ({"AUTORR_MODE": "replay", "AUTORR_RECORDING": "nope"}, "recording 'nope' not found"),
    ({"AUTORR_MODE": "replay"}, "no recordings in"),
    ({"AUTORR_MODE": "replay", "AUTORR_RECORDING": "  "}, "no recordings in"),  # blank: the latest
    # Too long for a file name: it ran unrecorded, warned by an OSError from pathlib.
    ({"AUTORR_MODE": "record", "AUTORR_RECORDING_ID": "r" * 300}, "300 bytes long; use at most 240"),
])
def test_bad_settings_stop_the_agent_with_exit_2(run_agent, env, message):
    result = run_agent("plain_http.py", env=env)
    assert result.returncode == 2
    assert "AGENT RAN" not in result.stdout
    assert result.stderr.strip().splitlines() == [f"autorr: error: {result.stderr.split('error: ', 1)[1].strip()}"]
    assert message in result.stderr


def test_off_imports_nothing_heavy():
    code = "import sys; print(sorted(m for m in ('autorr', 'wrapt', 'sqlite3', 'zstandard', 'yaml') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], env=_clean_env({}), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_child_processes_write_the_same_recording(run_agent, echo_server, recordings):
    url, srv = echo_server
    env = {"AUTORR_MODE": "record", "AGENT_SPAWN_CHILD": "1"}
    recorded = run_agent("plain_http.py", env=env, url=url)
    assert recorded.returncode == 0, recorded.stderr
    (path,) = list_recordings(recordings)
    with Reader(path) as reader:
        pids = {e.pid for e in reader.events()}
        kinds = sorted(e.kind for e in reader.events())
        # the parent's 3 calls and the spawn itself; the child's own call, from its own process
        assert kinds == ["http"] * 4 + ["subprocess"] and len(pids) == 2
    _stop(srv)
    replayed = run_agent("plain_http.py", env=dict(env, AUTORR_MODE="replay"), url=url)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == recorded.stdout


def test_swallowed_strict_mismatch_still_fails_the_run(run_agent, echo_server, recordings):
    url, srv = echo_server
    assert run_agent("plain_http.py", env={"AUTORR_MODE": "record"}, url=url).returncode == 0
    _stop(srv)
    started = time.monotonic()
    result = run_agent("plain_http.py", env={"AUTORR_MODE": "replay", "AGENT_SWALLOW": "1"}, url=url)
    assert time.monotonic() - started < 15
    assert "swallowed" not in result.stdout  # `except Exception` did not catch it
    assert result.returncode != 0
    assert "no recorded answer for POST 127.0.0.1/echo" in result.stderr
    assert "$.q: recorded 'q1', now 'never recorded'" in result.stderr


def test_sigkilled_recording_keeps_completed_calls(echo_server, recordings):
    url, srv = echo_server
    env = _clean_env({"AUTORR_MODE": "record", "AUTORR_DIR": str(recordings), "FAKE_SERVER_URL": url,
                      "AGENT_HANG": "1", "OPENAI_API_KEY": FAKE_KEY})
    lines = kill_after_calls([sys.executable, str(AGENTS / "plain_http.py")], env)
    (path,) = list_recordings(recordings)
    with Reader(path) as reader:
        assert reader.count()[0] == 3
    _stop(srv)
    result = subprocess.run([sys.executable, str(AGENTS / "plain_http.py")],
                            env=dict(env, AUTORR_MODE="replay", AGENT_HANG=""), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "".join(lines[:-1])


def _import_paths() -> list[str]:
    """site-packages (dependencies) and autorr's own root (an editable install lives elsewhere)."""
    import wrapt

    import autorr

    return [str(Path(wrapt.__file__).resolve().parent.parent), str(Path(autorr.__file__).resolve().parent.parent)]


def test_autorr_run_works_where_pth_files_are_not_read(echo_server, recordings, tmp_path):
    """A base interpreter that never reads our site-packages' .pth: `autorr run` still records,
    and chains to the next sitecustomize on the path."""
    url, _ = echo_server
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("print('OTHER SITECUSTOMIZE RAN')\n")
    base_python = os.path.join(sys.base_prefix, "bin", "python3")
    env = _clean_env({"AUTORR_DIR": str(recordings), "FAKE_SERVER_URL": url,
                      "PYTHONPATH": os.pathsep.join([str(other), *_import_paths()])})
    result = subprocess.run([sys.executable, "-m", "autorr", "run", "--mode", "record", "--id", "viarun", "--",
                             base_python, str(AGENTS / "plain_http.py")], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "OTHER SITECUSTOMIZE RAN" in result.stdout
    with Reader(recordings / "viarun.db") as reader:
        assert reader.count()[0] == 3


def test_autorr_run_leaves_alone_another_python_the_agent_starts_but_not_its_own(recordings, tmp_path):
    """`autorr run` puts its sitecustomize on PYTHONPATH, which every Python the agent
    starts inherits: one without autorr (a tool's own interpreter) runs unrecorded while
    recording; the command autorr was asked to run, without autorr, stops with exit 2."""
    base_python = os.path.join(sys.base_prefix, "bin", "python3")  # no autorr importable there
    agent = tmp_path / "agent.py"
    # The tool inherits autorr run's sitecustomize (first on PYTHONPATH), not autorr itself.
    agent.write_text("import os, subprocess, sys\n"
                     "env = dict(os.environ, PYTHONPATH=os.environ['PYTHONPATH'].split(os.pathsep)[0])\n"
                     f"out = subprocess.run([{base_python!r}, '-c', 'print(6 * 7)'], capture_output=True, text=True,"
                     " env=env)\n"
                     "print('tool said', out.stdout.strip(), 'rc', out.returncode)\n")
    env = _clean_env({"AUTORR_DIR": str(recordings), "PYTHONPATH": os.pathsep.join(_import_paths())})
    ran = subprocess.run([sys.executable, "-m", "autorr", "run", "--mode", "record", "--id", "tools", "--",
                          sys.executable, str(agent)], env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and "tool said 42 rc 0" in ran.stdout, ran.stderr
    own = subprocess.run([sys.executable, "-m", "autorr", "run", "--mode", "record", "--id", "own", "--",
                          base_python, "-c", "print('ran without autorr')"],
                         env=_clean_env({"AUTORR_DIR": str(recordings)}), capture_output=True, text=True, timeout=60)
    assert own.returncode == 2 and "ran without autorr" not in own.stdout
    assert "AUTORR_MODE is set but autorr cannot be imported here" in own.stderr


def test_autorr_run_rejects_bad_values_with_exit_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "autorr", "run", "--", sys.executable, "-c", "pass"],
                            env=_clean_env({"AUTORR_TIMING": "sometimes"}), capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "autorr: error: AUTORR_TIMING='sometimes' is not valid; use one of: fast, preserve"


def test_unwritable_recordings_dir_stops_with_exit_2(run_agent, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_agent("plain_http.py", env={"AUTORR_MODE": "record", "AUTORR_DIR": str(blocker / "recs")})
    assert result.returncode == 2 and "AGENT RAN" not in result.stdout
    assert result.stderr.startswith("autorr: error: cannot write recording")


@pytest.mark.parametrize("mode", ["record", "replay"])
def test_a_file_given_as_recordings_dir_is_named_as_such(run_agent, tmp_path, mode):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_agent("plain_http.py", env={"AUTORR_MODE": mode, "AUTORR_DIR": str(blocker)})
    assert result.returncode == 2 and "AGENT RAN" not in result.stdout
    assert len(result.stderr.splitlines()) == 1 and "is a file, not a directory" in result.stderr
    assert blocker.read_text() == "not a directory"


def test_tools_replay_without_running_anything(run_agent, echo_server, llm_server, tmp_path, recordings):
    """Subprocess, files, requests, httpx and aiohttp: replay with both servers stopped gives the
    same output, the subprocess's marker is not written and no server sees a request."""
    url, srv = echo_server
    project = tmp_path / "project"
    project.mkdir()
    (project / "task.txt").write_text("find the weather in Paris\n")
    marker = tmp_path / "marker"
    env = {"AUTORR_MODE": "record", "MARKER": str(marker), "OPENAI_BASE_URL": llm_server.openai_base_url}
    agent = [sys.executable, str(AGENTS / "tools_agent.py")]

    def run(mode):
        extra = dict(env, AUTORR_MODE=mode, AUTORR_DIR=str(recordings), FAKE_SERVER_URL=url)
        if mode == "record":
            extra["OPENAI_API_KEY"] = FAKE_KEY
        return subprocess.run(agent, env=_clean_env(extra), cwd=project, capture_output=True, text=True,
                              timeout=120)

    recorded = run("record")
    assert recorded.returncode == 0, recorded.stderr
    assert marker.read_text() == "ran" and "tool ran" in recorded.stdout
    events = __import__("autorr").get_recorded_events(list_recordings(recordings)[0])
    kinds = sorted({e.event_type for e in events})
    assert kinds == ["file", "http", "llm_call", "subprocess"]
    marker.unlink()
    (project / "report.json").unlink()
    echo_hits, llm_hits = len(srv.RequestHandlerClass.hits), llm_server.hits
    _stop(srv)
    llm_server.stop()
    replayed = run("replay")
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == recorded.stdout
    assert not marker.exists()
    assert (len(srv.RequestHandlerClass.hits), llm_server.hits) == (echo_hits, llm_hits)


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_pool_workers_record_into_the_same_file(run_agent, echo_server, recordings, start):
    """multiprocessing's pools, in an agent process of its own (forking pytest itself, with
    its many threads, is what Python warns about). `with Pool()` ends the workers with
    SIGTERM: each worker's calls must be on disk by the time they return."""
    url, srv = echo_server
    recorded = run_agent("pool_agent.py", env={"AUTORR_MODE": "record", "AUTORR_RECORDING_ID": "pool",
                                               "POOL_START": start}, url=url, timeout=60)
    assert recorded.returncode == 0, recorded.stderr
    with Reader(recordings / "pool.db") as reader:
        assert reader.count()[0] == 6 and reader.meta()["manifest"]["total_events"] >= 0
        assert len({e.pid for e in reader.events()}) >= 2
    _stop(srv)
    replayed = run_agent("pool_agent.py", env={"AUTORR_MODE": "replay", "AUTORR_RECORDING": "pool",
                                               "POOL_START": start}, url=url, timeout=60)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == recorded.stdout


def test_a_strict_miss_in_a_pool_worker_fails_the_run_instead_of_hanging_it(run_agent, echo_server, recordings):
    """A BaseException kills a pool worker and its parent waits for the result for ever;
    in a multiprocessing child the mismatch is an Exception too, which the pool hands back."""
    url, srv = echo_server
    env = {"AUTORR_MODE": "record", "AUTORR_RECORDING_ID": "pool"}
    assert run_agent("pool_agent.py", env=env, url=url, timeout=60).returncode == 0
    _stop(srv)
    replayed = run_agent("pool_agent.py", env={"AUTORR_MODE": "replay", "AUTORR_RECORDING": "pool",
                                               "POOL_PATH": "/changed"}, url=url, timeout=60)
    assert replayed.returncode == 1 and "WorkerReplayMismatch: autorr: replay has no recorded answer" in replayed.stderr


def test_a_damaged_recording_stops_the_replay_before_any_call(run_agent, echo_server, recordings):
    """Header and schema intact, a data page zeroed: the file opens, its first query fails."""
    url, srv = echo_server
    assert run_agent("plain_http.py", env={"AUTORR_MODE": "record", "AUTORR_RECORDING_ID": "r"}, url=url) \
        .returncode == 0
    path = recordings / "r.db"
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page:] = bytes(len(data) - page)
    path.write_bytes(bytes(data))
    hits = len(srv.RequestHandlerClass.hits)
    result = run_agent("plain_http.py", env={"AUTORR_MODE": "replay", "AUTORR_RECORDING": "r"}, url=url)
    assert result.returncode == 2 and "AGENT RAN" not in result.stdout
    assert len(srv.RequestHandlerClass.hits) == hits  # nothing went live
    assert result.stderr.splitlines() == [
        f"autorr: error: {path}: cannot read this recording (database disk image is malformed)"]
    show = subprocess.run([sys.executable, "-m", "autorr", "show", "r", "--dir", str(recordings)],
                          capture_output=True, text=True, timeout=60)
    assert show.returncode == 2 and show.stderr == result.stderr


def test_a_config_file_that_is_not_utf8_stops_the_agent_with_exit_2(run_agent, tmp_path):
    config = tmp_path / "recording.yaml"
    config.write_bytes(b'recording:\n  output_dir: "\xff\xfe"\n')
    result = run_agent("plain_http.py", env={"AUTORR_MODE": "record", "AUTORR_CONFIG": str(config)})
    assert result.returncode == 2 and "AGENT RAN" not in result.stdout
    assert result.stderr.splitlines() == [
        f"autorr: error: cannot read config file {config}: not UTF-8 text (byte 0xff at offset 26)"]


# The start-up hook with a failure of ours in it: the hook is called by hand, as the
# `.pth` line would, after breaking the start method (AUTORR_MODE reaches it after start-up).
_BROKEN_START = """
import os, sys
os.environ["AUTORR_MODE"] = sys.argv[1]
from autorr import Recorder, Player
from autorr._bootstrap import boot_from_environment
def start(self, *args, **kwargs):
    raise RuntimeError("a bug in autorr")
Recorder.start = Player.start = start
boot_from_environment()
import httpx2
print("AGENT RAN", httpx2.get(sys.argv[2] + "/x").status_code, os.environ["AUTORR_MODE"], flush=True)
"""


def _broken_start(mode, url, recordings):
    return subprocess.run([sys.executable, "-c", _BROKEN_START, mode, url],
                          env=_clean_env({"AUTORR_DIR": str(recordings)}), capture_output=True, text=True,
                          timeout=60)


def test_an_internal_error_at_start_stops_a_replay(echo_server, recordings):
    url, srv = echo_server
    result = _broken_start("replay", url, recordings)
    assert result.returncode == 2 and "AGENT RAN" not in result.stdout
    assert not srv.RequestHandlerClass.hits
    assert result.stderr.splitlines() == [f"autorr: error: replay could not start (latest in {recordings}):"
                                          f" RuntimeError: a bug in autorr (at <string>:7)"]


def test_an_internal_error_at_start_lets_a_recorded_program_run_unrecorded(echo_server, recordings):
    url, srv = echo_server
    result = _broken_start("record", url, recordings)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "AGENT RAN 200 off\n"  # its child processes will not try either
    assert result.stderr.splitlines() == ["autorr: warning: recording could not start, the program runs unrecorded:"
                                          " RuntimeError: a bug in autorr (at <string>:7)"]
    assert srv.RequestHandlerClass.hits == ["/x"] and list_recordings(recordings) == []
