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
    # the role-only delta comes first, 10 ms before the first text
    assert second["first_chunk_ms"] < second["ttft_ms"] and "ttft_ms" not in first  # not streamed
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
    """`_sse_payloads` parses the events with usage, an error, a tool call or the last model named,
    and skips the rest (text deltas) without parsing them."""
    import random
    import re

    import orjson

    from autorr._llm import _sse_payloads

    usage = re.compile(rb'"(?:usage|usageMetadata|error)"\s*:\s*\{')

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
                 b'{"model":"m2","usage" :\t{"b":2}}', b'{"v": "\\n"}', b'{"error": {"type": "e"}}', b'{"error": null}',
                 b'{"usageMetadata": {"promptTokenCount": 3}}', b'"usageMetadata"']
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


def _timed(*events: bytes, gap_us: int = 100_000) -> tuple[bytes, list[tuple[int, int]]]:
    """A body of SSE events, each its own chunk, ``gap_us`` apart from 1 ms on."""
    return b"".join(events), [(len(e), 1000 + i * gap_us) for i, e in enumerate(events)]


def _data(payload, event: str | None = None, eol: bytes = b"\n") -> bytes:
    import json

    head = b"event: " + event.encode() + eol if event else b""
    return head + b"data: " + json.dumps(payload).encode() + eol + eol


def _chat(delta) -> bytes:
    return _data({"object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": delta}]})


def _claude(payload, eol: bytes = b"\n") -> bytes:
    return _data(payload, payload["type"], eol)


def _gemini(*parts) -> bytes:
    return _data({"candidates": [{"content": {"parts": list(parts), "role": "model"}, "index": 0}]})


def _responses(kind, **fields) -> bytes:
    return _data(dict(fields, type=kind), kind)


_START = [_responses("response.created", response={"status": "in_progress", "output": []}),
          _responses("response.in_progress", response={"status": "in_progress", "output": []})]
_MESSAGE = _responses("response.output_item.added", output_index=0,
                      item={"type": "message", "role": "assistant", "content": []})
_PART = _responses("response.content_part.added", output_index=0, part={"type": "output_text", "text": ""})
_MESSAGE_START = _claude({"type": "message_start", "message": {"model": "claude-x", "content": [],
                                                               "usage": {"input_tokens": 5}}})
_PING = _claude({"type": "ping"})

