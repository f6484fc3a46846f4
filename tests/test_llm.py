"""LLM metadata from the recorded exchange: tokens and cost as the server reported them."""

from __future__ import annotations

import pytest

import autorr
from autorr._llm import cost_of, price_table

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")


def test_tokens_cost_ttft_and_tool_calls(llm_server, recordings):
    llm_server.chunk_delay = 0.01
    client = openai.OpenAI(base_url=llm_server.openai_base_url, api_key="sk-test-x")
    claude = anthropic.Anthropic(base_url=llm_server.anthropic_base_url, api_key="sk-test-x")
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}]
    with autorr.recording(recordings / "meta.db"):
        plain = client.chat.completions.create(model="gpt-4o-mini", temperature=0.3,
                                               messages=[{"role": "user", "content": "count my words please"}])
        streamed = list(client.chat.completions.create(
            model="gpt-4o-mini", stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "stream it"}]))
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "find x"}], tools=tools)
        with claude.messages.stream(model="claude-3-5-haiku-latest", max_tokens=64,
                                    messages=[{"role": "user", "content": "hello claude"}]) as stream:
            final = stream.get_final_message()
        client.chat.completions.create(model="local-llama", messages=[{"role": "user", "content": "x"}])

    events = autorr.get_recorded_events(recordings / "meta.db")
    assert [e.event_type for e in events] == ["llm_call"] * 5
    first, second, third, fourth, fifth = (e.metadata for e in events)
    assert (first["input_tokens"], first["output_tokens"]) == (plain.usage.prompt_tokens, plain.usage.completion_tokens)
    assert first["params"] == {"temperature": 0.3} and first["provider"] == "openai"
    assert first["cost_usd"] == cost_of("gpt-4o-mini", plain.usage.prompt_tokens, plain.usage.completion_tokens)
    usage = streamed[-1].usage
    assert (second["input_tokens"], second["output_tokens"]) == (usage.prompt_tokens, usage.completion_tokens)
    assert second["ttft_ms"] > 0 and second["tokens_per_second"] > 0
    assert third["tool_calls"] == ["lookup"]
    assert fourth["provider"] == "anthropic" and fourth["output_tokens"] == final.usage.output_tokens
    assert fourth["input_tokens"] == final.usage.input_tokens and fourth["tokens_per_second"] > 0
    assert fifth["cost_usd"] is None  # unknown model: no guess
    assert all(m["price_table"] == price_table()["version"] for m in (first, fifth))

    (stream_a, stream_b) = autorr.get_recorded_streams(recordings / "meta.db")
    timing = autorr.analyze_stream_timing(stream_a.chunks)
    assert timing["chunks"] == len(stream_a.chunks) >= 10 and timing["average_delay_seconds"] > 0.005
    assert stream_b.metadata["provider"] == "anthropic"


def test_cost_uses_the_longest_prefix_and_cached_price():
    assert cost_of("gpt-4o-mini-2024-07-18", 1_000_000, 0) == 0.15
    assert cost_of("gpt-4o-2024-08-06", 1_000_000, 1_000_000, cached_tokens=1_000_000) == 1.25 + 10.0
    assert cost_of("openrouter/anthropic/claude-3-5-haiku-20241022", 0, 1_000_000) == 4.0
    assert cost_of("mystery", 10, 10) is None


def test_capture_switches_for_llm_calls_and_streaming(llm_server, recordings):
    client = openai.OpenAI(base_url=llm_server.openai_base_url, api_key="sk-test-x")

    def call():
        list(client.chat.completions.create(model="m", stream=True, messages=[{"role": "user", "content": "s"}]))

    autorr.configure_capture({"capture_llm_calls": False})
    try:
        with autorr.recording(recordings / "off.db") as rec:
            call()
        assert rec.manifest.total_events == 0 and llm_server.hits == 1  # live, unrecorded
    finally:
        autorr.configure_capture({"capture_llm_calls": True})
    autorr.configure_capture({"capture_streaming": False})
    try:
        with autorr.recording(recordings / "nostream.db") as rec:
            call()
        assert (rec.manifest.total_events, rec.manifest.total_chunks) == (1, 0)
    finally:
        autorr.configure_capture({"capture_streaming": True})
    llm_server.stop()
    with autorr.replaying(recordings / "nostream.db"):
        call()  # replays as one piece


