"""autorr's own log lines and stderr messages are scrubbed like a recording."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys

import autorr
from autorr import _alerts
from autorr._log_redact import scrubbed

TOKEN = "5512345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"


def test_a_warning_about_a_call_does_not_print_its_credentials():
    """In a fresh process, through the handler of last resort (what a user sees on stderr)."""
    code = ("import logging, autorr._session\n"
            "logging.getLogger('autorr').warning('autorr: failed to record %s: %s',"
            f" 'POST api.telegram.org/bot{TOKEN}/sendMessage', 'boom at https://h/x?key=Opaque12345&q=1')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTORR_")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert result.stderr.strip() == ("autorr: failed to record POST api.telegram.org/bot[REDACTED]/sendMessage: "
                                     "boom at https://h/x?key=[REDACTED]&q=1")


def test_a_dead_webhook_is_logged_without_its_secret_url(caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hook = f"http://127.0.0.1:{port}/hooks?token=Opaque67890abc"
    autorr.configure_alerts({"webhook_url": hook, "timeout_seconds": 2})
    try:
        assert _alerts.notify("storage_threshold", "r1", "too big")
        assert _alerts.flush(15)
    finally:
        autorr.configure_alerts(None)
    assert "alert webhook" in caplog.text and "Opaque67890abc" not in caplog.text
    assert f"127.0.0.1:{port}/hooks?token=[REDACTED]" in caplog.text


def test_lines_printed_directly_are_scrubbed_too():
    assert scrubbed(f"autorr: error: replay could not start: bad URL https://x/bot{TOKEN}/y") == \
        "autorr: error: replay could not start: bad URL https://x/bot[REDACTED]/y"
    assert logging.getLogger("autorr").filters  # installed with the session module
