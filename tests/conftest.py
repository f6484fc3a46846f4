"""Shared fixtures: a real fake-LLM server on loopback, and agents run as real subprocesses."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import pytest

from autorr import _session
from autorr._patching import uninstall

AGENTS = Path(__file__).parent / "agents"
FAKE_KEY = "sk-test-DO-NOT-LEAK-0123456789abcdefXYZ"


@pytest.fixture
def llm_server():
    from autorr.testing import FakeLLMServer

    with FakeLLMServer(nonce=True) as server:
        yield server


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    path = tmp_path / "recordings"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def _clean_autorr_state(monkeypatch: pytest.MonkeyPatch):
    for name in list(os.environ):
        if name.startswith(("AUTORR_", "_AUTORR_")):
            monkeypatch.delenv(name)
    yield
    _session.set_default(None)
    uninstall()


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AUTORR_", "_AUTORR_", "OPENAI_", "ANTHROPIC_"))}
    env.update(extra)
    return env


@pytest.fixture
def run_agent(recordings: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``tests/agents/<name>`` in a fresh interpreter: the zero-code path."""

    def run(name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
            server: Any = None, url: str | None = None) -> subprocess.CompletedProcess[str]:
        extra = {"AUTORR_DIR": str(recordings)}
        base = url or (server.url if server else "http://127.0.0.1:9")
        extra.update(OPENAI_BASE_URL=base + "/v1", ANTHROPIC_BASE_URL=base, FAKE_SERVER_URL=base)
        extra.update(env or {})
        if extra.get("AUTORR_MODE") != "replay":
            extra.setdefault("OPENAI_API_KEY", FAKE_KEY)
            extra.setdefault("ANTHROPIC_API_KEY", FAKE_KEY)
        return subprocess.run([sys.executable, str(AGENTS / name), *args], env=_clean_env(extra),
                              capture_output=True, text=True, timeout=timeout, check=False)

    return run


class ReplyHandler(BaseHTTPRequestHandler):
    """A test server's handler: HTTP/1.1, quiet, and `_send` for a whole answer."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _EchoHandler(ReplyHandler):
    """/echo (JSON back, with a nonce), /sse (chunked events; {"drop": k} breaks the
    connection after k), /gzip, /redirect/N (N hops to /a), /status/N, anything else."""

    hits: list[str] = []

    def do_GET(self):
        self.hits.append(self.path)
        if self.path.startswith("/gzip"):
            body = gzip.compress(json.dumps({"zipped": True, "nonce": time.time()}).encode())
            self._send(200, body, [("content-type", "application/json"), ("content-encoding", "gzip")])
        elif self.path.startswith("/redirect"):  # /redirect/N: N hops, then /a
            left = int(self.path.rsplit("/", 1)[1])
            target = f"/redirect/{left - 1}" if left > 1 else "/a?from=redirect"
            self._send(302 if left % 2 else 307, b"", [("location", target)])
        elif self.path.startswith("/status/"):
            self._send(int(self.path.rsplit("/", 1)[1]), b'{"error": "nope"}', [("content-type", "application/json")])
        else:
            self._send(200, json.dumps({"path": self.path, "nonce": time.time()}).encode(),
                       [("content-type", "application/json"), ("set-cookie", "sid=abc123456789")])

    def do_POST(self):
        self.hits.append(self.path)
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"text": raw.decode("utf-8", "replace")}
        if self.path == "/sse":
            # {"gzip": true}: one gzip stream, flushed after each event (as a compressing proxy does)
            packer = zlib.compressobj(wbits=zlib.MAX_WBITS | 16) if body.get("gzip") else None
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            if packer is not None:
                self.send_header("content-encoding", "gzip")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for i in range(len(body["pieces"]) if body.get("pieces") else body.get("n", 5)):
                if i == body.get("drop"):  # {"drop": k}: the connection breaks after k events
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if i:
                    time.sleep(body.get("gap", 0.0))
                event = {"i": i, "nonce": time.time()}
                if body.get("pieces"):  # {"pieces": [...]}: OpenAI-style text deltas, one per event
                    event = {"choices": [{"index": 0, "delta": {"content": body["pieces"][i]}}]}
                data = f"data: {json.dumps(event)}\n\n".encode()
                if packer is not None:
                    data = packer.compress(data) + packer.flush(zlib.Z_SYNC_FLUSH)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            if packer is not None:
                tail = packer.flush()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(tail), tail))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._send(200, json.dumps({"echo": body, "nonce": time.time()}).encode(),
                       [("content-type", "application/json")])


@pytest.fixture
def echo_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    srv.daemon_threads = True
    _EchoHandler.hits = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", srv
    srv.shutdown()
    srv.server_close()


def conversation(client: Any, turns: int, checkpoints: dict[int, str] | None = None, repeat: int = 6) -> list[str]:
    """A growing openai-SDK conversation, every other turn streamed; a checkpoint after the turns named."""
    import autorr

    history, replies = [], []
    for turn in range(turns):
        history.append({"role": "user", "content": f"Step {turn}: " + f"check item {turn} of the plan. " * repeat})
        if turn % 2:
            text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
                model="gpt-4o-mini", messages=history, stream=True) if c.choices)
        else:
            text = client.chat.completions.create(model="gpt-4o-mini", messages=history).choices[0].message.content
        history.append({"role": "assistant", "content": text})
        replies.append(text)
        if checkpoints and turn in checkpoints:
            autorr.checkpoint(checkpoints[turn], state={"turn": turn})
    return replies


def kill_after_calls(command: list[str], env: dict[str, str]) -> list[str]:
    """Run an agent until it prints "CALLS DONE", give the writer its bound, then SIGKILL it."""
    import signal

    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("CALLS DONE"):
                break
        time.sleep(0.5)  # the writer commits a returned call within tens of ms: room for a loaded machine
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    return lines
