"""Matching a request against the recorded ones as they were stored: redacted.

A recording fingerprints each request as it was sent but stores it redacted. When a
secret reached a request through an answer (a model echoing a key from a tool's
output), replay serves that answer as stored, with the secret masked, and the agent's
next request re-sends the mask where the recorded one had the secret: the same run,
another fingerprint. On a miss, the request is redacted with the recording's rules
and compared with the stored requests, redacted again the same way (a mask holds no
secret, so that changes nothing in them). Nothing here runs on a hit.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

import orjson

from .._events import CallRequest
from .._redact import MASK
from ._fingerprint import _canonical_bytes, _digest, canonical_json

__all__ = ["RedactedIndex", "redacted_view", "same_checkpoint"]

# Stored requests rebuilt to index one endpoint, at most: a miss in a long recording
# of a growing history must not rebuild every turn (hundreds of MB at 1000 turns).
MAX_INDEXED_BYTES = 64 << 20


def _scrub_query(redactor: Any, query: Any) -> list[tuple[str, str]]:
    return [(str(k), redactor.scrub_text(str(v))) for k, v in query or ()]


def _canonical(parsed: Any, body: Any, content_type: str) -> bytes:
    return canonical_json(parsed) if parsed is not None else _canonical_bytes(body or b"", content_type or "")


def _key(redactor: Any, version: str, method: str, host: str, path: str, query: Any, canonical: bytes) -> str:
    return _digest(method, host, path, _scrub_query(redactor, query), redactor.scrub(canonical), version)


class RedactedIndex:
    """Fingerprints of the recorded requests of an endpoint, keyed by their redacted form."""

    def __init__(self, chain: list[tuple[Any, dict]], redactor: Any, version: str) -> None:
        self._chain, self._redactor, self._version = chain, redactor, version
        self._by_call: dict[tuple[str, str], dict[str, str]] = {}  # (kind, summary) -> {redacted key: fingerprint}
        self._lock = threading.Lock()

    def find(self, kind: str, request: CallRequest) -> str | None:
        """The recorded fingerprint of a request equal to ``request`` once both are redacted."""
        index = self._index(kind, request.summary)
        if not index:
            return None
        key = _key(self._redactor, self._version, request.method, request.host, request.path, request.query,
                   _canonical(request.json, request.body, request.content_type))
        return index.get(key)

    def _index(self, kind: str, summary: str) -> dict[str, str]:
        with self._lock:
            found = self._by_call.get((kind, summary))
            if found is None:
                found = self._by_call[(kind, summary)] = self._build(kind, summary)
            return found

    def _build(self, kind: str, summary: str) -> dict[str, str]:
        index: dict[str, str] = {}
        budget = MAX_INDEXED_BYTES
        for reader, _ in self._chain:
            for event in reader.events(kind=kind):
                if event.summary != summary or not event.fingerprint:
                    continue
                try:
                    stored = reader.request(event)
                    canonical = _canonical(stored.get("json"), stored.get("body"), stored.get("content_type", ""))
                    key = _key(self._redactor, self._version, stored.get("method", ""), stored.get("host", ""),
                               stored.get("path", ""), stored.get("query"), canonical)
                except Exception:  # a request stored in a shape this cannot read: not a candidate
                    continue
                index.setdefault(key, event.fingerprint)
                budget -= len(canonical)
                if budget < 0:
                    return index
        return index


def redacted_view(view: dict[str, Any], redactor: Any) -> dict[str, Any]:
    """A live request's view (as `_matchers` compares it) redacted like the stored ones:
    the diff of a miss then points at what differs, and prints no secret."""
    out = dict(view, query=_scrub_query(redactor, view.get("query")))
    if out.get("path"):  # a token in a path segment ("/bot<token>/sendMessage")
        out["path"] = redactor.scrub_text(out["path"])
    if out.get("json") is not None:
        out["json"] = orjson.loads(redactor.scrub(orjson.dumps(out["json"])))
    elif out.get("body"):
        out["body"] = redactor.scrub(out["body"])
    return out


def same_checkpoint(stored: str, name: str, redactor: Callable[[], Any]) -> bool:
    """Whether the checkpoint stored as ``stored`` is the one the agent calls ``name``:
    names are stored redacted ("after-<token>" as "after-[REDACTED]"). ``redactor``
    gives the recording's redaction, asked for only when a name holds a mask."""
    return stored == name or (MASK in stored and stored == redactor().scrub_text(name))
