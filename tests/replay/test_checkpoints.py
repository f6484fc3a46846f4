"""Checkpoints, replay from a checkpoint into a child recording, A/B overrides."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import autorr
from autorr.store import Reader, list_recordings

from conftest import AGENTS, FAKE_KEY, _clean_env


def _run(env, cwd, **extra):
    merged = dict(env, **extra)
    if merged.get("AUTORR_MODE") == "record" or merged.get("AUTORR_CHECKPOINT") or merged.get("AUTORR_OVERRIDES"):
        merged.setdefault("OPENAI_API_KEY", FAKE_KEY)
    return subprocess.run([sys.executable, str(AGENTS / "checkpoint_agent.py")], env=_clean_env(merged), cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def recorded(llm_server, recordings, tmp_path):
    env = {"AUTORR_DIR": str(recordings), "OPENAI_BASE_URL": llm_server.openai_base_url,
           "MARKER": str(tmp_path / "marker"), "AUTORR_RECORDING_ID": "base"}
    result = _run(env, tmp_path, AUTORR_MODE="record")
    assert result.returncode == 0, result.stderr
    env.pop("AUTORR_RECORDING_ID")
    return env, result.stdout


def test_checkpoint_is_listed_and_shown(recorded, recordings, capsys):
    (cp,) = autorr.list_checkpoints("base", directory=recordings)
    assert cp["name"] == "research_done" and cp["seq"] == 3 and len(cp["state"]["notes"]) == 3
    from autorr.cli import main

    main(["show", "base", "--dir", str(recordings)])
    assert "checkpoint 'research_done' after 3 events" in capsys.readouterr().out


def test_replay_from_checkpoint_goes_live_after_it(recorded, llm_server, recordings, tmp_path):
    env, original = recorded
    llm_server.reset()
    llm_server.reply_prefix = "NEW "  # the world changed after the checkpoint
    marker = tmp_path / "marker"
    marker.unlink()
    resumed = _run(env, tmp_path, AUTORR_MODE="replay", AUTORR_RECORDING="base", AUTORR_CHECKPOINT="research_done")
    assert resumed.returncode == 0, resumed.stderr
    prompts = [r.json["messages"][0]["content"] for r in llm_server.requests]
    assert len(prompts) == 2 and prompts[0].startswith("draft from") and prompts[1].startswith("polish")
    assert "draft: NEW" in resumed.stdout and resumed.stdout.splitlines()[0] == original.splitlines()[0]
    assert marker.exists()  # the tool after the checkpoint ran live too

    (child,) = [p for p in list_recordings(recordings) if p.name.startswith("base.checkpoint-")]
    with Reader(child) as reader:
        assert reader.meta()["parent"] == {"recording_id": "base", "path": str(recordings / "base.db"),
                                           "reason": "checkpoint", "checkpoint": "research_done"}
        # two LLM calls, the tool, and the file write of the process the tool started
        assert sorted(e.kind for e in reader.events()) == ["file", "http", "http", "subprocess"]
    # the child replays the whole new run offline: parent prefix + child suffix
    llm_server.stop()
    marker.unlink()
    offline = _run(env, tmp_path, AUTORR_MODE="replay", AUTORR_RECORDING=child.stem)
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout == resumed.stdout and not marker.exists()


def test_a_child_recording_forks_again_at_the_same_checkpoint(recorded, llm_server, recordings, tmp_path):
    """The child stores the checkpoint it began from as its own first (seq 0): forking the
    child there again must still serve the parent's prefix, not send it live."""
    env, original = recorded
    llm_server.reply_prefix = "NEW "
    first = _run(env, tmp_path, AUTORR_MODE="replay", AUTORR_RECORDING="base", AUTORR_CHECKPOINT="research_done")
    assert first.returncode == 0, first.stderr
    (child,) = [p for p in list_recordings(recordings) if p.name.startswith("base.checkpoint-")]
    llm_server.reset()
    llm_server.reply_prefix = "NEWER "
    again = _run(env, tmp_path, AUTORR_MODE="replay", AUTORR_RECORDING=child.stem, AUTORR_CHECKPOINT="research_done")
    assert again.returncode == 0, again.stderr
    prompts = [r.json["messages"][0]["content"] for r in llm_server.requests]
    assert len(prompts) == 2 and prompts[0].startswith("draft from")  # the research came from the recording
    assert again.stdout.splitlines()[0] == original.splitlines()[0] and "draft: NEWER" in again.stdout


def test_the_cli_takes_the_checkpoint_and_overrides_as_the_api_does(recorded, llm_server, recordings, tmp_path):
    env, original = recorded
    merged = _clean_env(dict(env, OPENAI_API_KEY=FAKE_KEY))

    def replay(*options):
        llm_server.reset()
        ran = subprocess.run([sys.executable, "-m", "autorr", "replay", "--dir", str(recordings), "--recording",
                              "base", *options, "--", sys.executable, str(AGENTS / "checkpoint_agent.py")],
                             env=merged, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, ran.stderr
        return ran.stdout, [r.json["model"] for r in llm_server.requests]

    out, models = replay("--checkpoint", "research_done")
    assert models == ["gpt-4o-mini"] * 2 and out.splitlines()[0] == original.splitlines()[0]  # live after it
    out, models = replay("--overrides", json.dumps({"llm_calls": {"model": "gpt-4.1", "live_mode": True}}))
    assert models == ["gpt-4.1"] * 5  # every LLM call live with the other model; the tool from the recording


def test_mismatches_are_counted_in_their_checkpoint_segment(recorded, llm_server, recordings):
    import openai

    client = openai.OpenAI(base_url=llm_server.openai_base_url, api_key="k")
    ask = lambda text: client.chat.completions.create(  # noqa: E731
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}]).choices[0].message.content
    autorr.load_recording(recordings / "base.db")
    autorr.start_replay(mode="warn")
    try:
        for i in range(3):
            ask(f"research step {i}")
        ask("something new")  # after the checkpoint: served the nearest answer, and counted there
        stats = autorr.get_replay_statistics()
    finally:
        autorr.stop_replay()
    assert stats["mismatched"] == 1
    assert stats["by_segment"]["start"] == {"matched": 3, "mismatched": 0, "live": 0}
    assert stats["by_segment"]["research_done"]["mismatched"] == 1


