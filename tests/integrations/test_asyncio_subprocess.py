"""asyncio subprocesses: recorded with real processes, replayed without starting any."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

import autorr


def _appends(marker, command):
    return f"echo ran >> {marker}; {command}"


def _record_then_replay(recordings, marker, agent, calls):
    """Run ``agent()`` recording, then replaying: same answers, no process started the second time."""
    with autorr.recording(recordings / "asp.db") as rec:
        live = asyncio.run(agent())
    assert rec.manifest.total_events == calls
    ran = marker.read_text() if marker.exists() else ""
    with autorr.replaying(recordings / "asp.db") as player:
        assert asyncio.run(agent()) == live
    assert (marker.read_text() if marker.exists() else "") == ran
    assert player.statistics()["matched"] == calls
    return live


def test_communicate_returns_the_recorded_output_and_exit_code(recordings, tmp_path):
    marker = tmp_path / "ran.log"

    async def agent():
        proc = await asyncio.create_subprocess_exec(
            "sh", "-c", _appends(marker, "echo out; echo err >&2; exit 3"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        first = (await proc.communicate(), proc.returncode)
        cat = await asyncio.create_subprocess_exec("sh", "-c", _appends(marker, "tr a-z A-Z"),
                                                   stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        return [first, await cat.communicate(b"shout\n"), cat.returncode]

    live = _record_then_replay(recordings, marker, agent, 2)
    assert live == [((b"out\n", b"err\n"), 3), (b"SHOUT\n", None), 0]
    assert marker.read_text() == "ran\n" * 2
    events = {e.inputs["args"][2]: e for e in autorr.get_recorded_events(recordings / "asp.db")}
    result = events[_appends(marker, "echo out; echo err >&2; exit 3")].outputs["value"]["json"]
    assert result["returncode"] == 3 and result["stdout"] == {"utf8": "out\n"} and result["text"] is False
    assert events[_appends(marker, "tr a-z A-Z")].outputs["value"]["json"]["stdin"] == {"utf8": "shout\n"}


def test_streams_read_piece_by_piece(recordings, tmp_path):
    marker = tmp_path / "ran.log"

    async def agent():
        out = []
        proc = await asyncio.create_subprocess_exec("sh", "-c", _appends(marker, "printf 'a\\nb\\nc'"),
                                                    stdout=asyncio.subprocess.PIPE)
        while line := await proc.stdout.readline():
            out.append(line)
        out.append(await proc.wait())
        proc = await asyncio.create_subprocess_exec("sh", "-c", _appends(marker, "echo whole"),
                                                    stdout=asyncio.subprocess.PIPE)
        out += [await proc.stdout.read(), await proc.wait()]
        proc = await asyncio.create_subprocess_exec("sh", "-c", _appends(marker, "printf 'l1\\nl2\\n'"),
                                                    stdout=asyncio.subprocess.PIPE)
        out += [[line async for line in proc.stdout], await proc.wait()]
        proc = await asyncio.create_subprocess_exec("sh", "-c", _appends(marker, "printf 'head:body-tail'"),
                                                    stdout=asyncio.subprocess.PIPE)
        out += [await proc.stdout.readexactly(5), await proc.stdout.readuntil(b"-"), await proc.stdout.read(2)]
        with pytest.raises(asyncio.IncompleteReadError) as info:
            await proc.stdout.readexactly(10)
        out += [info.value.partial, await proc.wait()]
        proc = await asyncio.create_subprocess_exec("sh", "-c", _appends(marker, "echo oops >&2; exit 5"),
                                                    stderr=asyncio.subprocess.PIPE)
        out += [proc.stdout, await proc.stderr.read(), await proc.wait(), proc.returncode]
        return out

    live = _record_then_replay(recordings, marker, agent, 5)
    assert live == [b"a\n", b"b\n", b"c", 0, b"whole\n", 0, [b"l1\n", b"l2\n"], 0,
                    b"head:", b"body-", b"ta", b"il", 0, None, b"oops\n", 5, 5]
    assert marker.read_text() == "ran\n" * 5


def test_wait_and_a_shell_string(recordings, tmp_path):
    marker = tmp_path / "ran.log"

    async def agent():
        quiet = await asyncio.create_subprocess_exec("sh", "-c", _appends(marker, "exit 7"))
        shell = await asyncio.create_subprocess_shell(_appends(marker, "echo $((6 * 7)) | tr 4 X"),
                                                      stdout=asyncio.subprocess.PIPE)
        return [quiet.stdin, await quiet.wait(), quiet.returncode, await shell.communicate(), shell.returncode]

    assert _record_then_replay(recordings, marker, agent, 2) == [None, 7, 7, (b"X2\n", None), 0]
    (event,) = [e for e in autorr.get_recorded_events(recordings / "asp.db") if e.inputs["shell"]]
    assert event.inputs["args"] == [_appends(marker, "echo $((6 * 7)) | tr 4 X")]
    assert event.event_type == "subprocess"


def test_a_missing_executable_is_raised_again(recordings, tmp_path):
    async def agent():
        with pytest.raises(FileNotFoundError) as info:
            await asyncio.create_subprocess_exec("autorr-no-such-binary", "--flag")
        return info.value.errno, info.value.filename

    assert _record_then_replay(recordings, tmp_path / "never", agent, 1)[1] == "autorr-no-such-binary"


def test_gather_of_three_processes(recordings, tmp_path):
    marker = tmp_path / "ran.log"

    async def one(i):
        proc = await asyncio.create_subprocess_exec("sh", "-c", _appends(marker, f"echo job {i}; exit {i}"),
                                                    stdout=asyncio.subprocess.PIPE)
        out = await proc.stdout.readline()
        return out, await proc.wait()

    async def agent():
        return await asyncio.gather(one(1), one(2), one(3))

    live = _record_then_replay(recordings, marker, agent, 3)
    assert live == [(b"job 1\n", 1), (b"job 2\n", 2), (b"job 3\n", 3)]
    assert marker.read_text() == "ran\n" * 3


def test_a_changed_command_or_input_fails_strict_replay(recordings, tmp_path, monkeypatch):
    async def run(word, data=b"abc"):
        proc = await asyncio.create_subprocess_exec("cat", word, "-", stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE)
        return await proc.communicate(data)

    (tmp_path / "one").write_text("1\n")
    (tmp_path / "two").write_text("2\n")
    monkeypatch.chdir(tmp_path)
    with autorr.recording(recordings / "asp.db"):
        assert asyncio.run(run("one")) == (b"1\nabc", None)
    with autorr.replaying(recordings / "asp.db"):
        with pytest.raises(autorr.StrictReplayMismatch, match=r"\$\.args\[1\]: recorded 'one', now 'two'"):
            asyncio.run(run("two"))
    with autorr.replaying(recordings / "asp.db"):
        with pytest.raises(autorr.StrictReplayMismatch, match="stdin: recorded 3 bytes, now 3 bytes"):
            asyncio.run(run("one", b"abd"))


def test_a_name_wrapped_twice_records_once(recordings):
    """asyncio imported after the hooks are set: `asyncio.create_subprocess_exec` is a copy
    of the already wrapped `asyncio.subprocess` one, and gets wrapped again."""
    import wrapt

    from autorr._patching import installed
    from autorr.integrations.asyncio_subprocess import PATCHES

    async def agent(create):
        proc = await create("echo", "once", stdout=asyncio.subprocess.PIPE)
        return await proc.communicate()

    with autorr.recording(recordings / "asp.db") as rec:
        assert {"asyncio.create_subprocess_exec", "asyncio.subprocess.create_subprocess_exec"} <= set(installed())
        twice = wrapt.FunctionWrapper(asyncio.subprocess.create_subprocess_exec, PATCHES[2].factory(asyncio))
        assert asyncio.run(agent(twice)) == (b"once\n", None)
    assert rec.manifest.total_events == 1


_AGENT = """
import asyncio, sys
from asyncio.subprocess import PIPE, create_subprocess_shell

