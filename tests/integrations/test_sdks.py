"""The real openai and anthropic SDKs, zero-code, against the fake LLM server on loopback."""

from __future__ import annotations

import time

import pytest

from autorr.store import Reader, list_recordings

from conftest import FAKE_KEY

pytest.importorskip("openai")
pytest.importorskip("anthropic")


@pytest.mark.parametrize("agent", ["openai_all.py", "anthropic_all.py"])
def test_record_then_replay_offline_gives_identical_output(agent, run_agent, llm_server, recordings):
    recorded = run_agent(agent, env={"AUTORR_MODE": "record"}, server=llm_server)
    assert recorded.returncode == 0, recorded.stderr
    hits = llm_server.hits
    assert hits >= 4
    llm_server.stop()
    replayed = run_agent(agent, env={"AUTORR_MODE": "replay"}, server=llm_server)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == recorded.stdout
    assert llm_server.hits == hits
    for file in recordings.rglob("*"):
        assert FAKE_KEY.encode() not in file.read_bytes(), file


def test_strict_mismatch_fails_fast_without_sdk_retries(run_agent, llm_server, recordings):
    assert run_agent("openai_all.py", env={"AUTORR_MODE": "record"}, server=llm_server).returncode == 0
    llm_server.stop()
    started = time.monotonic()
    result = run_agent("openai_all.py", "Tell me about Lyon", env={"AUTORR_MODE": "replay"}, server=llm_server)
    took = time.monotonic() - started
    assert result.returncode != 0
    assert took < 20  # the SDK's backoff (2 retries) would add seconds; nothing waits
    assert result.stderr.count("no recorded answer for POST 127.0.0.1/v1/chat/completions") == 1
    assert "$.messages[0].content: recorded 'Tell me about Paris', now 'Tell me about Lyon'" in result.stderr
    assert "Retrying" not in result.stderr and "APIConnectionError" not in result.stderr


def test_warn_mode_continues_with_the_nearest_answer(run_agent, llm_server, recordings):
    recorded = run_agent("openai_all.py", env={"AUTORR_MODE": "record"}, server=llm_server)
    hits = llm_server.hits  # the server stays up: warn replay must still not reach it
    result = run_agent("openai_all.py", "Tell me about Lyon",
                       env={"AUTORR_MODE": "replay", "AUTORR_REPLAY_MODE": "warn"}, server=llm_server)
    assert result.returncode == 0, result.stderr
    assert llm_server.hits == hits
    assert result.stdout == recorded.stdout  # the nearest recorded answers, so the same output
    assert "warn mode: serving the nearest recorded answer" in result.stderr


def test_hybrid_sends_only_the_changed_calls_live(run_agent, llm_server, recordings):
    assert run_agent("openai_all.py", env={"AUTORR_MODE": "record"}, server=llm_server).returncode == 0
    llm_server.reset()
    result = run_agent("openai_all.py", "Tell me about Lyon",
                       env={"AUTORR_MODE": "replay", "AUTORR_REPLAY_MODE": "hybrid",
                            "OPENAI_API_KEY": FAKE_KEY}, server=llm_server)
    assert result.returncode == 0, result.stderr
    contents = [r.json["messages"][0]["content"] if "messages" in (r.json or {}) else r.json.get("input")
                for r in llm_server.requests]
    assert contents == ["Tell me about Lyon", "stream Tell me about Lyon", "responses Tell me about Lyon"]
    child = [p for p in list_recordings(recordings) if ".hybrid-" in p.name]
    assert len(child) == 1
    with Reader(child[0]) as reader:
        assert reader.count()[0] == 3
        assert reader.meta()["parent"]["reason"] == "hybrid"


def test_recording_does_not_delay_the_first_token(llm_server, recordings):
    """Time to first chunk while recording stays near the live one (25 ms between chunks)."""
    import openai

    import autorr

    llm_server.chunk_delay = 0.025
    client = openai.OpenAI(base_url=llm_server.openai_base_url, api_key=FAKE_KEY)

    def first_chunk_and_total():
        started = time.perf_counter()
        stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                                stream=True)
        first = None
        for _ in stream:
            if first is None:
                first = time.perf_counter() - started
        return first, time.perf_counter() - started

    live = sorted(first_chunk_and_total() for _ in range(3))[1]
    with autorr.recording(recordings / "ttft.db"):
        recorded = sorted(first_chunk_and_total() for _ in range(3))[1]
    # the stream takes >= 175 ms; a recorder that buffered would deliver the first chunk after it
    assert recorded[1] > 0.15
    assert recorded[0] < live[0] + 0.05 and recorded[0] < recorded[1] / 2


def test_preserve_timing_replays_the_recorded_gaps(llm_server, recordings):
    import statistics

    import openai

    import autorr
    from autorr.store import Reader

    llm_server.chunk_delay = 0.025
    client = openai.OpenAI(base_url=llm_server.openai_base_url, api_key=FAKE_KEY)

    def arrival_times():
        started = time.perf_counter()
        stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "gaps"}],
                                                stream=True)
        return [time.perf_counter() - started for _ in stream]

    with autorr.recording(recordings / "gaps.db"):
        arrival_times()
    llm_server.stop()
    with Reader(recordings / "gaps.db") as reader:
        (event,) = reader.events()
        recorded = [offset / 1e6 for _, offset in event.chunks]
    with autorr.replaying(recordings / "gaps.db", timing="preserve"):
        replayed = arrival_times()
    recorded_gaps = [b - a for a, b in zip(recorded, recorded[1:])]
    replayed_gaps = [b - a for a, b in zip(replayed, replayed[1:])]
    assert len(recorded_gaps) >= len(replayed_gaps) >= 7  # the SDK yields no event for [DONE]
    assert statistics.median(abs(a - b) for a, b in zip(recorded_gaps, replayed_gaps)) < 0.01
    with autorr.replaying(recordings / "gaps.db", timing="fast"):
        assert arrival_times()[-1] < 0.1
