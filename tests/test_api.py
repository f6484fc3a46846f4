"""The user-guide API: module functions over defaults, and instances for several agents."""

from __future__ import annotations

import asyncio
import threading

import pytest

import autorr


def _stop(srv):
    srv.shutdown()
    srv.server_close()


def test_start_stop_recording_returns_a_manifest(echo_server, recordings):
    import httpx2

    url, _ = echo_server
    recording_id = autorr.start_recording(session_id="s1", task_id="t1", agent_id="a1", directory=recordings)
    assert autorr.is_recording()
    with httpx2.Client() as client:
        client.post(url + "/sse", json={"n": 4})
        client.get(url + "/x")
    autorr.checkpoint("after-two", state={"step": 2})
    manifest = autorr.stop_recording()
    assert not autorr.is_recording()
    assert manifest.recording_id == recording_id
    assert (manifest.total_events, manifest.total_chunks) == (2, 4)
    assert manifest.size_bytes > 0 and manifest.path.endswith(f"{recording_id}.db")
    from autorr.store import Reader

    with Reader(manifest.path) as reader:
        assert reader.meta()["labels"] == {"session_id": "s1", "task_id": "t1", "agent_id": "a1"}
        assert reader.checkpoints()[0]["name"] == "after-two"


def test_load_start_replay_statistics(echo_server, recordings):
    import httpx2

    url, srv = echo_server
    autorr.start_recording(recording_id="r1", directory=recordings)
    recorded = httpx2.get(url + "/x").json()
    autorr.stop_recording()
    _stop(srv)
    assert autorr.load_recording(recordings / "r1.db") is True
    assert autorr.start_replay("warn") == "r1"
    assert httpx2.get(url + "/x").json() == recorded
    assert httpx2.get(url + "/y").json() == recorded  # warn: nearest
    stats = autorr.get_replay_statistics()
    assert (stats["matched"], stats["mismatch_count"], stats["total"]) == (1, 1, 2)
    assert stats["success_rate"] == 0.5
    (detail,) = autorr.get_mismatch_details()
    assert {"type", "expected", "actual", "diff"} <= set(detail)
    assert detail["diff"] == ["path: recorded /x, now /y"]
    autorr.set_replay_mode("strict")
    with pytest.raises(autorr.StrictReplayMismatch):
        httpx2.get(url + "/z")
    autorr.stop_replay()


def test_errors_name_what_is_wrong(recordings, monkeypatch):
    monkeypatch.setattr(autorr._api, "_recorder", None)
    with pytest.raises(autorr.NotActive, match="start_recording"):
        autorr.stop_recording()
    autorr.checkpoint("anywhere")  # with autorr off, agents may still mark checkpoints
    with pytest.raises(autorr.ConfigError, match="checkpoint name"):
        autorr.checkpoint("")
    with pytest.raises(autorr.ConfigError, match="replay mode 'fast' is not valid"):
        autorr.set_replay_mode("fast")
    with pytest.raises(autorr.ConfigError, match="unknown key 'capture_everything'"):
        autorr.configure_capture({"capture_everything": True})
    with pytest.raises(autorr.RecordingNotFound):
        autorr.load_recording(recordings / "missing.db")


def test_capture_switch_leaves_calls_live_and_unrecorded(echo_server, recordings):
    import httpx2

    url, _ = echo_server
    autorr.configure_capture({"capture_tool_calls": False})  # /x is not an LLM endpoint
    try:
        with autorr.recording(recordings / "r.db") as rec:
            httpx2.get(url + "/x")
        assert rec.manifest.total_events == 0
    finally:
        autorr.configure_capture({"capture_tool_calls": True})


def test_capture_switch_applies_mid_recording(echo_server, recordings):
    import httpx2

    url, _ = echo_server
    with autorr.recording(recordings / "r.db") as rec:
        httpx2.get(url + "/x")  # recorded; the recorder now knows this endpoint
        autorr.configure_capture({"capture_tool_calls": False})
        try:
            httpx2.get(url + "/x")
        finally:
            autorr.configure_capture({"capture_tool_calls": True})
        httpx2.get(url + "/x")
    assert rec.manifest.total_events == 2


