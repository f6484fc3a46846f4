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


def test_a_file_given_as_the_directory_is_an_error_not_an_empty_list(tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("x")
    for args in (["list", "--dir", str(blocker)], ["show", "--dir", str(blocker)]):
        assert main(args) == 2  # list said "no recordings in ..." and exited 0
        err = capsys.readouterr().err
        assert err == f"autorr: error: {blocker} is a file, not a directory of recordings (AUTORR_DIR / --dir)\n"
    assert main(["show", str(tmp_path)]) == 2
    assert f"recording {str(tmp_path)!r} is a directory" in capsys.readouterr().err
    assert main(["list", "--dir", str(tmp_path / "none-yet")]) == 0


def test_list_names_a_copied_recording_by_its_file(tmp_path, capsys):
    # A copy keeps its original's id in its meta: listed under that name, `show <name>`
    # opened the original instead.
    with autorr.recording(tmp_path / "run.db"):
        pass
    (tmp_path / "run-kept.db").write_bytes((tmp_path / "run.db").read_bytes())
    assert main(["list", "--dir", str(tmp_path), "--json"]) == 0
    assert sorted(row["recording_id"] for row in json.loads(capsys.readouterr().out)) == ["run", "run-kept"]


@pytest.mark.parametrize("value, named", [("-1", "'-1' is not valid; use seconds from 0 to 60"),
                                          ("nan", "'nan' is not valid"), ("soon", "invalid number of seconds")])
def test_demo_rejects_a_chunk_delay_it_cannot_sleep(capsys, value, named):
    # -1 reached the fake server's sleep(): the demo agent died with a traceback midway.
    with pytest.raises(SystemExit) as info:
        main(["demo", "--chunk-delay", value])
    assert info.value.code == 2 and f"argument --chunk-delay: {named}" in capsys.readouterr().err