async def main(marker):
    proc = await asyncio.create_subprocess_exec("sh", "-c", f"echo ran >> {marker}; echo hello; exit 4", stdout=PIPE)
    lines = [line async for line in proc.stdout]
    shell = await create_subprocess_shell(f"echo ran >> {marker}; echo shell", stdout=PIPE)
    print(lines, await proc.wait(), await shell.communicate(), flush=True)

asyncio.run(main(sys.argv[1]))
"""


def test_zero_code_record_then_replay(recordings, tmp_path):
    """asyncio imported after the start-up hook: each name is wrapped once, each process recorded once."""
    from autorr.store import list_recordings

    marker = tmp_path / "ran.log"
    script = tmp_path / "agent.py"
    script.write_text(_AGENT)

    def run(mode):
        env = dict(os.environ, AUTORR_MODE=mode, AUTORR_DIR=str(recordings))
        return subprocess.run([sys.executable, str(script), str(marker)], env=env, capture_output=True, text=True,
                              timeout=120, check=False)

    recorded = run("record")
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout == "[b'hello\\n'] 4 (b'shell\\n', None)\n"
    (path,) = list_recordings(recordings)
    assert len(autorr.get_recorded_events(path)) == 2
    replayed = run("replay")
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == recorded.stdout
    assert marker.read_text() == "ran\n" * 2
