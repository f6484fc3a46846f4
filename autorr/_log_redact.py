"""autorr's own log lines, scrubbed like a recording before any handler sees them.

A warning names the call it is about ("failed to record POST api.telegram.org/bot<token>/
sendMessage", a subprocess's argv, an alert webhook's URL, an exception's text that
quotes a URL with ``?key=``): stderr and log files are kept and shared as a recording
is, so what a recording would mask is masked there too, with the active recording's
redactor (which knows the credentials seen so far), else the default rules.
"""

from __future__ import annotations

import logging
import re
from typing import Any

__all__ = ["install", "scrubbed"]

_URL = re.compile(r"[a-z][a-z0-9+.\-]*://[^\s'\"<>]+", re.I)
_default: Any = None


def _redactor() -> Any:
    global _default
    from . import _session

    session = _session.active()
    redactor = getattr(session, "redactor", None)
    if redactor is None and hasattr(session, "recording_redactor"):
        redactor = session.recording_redactor()
    if redactor is None:
        if _default is None:
            from ._config import load_config
            from ._redact import Redactor

            config = load_config()
            _default = Redactor(config.redaction_level, patterns=config.redact_sensitive_data)
        redactor = _default
    return redactor


def scrubbed(text: str) -> str:
    """A line autorr prints itself (not through logging), scrubbed the same way."""
    try:
        return _scrub_line(text, _redactor())
    except Exception:  # noqa: BLE001 - what it says must still be said
        return text


def _scrub_line(text: str, redactor: Any) -> str:
    """``text`` scrubbed, and the credential query parameters of the URLs in it masked."""
    from .replay._fingerprint import SECRET_QUERY_PARAMS
    from .store._scrubbed import masked_url

    text = redactor.scrub_text(text)
    if "://" in text and "?" in text:
        text = _URL.sub(lambda m: masked_url(redactor, m.group(0), SECRET_QUERY_PARAMS), text)
    return text


class _Scrub(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
            clean = _scrub_line(text, _redactor())
        except Exception:  # noqa: BLE001 - a log line must never raise into the program
            return True
        if clean != text:
            record.msg, record.args = clean, ()
        return True


_filter = _Scrub()


def install() -> None:
    """Scrub what the ``autorr`` loggers emit (a filter on a logger sees only its own
    records, so each of them gets one)."""
    for name in ("autorr", "autorr.alerts"):
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
