"""`FakeLLMServer`: a local, threaded HTTP/1.1 server speaking the OpenAI and Anthropic APIs.

Streams go out as one HTTP chunk per SSE event, flushed at once (Nagle off), with
``chunk_delay`` seconds between events: the timing a recorder must not disturb.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from . import _anthropic, _openai
from ._replies import Replies

__all__ = ["FakeLLMServer", "ReceivedRequest"]

ROUTES: dict[str, Callable[[Replies, dict[str, Any]], tuple[str, Any]]] = {
    "/v1/chat/completions": _openai.chat,
    "/v1/responses": _openai.responses,
    "/v1/embeddings": _openai.embeddings,
    "/v1/messages": _anthropic.messages,
}


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any


def _error(status: int, message: str, kind: str = "invalid_request_error") -> bytes:
    return json.dumps({"type": "error", "error": {"message": message, "type": kind, "code": None}}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # each SSE event leaves as soon as it is written
    server: "_HTTPServer"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by design
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-request-id", f"req_{time.monotonic_ns()}")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        owner = self.server.owner
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        path = self.path.split("?", 1)[0]
        owner._log(ReceivedRequest("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, raw, payload))
        failure = owner._take_failure()
        if failure is not None:
            status, body = failure
            self._reply(status, body)
            return
        route = ROUTES.get(path)
        if route is None:
            self._reply(404, _error(404, f"no route {path}", "not_found_error"))
            return
        if not isinstance(payload, dict):
            self._reply(400, _error(400, "the body must be a JSON object"))
            return
        kind, result = route(owner._replies, payload)
        if kind == "json":
            self._reply(200, json.dumps(result).encode())
        else:
            self._stream(result, owner)

    def _stream(self, events: list[bytes], owner: "FakeLLMServer") -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        try:
            for i, event in enumerate(events):
                if i and owner.chunk_delay:
                    time.sleep(owner.chunk_delay)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client stopped reading: fine

    def _not_allowed(self) -> None:
        self._reply(405, _error(405, f"{self.command} is not supported; use POST"))

    do_GET = do_PUT = do_DELETE = do_PATCH = _not_allowed

    def do_HEAD(self) -> None:
        self.send_response(405)
        self.send_header("content-length", "0")
        self.end_headers()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "FakeLLMServer"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-stream is normal here


class FakeLLMServer:
    """OpenAI + Anthropic compatible fake on 127.0.0.1; deterministic replies, real sockets.

    ``nonce=True`` (the default) gives every response fresh ids and timestamps, as real
    servers do, so a replay that returns the recorded bytes is told apart from a new answer.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, chunk_delay: float = 0.0,
                 reply_words: int = 40, reply_prefix: str = "", nonce: bool = True) -> None:
        self.host, self.port = host, port
        self.chunk_delay = chunk_delay
        self.reply_words = reply_words
        self.reply_prefix = reply_prefix
        self.nonce = nonce
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._failures: list[tuple[int, bytes]] = []
        self._replies = Replies(self)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> "FakeLLMServer":
        if self._httpd is None:
            self._httpd = _HTTPServer((self.host, self.port), _Handler)
            self._httpd.owner = self
            self.port = self._httpd.server_address[1]
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="autorr-fake-llm", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def __enter__(self) -> "FakeLLMServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    # -- what the tests look at -------------------------------------------------------------
    @property
    def hits(self) -> int:
        return len(self.requests)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def fail_next(self, status: int = 500, times: int = 1, body: Any = None) -> None:
        """The next ``times`` requests get ``status`` with a JSON error body."""
        raw = json.dumps(body).encode() if body is not None else _error(status, "injected failure", "server_error")
        with self._lock:
            self._failures += [(status, raw)] * times

    def _take_failure(self) -> tuple[int, bytes] | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _log(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.requests.append(request)