# (name, request path, the events before the first token, the first token's event)
_SHAPES = [
    ("openai text after a role-only delta", "/v1/chat/completions",
     [_chat({"role": "assistant", "content": ""}), _chat({"content": None})], _chat({"content": "Hi"})),
    ("openai tool call's name", "/v1/chat/completions", [_chat({"role": "assistant", "content": None})],
     _chat({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "lookup", "arguments": ""}}]})),
    ("openai legacy function_call", "/v1/chat/completions", [_chat({"role": "assistant"})],
     _chat({"function_call": {"name": "f", "arguments": ""}})),
    ("reasoning_content (vLLM, DeepSeek)", "/v1/chat/completions", [_chat({"role": "assistant", "content": ""})],
     _chat({"reasoning_content": "Let me"})),
    ("reasoning (OpenRouter)", "/v1/chat/completions", [b": OPENROUTER PROCESSING\n\n"],
     _chat({"reasoning": "Hmm", "content": ""})),
    ("refusal", "/v1/chat/completions", [_chat({"role": "assistant", "refusal": None})],
     _chat({"refusal": "I can't"})),
    ("legacy completions text", "/v1/completions",
     [b": keep-alive\n\n", _data({"choices": [{"index": 0, "text": ""}]})],
     _data({"choices": [{"index": 0, "text": "Once"}]})),
    ("responses output_text.delta", "/v1/responses", [*_START, _MESSAGE, _PART],
     _responses("response.output_text.delta", output_index=0, delta="Hello")),
    ("responses function call", "/v1/responses", _START,
     _responses("response.output_item.added", output_index=0,
                item={"type": "function_call", "name": "lookup", "arguments": ""})),
    ("responses reasoning summary", "/v1/responses",
     [*_START, _responses("response.output_item.added", item={"type": "reasoning", "summary": []})],
     _responses("response.reasoning_summary_text.delta", delta="Thinking")),
    ("anthropic text_delta", "/v1/messages",
     [_MESSAGE_START, _claude({"type": "content_block_start", "index": 0,
                               "content_block": {"type": "text", "text": ""}}), _PING],
     _claude({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}})),
    ("anthropic tool_use block", "/v1/messages", [_MESSAGE_START, _PING],
     _claude({"type": "content_block_start", "index": 0,
              "content_block": {"type": "tool_use", "id": "t1", "name": "search", "input": {}}})),
    ("anthropic thinking_delta", "/v1/messages",
     [_MESSAGE_START, _claude({"type": "content_block_start", "index": 0,
                               "content_block": {"type": "thinking", "thinking": ""}})],
     _claude({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "So"}})),
    ("anthropic over CRLF", "/v1/messages", [_claude({"type": "ping"}, b"\r\n")],
     _claude({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Hi"}}, b"\r\n")),
    ("gemini text", "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
     [b": keep-alive\n\n", _gemini({"text": ""})], _gemini({"text": "Hel"})),
    ("gemini function call", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", [_gemini()],
     _gemini({"functionCall": {"name": "lookup", "args": {}}})),
]


@pytest.mark.parametrize("path, before, first", [s[1:] for s in _SHAPES], ids=[s[0] for s in _SHAPES])
def test_ttft_is_the_first_chunk_that_carries_output(path, before, first):
    from autorr._llm import describe_llm_call

    body, chunks = _timed(*before, first, _chat({"content": "more"}))
    meta = describe_llm_call({"host": "127.0.0.1", "path": path, "json": {"model": "m"}}, {"status": 200},
                             body, chunks, 1_000_000)
    assert meta["ttft_ms"] == chunks[len(before)][1] / 1000  # the first token's chunk, not any before it
    assert meta["first_chunk_ms"] == 1.0


def test_ttft_maps_the_events_start_to_the_chunk_holding_it():
    """Chunk boundaries do not follow events: several events in one chunk, one event over two."""
    from autorr._llm import describe_llm_call, first_output_at

    role, text = _chat({"role": "assistant", "content": ""}), _chat({"content": "Hi"})
    body = b": keep-alive\n" + role + text  # a comment line heading the role delta's block
    assert body[first_output_at(body):].startswith(b"data: ") and first_output_at(body) == body.index(text)
    request = {"host": "127.0.0.1", "path": "/v1/chat/completions", "json": {}}
    cut = body.index(text) + 10  # the text event starts in the first chunk and ends in the second
    meta = describe_llm_call(request, {"status": 200}, body, [(cut, 500), (len(body) - cut, 900_000)], 1_000_000)
    assert meta["ttft_ms"] == 0.5
    cut = body.index(text)  # starts the second chunk
    meta = describe_llm_call(request, {"status": 200}, body, [(cut, 500), (len(body) - cut, 900_000)], 1_000_000)
    assert meta["ttft_ms"] == 900.0
    # A keep-alive comment within the text's own block is not its start.
    late = b": keep-alive\n" + text
    assert first_output_at(late) == len(b": keep-alive\n")


def test_no_ttft_without_output_nor_for_a_call_not_streamed():
    from autorr._llm import describe_llm_call

    request = {"host": "127.0.0.1", "path": "/v1/chat/completions", "json": {"model": "gpt-4o-mini"}}
    body, chunks = _timed(b": keep-alive\n\n", _chat({"role": "assistant", "content": ""}), b"data: [DONE]\n\n")
    meta = describe_llm_call(request, {"status": 200}, body, chunks, 300_000)
    assert "ttft_ms" not in meta and meta["first_chunk_ms"] == 1.0
    whole = b'{"choices": [{"message": {"content": "Hi"}}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}'
    meta = describe_llm_call(request, {"status": 200, "ttfb_us": 5000}, whole, None, 300_000)
    assert "ttft_ms" not in meta and "first_chunk_ms" not in meta and meta["output_tokens"] == 1


def test_the_scan_stops_at_the_first_token(monkeypatch):
    """It runs on the writer thread for every stream: the events after the first token are not read."""
    from autorr import _llm

    seen = []
    real = _llm._is_output
    monkeypatch.setattr(_llm, "_is_output", lambda data: seen.append(data) or real(data))
    body = _chat({"role": "assistant", "content": ""}) + b"".join(_chat({"content": f"w{i}"}) for i in range(1000))
    assert _llm.first_output_at(body) == len(_chat({"role": "assistant", "content": ""}))
    assert len(seen) == 2


def test_readers_use_the_stored_ttft_and_the_first_chunk_for_older_recordings():
    from autorr._analysis import RecordedStream, StreamChunk
    from autorr._llm import recorded_ttft_ms

    chunks = [(10, 2000), (10, 400_000)]
    assert recorded_ttft_ms({"ttft_ms": 400.0}, chunks) == 400.0
    assert recorded_ttft_ms({}, chunks) == 2.0  # recorded before autorr stored it
    assert recorded_ttft_ms({}, None) is None
    parts = [StreamChunk(0, 2000, b": keep-alive\n\n"), StreamChunk(1, 400_000, _chat({"content": "Hi"}))]
    stored, older = RecordedStream(1, "c", parts, {"ttft_ms": 400.0}), RecordedStream(1, "c", parts, {})
    assert (stored.ttft_ms, older.ttft_ms, older.first_chunk_ms) == (400.0, 2.0, 2.0)
    assert autorr.analyze_stream_timing(stored)["ttft_seconds"] == pytest.approx(0.4)
    # the chunks alone hold their bytes: the first token is found in them as the recorder finds it
    timing = autorr.analyze_stream_timing(parts)
    assert (timing["ttft_seconds"], timing["first_chunk_seconds"]) == pytest.approx((0.4, 0.002))
    assert autorr.analyze_stream_timing([(10, 2000), (10, 400_000)])["ttft_seconds"] == pytest.approx(0.002)
