"""httpx and httpx2 against what servers that are not autorr's fake do: redirect an SDK's
POST elsewhere, compress with an encoding the client cannot undo."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import ThreadingHTTPServer

import pytest

import autorr
from conftest import ReplyHandler

openai = pytest.importorskip("openai")
httpx2 = pytest.importorskip("httpx2")
zstandard = pytest.importorskip("zstandard")


def _completion(text: str) -> bytes:
    return json.dumps({"id": "chatcmpl-" + uuid.uuid4().hex, "object": "chat.completion", "created": 1,
                       "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
                                                  "message": {"role": "assistant", "content": text}}]}).encode()


class _Handler(ReplyHandler):
    """/v1/chat/completions answers 307 to /v2/chat/completions (a proxy that moved);
    /zstd answers a zstd-compressed JSON body, whatever the client accepts."""


    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path.startswith("/v1/"):
            self._send(307, b"", [("location", "/v2/chat/completions")])
        else:
            self._send(200, _completion("moved " + uuid.uuid4().hex), [("content-type", "application/json")])

    def do_GET(self):
        body = zstandard.ZstdCompressor().compress(json.dumps({"nonce": uuid.uuid4().hex}).encode())
        self._send(200, body, [("content-type", "application/json"), ("content-encoding", "zstd")])


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", srv
    srv.shutdown()
    srv.server_close()


def test_an_sdk_call_redirected_replays_as_the_sdk_asked_for_it(server, recordings):
    # openai's with_raw_response is a header on the request; the SDK reads it back off
    # `response.request`, which after a redirect is the request the client followed with.
    url, srv = server

    def agent():
        client = openai.OpenAI(base_url=url + "/v1", api_key="sk-x", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(model="m", messages=[{"role": "user", "content": "hi"}])
        sent = raw.http_request
        return (raw.parse().choices[0].message.content, str(sent.url), sent.headers.get("x-stainless-raw-response"),
                sent.headers.get("content-type"), [str(hop.url) for hop in raw.http_response.history])

    with autorr.recording(recordings / "run.db"):
        live = agent()
    assert live[1].endswith("/v2/chat/completions") and live[2] == "true"
    srv.shutdown()
    with autorr.replaying(recordings / "run.db"):
        assert agent() == live


@pytest.mark.parametrize("libname", ["httpx", "httpx2"])
def test_an_encoding_the_library_does_not_undo_replays_as_it_arrived(libname, server, recordings):
    # autorr can undo zstd (zstandard); httpx2 only with backports.zstd. Replay must not
    # hand over a decoded body where the recorded run got the compressed one, or vice versa.
    lib = pytest.importorskip(libname)
    url, srv = server

    def agent():
        with lib.Client() as client:
            r = client.get(url + "/zstd")
            return r.content, r.headers.get("content-encoding")

    with autorr.recording(recordings / "run.db"):
        live = agent()
    srv.shutdown()
    with autorr.replaying(recordings / "run.db"):
        assert agent()[0] == live[0]
