"""Credentials in places no header or env variable names: what a recording file keeps of them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import ReplyHandler

from autorr._redact import MASK, Redactor
from autorr.store import Reader
from autorr.replay._fingerprint import SECRET_QUERY_PARAMS

AGENT = Path(__file__).parent.parent / "agents" / "secret_places_agent.py"
SLACK = "xoxb-1234567890-CheckpointNameTok"
PASSWORD = "ToolArgPw_7788xyz"
YAML_PASSWORD = "YamlPassw0rd_Qz81"
COOKIE = "HopCookieVal_0a9b8c7d6e"
CODE = "OAuthCode_4f3e2d1c0bZZ"


class _Login(ReplyHandler):
    """/login: a 302 that sets the session cookie and sends to an OAuth-style callback."""

    def do_GET(self):
        if self.path.startswith("/login"):
            headers = [("location", f"/callback?code={CODE}&state=s1"), ("set-cookie", f"sid={COOKIE}; Path=/")]
            status, body = 302, b""
        else:
            headers, status, body = [("content-type", "text/plain")], 200, b"signed in"
        self._send(status, body, headers)


@pytest.fixture
def login_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Login)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _everything_stored(recordings: Path) -> str:
    """Every file's bytes, and every row as the reader decodes it (payloads are zstd)."""
    parts = []
    for file in recordings.iterdir():
        parts.append(file.read_bytes().decode("latin-1"))
        if file.suffix == ".db":
            with Reader(file) as reader:
                parts.append(repr(reader.meta()) + repr(reader.checkpoints()))
                for event in reader.events(with_body=True):
                    parts.append(repr((event.summary, reader.request(event), event.response, event.body)))
    return "\n".join(parts)


def test_secrets_in_names_positional_arguments_config_files_and_redirects_stay_off_the_disk(
        tmp_path, recordings, login_server):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTORR_", "_AUTORR_"))}
    env.update(AUTORR_MODE="record", AUTORR_DIR=str(recordings), FAKE_SERVER_URL=login_server,
               PART_A=SLACK, PART_B=PASSWORD, PART_C=YAML_PASSWORD)
    done = subprocess.run([sys.executable, str(AGENT)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert f"password {PASSWORD} is fine" in done.stdout and "200" in done.stdout
    stored = _everything_stored(recordings)
    assert "TOOL __main__.login" in stored and "config.yaml" in stored and "/login" in stored
    assert [s for s in (SLACK, PASSWORD, YAML_PASSWORD, COOKIE, CODE) if s in stored] == []
    assert f"after-login-{MASK}" in stored and f"sid={MASK}" in stored and f"code={MASK}" in stored


def test_a_redirect_chain_loses_its_cookies_and_credential_parameters():
    from autorr.store._scrubbed import masked_response

    r = Redactor(environ={})
    response = {"status": 200, "headers": [("content-type", "text/plain")],
                "redirects": [{"status": 302, "method": "GET", "url": "http://h/login?token=Tok12345678",
                               "headers": [("Set-Cookie", "sid=abcdef123456; Path=/"),
                                           ("Location", "https://h/cb?code=Code12345678&state=1")]}],
                "final": ["GET", "https://h/cb?code=Code12345678&state=1"]}
    out = masked_response(r, response, SECRET_QUERY_PARAMS)
    hop = out["redirects"][0]
    assert hop["url"] == f"http://h/login?token={MASK}"
    assert hop["headers"] == [("Set-Cookie", f"sid={MASK}; Path=/"), ("Location", f"https://h/cb?code={MASK}&state=1")]
    assert out["final"] == ["GET", f"https://h/cb?code={MASK}&state=1"]
    assert r.scrub(b"abcdef123456 Code12345678 Tok12345678") == f"{MASK} {MASK} {MASK}".encode()  # learned


def test_a_masked_location_keeps_the_rest_of_the_url_as_it_was():
    """An agent that follows a replayed Location itself gets the recorded URL but for the
    credential: other parameters keep their encoding and order, the URL its fragment."""
    from autorr.store._scrubbed import masked_url

    r = Redactor(environ={})
    url = "https://app.example/cb?state=a%26b+c&code=Code12345678&next=%2Fhome#section-2"
    assert masked_url(r, url, SECRET_QUERY_PARAMS) == \
        f"https://app.example/cb?state=a%26b+c&code={MASK}&next=%2Fhome#section-2"
    assert masked_url(r, "https://u:Pw12345678@h.example/p?q=%20#f", SECRET_QUERY_PARAMS) == \
        f"https://u:{MASK}@h.example/p?q=%20#f"
    assert masked_url(r, "https://h.example/p?q=1#f", SECRET_QUERY_PARAMS) == "https://h.example/p?q=1#f"


LATE_KEY = "q7ZrX2mWv9LkT4pNc8HsB3dF"  # no known format, and first seen under no name
LATE_AGENT = """
import os, subprocess, urllib.request
from pathlib import Path

key = Path("key.txt").read_text().strip()             # stored before autorr knows it is a key
print(subprocess.run(["echo", "using", key], capture_output=True, text=True).stdout.strip())
request = urllib.request.Request(os.environ["FAKE_SERVER_URL"] + "/login", headers={"Authorization": "Bearer " + key})
print(urllib.request.urlopen(request).status)         # learned here, from its header
"""


def test_a_key_stored_before_it_was_learned_is_masked_when_the_recording_stops(tmp_path, recordings, login_server):
    (tmp_path / "agent.py").write_text(LATE_AGENT)
    (tmp_path / "key.txt").write_text(LATE_KEY + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTORR_", "_AUTORR_"))}
    env.update(AUTORR_MODE="record", AUTORR_DIR=str(recordings), FAKE_SERVER_URL=login_server)
    done = subprocess.run([sys.executable, "agent.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert f"using {LATE_KEY}" in done.stdout
    stored = _everything_stored(recordings)
    assert "key.txt" in stored and "echo" in stored
    assert LATE_KEY not in stored
    assert f"using {MASK}" in stored