def test_api_replay_from_checkpoint_statistics_and_restore(recorded, llm_server, recordings):
    import openai

    client = openai.OpenAI(base_url=llm_server.openai_base_url, api_key="k")
    ask = lambda text: client.chat.completions.create(  # noqa: E731
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}]).choices[0].message.content
    autorr.load_recording(recordings / "base.db")
    autorr.replay_from_checkpoint("research_done")
    llm_server.reset()
    notes = [ask(f"research step {i}") for i in range(3)]
    assert autorr.restore("research_done")["notes"] == notes
    ask("something new")
    stats = autorr.get_replay_statistics()
    autorr.stop_replay()
    assert llm_server.hits == 1
    assert stats["by_segment"]["start"]["matched"] == 3 and stats["by_segment"]["research_done"]["live"] == 1
    assert stats["by_category"]["llm_calls"] == {"matched": 3, "mismatched": 0, "live": 1}
    with pytest.raises(autorr.ConfigError, match="no checkpoint 'nope' in recording base"):
        autorr.replay_from_checkpoint("nope")


def test_restore_lets_an_agent_skip_to_the_checkpoint(recorded, llm_server, recordings):
    import openai

    client = openai.OpenAI(base_url=llm_server.openai_base_url, api_key="k")
    llm_server.reset()
    with autorr.replaying(recordings / "base.db") as player:
        player.from_checkpoint("research_done")
        state = autorr.restore("research_done")  # resume from state: no research calls
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "draft " + state["notes"][0]}])
    assert llm_server.hits == 1 and player.statistics()["live"] == 1


def test_ab_run_llm_live_with_another_model_tools_from_the_recording(recorded, llm_server, recordings, tmp_path):
    env, original = recorded
    llm_server.reset()
    marker = tmp_path / "marker"
    marker.unlink()
    overrides = {"llm_calls": {"live_mode": True, "model": "gpt-4.1"}, "tool_calls": {"live_mode": False}}
    result = _run(env, tmp_path, AUTORR_MODE="replay", AUTORR_RECORDING="base", AUTORR_OVERRIDES=json.dumps(overrides))
    assert result.returncode == 0, result.stderr
    assert [r.json["model"] for r in llm_server.requests] == ["gpt-4.1"] * 5  # only LLM calls reach the server
    assert not marker.exists()  # no tool ran
    assert "tool: tool ok" in result.stdout


def test_override_model_of_another_provider_is_a_clear_error(recorded, recordings, tmp_path):
    env, _ = recorded
    overrides = {"llm_calls": {"live_mode": True, "model": "claude-3-5-haiku-latest"}}
    result = _run(env, tmp_path, AUTORR_MODE="replay", AUTORR_RECORDING="base", AUTORR_OVERRIDES=json.dumps(overrides))
    assert result.returncode != 0
    assert "override model 'claude-3-5-haiku-latest' is a anthropic model" in result.stderr
    assert "base_url" in result.stderr


def test_set_replay_overrides_in_process(recorded, llm_server, recordings):
    import openai

    llm_server.reset()
    autorr.set_replay_overrides({"llm_calls": {"live_mode": True, "model": "gpt-4o"}})
    try:
        with autorr.replaying(recordings / "base.db") as player:
            client = openai.OpenAI(base_url=llm_server.openai_base_url, api_key="k")
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        assert [r.json["model"] for r in llm_server.requests] == ["gpt-4o"]
        assert player.statistics()["by_category"]["llm_calls"]["live"] == 1
        events = autorr.get_recorded_events(player.child.path)
        assert events[0].metadata["override"] == {"model": "gpt-4o"}
        assert events[0].metadata["model_served"] == "gpt-4o"
    finally:
        autorr.set_replay_overrides({})
    with pytest.raises(autorr.ConfigError, match="unknown category 'llm'"):
        autorr.set_replay_overrides({"llm": {"live_mode": True}})


def test_a_checkpoint_named_with_a_secret_is_stored_masked_and_still_found(recordings):
    token = "xoxb-1234567890-CheckpointNameTok"
    with autorr.recording(recordings / "cp.db"):
        autorr.checkpoint(f"after-{token}", state={"step": 2})
    (cp,) = autorr.list_checkpoints(recordings / "cp.db")
    assert cp["name"] == "after-[REDACTED]"
    assert autorr.restore(f"after-{token}", recordings / "cp.db") == {"step": 2}
    with autorr.replaying(recordings / "cp.db") as player:
        assert autorr.restore(f"after-{token}") == {"step": 2}
        assert player.find_checkpoint(f"after-{token}")["state"] == {"step": 2}
    with pytest.raises(autorr.ConfigError):
        autorr.restore("after-nothing", recordings / "cp.db")
