"""asyncio subprocesses (at the event loop): recorded with real processes, replayed without starting any."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

import autorr
from autorr.integrations._asyncio_replay import NO_PID

if sys.version_info < (3, 11):  # anyio's groups come from the backport there
    from exceptiongroup import BaseExceptionGroup


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
    """asyncio imported after the start-up hook: the loop's methods are wrapped, each process recorded once."""
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


# A line-oriented JSON-RPC server (what an MCP server over stdio is): one answer line per
# request line, and a side effect per request, so a test sees whether it ran.
_SERVER = """
import json, sys
n = 0
while line := sys.stdin.readline():
    request = json.loads(line)
    n += 1
    with open(sys.argv[1], "a") as side:
        side.write(request["method"] + "\\n")
    answer = {"jsonrpc": "2.0", "id": request["id"], "result": {"echo": request["params"], "n": n}}
    sys.stdout.write(json.dumps(answer) + "\\n")
    sys.stdout.flush()
"""

_REQUESTS = [("add", {"a": 2, "b": 40}), ("note", {"text": "kiwi"}), ("list", {})]


def _line(i, method, params, reverse=False):
    request = {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
    if reverse:  # the same request, its keys in another order
        request = dict(reversed(list(request.items())))
    return (json.dumps(request) + "\n").encode()


@pytest.fixture
def server(tmp_path):
    script = tmp_path / "server.py"
    script.write_text(_SERVER)
    return [sys.executable, str(script), str(tmp_path / "side.log")]


async def _rpc_over_asyncio(command, requests, reverse=False, progress=None):
    """An MCP-style client: a reader task matches answers to the requests sent so far; an
    answer for a request not sent yet is dropped ("unknown request id")."""
    loop = asyncio.get_running_loop()
    proc = await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE)
    pending, unknown = {}, []

    async def reader():
        while line := await proc.stdout.readline():
            answer = json.loads(line)
            future = pending.pop(answer["id"], None)
            if future is None:
                unknown.append(answer["id"])
            else:
                future.set_result(answer["result"])
        for future in pending.values():
            future.set_exception(EOFError("connection closed"))

    task = asyncio.create_task(reader())
    answers = []
    for i, (method, params) in enumerate(requests, 1):
        future = pending[i] = loop.create_future()
        proc.stdin.write(_line(i, method, params, reverse))
        await proc.stdin.drain()
        answers.append(await future)
        if progress is not None:
            progress.append(i)
    proc.stdin.close()
    await task
    return answers, unknown, await proc.wait()


def test_a_json_rpc_dialog_over_asyncio_pipes_replays_in_order(recordings, server, tmp_path):
    side = tmp_path / "side.log"
    with autorr.recording(recordings / "asp.db") as rec:
        live = asyncio.run(_rpc_over_asyncio(server, _REQUESTS))
    assert rec.manifest.total_events == 1
    assert live[0][1] == {"echo": {"text": "kiwi"}, "n": 2} and live[1:] == ([], 0)
    assert side.read_text() == "add\nnote\nlist\n"
    (event,) = autorr.get_recorded_events(recordings / "asp.db")
    kinds = []
    for step in event.outputs["value"]["json"]["steps"]:  # in order; an answer may come in pieces
        kind = next(k for k in step if k != "t")
        if not kinds or kinds[-1] != kind or kind != "out":
            kinds.append(kind)
    assert kinds[:7] == ["in", "out", "in", "out", "in", "out", "close"] and sorted(kinds[7:]) == ["eof", "exit"]

    for reverse in (False, True):  # key order in a JSON line does not matter
        with autorr.replaying(recordings / "asp.db") as player:
            assert asyncio.run(_rpc_over_asyncio(server, _REQUESTS, reverse)) == live
        assert player.statistics()["matched"] == 1 and not player.mismatches()
    assert side.read_text() == "add\nnote\nlist\n"

    progress = []
    changed = [_REQUESTS[0], ("note", {"text": "mango"}), _REQUESTS[2]]
    with autorr.replaying(recordings / "asp.db"):
        with pytest.raises(autorr.StrictReplayMismatch, match=r"stdin \(write #2\): line 1: JSON differs at "
                                                              r"\$\.params\.text"):
            asyncio.run(_rpc_over_asyncio(server, changed, progress=progress))
    assert progress == [1]  # raised at the write that differs, after the first answer
    assert side.read_text() == "add\nnote\nlist\n"


