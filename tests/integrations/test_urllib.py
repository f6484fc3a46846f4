"""urllib.request, at AbstractHTTPHandler.do_open: record against a real local server,
replay with it stopped, and compare what the caller sees."""

from __future__ import annotations

import gzip
import io
import json
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.client import HTTPMessage, HTTPResponse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import autorr
from autorr.integrations import _http

from conftest import _clean_env

BASIC = "Basic dXNlcjpzM2NyZXQtcGFzcy05ODc2"  # user:s3cret-pass-9876
API_KEY = "qk-live-1234567890abcdef"


class _Handler(BaseHTTPRequestHandler):
    """/json (a nonce: a replayed body is the recorded one), /gzip, /echo (POST, Content-Length
    or chunked), /sse (events, optional gap), /gated (waits for the client between its
    first and last event), /drop/close|reset, /redirect/N, /status/N."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _events(self, n, gap=0.0, gate=None):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(n):
            if i and gap:
                time.sleep(gap)
            if i == n - 1 and gate is not None:
                gate.wait(10)  # a client that buffered the whole body would still be waiting
                self.server.order.append("server sends the last event")
            self._chunk(f"data: {json.dumps({'i': i, 'nonce': time.time()})}\n\n".encode())
        self._chunk(b"")

    def do_GET(self):
        path = self.path
        if path.startswith("/redirect/"):
            left = int(path.rsplit("/", 1)[1])
            target = f"/redirect/{left - 1}" if left > 1 else "/json?from=redirect"
            self._send(301 if left % 2 else 302, b"moved", [("Location", target)])
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), b'{"error": "nope"}',
                       [("Content-Type", "application/json"), ("X-Trace", "t-1")])
        elif path == "/gzip":
            body = gzip.compress(json.dumps({"zipped": True, "nonce": time.time()}).encode())
            self._send(200, body, [("Content-Type", "application/json"), ("Content-Encoding", "gzip")])
        elif path == "/gated":
            self._events(3, gate=self.server.gate)
        elif path.startswith("/drop/"):
            self._events_then_break(path.rsplit("/", 1)[1])
        else:
            body = json.dumps({"path": path, "nonce": time.time(), "auth": self.headers.get("Authorization")},
                              indent=1).encode()
            self._send(200, body, [("Content-Type", "application/json")])

    def _events_then_break(self, how):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(2):
            self._chunk(f"data: {i}\n\n".encode())
        if how == "reset":  # RST instead of FIN, once the client has read both events
            self.server.gate.wait(10)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            self.connection.shutdown(socket.SHUT_RDWR)
        self.connection.close()
        self.close_connection = True

    def do_POST(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                raw += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        else:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/sse"):
            spec = json.loads(raw)
            self._events(spec["n"], gap=spec.get("gap", 0.0))
        else:
            self._send(200, json.dumps({"got": raw.decode("latin-1"), "nonce": time.time(),
                                        "framing": "chunked" if "Transfer-Encoding" in self.headers else "length"}
                                       ).encode(), [("Content-Type", "application/json")])


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.gate, srv.order = threading.Event(), []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", srv
    _stop(srv)


def _stop(srv):
    srv.gate.set()
    srv.shutdown()
    srv.server_close()


def _seen(r):
    """What a caller can see of a response, body read in every way urllib allows."""
    head = (isinstance(r, HTTPResponse), r.status, r.reason, r.code, r.msg, r.getcode(), r.geturl(),
            r.url, r.length, isinstance(r.headers, HTTPMessage), r.info() is r.headers, r.headers.items(),
            r.getheader("content-type"), r.getheaders(), r.closed)
    buffer = bytearray(4)
    body = [r.read(3), r.read1(5), bytes(buffer[:r.readinto(buffer)]), r.readline(), *r.readlines(1), *r]
    return head, body, r.read(), r.length, r.closed, r.isclosed()


def _post(url, data, **headers):
    return urllib.request.Request(url, data=data, headers=headers, method="POST")


def _agent(url):
    out = []
    with urllib.request.urlopen(url + "/json?x=1") as r:
        out.append(_seen(r))
    for data in (b'{"q": 1}', io.BytesIO(b"file body"), iter([b"it", b"er", b"able"])):
        with urllib.request.urlopen(_post(url + "/echo", data, **{"Content-Type": "text/plain"})) as r:
            out.append((r.status, r.headers.items(), r.read()))
    with urllib.request.urlopen(url + "/json?x=2") as r:
        out.append(json.loads(r.read()))  # read whole, at once
    return out


def test_get_and_post_record_then_replay_offline(server, recordings):
    url, srv = server
    with autorr.recording(recordings / "u.db") as rec:
        live = _agent(url)
    assert rec.manifest.total_events == 5
    assert [json.loads(body)["got"] for _, _, body in live[1:4]] == ['{"q": 1}', "file body", "iterable"]
    assert [json.loads(body)["framing"] for _, _, body in live[2:4]] == ["chunked", "chunked"]  # as urllib sends them
    _stop(srv)
    with autorr.replaying(recordings / "u.db") as player:
        replayed = _agent(url)
    assert replayed == live
    assert player.statistics()["matched"] == 5


def test_the_replayed_response_is_an_http_response(server, recordings):
    url, srv = server

    def agent(offline=False):
        r = urllib.request.urlopen(url + "/json")
        assert isinstance(r, HTTPResponse) and isinstance(r, io.BufferedIOBase)
        if offline:
            with pytest.raises(io.UnsupportedOperation):  # no socket behind it
                r.fileno()
        with r as same:
            assert same is r
            text = json.load(io.TextIOWrapper(r, encoding="utf-8"))
        assert r.closed and r.read() == b""
        return text

    with autorr.recording(recordings / "u.db") as rec:
        live = agent()
    assert rec.manifest.total_events == 1
    _stop(srv)
    with autorr.replaying(recordings / "u.db"):
        assert agent(offline=True) == live


def test_a_gzip_body_is_stored_decoded_and_replayed_encoded(server, recordings):
    url, srv = server

    def agent():
        request = urllib.request.Request(url + "/gzip", headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request) as r:  # urllib hands the body over as sent
            return r.headers["Content-Encoding"], gzip.decompress(r.read())

    with autorr.recording(recordings / "u.db"):
        live = agent()
    (event,) = autorr.get_recorded_events(recordings / "u.db")
    assert event.outputs["body"] == {"zipped": True, "nonce": json.loads(live[1])["nonce"]}
    _stop(srv)
    with autorr.replaying(recordings / "u.db"):
        assert agent() == live


def test_sse_is_read_line_by_line_while_recording(server, recordings):
    url, srv = server

    def lines(r, gate=None):
        got = []
        for line in r:
            if line.strip():
                got.append(json.loads(line[5:])["i"])
                if gate is not None and len(got) == 1:
                    srv.order.append("client has the first event")
                    gate.set()
        return got

    with autorr.recording(recordings / "u.db") as rec:
        with urllib.request.urlopen(url + "/gated") as r:
            live = lines(r, srv.gate)
    assert live == [0, 1, 2]
    assert srv.order == ["client has the first event", "server sends the last event"]
    assert rec.manifest.total_events == 1 and len(autorr.get_recorded_streams(recordings / "u.db")) == 1
    _stop(srv)
    with autorr.replaying(recordings / "u.db"):
        with urllib.request.urlopen(url + "/gated") as r:
            assert lines(r) == live


def test_redirects_are_followed_hop_by_hop(server, recordings):
    url, srv = server

    def agent():
        with urllib.request.urlopen(url + "/redirect/2") as r:
            return r.status, r.geturl(), r.read()

    with autorr.recording(recordings / "u.db") as rec:
        live = agent()
    assert live[1].endswith("/json?from=redirect") and rec.manifest.total_events == 3
    assert [e.outputs["status"] for e in autorr.get_recorded_events(recordings / "u.db")] == [302, 301, 200]
    _stop(srv)
    with autorr.replaying(recordings / "u.db") as player:
        assert agent() == live
    assert player.statistics()["matched"] == 3


def test_http_error_404_replays_its_code_body_and_headers(server, recordings):
    url, srv = server

    def agent():
        opener = urllib.request.build_opener()  # a custom opener goes through do_open too
        try:
            opener.open(url + "/status/404")
        except urllib.error.HTTPError as e:
            return e.code, e.reason, str(e), e.geturl(), e.headers.items(), e.read()
        raise AssertionError("no HTTPError")

    with autorr.recording(recordings / "u.db") as rec:
        live = agent()
    assert live[0] == 404 and live[-1] == b'{"error": "nope"}' and rec.manifest.total_events == 1
    _stop(srv)
    with autorr.replaying(recordings / "u.db"):
        assert agent() == live


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_replays_as_the_same_url_error(recordings):
    url = f"http://127.0.0.1:{_closed_port()}/nothing"

    def agent():
        try:
            urllib.request.urlopen(url, timeout=5)
        except urllib.error.URLError as e:
            return type(e), str(e), type(e.reason), e.reason.errno, e.reason.strerror, str(e.reason)
        raise AssertionError("no URLError")

    with autorr.recording(recordings / "u.db") as rec:
        live = agent()
    assert live[0] is urllib.error.URLError and live[2] is ConnectionRefusedError
    assert rec.manifest.total_events == 1
    with autorr.replaying(recordings / "u.db") as player:
        assert agent() == live
    assert player.statistics()["matched"] == 1


@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_body_broken_midway_replays_its_lines_then_its_error(server, recordings, how):
    url, srv = server

    def agent(gate=None):
        got = []
        try:
            with urllib.request.urlopen(f"{url}/drop/{how}") as r:
                if how == "close":  # read whole: http.client notices the missing last chunk
                    got.append(r.read())
                while True:
                    line = r.readline()
                    if not line:
                        break
                    got.append(line)
                    if len(got) == 4 and gate is not None:
                        gate.set()
        except Exception as exc:
            got.append(type(exc).__name__)
        return got

    with autorr.recording(recordings / "u.db") as rec:
        live = agent(srv.gate)
    assert live == (["IncompleteRead"] if how == "close" else
                    [b"data: 0\n", b"\n", b"data: 1\n", b"\n", "ConnectionResetError"])
    assert rec.manifest.total_events == 1
    _stop(srv)
    with autorr.replaying(recordings / "u.db"):
        assert agent() == live


def test_a_changed_request_fails_strict_replay_loudly(server, recordings):
    url, srv = server

    def ask(city):
        try:
            return urllib.request.urlopen(_post(url + "/echo", json.dumps({"city": city}).encode(),
                                                **{"Content-Type": "application/json"})).read()
        except Exception as exc:  # what agent frameworks do: a mismatch must not end here
            return f"swallowed {type(exc).__name__}"

    with autorr.recording(recordings / "u.db"):
        assert b"Paris" in ask("Paris")
    _stop(srv)
    with autorr.replaying(recordings / "u.db"):
        with pytest.raises(autorr.StrictReplayMismatch, match=r"\$\.city: recorded 'Paris', now 'Rome'"):
            ask("Rome")


@pytest.mark.parametrize("timing", ["preserve", "fast"])
def test_preserve_timing_waits_before_each_recorded_event(server, recordings, monkeypatch, timing):
    url, srv = server
    with autorr.recording(recordings / "u.db"):
        with urllib.request.urlopen(_post(url + "/sse", b'{"n": 3, "gap": 0.05}')) as r:
            live = [line for line in r if line.strip()]
    _stop(srv)
    seen, sleep = [], time.sleep

    def spy(delay):
        seen.append("wait")
        sleep(delay)

    monkeypatch.setattr(_http.time, "sleep", spy)
    with autorr.replaying(recordings / "u.db", timing=timing):
        with urllib.request.urlopen(_post(url + "/sse", b'{"n": 3, "gap": 0.05}')) as r:
            replayed = []
            for line in r:
                if line.strip():
                    replayed.append(line)
                    seen.append("event")
    monkeypatch.undo()
    assert replayed == live
    between = " ".join(seen).split("event")[1:-1]
    if timing == "preserve":  # the 2nd and 3rd events each waited for their recorded time
        assert len(between) == 2 and all("wait" in waits for waits in between), seen
    else:
        assert seen == ["event"] * 3


def test_credentials_stay_off_the_disk_and_replay_needs_none(server, recordings):
    url, srv = server

    def agent(auth, key):
        with urllib.request.urlopen(urllib.request.Request(f"{url}/json?api_key={key}&q=1",
                                                           headers={"Authorization": auth})) as r:
            return r.status, json.loads(r.read())["path"].split("&")[1]

    with autorr.recording(recordings / "u.db") as rec:
        live = agent(BASIC, API_KEY)
    assert rec.manifest.total_events == 1
    (event,) = autorr.get_recorded_events(recordings / "u.db")
    stored = repr(event) + "".join(p.read_bytes().decode("latin-1") for p in recordings.glob("u.db*"))
    for secret in (BASIC.split()[1], API_KEY):
        assert secret not in stored
    _stop(srv)
    with autorr.replaying(recordings / "u.db"):
        assert agent("Basic b3RoZXI6b3RoZXI=", "another-key") == live


_SCRIPT = """
import json, os, urllib.request
url = os.environ["SERVER_URL"]
print(json.loads(urllib.request.urlopen(url + "/json?q=script").read())["nonce"])
request = urllib.request.Request(url + "/echo", data=b"from the script", method="POST")
print(urllib.request.urlopen(request).read().decode())
with urllib.request.urlopen(request.full_url.replace("/echo", "/sse"), data=b'{"n": 2}') as r:
    print([line for line in r if line.strip()])
"""


def test_zero_code_record_then_replay_in_a_child_process(server, recordings, tmp_path):
    url, srv = server
    script = tmp_path / "script.py"
    script.write_text(_SCRIPT)

    def run(mode):
        env = _clean_env({"AUTORR_MODE": mode, "AUTORR_DIR": str(recordings), "SERVER_URL": url})
        return subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120,
                              check=False)

    recorded = run("record")
    assert recorded.returncode == 0, recorded.stderr
    (path,) = recordings.glob("*.db")
    assert len(autorr.get_recorded_events(path)) == 3
    _stop(srv)
    replayed = run("replay")
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == recorded.stdout
