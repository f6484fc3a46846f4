"""The fake LLM server is a test fixture for users too: its own behaviour, checked."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx2
import pytest

from autorr.testing import FakeLLMServer


def test_requests_are_logged_with_headers_and_json(llm_server):
    r = httpx2.post(llm_server.openai_base_url + "/chat/completions", headers={"authorization": "Bearer k"},
                    json={"model": "m1", "messages": [{"role": "user", "content": "hello there"}]})
    assert r.status_code == 200 and r.json()["model"] == "m1"
    (seen,) = llm_server.requests
    assert seen.json["model"] == "m1" and seen.headers["authorization"] == "Bearer k"
    assert r.json()["usage"]["prompt_tokens"] == 2


def test_fail_next_and_unknown_routes(llm_server):
    llm_server.fail_next(503, times=2)
    url = llm_server.openai_base_url + "/embeddings"
    codes = [httpx2.post(url, json={"input": "x"}).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    assert httpx2.post(llm_server.url + "/v2/nothing", json={}).status_code == 404
    assert httpx2.get(url).status_code == 405


def test_replies_are_deterministic_without_nonce():
    with FakeLLMServer(nonce=False) as a, FakeLLMServer(nonce=False) as b:
        body = {"model": "m", "messages": [{"role": "user", "content": "same"}]}
        ra = httpx2.post(a.openai_base_url + "/chat/completions", json=body).json()
        rb = httpx2.post(b.openai_base_url + "/chat/completions", json=body).json()
    assert ra == rb


def test_streams_have_the_configured_gaps():
    with FakeLLMServer(chunk_delay=0.02) as server:
        with httpx2.stream("POST", server.openai_base_url + "/chat/completions",
                           json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]}) as r:
            events = [line for line in r.iter_lines() if line.startswith("data:")]
    assert events[-1] == "data: [DONE]" and len(events) == 11
    text = "".join(json.loads(e[5:])["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    assert len(text.split()) == 40


def test_module_entry_point_prints_its_url():
    proc = subprocess.Popen([sys.executable, "-m", "autorr.testing", "--port", "0"], stdout=subprocess.PIPE,
                            text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert httpx2.post(url + "/v1/embeddings", json={"input": "a"}).status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


@pytest.mark.parametrize("path, body", [
    ("/v1/messages", {"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
    ("/v1/responses", {"model": "m", "input": "hi"}),
])
def test_other_apis_answer(llm_server, path, body):
    assert httpx2.post(llm_server.url + path, json=body).status_code == 200