def test_two_agents_in_threads_record_separately(echo_server, recordings):
    import httpx2

    url, _ = echo_server

    def agent(name):
        with autorr.Recorder(name, directory=recordings, agent_id=name):
            for i in range(3):
                httpx2.get(f"{url}/{name}/{i}")

    threads = [threading.Thread(target=agent, args=(n,)) for n in ("alpha", "beta")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    from autorr.store import Reader

    for name in ("alpha", "beta"):
        with Reader(recordings / f"{name}.db") as reader:
            paths = [e.request["path"] for e in reader.events()]
            assert sorted(paths) == [f"/{name}/{i}" for i in range(3)]


def test_parallel_players_do_not_share_counters(echo_server, recordings):
    import httpx2

    url, srv = echo_server
    with autorr.recording(recordings / "r.db"), httpx2.Client() as client:
        answers = [client.get(url + "/same").json() for _ in range(3)]
    _stop(srv)

    async def replay_once():
        with autorr.Player(recordings / "r.db"):
            async with httpx2.AsyncClient() as client:
                return [(await client.get(url + "/same")).json() for _ in range(3)]

    async def main():
        return await asyncio.gather(*(replay_once() for _ in range(4)))

    assert asyncio.run(main()) == [answers] * 4


def test_import_autorr_is_light_and_names_load_on_first_use():
    import subprocess
    import sys

    code = ("import sys, autorr; heavy = [m for m in ('wrapt', 'sqlite3', 'zstandard', 'orjson', 'autorr._recorder')"
            " if m in sys.modules]; assert not heavy, heavy; assert callable(autorr.recording);"
            " assert 'autorr._recorder' in sys.modules; assert 'recording' in dir(autorr)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr


def test_api_misuse_is_a_config_error_naming_the_value(recordings, monkeypatch):
    monkeypatch.setenv("AUTORR_DIR", str(recordings))
    with autorr.recording("r1"):
        pass
    # Enum's own ValueError ("'lax' is not a valid ReplayMode") named no allowed value.
    for start in (lambda: autorr.replaying("r1", mode="lax").__enter__(), lambda: autorr.Player("r1", mode="lax"),
                  lambda: autorr.start_replay("lax")):
        with pytest.raises(autorr.ConfigError, match="replay mode 'lax' is not valid; use one of: strict, warn"):
            start()
    with pytest.raises(autorr.ConfigError, match="timing 'slow' is not valid; use one of: fast, preserve"):
        autorr.Player("r1", timing="slow")
    assert autorr.Player("r1", mode=autorr.ReplayMode.WARN, timing="PRESERVE").mode is autorr.ReplayMode.WARN
    # A list or None failed in dict() / .items() with a TypeError or AttributeError.
    for bad in ([("llm_calls", {})], None):
        with pytest.raises(autorr.ConfigError, match="must be an object keyed by category"):
            autorr.set_replay_overrides(bad)
        with pytest.raises(autorr.ConfigError, match="configure_capture: expected a mapping"):
            autorr.configure_capture(bad)


@pytest.mark.parametrize("recording_id", ["../outside", "a/b", "..", ".hidden", "x" * 300])
def test_an_api_recording_id_stays_one_file_in_the_directory(recordings, monkeypatch, recording_id):
    # Only AUTORR_RECORDING_ID was checked: `recording("../outside")` wrote next to the directory.
    monkeypatch.setenv("AUTORR_DIR", str(recordings))
    monkeypatch.setattr(autorr._api, "_recorder", None)
    with pytest.raises(autorr.ConfigError, match="recording id="):
        autorr.Recorder(recording_id)
    with pytest.raises(autorr.ConfigError, match="recording id="):
        autorr.start_recording(recording_id=recording_id)
    assert not autorr.is_recording()
    assert list(recordings.parent.rglob("*.db")) == []
