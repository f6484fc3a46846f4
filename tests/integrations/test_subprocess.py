"""Subprocesses: recorded results come back in replay without starting any process."""

from __future__ import annotations

import subprocess
import sys

import pytest

import autorr


def _agent(marker):
    out = [subprocess.run(["echo", "hello"], capture_output=True, text=True).stdout,
           subprocess.check_output([sys.executable, "-c", f"open({str(marker)!r}, 'w').write('x'); print('made')"]),
           subprocess.call(["true"])]
    with subprocess.Popen(["printf", "a\\nb\\n"], stdout=subprocess.PIPE, text=True) as p:
        out.append(list(p.stdout))
    out.append(p.returncode)
    p = subprocess.Popen(["sh", "-c", "echo out; echo err >&2; exit 3"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out.append((p.communicate(), p.returncode, p.poll()))
    with pytest.raises(subprocess.CalledProcessError) as info:
        subprocess.check_call(["false"])
    out.append(info.value.returncode)
    with pytest.raises(FileNotFoundError):
        subprocess.run(["autorr-no-such-binary"])
    return out


def test_record_then_replay_starts_no_process(recordings, tmp_path):
    marker = tmp_path / "marker"
    with autorr.recording(recordings / "sp.db") as rec:
        live = _agent(marker)
    assert marker.exists() and rec.manifest.total_events == 7
    marker.unlink()
    with autorr.replaying(recordings / "sp.db") as player:
        assert _agent(marker) == live
    assert not marker.exists()
    assert player.statistics()["matched"] == 7
    (event,) = [e for e in autorr.get_recorded_events(recordings / "sp.db") if e.call == "SUBPROCESS sh"]
    result = event.outputs["value"]["json"]
    assert result["returncode"] == 3 and event.event_type == "subprocess"
    assert event.inputs["args"] == ["sh", "-c", "echo out; echo err >&2; exit 3"]


def test_changed_command_is_a_mismatch(recordings):
    with autorr.recording(recordings / "sp.db"):
        subprocess.run(["echo", "one"], capture_output=True)
    with autorr.replaying(recordings / "sp.db"):
        with pytest.raises(autorr.StrictReplayMismatch, match=r"\$\.args\[1\]: recorded 'one', now 'two'"):
            subprocess.run(["echo", "two"], capture_output=True)


def test_changed_env_names_are_recorded_not_values(recordings):
    import os

    with autorr.recording(recordings / "sp.db"):
        subprocess.run(["true"], env=dict(os.environ, AUTORR_TEST_FLAG="secret-value-123"))
    (event,) = autorr.get_recorded_events(recordings / "sp.db")
    assert "AUTORR_TEST_FLAG" in event.metadata["env_changed"]
    assert b"secret-value-123" not in (recordings / "sp.db").read_bytes()


def test_standard_library_probes_are_left_alone(recordings):
    import platform

    with autorr.recording(recordings / "sp.db") as rec:
        platform._uname_cache = None  # force a fresh `uname -p`, as the openai SDK triggers
        platform.processor()
    assert rec.manifest.total_events == 0


GITHUB_TOKEN = "ghp_aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"


def _decoded(path):
    return repr([(e.inputs, e.outputs, e.metadata) for e in autorr.get_recorded_events(path)])


def test_secrets_in_byte_output_are_scrubbed(recordings, monkeypatch):
    """Output read as bytes is stored as text, so the writer scrubs it as it does text
    output; a credential handed to the child through ``env=`` is learned and masked."""
    import os

    monkeypatch.setenv("MY_SERVICE_TOKEN", "EnvTok_8642097531_abcdef")

    def agent():
        return [subprocess.run(["echo", f"token {GITHUB_TOKEN}"], capture_output=True).stdout,
                subprocess.check_output(["sh", "-c", "echo $MY_SERVICE_TOKEN"]),
                subprocess.check_output(["sh", "-c", "echo $DB_PASSWORD"],
                                        env=dict(os.environ, DB_PASSWORD="SubEnvPw_1357924680")),
                subprocess.check_output(["printf", "\\377\\376 ghp_Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8"])]

    with autorr.recording(recordings / "sp.db"):
        live = agent()
    assert live[0] == f"token {GITHUB_TOKEN}\n".encode()
    stored = _decoded(recordings / "sp.db")
    for secret in (GITHUB_TOKEN, "EnvTok_8642097531_abcdef", "SubEnvPw_1357924680", "ghp_Zz9Yy8Xx7Ww6Vv5Uu4"):
        assert secret not in stored
    with autorr.replaying(recordings / "sp.db"):
        assert agent() == [b"token [REDACTED]\n", b"[REDACTED]\n", b"[REDACTED]\n", b"\xff\xfe [REDACTED]"]


def test_a_credential_in_the_command_is_masked_where_the_child_echoes_it(recordings):
    # The request (argv) is scrubbed before the output: what it teaches is masked there too.
    argv = ["sh", "-c", 'echo "${0#*=}"', "DB_PASSWORD=Tr0ub4dorAnd3horse"]
    with autorr.recording(recordings / "sp.db"):
        assert subprocess.check_output(argv, text=True) == "Tr0ub4dorAnd3horse\n"
    assert "Tr0ub4dorAnd3horse" not in _decoded(recordings / "sp.db")
    with autorr.replaying(recordings / "sp.db"):
        assert subprocess.check_output(argv, text=True) == "[REDACTED]\n"


def _appends(marker, command):
    return f"echo ran >> {marker}; {command}"


def test_a_timeout_is_raised_again_in_replay(recordings, tmp_path):
    marker = tmp_path / "ran.log"

    def agent():
        with pytest.raises(subprocess.TimeoutExpired) as info:
            subprocess.run(["sh", "-c", _appends(marker, "echo partial; exec sleep 30")], capture_output=True,
                           timeout=1)
        return info.value.timeout, info.value.stdout, info.value.cmd

    with autorr.recording(recordings / "sp.db"):
        live = agent()
    assert marker.read_text() == "ran\n"
    with autorr.replaying(recordings / "sp.db"):
        assert agent() == live
    assert marker.read_text() == "ran\n"  # no process started


def test_output_read_without_waiting_is_replayed(recordings, tmp_path):
    """Pipes read to the end with no wait() (`os.popen(cmd).read()`, iterating p.stdout):
    the call is recorded at the end of its output, not left unfinished."""
    import os

    marker = tmp_path / "ran.log"

    def agent():
        p = subprocess.Popen(["sh", "-c", _appends(marker, "echo a; echo b")], stdout=subprocess.PIPE, text=True)
        return [list(p.stdout), os.popen(_appends(marker, "echo popen")).read()]

    with autorr.recording(recordings / "sp.db"):
        live = agent()
    assert live == [["a\n", "b\n"], "popen\n"]
    with autorr.replaying(recordings / "sp.db"):
        assert agent() == live
    assert marker.read_text() == "ran\n" * 2


def test_output_sent_to_a_file_is_written_again_in_replay(recordings, tmp_path, monkeypatch):
    import os

    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "ran.log"

    def agent():
        with open("out.txt", "w") as f:
            subprocess.run(["sh", "-c", _appends(marker, "echo to file; echo err >&2")], stdout=f,
                           stderr=subprocess.STDOUT)
        fd = os.open("raw.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        subprocess.call(["printf", "raw"], stdout=fd)
        os.close(fd)
        return open("out.txt").read(), open("raw.txt").read()

    with autorr.recording(recordings / "sp.db"):
        live = agent()
    assert live == ("to file\nerr\n", "raw")
    os.remove("out.txt")
    os.remove("raw.txt")
    with autorr.replaying(recordings / "sp.db"):
        assert agent() == live
    assert marker.read_text() == "ran\n"


def test_os_system_is_replayed_without_running(recordings, tmp_path):
    import os

    marker = tmp_path / "ran.log"
    with autorr.recording(recordings / "sp.db"):
        assert os.system(_appends(marker, "exit 3")) >> 8 == 3
    with autorr.replaying(recordings / "sp.db"):
        assert os.system(_appends(marker, "exit 3")) >> 8 == 3
        with pytest.raises(autorr.StrictReplayMismatch, match="os.system|rm -rf"):
            os.system("rm -rf nothing-here")
    assert marker.read_text() == "ran\n"


def test_a_command_lines_credentials_are_masked_in_its_summary_path_and_argv(recordings):
    """A shell command is the call's path and summary, and argv splits `--token` from its
    value: none of them may keep a credential in clear."""
    import os
    import sqlite3

    def agent():
        os.system("true -H 'Authorization: Bearer abcdefghijklmnop0123456789' 'http://h/x?password=Hunter2pw99'")
        return subprocess.run(["echo", "--token", "zps6jme6k2x0587qx05"], capture_output=True, text=True).stdout

    with autorr.recording(recordings / "sp.db"):
        live = agent()
    stored = _decoded(recordings / "sp.db")
    summaries = repr(sqlite3.connect(recordings / "sp.db").execute("SELECT summary FROM events").fetchall())
    for secret in ("abcdefghijklmnop0123456789", "Hunter2pw99", "zps6jme6k2x0587qx05"):
        assert secret not in stored and secret not in summaries
        assert secret.encode() not in (recordings / "sp.db").read_bytes()
    with autorr.replaying(recordings / "sp.db"):
        assert agent() == live.replace("zps6jme6k2x0587qx05", "[REDACTED]")
