"""The CLI mirrors the API; its help and errors are what users read."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import autorr
from autorr.cli import build_parser, main


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "autorr", *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_help_lists_the_commands():
    out = _cli("--help").stdout
    for command in ("run", "record", "replay", "show", "list", "demo"):
        assert command in out
    run_help = _cli("run", "--help").stdout
    assert "--mode {off,record,replay}" in run_help and "--replay-mode {strict,warn,hybrid}" in run_help


def test_bad_choice_exits_2_naming_the_option():
    result = _cli("run", "--replay-mode", "loose", "--", "true")
    assert result.returncode == 2 and "--replay-mode: invalid choice: 'loose'" in result.stderr


def test_run_without_a_command():
    result = _cli("run")
    assert result.returncode == 2 and "nothing to run" in result.stderr


def test_show_and_list(echo_server, recordings, capsys):
    import httpx2

    url, _ = echo_server
    with autorr.recording(recordings / "shown.db"):
        httpx2.post(url + "/sse", json={"n": 3})
        httpx2.get(url + "/x")
    assert main(["list", "--dir", str(recordings)]) == 0
    assert "shown" in capsys.readouterr().out
    assert main(["show", "shown", "--dir", str(recordings)]) == 0
    out = capsys.readouterr().out
    assert "recording shown" in out and "2 events, 3 stream chunks" in out and "POST 127.0.0.1/sse" in out
    assert main(["show", "--dir", str(recordings), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["recording_id"] == "shown" and info["events"][0]["chunks"] == 3


def test_show_missing_recording_is_one_line(recordings, capsys):
    assert main(["show", "nope", "--dir", str(recordings)]) == 2
    assert capsys.readouterr().err.startswith("autorr: error: recording 'nope' not found")


def test_every_public_name_is_documented():
    for name in autorr.__all__:
        obj = getattr(autorr, name)
        assert getattr(obj, "__doc__", None), f"autorr.{name} has no docstring"


def test_parser_builds():
    assert build_parser().prog == "autorr"


@pytest.mark.parametrize("args", [["list", "--json"]])
def test_json_output_parses(args, recordings):
    assert isinstance(json.loads(_cli(*args, "--dir", str(recordings)).stdout), list)


def test_show_into_a_pipe_closed_early_is_quiet(recordings):
    """`autorr show x | head -1`: the reader leaves; no BrokenPipeError traceback."""

    @autorr.tool
    def lookup(i):
        return i

    with autorr.recording(recordings / "long.db"):
        for i in range(800):  # more lines than a pipe holds (64 KB)
            lookup(i)
    shell = f"{sys.executable} -m autorr show long --dir {recordings} | head -1"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, timeout=60)
    assert result.stdout.startswith("recording long") and result.stderr == ""
    assert result.returncode == 0