def test_a_changed_write_in_warn_mode_serves_the_recording(recordings, server, tmp_path, caplog):
    with autorr.recording(recordings / "asp.db"):
        live = asyncio.run(_rpc_over_asyncio(server, _REQUESTS))
    changed = [_REQUESTS[0], ("note", {"text": "mango"}), _REQUESTS[2]]
    with autorr.replaying(recordings / "asp.db", mode="warn") as player:
        assert asyncio.run(_rpc_over_asyncio(server, changed)) == live
    (mismatch,) = player.mismatches()
    assert "$.params.text" in mismatch["diff"][0] and "mango" not in str(mismatch)
    assert (tmp_path / "side.log").read_text() == "add\nnote\nlist\n"


def test_a_json_rpc_dialog_over_anyio_open_process(recordings, server, tmp_path):
    """anyio (the MCP SDK's stdio_client) starts its process with loop.subprocess_exec itself."""
    anyio = pytest.importorskip("anyio")
    side = tmp_path / "side.log"

    async def agent(requests):
        answers, buffer = [], b""
        async with await anyio.open_process(server) as proc:
            for i, (method, params) in enumerate(requests, 1):
                await proc.stdin.send(_line(i, method, params))
                while b"\n" not in buffer:
                    buffer += await proc.stdout.receive()
                line, buffer = buffer.split(b"\n", 1)
                answers.append(json.loads(line)["result"])
            await proc.stdin.aclose()
        return answers, proc.returncode

    with autorr.recording(recordings / "asp.db") as rec:
        live = anyio.run(agent, _REQUESTS)
    assert rec.manifest.total_events == 1
    assert live == ([{"echo": p, "n": i} for i, (_, p) in enumerate(_REQUESTS, 1)], 0)
    with autorr.replaying(recordings / "asp.db") as player:
        assert anyio.run(agent, _REQUESTS) == live
    assert player.statistics()["matched"] == 1
    assert side.read_text() == "add\nnote\nlist\n"
    with autorr.replaying(recordings / "asp.db"):
        with pytest.raises(BaseException) as info:  # anyio wraps it in an exception group
            anyio.run(agent, [_REQUESTS[0], ("note", {"text": "mango"})])
    assert info.group_contains(autorr.StrictReplayMismatch) if isinstance(info.value, BaseExceptionGroup) \
        else info.type is autorr.StrictReplayMismatch
    assert side.read_text() == "add\nnote\nlist\n"


def test_a_caller_that_only_polls_returncode(recordings, tmp_path):
    """MCP's shutdown polls ``returncode`` instead of calling wait(): the event completes
    all the same, and replay gives the code; the replayed pid signals nobody."""
    marker = tmp_path / "ran.log"
    pids = []

    async def agent():
        proc = await asyncio.create_subprocess_exec("sh", "-c", _appends(marker, "echo hi; exec >&-; sleep 0.2; exit 6"),
                                                    stdout=asyncio.subprocess.PIPE)
        pids.append(proc.pid)
        out = await proc.stdout.read()  # EOF comes before the exit
        for _ in range(3000):  # bounded: a stand-in whose code never comes fails, not hangs
            if proc.returncode is not None:
                break
            await asyncio.sleep(0.01)
        return out, proc.returncode

    assert _record_then_replay(recordings, marker, agent, 1) == (b"hi\n", 6)
    (event,) = autorr.get_recorded_events(recordings / "asp.db")
    assert event.outputs["value"]["json"]["returncode"] == 6
    assert pids[1] == NO_PID != pids[0]
    with pytest.raises(ProcessLookupError):
        os.kill(pids[1], 0)
    with pytest.raises(ProcessLookupError):
        os.killpg(pids[1], 0)


def test_a_protocol_of_ones_own(recordings, tmp_path):
    """``loop.subprocess_exec`` with the caller's protocol: every callback, in replay too."""
    marker = tmp_path / "ran.log"

    class Collect(asyncio.SubprocessProtocol):
        def __init__(self, done):
            self.done, self.data, self.calls = done, {1: b"", 2: b""}, []

        def connection_made(self, transport):
            self.calls.append("made")

        def pipe_data_received(self, fd, data):
            self.data[fd] += data

        def pipe_connection_lost(self, fd, exc):
            self.calls.append(f"lost {fd}")

        def process_exited(self):
            self.calls.append("exited")

        def connection_lost(self, exc):
            self.done.set_result(None)

    async def agent():
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        transport, protocol = await loop.subprocess_exec(lambda: Collect(done), "sh", "-c",
                                                         _appends(marker, "echo out; echo err >&2; exit 2"), stdin=None)
        await done
        code = transport.get_returncode()
        transport.close()
        return protocol.data, code, protocol.calls[0], sorted(protocol.calls[1:])

    assert _record_then_replay(recordings, marker, agent, 1) == (
        {1: b"out\n", 2: b"err\n"}, 2, "made", ["exited", "lost 1", "lost 2"])
