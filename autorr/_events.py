"""What one recorded call looks like in memory, between the integrations and the store."""

from __future__ import annotations

import enum
import http
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["CallRequest", "Event", "Kind", "RequestParts", "Status", "find_header", "text_headers", "text_response"]


class Kind(str, enum.Enum):
    HTTP = "http"
    SUBPROCESS = "subprocess"
    FILE = "file"
    TOOL = "tool"


class Status(str, enum.Enum):
    OK = "ok"
    ERROR = "error"  # the call raised; replay raises the same
    INCOMPLETE = "incomplete"  # a stream closed or dropped before its end


_UNPARSED: Any = object()


class CallRequest:
    """A request as the matcher sees it (auth headers still present in memory only).

    ``json`` is parsed on first use: recording hands the request to the writer thread
    unparsed, and replay usually matches on the raw bytes (`exact_key`) without it.
    With ``source`` (a library's request object) and ``parts`` (how to read its URL,
    headers and content type), those are read on first use too: recording reads them on
    the writer thread, where they cost the agent nothing. The query is given: it is part
    of the exact key replay computes on the agent's thread.
    """

    __slots__ = ("method", "host", "path", "query", "body", "_url", "_headers", "_content_type", "_json",
                 "_source", "_parts")

    def __init__(self, method: str, url: str | None, host: str, path: str, query: list[tuple[str, str]],
                 headers: list[tuple[str, str]] | list[tuple[bytes, bytes]] | None, body: bytes,
                 json: Any = _UNPARSED, content_type: str | None = "", source: Any = None,
                 parts: "RequestParts | None" = None) -> None:
        self.method = method
        self.host = host
        self.path = path
        self.query = query
        self.body = body
        self._url = url
        self._headers = headers  # raw (bytes) pairs are decoded on first use, off the hot path
        self._content_type = content_type
        self._json = json
        self._source = source
        self._parts = parts

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = self._parts.url(self._source)  # type: ignore[union-attr]
        return self._url

    @property
    def content_type(self) -> str:
        if self._content_type is None:
            self._content_type = self._parts.content_type(self._source)  # type: ignore[union-attr]
        return self._content_type

    @property
    def headers(self) -> list[tuple[str, str]]:
        headers = self._headers
        if headers is None:
            headers = self._headers = self._parts.headers(self._source)  # type: ignore[union-attr]
        if headers and isinstance(headers[0][0], bytes):
            headers = self._headers = text_headers(headers)
        return headers  # type: ignore[return-value]

    @property
    def json(self) -> Any:
        """The parsed body when it is JSON, else None."""
        if self._json is _UNPARSED:
            from .replay._fingerprint import parse_body

            self._json = parse_body(self.body, self.content_type)
        return self._json

    @json.setter
    def json(self, value: Any) -> None:  # parsed elsewhere (the writer parses a growing history by its new part)
        self._json = value

    @property
    def parsed(self) -> bool:
        return self._json is not _UNPARSED

    @property
    def summary(self) -> str:
        return f"{self.method} {self.host}{self.path}" if self.host else f"{self.method} {self.path}"

    def __repr__(self) -> str:
        return f"CallRequest({self.summary}, {len(self.body or b'')} bytes)"


def text_headers(headers: Any) -> list[tuple[str, str]]:
    """Header pairs as text; raw (bytes) pairs, as an HTTP library holds them, decoded."""
    if headers and isinstance(headers[0][0], bytes):
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
    return list(headers or ())


def find_header(headers: Any, name: Any) -> Any:
    """The first value of header ``name`` (lower case; bytes for raw pairs), or None."""
    return next((v for k, v in headers or () if k.lower() == name), None)


def text_response(response: dict[str, Any]) -> dict[str, Any]:
    """A response record with text throughout: integrations may leave headers, HTTP
    version and reason as the library's bytes for the writer thread to decode (an
    empty reason: the standard phrase of the status)."""
    out = dict(response, headers=text_headers(response.get("headers")))
    for name in ("http_version", "reason"):
        value = out.get(name)
        if isinstance(value, bytes):
            out[name] = value.decode("ascii", "ignore")
    if out.get("reason") == "" and isinstance(out.get("status"), int):
        try:
            out["reason"] = http.HTTPStatus(out["status"]).phrase
        except ValueError:
            pass
    return out


class RequestParts(Protocol):
    """How a `CallRequest` reads the parts it defers from a library's request object."""

    def url(self, source: Any) -> str: ...

    def headers(self, source: Any) -> list[tuple[str, str]] | list[tuple[bytes, bytes]]: ...

    def content_type(self, source: Any) -> str: ...


@dataclass(slots=True)
class Event:
    kind: str
    fingerprint: str | None  # None until the writer thread computes it (recording)
    occurrence: int | None
    seq: int  # start order within the recording process
    started_at: float  # unix time
    duration_us: int
    status: str
    request: CallRequest | dict[str, Any]
    response: dict[str, Any] | None = None  # status, headers, http_version, reason, streamed, ttfb_us
    body: bytes | None = None
    chunks: list[tuple[int, int]] | None = None  # (size, offset_us from call start)
    error: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)
    pid: int = 0
    id: int | None = None  # row id once stored
    exact: str | None = None  # hash of the raw request bytes: replay's fast path (see _fingerprint)
    # Replay: the answer worked out for serving (integrations._http.Form), made at load.
    form: Any = field(default=None, compare=False, repr=False)

    @property
    def summary(self) -> str:
        req = self.request
        if isinstance(req, CallRequest):
            return req.summary
        host = req.get("host") or ""
        return f"{req.get('method', '')} {host}{req.get('path', '')}".strip() if host else \
            f"{req.get('method', '')} {req.get('path', '')}".strip()
