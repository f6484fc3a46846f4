"""The fake LLM server is a test fixture for users too: its own behaviour, checked through
the real openai and anthropic SDKs over real sockets."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest

from autorr.testing import FakeLLMServer

openai = pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KEY = "sk-test-fake-server-0123456789"
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
ADD = {"type": "function", "function": {
    "name": "add", "parameters": {"type": "object", "properties": {
        "a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}}}
CLAUDE_WEATHER = {"name": "get_weather", "description": "Current weather in a city",
                  "input_schema": WEATHER["function"]["parameters"]}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture
def gpt(llm_server):
    return openai.OpenAI(base_url=llm_server.openai_base_url, api_key=KEY, max_retries=0)


@pytest.fixture
def claude(llm_server):
    return anthropic.Anthropic(base_url=llm_server.anthropic_base_url, api_key=KEY, max_retries=0)


# -- the wire, without an SDK ------------------------------------------------------------------


def test_requests_are_logged_with_headers_and_json(llm_server):
    r = httpx2.post(llm_server.openai_base_url + "/chat/completions", headers={"authorization": "Bearer k"},
                    json={"model": "m1", "messages": [{"role": "user", "content": "hello there"}]})
    assert r.status_code == 200 and r.json()["model"] == "m1"
    (seen,) = llm_server.requests
    assert seen.json["model"] == "m1" and seen.headers["authorization"] == "Bearer k"
    assert r.json()["usage"]["prompt_tokens"] == 2
    assert r.headers["x-request-id"].startswith("req_")
    # A body sent with transfer-encoding: chunked is read whole too.
    chunked = httpx2.post(llm_server.openai_base_url + "/embeddings", content=iter([b'{"input":', b' "a b"}']))
    assert chunked.status_code == 200 and llm_server.requests[-1].json == {"input": "a b"}
    assert llm_server.requests[-1].headers["transfer-encoding"] == "chunked"


def test_fail_next_and_unknown_routes(llm_server):
    llm_server.fail_next(503, times=2)
    url = llm_server.openai_base_url + "/embeddings"
    codes = [httpx2.post(url, json={"input": "x"}).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    missing = httpx2.post(llm_server.url + "/v2/nothing", json={})
    assert missing.status_code == 404 and "error" in missing.json()
    assert httpx2.get(url).status_code == 405 and httpx2.head(url).status_code == 405
    assert httpx2.post(url, content=b"{not json").status_code == 400
    assert [r.method for r in llm_server.requests][-3:] == ["GET", "HEAD", "POST"]  # every method is logged
    assert llm_server.hits == 7
    llm_server.reset()
    assert llm_server.hits == 0 and llm_server.requests == []


def test_replies_are_deterministic_without_nonce():
    with FakeLLMServer(nonce=False) as a, FakeLLMServer(nonce=False) as b:
        body = {"model": "m", "messages": [{"role": "user", "content": "same"}]}
        ra = httpx2.post(a.openai_base_url + "/chat/completions", json=body).json()
        rb = httpx2.post(b.openai_base_url + "/chat/completions", json=body).json()
        # Two turns that share the last user message are still two responses with two ids.
        later = dict(body, messages=body["messages"] + [{"role": "assistant", "content": "ok"},
                                                          {"role": "user", "content": "same"}])
        rc = httpx2.post(a.openai_base_url + "/chat/completions", json=later).json()
    assert ra == rb
    assert rc["id"] != ra["id"] and rc["choices"][0]["message"]["content"] == ra["choices"][0]["message"]["content"]


def test_ids_and_timestamps_are_fresh_with_nonce(gpt):
    first, second = (gpt.chat.completions.create(model="m", messages=ASK) for _ in range(2))
    assert first.id != second.id and first.id.startswith("chatcmpl-")
    assert first.choices[0].message.content == second.choices[0].message.content
    assert abs(first.created - time.time()) < 60


def test_streams_have_the_configured_gaps():
    with FakeLLMServer(chunk_delay=0.025) as server:
        started = time.perf_counter()
        arrivals = []
        with httpx2.stream("POST", server.openai_base_url + "/chat/completions",
                           json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}) as r:
            assert r.headers["transfer-encoding"] == "chunked"
            events = []
            for line in r.iter_lines():
                if line.startswith("data:"):
                    events.append(line)
                    arrivals.append(time.perf_counter() - started)
    assert events[-1] == "data: [DONE]" and len(events) == 11
    text = "".join(json.loads(e[5:])["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    assert len(text.split()) == 40
    assert arrivals[0] < 0.1  # the first event goes right after the headers
    assert arrivals[-1] - arrivals[0] >= 0.15  # then ~25 ms before each: loose on purpose


def test_module_entry_point_prints_its_url():
    proc = subprocess.Popen([sys.executable, "-m", "autorr.testing", "--port", "0", "--chunk-delay", "0.001"],
                            stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert httpx2.post(url + "/v1/embeddings", json={"input": "a"}).status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_stop_cuts_pooled_connections_and_is_idempotent():
    server = FakeLLMServer().start()
    client = openai.OpenAI(base_url=server.openai_base_url, api_key=KEY, max_retries=0)
    client.chat.completions.create(model="m", messages=ASK)  # leaves a keep-alive connection in the pool
    server.stop()
    server.stop()
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=ASK)
    assert server.hits == 1


def test_a_client_hanging_up_mid_stream_is_quiet(llm_server, capfd):
    llm_server.chunk_delay = 0.01
    with socket.create_connection(("127.0.0.1", llm_server.port)) as sock:
        body = json.dumps({"model": "m", "stream": True, "messages": ASK}).encode()
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                     b"content-length: %d\r\n\r\n%s" % (len(body), body))
        assert sock.recv(100).startswith(b"HTTP/1.1 200")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
    time.sleep(0.1)
    assert httpx2.post(llm_server.openai_base_url + "/embeddings", json={"input": "a"}).status_code == 200
    assert capfd.readouterr().err == ""


# -- OpenAI ---------------------------------------------------------------------------------


def test_chat_completion(gpt, llm_server):
    reply = gpt.chat.completions.create(model="gpt-4o-mini", messages=[
        {"role": "system", "content": "Be brief."}, *ASK])
    assert reply.object == "chat.completion" and reply.model == "gpt-4o-mini"
    assert reply.choices[0].finish_reason == "stop" and reply.choices[0].message.role == "assistant"
    text = reply.choices[0].message.content
    assert len(text.split()) == 40 == reply.usage.completion_tokens
    assert reply.usage.prompt_tokens == 8 and reply.usage.total_tokens == 48
    (seen,) = llm_server.requests
    assert seen.path == "/v1/chat/completions" and seen.json["model"] == "gpt-4o-mini"
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    other = gpt.chat.completions.create(model="m", messages=[{"role": "user", "content": "Another question"}])
    assert other.choices[0].message.content != text  # a changed prompt gives a changed reply


def test_reply_prefix_and_words_change_at_runtime(gpt, llm_server):
    llm_server.reply_prefix, llm_server.reply_words = "NEW ", 12
    text = gpt.chat.completions.create(model="m", messages=ASK).choices[0].message.content
    assert text.startswith("NEW ") and len(text.split()) == 13


def test_chat_stream_with_usage(gpt):
    plain = gpt.chat.completions.create(model="m", messages=ASK).choices[0].message.content
    chunks = list(gpt.chat.completions.create(model="m", messages=ASK, stream=True,
                                              stream_options={"include_usage": True}))
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(deltas) == 8 and "".join(deltas) == plain
    assert chunks[0].choices[0].delta.role == "assistant" and len({c.id for c in chunks}) == 1
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 40
    assert all(c.usage is None for c in chunks[:-1])


def test_tool_call_round_trip(gpt):
    tools = [WEATHER, ADD]
    first = gpt.chat.completions.create(model="m", messages=ASK, tools=tools)
    (call,) = first.choices[0].message.tool_calls
    assert first.choices[0].finish_reason == "tool_calls" and call.id.startswith("call_")
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert first.usage.completion_tokens == 12
    history = ASK + [{"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                     {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'}]
    final = gpt.chat.completions.create(model="m", messages=history, tools=tools)
    assert final.choices[0].finish_reason == "stop" and '{"temp_c": 21}' in final.choices[0].message.content
    chosen = gpt.chat.completions.create(model="m", messages=ASK, tools=tools,
                                         tool_choice={"type": "function", "function": {"name": "add"}})
    assert json.loads(chosen.choices[0].message.tool_calls[0].function.arguments) == {"a": 2, "b": 2}
    none = gpt.chat.completions.create(model="m", messages=ASK, tools=tools, tool_choice="none")
    assert none.choices[0].message.tool_calls is None


def test_streamed_tool_call_arrives_in_pieces(gpt):
    chunks = list(gpt.chat.completions.create(model="m", messages=ASK, tools=[WEATHER], stream=True))
    pieces = [c.choices[0].delta.tool_calls[0].function.arguments for c in chunks
              if c.choices and c.choices[0].delta.tool_calls]
    assert len([p for p in pieces if p]) > 2
    assert json.loads("".join(pieces)) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_chat_stream_helper(gpt):
    assert hasattr(gpt.chat.completions, "stream")  # openai 3.x keeps the helper
    with gpt.chat.completions.stream(model="m", messages=ASK) as stream:
        texts = [e.delta for e in stream if e.type == "content.delta" and e.delta]
        final = stream.get_final_completion()
    assert "".join(texts) == final.choices[0].message.content and len(texts) == 8
    with gpt.chat.completions.stream(model="m", messages=ASK, tools=[WEATHER]) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.tool_calls[0].function.name == "get_weather"


def test_responses_api(gpt, llm_server):
    plain = gpt.responses.create(model="gpt-4o-mini", input="Tell me about Paris", instructions="Be brief.")
    assert plain.object == "response" and plain.status == "completed" and plain.id.startswith("resp_")
    assert len(plain.output_text.split()) == 40
    assert (plain.usage.input_tokens, plain.usage.output_tokens, plain.usage.total_tokens) == (6, 40, 46)
    events = list(gpt.responses.create(model="gpt-4o-mini", input=[{"role": "user", "content": "Tell me about Paris"}],
                                       instructions="Be brief.", stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert kinds.count("response.output_text.delta") == 8
    for kind in ("response.output_item.added", "response.content_part.added", "response.output_text.done",
                 "response.content_part.done", "response.output_item.done"):
        assert kind in kinds
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == plain.output_text == events[-1].response.output_text
    with gpt.responses.stream(model="m", input="Tell me about Paris", instructions="Be brief.") as stream:
        assert stream.get_final_response().output_text == plain.output_text
    assert llm_server.requests[0].json["instructions"] == "Be brief."


def test_responses_tool_output_turn(gpt):
    reply = gpt.responses.create(model="m", input=[
        {"role": "user", "content": "weather in Paris?"},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny, 21C"}])
    assert "sunny, 21C" in reply.output_text


def test_embeddings(gpt):
    default = gpt.embeddings.create(model="text-embedding-3-small", input=["alpha", "beta", "alpha"])  # base64
    floats = gpt.embeddings.create(model="text-embedding-3-small", input="alpha", encoding_format="float")
    vectors = [d.embedding for d in default.data]
    assert len(vectors) == 3 and all(len(v) == 8 for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    assert vectors[0] == pytest.approx(floats.data[0].embedding, abs=1e-6)
    assert default.usage.prompt_tokens == 3 and default.model == "text-embedding-3-small"
    wide = gpt.embeddings.create(model="m", input="alpha", dimensions=64, encoding_format="float")
    assert len(wide.data[0].embedding) == 64


def test_async_client_streams(llm_server):
    llm_server.chunk_delay = 0.002

    async def go():
        client = openai.AsyncOpenAI(base_url=llm_server.openai_base_url, api_key=KEY, max_retries=0)
        async with client:
            stream = await client.chat.completions.create(model="m", messages=ASK, stream=True)
            return [c.choices[0].delta.content or "" async for c in stream if c.choices]

    text = "".join(asyncio.run(go()))
    assert len(text.split()) == 40


def test_failures_reach_the_sdk(gpt, claude, llm_server):
    llm_server.fail_next(500)
    with pytest.raises(openai.InternalServerError) as caught:
        gpt.chat.completions.create(model="m", messages=ASK)
    assert caught.value.status_code == 500
    llm_server.fail_next(429, body={"error": {"message": "slow down", "type": "rate_limit_error"}})
    with pytest.raises(anthropic.RateLimitError, match="slow down"):
        claude.messages.create(model="c", max_tokens=10, messages=ASK)
    llm_server.fail_next(503)
    retrying = openai.OpenAI(base_url=llm_server.openai_base_url, api_key=KEY, max_retries=1)
    assert retrying.chat.completions.create(model="m", messages=ASK).choices[0].message.content
    assert llm_server.hits == 4  # the SDK's retry is a request like any other


# -- Anthropic ------------------------------------------------------------------------------


def test_anthropic_message(claude, llm_server):
    reply = claude.messages.create(model="claude-x", max_tokens=100, system="Be brief.", messages=ASK)
    assert reply.id.startswith("msg_") and reply.type == "message" and reply.role == "assistant"
    assert reply.model == "claude-x" and reply.stop_reason == "end_turn"
    assert len(reply.content[0].text.split()) == 40 == reply.usage.output_tokens
    assert reply.usage.input_tokens == 8
    (seen,) = llm_server.requests
    assert seen.path == "/v1/messages" and seen.json["model"] == "claude-x"
    assert seen.headers["authorization"] == f"Bearer {KEY}"  # anthropic 2.x: a bearer token, not x-api-key


def test_anthropic_stream_events(claude):
    events = list(claude.messages.create(model="c", max_tokens=100, messages=ASK, stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]  # the SDK drops the ping
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [e.delta.text for e in events if e.type == "content_block_delta"]
    assert len(deltas) == 8 and len("".join(deltas).split()) == 40
    assert events[-2].delta.stop_reason == "end_turn" and events[-2].usage.output_tokens == 40


def test_anthropic_stream_helper(claude):
    plain = claude.messages.create(model="c", max_tokens=100, messages=ASK).content[0].text
    with claude.messages.stream(model="c", max_tokens=100, messages=ASK) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(pieces) == plain == final.content[0].text
    assert final.usage.output_tokens == 40 and final.stop_reason == "end_turn"


def test_anthropic_tool_use_round_trip(claude):
    first = claude.messages.create(model="c", max_tokens=100, messages=ASK, tools=[CLAUDE_WEATHER])
    (use,) = first.content
    assert first.stop_reason == "tool_use" and use.type == "tool_use" and use.id.startswith("toolu_")
    assert use.name == "get_weather" and use.input == {"city": "Paris"}
    history = ASK + [{"role": "assistant", "content": [use.model_dump(exclude_none=True)]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                                   "content": "cloudy, 19C"}]}]
    final = claude.messages.create(model="c", max_tokens=100, messages=history, tools=[CLAUDE_WEATHER])
    assert final.stop_reason == "end_turn" and "cloudy, 19C" in final.content[0].text
    with claude.messages.stream(model="c", max_tokens=100, messages=ASK, tools=[CLAUDE_WEATHER]) as stream:
        streamed = stream.get_final_message()  # input assembled from input_json_delta pieces
    assert streamed.content[0].input == {"city": "Paris"} and streamed.stop_reason == "tool_use"


# -- the example agents, as real processes -----------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTORR_", "OPENAI_", "ANTHROPIC_"))}
    return dict(env, **extra)


def test_openai_example_agent(llm_server):
    env = _env(OPENAI_BASE_URL=llm_server.openai_base_url, OPENAI_API_KEY=KEY)
    done = subprocess.run([sys.executable, str(EXAMPLES / "agent.py"), "--model", "gpt-test",
                           "What is the weather in Oslo?"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("turn 1: chatcmpl-") and 'get_weather({"city":"Oslo"})' in lines[0]
    assert lines[1].startswith('final answer (streamed): The tool said {"city": "Oslo"')
    assert lines[2].startswith("  tokens: ") and "chatcmpl-" in lines[2]
    assert lines[3].startswith("embedding: 8 dims") and lines[4].startswith("summary (resp_")
    assert {r.json.get("model") for r in llm_server.requests if r.path.endswith("completions")} == {"gpt-test"}
    assert [r.path for r in llm_server.requests] == ["/v1/chat/completions"] * 3 + ["/v1/embeddings", "/v1/responses"]


def test_anthropic_example_agent(llm_server):
    env = _env(ANTHROPIC_BASE_URL=llm_server.anthropic_base_url, ANTHROPIC_API_KEY=KEY)
    done = subprocess.run([sys.executable, str(EXAMPLES / "agent_anthropic.py")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("turn 1: msg_") and "get_weather({'city': 'Rome'})" in lines[0]
    assert lines[1].startswith('final answer (streamed): The tool said {"city": "Rome"')
    assert lines[2].startswith("  tokens: ") and "msg_" in lines[2]
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in llm_server.requests)
    assert [r.json["model"] for r in llm_server.requests] == ["claude-3-5-haiku-latest"] * 3