def _sse(*payloads) -> bytes:
    import json

    return b"".join(b"data: " + json.dumps(p).encode() + b"\n\n" for p in payloads) + b"data: [DONE]\n\n"


def test_stream_metadata_comes_from_the_events_that_carry_it():
    from autorr._llm import describe_llm_call

    request = {"host": "api.openai.com", "path": "/v1/chat/completions", "json": {"model": "gpt-4o"}}
    text = [{"model": "gpt-4o-2024-08-06", "choices": [{"delta": {"content": f"w{i} "}}], "usage": None}
            for i in range(5)]
    call = {"model": "gpt-4o-2024-08-06", "choices": [{"delta": {"tool_calls": [{"function": {"name": "lookup"}}]}}]}
    usage = {"model": "gpt-4o-2024-11-20", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 9}}
    meta = describe_llm_call(request, {"status": 200}, _sse(*text[:2], call, *text[2:], usage), [(1, 10)], 100)
    assert meta["tool_calls"] == ["lookup"] and (meta["input_tokens"], meta["output_tokens"]) == (7, 9)
    assert meta["model_served"] == "gpt-4o-2024-11-20"  # the last event naming one

    claude = {"host": "api.anthropic.com", "path": "/v1/messages", "json": {"model": "claude-3-5-haiku-latest"}}
    events = [
        {"type": "message_start", "message": {"model": "claude-3-5-haiku-20241022", "usage": {"input_tokens": 5}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "name": "search"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{}"}},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}},
        {"type": "message_stop"},
    ]
    meta = describe_llm_call(claude, {"status": 200}, _sse(*events), [(1, 10)], 100)
    assert meta["tool_calls"] == ["search"] and (meta["input_tokens"], meta["output_tokens"]) == (5, 3)
    assert meta["model_served"] == "claude-3-5-haiku-20241022"


def test_only_the_events_that_can_add_metadata_are_parsed_and_all_of_those_are():
    """`_sse_payloads` parses the events with usage, a tool call or the last model named,
    and skips the rest (text deltas) without parsing them."""
    import random
    import re

    import orjson

    from autorr._llm import _sse_payloads

    usage = re.compile(rb'"usage"\s*:\s*\{')

    def one_by_one(body: bytes) -> list:
        datas = [line[5:].strip() for line in body.splitlines() if line.startswith(b"data:")]
        last_model = max((i for i, d in enumerate(datas) if b'"model"' in d), default=-1)
        out = []
        for i, data in enumerate(datas):
            if data and data != b"[DONE]" and (i == last_model or usage.search(data) or b"tool" in data
                                               or b"function_call" in data):
                try:
                    value = orjson.loads(data)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(value, dict):
                    out.append(value)
        return out

    rng = random.Random(7)
    fragments = [b'{"model": "m1"}', b'{"usage": {"a": 1}}', b'{"usage": null}', b'{"x": "tool"}', b"",
                 b'{"function_call": 1}', b'{"t": "text"}', b"[DONE]", b'{"usage"', b": {", b'"tool"', b"x",
                 b'{"model":"m2","usage" :\t{"b":2}}', b'{"v": "\\n"}']
    for _ in range(5000):
        body = b"".join(rng.choice([b"data:", b"data: ", b"event: e\n", b": c\n"])
                        + b"".join(rng.choice(fragments) for _ in range(rng.randint(0, 2)))
                        + rng.choice([b"\n", b"\n\n", b"\r\n", b"\r", b" \n", b"\t\n"])
                        for _ in range(rng.randint(0, 8)))
        assert list(_sse_payloads(body)) == one_by_one(body), body


def test_stream_timing_from_offsets_alone():
    """Integers are offsets in µs, as autorr stores them; floats are seconds."""
    in_us = autorr.analyze_stream_timing([2157, 52507, 102841])
    in_s = autorr.analyze_stream_timing([0.002157, 0.052507, 0.102841])
    assert in_us["ttft_seconds"] == pytest.approx(0.002157) and in_us == pytest.approx(in_s)
    assert in_us["average_delay_seconds"] == pytest.approx(0.050342)
