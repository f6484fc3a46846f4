"""LLM metadata from servers that are not autorr's fake: Groq, Gemini's native API, Anthropic
prompt caching, odd shapes and errors, each served as such a server sends it."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import autorr
from autorr._llm import cost_of

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")
httpx2 = pytest.importorskip("httpx2")


class _Canned(BaseHTTPRequestHandler):
    """Serves ``server.replies[path without query]``: (status, content type, [body parts]);
    a number among the parts is a pause, in seconds, before the next one is sent."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        status, content_type, parts = self.server.replies[self.path.split("?")[0]]
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for part in parts:
            if isinstance(part, (int, float)):
                time.sleep(part)
                continue
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


@pytest.fixture
def canned():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    server.daemon_threads = True
    server.replies = {}
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _sse(*events: dict, kind: bool = False, done: bool = True) -> list[bytes]:
    parts = [(f"event: {e['type']}\n" if kind else "").encode() + b"data: " + json.dumps(e).encode() + b"\n\n"
             for e in events]
    return parts + ([b"data: [DONE]\n\n"] if done else [])


def _only_event(path):
    (event,) = autorr.get_recorded_events(path)
    return event


def test_groq_usage_under_x_groq_is_counted(canned, recordings):
    server, url = canned
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "llama-3.1-8b-instant",
             "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}]}
    last = dict(chunk, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}],
                x_groq={"id": "req_1", "usage": {"prompt_tokens": 13, "completion_tokens": 7, "total_tokens": 20}})
    server.replies["/openai/v1/chat/completions"] = (200, "text/event-stream", _sse(chunk, last))
    client = openai.OpenAI(base_url=url + "/openai/v1", api_key="gsk-x")
    with autorr.recording(recordings / "groq.db"):
        text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="llama-3.1-8b-instant", stream=True, messages=[{"role": "user", "content": "hi"}]))
    meta = _only_event(recordings / "groq.db").metadata
    assert text == "hi" and (meta["input_tokens"], meta["output_tokens"]) == (13, 7)
    assert meta["model_served"] == "llama-3.1-8b-instant" and meta["cost_usd"] is None  # not in the table


def test_anthropic_cache_reads_and_writes_are_priced_on_top_of_input_tokens(canned, recordings):
    server, url = canned
    usage = {"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 10}
    server.replies["/v1/messages"] = (200, "text/event-stream; charset=utf-8", _sse(
        {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [],
                                              "model": "claude-sonnet-4-5-20250929", "stop_reason": None,
                                              "stop_sequence": None, "usage": usage}},
        {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Bonjour"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": 42}},
        {"type": "message_stop"}, kind=True, done=False))
    client = anthropic.Anthropic(base_url=url, api_key="sk-ant-x")
    with autorr.recording(recordings / "cache.db"):
        with client.messages.stream(model="claude-sonnet-4-5", max_tokens=64,
                                    messages=[{"role": "user", "content": "hi"}]) as stream:
            final = stream.get_final_message()
    meta = _only_event(recordings / "cache.db").metadata
    assert meta["input_tokens"] == final.usage.input_tokens == 25  # as the API reports it
    assert (meta["cached_tokens"], meta["cache_creation_tokens"], meta["output_tokens"]) == (5, 10, 42)
    # $3 a million input tokens, $0.30 cached, $3.75 written to the cache, $15 output
    assert meta["cost_usd"] == pytest.approx((25 * 3 + 5 * 0.3 + 10 * 3.75 + 42 * 15) / 1e6)
    assert meta["cost_usd"] == cost_of("claude-sonnet-4-5", 40, 42, 5, 10)


def test_gemini_native_stream_is_an_llm_call(canned, recordings):
    server, url = canned
    path = "/v1beta/models/gemini-2.5-flash:streamGenerateContent"

    def chunk(text, usage):
        return {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}],
                "usageMetadata": usage, "modelVersion": "gemini-2.5-flash-001", "responseId": "r1"}

    server.replies[path] = (200, "text/event-stream", [
        b"data: " + json.dumps(chunk("Hel", {"promptTokenCount": 8, "totalTokenCount": 8})).encode() + b"\r\n\r\n",
        b"data: " + json.dumps(chunk("lo", {"promptTokenCount": 8, "candidatesTokenCount": 2,
                                            "thoughtsTokenCount": 30, "totalTokenCount": 40})).encode() + b"\r\n\r\n"])
    with autorr.recording(recordings / "gemini.db"):
        with httpx2.Client() as client:
            with client.stream("POST", url + path + "?alt=sse", json={"contents": [{"parts": [{"text": "hi"}]}]}) as r:
                body = r.read()
    assert b"Hel" in body
    event = _only_event(recordings / "gemini.db")
    meta = event.metadata
    assert event.event_type == "llm_call" and meta["provider"] == "google"
    assert (meta["model"], meta["model_served"]) == ("gemini-2.5-flash", "gemini-2.5-flash-001")
    assert (meta["input_tokens"], meta["output_tokens"]) == (8, 32)  # thinking is billed as output


