"""How the writer turns one finished call into its row: parse a growing history by its
new part, add metadata, fingerprint and number it, scrub, and split it into blobs.

A mixin of `Writer` (the state it keeps between events is the writer's: the
conversations seen, occurrence counts, the scrubbed-text cache), kept apart so that each
module reads in one sitting.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from .._events import CallRequest, Event, text_response
from .._redact_stream import scrub_deltas
from ..replay._fingerprint import SECRET_QUERY_PARAMS, canonical_fingerprint, exact_key, request_fingerprint
from ._codec import BlobSink, headers_ref, split_json
from ._growth import Conversations, Growth
from ._scrubbed import masked_response, scrubbed_jsons, scrubbed_labels

__all__ = ["EventRows"]

log = logging.getLogger("autorr")


class EventRows:
    """`Writer`'s per-event encoding (see the module docstring)."""

    redactor: Any
    enrich: Any
    fingerprint_version: str
    models: set[str]
    chunks_written: int
    _chains: dict
    _occurrences: dict[tuple[str, str], int]
    _conversations: dict[tuple[str, str], Conversations]

    def _event_row(self, event: Event, sink: BlobSink) -> tuple:
        request = event.request
        grown = self._grow(request) if isinstance(request, CallRequest) else None
        if self.enrich is not None:
            try:
                self.enrich(event)
            except Exception as exc:  # metadata is a nicety; the event itself must land
                log.debug("autorr: no metadata for %s: %s", event.summary, exc)
        if isinstance(request, CallRequest):
            self._identify(event, request, grown)
            request = self._request_dict(request, sink, grown)
        body_ref = None
        chunks = event.chunks
        response = event.response
        if response is not None:
            response = text_response(response)
            response = masked_response(self.redactor, response, SECRET_QUERY_PARAMS)
        # The request first: the credentials its body carries are learned there, and a
        # server or a child that echoes them back has them masked in the body.
        request_text, response_text, error_text, meta_text = scrubbed_jsons(
            self.redactor, request, response, event.error, event.meta or None)
        if event.body is not None:
            body, chunks = self.redactor.scrub_chunked(event.body, chunks)
            body, chunks = scrub_deltas(self.redactor, body, chunks)  # a secret streamed in pieces
            body_ref = sink.put(body, scrub=False)
            self.chunks_written += len(chunks or ())
        return (
            event.seq, event.kind, event.fingerprint, event.occurrence, event.started_at, event.duration_us,
            event.status, self._summary(event.summary), request_text, response_text, body_ref,
            None if chunks is None else orjson.dumps(chunks).decode(), error_text, meta_text,
            scrubbed_labels(self.redactor, event.labels, self._chains) if event.labels else None,
            event.pid, event.exact,
        )

    def _summary(self, summary: str) -> str:
        # It holds the path (a command line, a URL path's token); scrubbed once per endpoint.
        key = ("summary", summary, self.redactor.learned)
        text = self._chains.get(key)
        if text is None:
            text = self._chains[key] = self.redactor.scrub_text(summary)
        return text

    def _grow(self, request: CallRequest) -> Growth | None:
        """Parse a JSON body that extends an earlier one by its new part (see `_growth`)."""
        body = request.body
        if request.parsed or not body or body[:1] != b"{" or "json" not in request.content_type:
            return None
        conversations = self._conversations.get((request.host, request.path))
        if conversations is None:
            if len(self._conversations) > 256:  # many endpoints: a cache, not a registry
                self._conversations.clear()
            conversations = self._conversations[(request.host, request.path)] = Conversations()
        try:
            grown = conversations.parse(body)
        except Exception as exc:  # an optimisation: the body is parsed whole instead
            log.debug("autorr: %s parsed whole: %s", request.summary, exc)
            conversations.clear()
            return None
        if grown is not None:
            request.json = grown.value
        return grown

    def _identify(self, event: Event, request: CallRequest, grown: Growth | None = None) -> None:
        """Fingerprint and occurrence number, here rather than on the agent's thread.

        Occurrences count in the order calls finish; only calls with identical requests
        running at the same time can tell, and their answers are interchangeable. Idempotent,
        so a retried transaction does not count an event twice.
        """
        if event.fingerprint is None:
            event.fingerprint = (request_fingerprint(request, self.fingerprint_version) if grown is None else
                                 canonical_fingerprint(request, grown.canonical, self.fingerprint_version))
        event.exact = exact_key(request)
        key = (event.kind, event.fingerprint)
        if event.occurrence is None:
            event.occurrence = self._occurrences.get(key, 0)
        self._occurrences[key] = max(self._occurrences.get(key, 0), event.occurrence + 1)
        model = event.meta.get("model")
        if isinstance(model, str):
            self.models.add(model)

    def _request_dict(self, req: CallRequest, sink: BlobSink, grown: Growth | None = None) -> dict[str, Any]:
        # Before the body and the response: the credentials it learns are masked in those too.
        url, query = self.redactor.url(req.url, req.query, SECRET_QUERY_PARAMS)
        if req.host == "" and req.json is not None:  # argv splits `--token X`: learn X first
            self.redactor.scrub(orjson.dumps(req.json))
        out: dict[str, Any] = {  # scrubbed as one JSON text with the row's other columns
            "method": req.method, "url": url, "host": req.host, "path": req.path, "query": query,
            "headers": headers_ref(req.headers, sink, self.redactor.headers), "content_type": req.content_type,
        }
        if req.json is not None:
            out["json"] = split_json(req.json, sink, grown)
        elif req.body:
            out["body"] = {"$ref": sink.put(req.body)}
        return out
