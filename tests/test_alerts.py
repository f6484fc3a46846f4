"""Webhook alerts, received by a real HTTP server on loopback."""

from __future__ import annotations

import json
import queue
import sqlite3
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import autorr
from autorr import _alerts


class Webhook:
    def __init__(self) -> None:
        self.received: "queue.Queue[dict]" = queue.Queue()
        self.release = threading.Event()
        self.release.set()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                hook.release.wait(30)  # a slow webhook, when the test holds it
                hook.received.put({"headers": dict(self.headers), **json.loads(body)})
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/autorr"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, timeout: float = 15) -> dict:
        return self.received.get(timeout=timeout)

    def nothing_more(self) -> bool:
        assert _alerts.flush(15)
        return self.received.empty()


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.release.set()
    autorr.configure_alerts(None)
    hook.server.shutdown()
    hook.server.server_close()


def test_writer_failure_posts_one_alert_per_recording(webhook, echo_server, recordings):
    import httpx2

    url, _ = echo_server
    autorr.configure_alerts({"webhook_url": webhook.url, "headers": {"authorization": "Bearer hook-token"}})
    with autorr.recording(recordings / "broken.db") as recorder:
        httpx2.get(url + "/fine")
        recorder.flush()
        # Every later insert fails, as on a full disk: the writer gives up on those events.
        with sqlite3.connect(recordings / "broken.db") as db:
            db.execute("CREATE TRIGGER full BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk full'); END")
        httpx2.get(url + "/lost")
        recorder.flush()
        alert = webhook.next()
        httpx2.get(url + "/lost-too")
        recorder.flush()
    assert alert["alert"] == "recording_failure" and alert["recording_id"] == "broken"
    assert "disk full" in alert["message"] and alert["text"] == alert["message"]
    assert alert["headers"]["Authorization"] == "Bearer hook-token"
    assert alert["headers"]["Content-Type"] == "application/json"
    assert webhook.nothing_more()  # once per recording, however many events are lost
    calls = [e.call for e in autorr.get_recorded_events(recordings / "broken.db")]
    assert calls == ["GET 127.0.0.1/fine"]  # the webhook's own POST is never recorded


def _record(url, recordings, name):
    import httpx2

    with autorr.recording(recordings / f"{name}.db"):
        return [httpx2.get(f"{url}/page/{i}").json() for i in range(4)]


def test_replay_mismatch_rate_above_threshold(webhook, echo_server, recordings):
    import httpx2

    url, _ = echo_server
    _record(url, recordings, "drift")
    autorr.configure_alerts({"webhook_url": webhook.url, "mismatch_rate_threshold": 0.25,
                             "on_recording_failure": False})
    with autorr.replaying(recordings / "drift.db", mode="warn"):
        for path in ("/page/0", "/page/1", "/changed/2", "/changed/3"):
            httpx2.get(url + path)
    alert = webhook.next()
    assert alert["alert"] == "replay_mismatch_rate" and alert["recording_id"] == "drift"
    assert alert["details"]["mismatch_rate"] == 0.5 and alert["details"]["total"] == 4
    assert alert["details"]["mode"] == "warn" and "50%" in alert["message"]
    with autorr.replaying(recordings / "drift.db", mode="warn"):
        httpx2.get(url + "/changed/0")
    assert webhook.nothing_more()  # already reported for this recording


def test_replay_below_threshold_sends_nothing(webhook, echo_server, recordings):
    import httpx2

    url, _ = echo_server
    _record(url, recordings, "steady")
    autorr.configure_alerts({"webhook_url": webhook.url, "mismatch_rate_threshold": 0.3})
    with autorr.replaying(recordings / "steady.db", mode="warn"):
        for path in ("/page/0", "/page/1", "/page/2", "/other"):
            httpx2.get(url + path)
    assert webhook.nothing_more()


