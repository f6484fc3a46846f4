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