def test_an_odd_shape_loses_only_what_it_garbles(canned, recordings):
    """A server's unexpected types (choices of strings, a bool count, a model that is an
    object) cost those fields, not the call's other metadata, and show/analyze still work."""
    server, url = canned
    reply = {"id": "x", "model": ["not", "a", "name"], "choices": ["hello"],
             "usage": {"prompt_tokens": 9, "completion_tokens": True}}
    server.replies["/v1/chat/completions"] = (200, "application/json", [json.dumps(reply).encode()])
    with autorr.recording(recordings / "odd.db"):
        with httpx2.Client() as client:
            for model in ("gpt-4o-mini", {"name": "gpt-4o-mini"}):
                client.post(url + "/v1/chat/completions", json={"model": model, "messages": []}).raise_for_status()
    first, second = (e.metadata for e in autorr.get_recorded_events(recordings / "odd.db"))
    assert (first["provider"], first["input_tokens"], first["http_status"]) == ("openai", 9, 200)
    assert "output_tokens" not in first and first["cost_usd"] == cost_of("gpt-4o-mini", 9, None)
    assert second["provider"] == "openai" and second["model"] is None and second["cost_usd"] is None
    assert autorr.analyze_performance(recordings / "odd.db")["call_count"] == 2


def test_an_error_event_mid_stream_is_replayed_and_described(canned, recordings):
    server, url = canned
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "qwen2.5-7b",
             "choices": [{"index": 0, "delta": {"content": "par"}, "finish_reason": None}]}
    error = b'event: error\ndata: {"error": {"message": "upstream died", "type": "server_error", "code": 502}}\n\n'
    server.replies["/v1/chat/completions"] = (200, "text/event-stream", _sse(chunk, done=False) + [error])
    client = openai.OpenAI(base_url=url + "/v1", api_key="sk-x")

    def run() -> tuple[list[str], str]:
        seen = []
        with pytest.raises(openai.APIError) as caught:
            for c in client.chat.completions.create(model="qwen2.5-7b", stream=True,
                                                    messages=[{"role": "user", "content": "hi"}]):
                seen.append(c.choices[0].delta.content)
        return seen, str(caught.value)

    with autorr.recording(recordings / "err.db"):
        recorded = run()
    server.shutdown()
    with autorr.replaying(recordings / "err.db"):
        assert run() == recorded == (["par"], "upstream died")
    meta = _only_event(recordings / "err.db").metadata
    assert meta["api_error"] == {"type": "server_error", "code": 502, "message": "upstream died"}


# The server sends what it sends before the model has written anything, pauses WAIT
# seconds, then streams: the time to first token is at least WAIT, the first chunk before it.
WAIT = 0.4


def _assert_first_token_after_the_wait(path):
    from autorr._inspect import describe

    (event,) = autorr.get_recorded_events(path)
    meta = event.metadata
    assert meta["first_chunk_ms"] < WAIT * 1000 <= meta["ttft_ms"]
    assert meta["tokens_per_second"] > 0
    (row,) = describe(path, path.parent)["events"]
    assert row["ttft_ms"] >= WAIT * 1000  # autorr show
    (stream,) = autorr.get_recorded_streams(path)
    assert stream.first_chunk_ms < WAIT * 1000 <= stream.ttft_ms
    for given in (stream, stream.chunks):
        timing = autorr.analyze_stream_timing(given)
        assert timing["first_chunk_seconds"] < WAIT <= timing["ttft_seconds"] <= timing["total_seconds"]


def test_ttft_waits_for_the_first_text_not_openrouters_keep_alive(canned, recordings):
    server, url = canned
    base = {"id": "gen-1", "object": "chat.completion.chunk", "created": 1, "model": "openai/gpt-4o-mini"}
    role = dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
    words = [dict(base, choices=[{"index": 0, "delta": {"content": w}, "finish_reason": None}])
             for w in ("Hello", " there")]
    last = dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}],
                usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})
    server.replies["/api/v1/chat/completions"] = (200, "text/event-stream", [
        b": OPENROUTER PROCESSING\n\n", *_sse(role, done=False), WAIT, *_sse(*words, last)])
    client = openai.OpenAI(base_url=url + "/api/v1", api_key="sk-or-x")
    with autorr.recording(recordings / "keepalive.db"):
        text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="openai/gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "hi"}]) if c.choices)
    assert text == "Hello there"
    _assert_first_token_after_the_wait(recordings / "keepalive.db")


def test_ttft_waits_for_anthropics_first_text_delta_not_message_start_or_ping(canned, recordings):
    server, url = canned
    events = [
        {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [],
                                              "model": "claude-3-5-haiku-20241022", "stop_reason": None,
                                              "stop_sequence": None, "usage": {"input_tokens": 9, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Bon"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "jour"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": 2}},
        {"type": "message_stop"}]
    parts = _sse(*events, kind=True, done=False)
    server.replies["/v1/messages"] = (200, "text/event-stream", parts[:3] + [WAIT] + parts[3:])
    client = anthropic.Anthropic(base_url=url, api_key="sk-ant-x")
    with autorr.recording(recordings / "claude.db"):
        with client.messages.stream(model="claude-3-5-haiku-latest", max_tokens=64,
                                    messages=[{"role": "user", "content": "hi"}]) as stream:
            assert stream.get_final_text() == "Bonjour"
    _assert_first_token_after_the_wait(recordings / "claude.db")