def test_mismatch_rate_mid_run_waits_for_enough_calls(webhook, echo_server, recordings):
    import httpx2

    url, _ = echo_server
    _record(url, recordings, "midrun")
    autorr.configure_alerts({"webhook_url": webhook.url, "mismatch_rate_threshold": 0.1, "mismatch_min_calls": 3})
    with autorr.replaying(recordings / "midrun.db", mode="warn") as player:
        httpx2.get(url + "/moved/0")
        _alerts.on_mismatch(player)  # what the player reports after each mismatch
        assert webhook.nothing_more()  # one call is too few to speak of a rate
        httpx2.get(url + "/page/1")
        httpx2.get(url + "/moved/2")
        _alerts.on_mismatch(player)
        alert = webhook.next()  # while the replay is still running
    assert alert["recording_id"] == "midrun" and alert["details"]["mismatch_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert webhook.nothing_more()  # and not again when it ends


def test_storage_threshold_while_recording_and_at_stop(webhook, echo_server, recordings):
    import httpx2

    url, _ = echo_server
    autorr.configure_alerts({"webhook_url": webhook.url, "storage_mb_threshold": 0.01,
                             "check_interval_seconds": 0.05})
    with autorr.recording(recordings / "big.db") as recorder:
        for i in range(3):
            httpx2.post(url + "/echo", json={"i": i, "text": f"{i} " * 2000})
        recorder.flush()
        alert = webhook.next()  # the watcher saw it before the recording ended
    assert alert["alert"] == "storage_threshold" and alert["recording_id"] == "big"
    assert alert["details"]["size_mb"] > 0.01 and alert["details"]["threshold_mb"] == 0.01
    autorr.configure_alerts({"webhook_url": webhook.url, "storage_mb_threshold": 0.01,
                             "check_interval_seconds": 3600})
    with autorr.recording(recordings / "big2.db"):
        httpx2.post(url + "/echo", json={"text": "x " * 20000})
    assert webhook.next()["recording_id"] == "big2"  # checked when the recording stopped


def test_a_slow_webhook_never_blocks_the_agent(webhook):
    webhook.release.clear()
    autorr.configure_alerts({"webhook_url": webhook.url})
    # Returns while the webhook is still holding the request.
    assert _alerts.notify("recording_failure", "slow", "lost events")
    assert webhook.received.empty()
    webhook.release.set()
    assert webhook.next()["recording_id"] == "slow"


def test_a_dead_webhook_is_logged_not_raised(caplog):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    autorr.configure_alerts({"webhook_url": f"http://127.0.0.1:{port}/", "timeout_seconds": 2})
    try:
        assert _alerts.notify("storage_threshold", "r1", "too big")
        assert _alerts.flush(15)
    finally:
        autorr.configure_alerts(None)
    assert "alert webhook" in caplog.text and "failed" in caplog.text


def test_zero_code_replay_alerts_at_exit(webhook, echo_server, recordings):
    url, _ = echo_server
    _record(url, recordings, "zero")
    agent = ("import autorr, httpx2, sys\n"
             f"autorr.configure_alerts({{'webhook_url': {webhook.url!r}, 'mismatch_rate_threshold': 0.1}})\n"
             f"httpx2.get({url!r} + '/page/0'); httpx2.get({url!r} + '/elsewhere')\n")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("AUTORR_")}
    env.update(AUTORR_MODE="replay", AUTORR_REPLAY_MODE="warn", AUTORR_DIR=str(recordings), AUTORR_RECORDING="zero")
    result = subprocess.run([sys.executable, "-c", agent], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    alert = webhook.next()
    assert alert["alert"] == "replay_mismatch_rate" and alert["details"]["mismatched"] == 1


@pytest.mark.parametrize("settings, message", [
    ({"webhook": "http://x"}, "unknown key 'webhook'; use: webhook_url"),
    ({"webhook_url": "ftp://x/"}, "webhook_url='ftp://x/' is not valid"),
    ({"webhook_url": "http://x/", "mismatch_rate_threshold": 10}, "mismatch_rate_threshold=10 is not valid"),
    ({"webhook_url": "http://x/", "storage_mb_threshold": -1}, "storage_mb_threshold=-1 is not valid"),
    ({"webhook_url": "http://x/", "storage_mb_threshold": "500"}, "storage_mb_threshold='500' is not valid"),
    ({"webhook_url": "http://x/", "on_recording_failure": "yes"}, "on_recording_failure='yes' is not valid"),
    ({"webhook_url": "http://x/", "mismatch_min_calls": 0.5}, "mismatch_min_calls=0.5 is not valid"),
    ({"webhook_url": "http://x/", "headers": {"x": 1}}, "headers={'x': 1} is not valid"),
    (["webhook_url"], "expected a mapping"),
    # NaN passed `value <= 0`: a threshold nothing is ever above, a watcher waiting NaN seconds.
    ({"webhook_url": "http://x/", "storage_mb_threshold": float("nan")}, "storage_mb_threshold=nan is not valid"),
    ({"webhook_url": "http://x/", "check_interval_seconds": float("nan")}, "check_interval_seconds=nan is not"),
    ({"webhook_url": "http://x/", "storage_mb_threshold": float("inf")}, "storage_mb_threshold=inf is not valid"),
    # Was "webhook_url=None is not valid", read as if the threshold were wrong.
    ({"mismatch_rate_threshold": 0.5}, "webhook_url is required"),
])
def test_bad_settings_name_the_key(settings, message):
    with pytest.raises(autorr.ConfigError, match="configure_alerts: " + message.replace("[", r"\[")
                       .replace("(", r"\(").replace("?", r"\?")):
        autorr.configure_alerts(settings)


def test_settings_in_force_and_off():
    config = autorr.configure_alerts({"webhook_url": "https://hooks.example/x", "storage_mb_threshold": 500})
    assert config["storage_mb_threshold"] == 500.0 and config["on_recording_failure"] is True
    assert config["mismatch_rate_threshold"] is None
    assert autorr.configure_alerts({"webhook_url": "https://hooks.example/x", "enabled": False}) == {}
    assert autorr.configure_alerts(None) == {}
    assert not _alerts.notify("recording_failure", "r")
