"""`FakeLLMServer`: a local, threaded HTTP/1.1 server speaking the OpenAI and Anthropic APIs.

Streams go out as one HTTP chunk per SSE event, flushed at once (Nagle off): the first
event right after the headers, then ``chunk_delay`` seconds before each of the others.
That is the timing a recorder must not disturb, and each event arrives as its own read.
"""

from __future__ import annotations

import json
import socket
import socketserver
import sys
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

# Error types by status, as the APIs name them; unknown statuses fall back by class.
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 405: "invalid_request_error", 409: "conflict_error",
                429: "rate_limit_error", 529: "overloaded_error"}


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server saw it; ``path`` keeps its query string, header names are lower case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any


def _error(status: int, message: str, kind: str | None = None) -> bytes:
    # Anthropic's shape ({"type": "error", "error": {...}}) holds OpenAI's ({"error": {...}}),
    # so one body parses in both SDKs.
    kind = kind or _ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    return json.dumps({"type": "error", "error": {"message": message, "type": kind, "param": None,
                                                  "code": None}}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDKs reuse pooled connections
    disable_nagle_algorithm = True  # each SSE event leaves as soon as it is written
    server: _HTTPServer
    _raw = b""  # this request's body, for a request id that nonce=False keeps stable

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by design
        pass

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.server.untrack(self.connection)

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:
            # A client hanging up mid-stream, or stop() cutting a pooled connection: normal here.
            self.close_connection = True

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self._id_headers()
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _id_headers(self) -> None:
        seed = f"{self.command} {self.path} " + self._raw.decode("latin-1")
        request_id = self.server.owner._replies.ident("req_", seed)
        self.send_header("x-request-id", request_id)  # what the openai SDK exposes as _request_id
        self.send_header("request-id", request_id)  # and the anthropic SDK

    def _serve(self) -> None:
        owner = self.server.owner
        raw = self._raw = self._read_body()  # always drained, so a keep-alive connection stays in step
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        # Logged before answering, so a test can assert on what the client sent even if it failed.
        owner._log(ReceivedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                   raw, payload))
        failure = owner._take_failure()
        if failure is not None:
            self._reply(*failure)
            return
        if self.command != "POST":
            self._reply(405, _error(405, f"{self.command} is not supported; use POST"))
            return
        path = self.path.split("?", 1)[0]
        route = ROUTES.get(path)
        if route is None:
            self._reply(404, _error(404, f"no route {path}"))
            return
        if not isinstance(payload, dict):
            self._reply(400, _error(400, "the body must be a JSON object"))
            return
        try:
            kind, result = route(owner._replies, payload)
        except Exception as exc:  # a body of an unexpected shape: answer, don't drop the socket
            self._reply(400, _error(400, f"the fake server could not read this request: {exc!r}"))
            return
        if kind == "json":
            self._reply(200, json.dumps(result).encode())
        else:
            self._stream(result, owner)

    def _stream(self, events: list[bytes], owner: FakeLLMServer) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self._id_headers()
        self.end_headers()
        for i, event in enumerate(events):
            if i and owner.chunk_delay:  # read each time: tests may change it mid-run
                time.sleep(owner.chunk_delay)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
        self.wfile.write(b"0\r\n\r\n")

    do_POST = do_GET = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64  # many agents (threads, processes) may connect at once
    owner: FakeLLMServer

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on a box without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def track(self, sock: socket.socket) -> None:
        with self._open_lock:
            self._open.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(sock)

    def close_connections(self) -> None:
        """Cut keep-alive connections, so a pooled client cannot reach a stopped server."""
        with self._open_lock:
            open_now, self._open = self._open, set()
        for sock in open_now:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a real bug in the fake: show it
            super().handle_error(request, client_address)


class FakeLLMServer:
    """OpenAI + Anthropic compatible fake on 127.0.0.1; deterministic replies, real sockets.

    ``nonce=True`` (the default) gives every response fresh ids and timestamps, as real
    servers do, so a replay that returns the recorded bytes is told apart from a new answer.
    ``chunk_delay``, ``reply_words`` and ``reply_prefix`` may be changed while it runs.
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
    def start(self) -> FakeLLMServer:
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
        thread, self._thread = self._thread, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
            httpd.close_connections()
        if thread is not None:
            thread.join(5)

    def __enter__(self) -> FakeLLMServer:
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
        return self.url  # the anthropic SDK appends /v1/messages itself

    # -- what the tests look at -------------------------------------------------------------
    @property
    def hits(self) -> int:
        return len(self.requests)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def fail_next(self, status: int = 500, times: int = 1, body: Any = None) -> None:
        """The next ``times`` requests get ``status`` with a JSON error body (``body`` if given:
        bytes or str as they are, anything else as JSON)."""
        if body is None:
            raw = _error(status, f"injected failure (HTTP {status})")
        elif isinstance(body, (bytes, str)):
            raw = body.encode() if isinstance(body, str) else body
        else:
            raw = json.dumps(body).encode()
        with self._lock:
            self._failures += [(status, raw)] * times

    def _take_failure(self) -> tuple[int, bytes] | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _log(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.requests.append(request)
