"""``requests``, at ``HTTPAdapter.send``: the transport seam under ``Session.send``.

Patching the adapter rather than ``Session.send`` keeps redirects, cookies and
response hooks working in replay (each hop is its own recorded call). The body is
teed as the caller reads it (``raw.stream`` / ``raw.read``), decoded, so
``stream=True`` still streams while recording.
"""

from __future__ import annotations

import datetime
from typing import Any

from .._events import Status
from .._patching import Patch
from .._session import Serve, active
from ._http import (
    Pieces, Tee, call_live, decide, make_request, rebuild_exception, response_meta, rewrite_parts,
)
from .urllib3 import VERSIONS, RawTee, body_bytes, header_dict, read_from_stream

__all__ = ["PATCHES"]


def _body_bytes(request: Any) -> bytes:
    data = body_bytes(request.body)
    if read_from_stream(request.body):
        request.body = data  # a generator or file upload, read once: send the bytes read
    return data


class _ReplayRaw:
    """Stands in for urllib3's response: the recorded body, chunk by chunk."""

    _original_response = None  # requests' cookie extraction looks for it
    decode_content = True

    def __init__(self, pieces: Pieces) -> None:
        self._iter = pieces.sync()
        self._buffer = b""
        self.closed = False

    def stream(self, amt: int | None = None, decode_content: bool | None = None):
        if self._buffer:
            yield self._buffer
            self._buffer = b""
        yield from self._iter

    def read(self, amt: int | None = None, decode_content: bool | None = None, **_: Any) -> bytes:
        while amt is None or len(self._buffer) < amt:
            piece = next(self._iter, None)
            if piece is None:
                break
            self._buffer += piece
        if amt is None:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:amt], self._buffer[amt:]
        return data

    def close(self) -> None:
        self.closed = True

    def release_conn(self) -> None:
        pass


class _Original:
    """What requests' cookie extraction reads of http.client's response: its headers."""

    def __init__(self, pairs: list) -> None:
        import http.client

        self.msg = http.client.HTTPMessage()
        for name, value in pairs:
            self.msg[name] = value  # appends: repeated headers stay apart


def _replay(adapter: Any, request: Any, decision: Serve) -> Any:
    from requests.models import Response
    from requests.structures import CaseInsensitiveDict
    from requests.utils import get_encoding_from_headers

    event = decision.event
    if event.status == Status.ERROR.value and event.response is None:
        raise rebuild_exception(event.error or {}, request=request)
    meta = event.response or {}
    response = Response()
    response.status_code = meta.get("status", 200)
    raw = _ReplayRaw(Pieces(event, decision.timing_preserve, request))
    raw.headers = header_dict(meta.get("headers") or [])
    response.headers = CaseInsensitiveDict(raw.headers)  # repeated headers joined, as requests does
    response.encoding = get_encoding_from_headers(response.headers)
    response.reason = meta.get("reason", "")
    if "set-cookie" in raw.headers:  # requests reads cookies from http.client's message
        raw._original_response = _Original(meta.get("headers") or [])
    response.raw = raw
    response.url = request.url
    response.request = request
    response.connection = adapter
    response.elapsed = datetime.timedelta(microseconds=event.duration_us)
    return response


def _adapter_send(module: Any):
    def wrapper(wrapped, instance, args, kwargs):
        session = active()
        if session is None:
            return wrapped(*args, **kwargs)
        request = args[0] if args else kwargs["request"]
        stream = bool(kwargs.get("stream", args[1] if len(args) > 1 else False))
        decision = decide(session, lambda: make_request(request.method, request.url, list(request.headers.items()),
                                                        _body_bytes(request)), lambda: f"{request.method} {request.url}")
        if decision is None:
            return wrapped(*args, **kwargs)
        if isinstance(decision, Serve):
            return _replay(instance, request, decision)
        handle = decision.handle
        if decision.rewrite:
            request.url, headers, request.body = rewrite_parts(request.url, list(request.headers.items()),
                                                               _body_bytes(request), decision.rewrite)
            request.headers.clear()
            request.headers.update(dict(headers))
            request.headers["Content-Length"] = str(len(request.body))
        response = call_live(handle, wrapped, args, kwargs)
        version = VERSIONS.get(getattr(response.raw, "version", 11), "HTTP/1.1")
        # urllib3 already hands out decoded bytes: keep them, drop Content-Encoding. Its
        # headers keep repeated ones apart (requests joins them: two Set-Cookie in one).
        raw_headers = getattr(response.raw, "headers", None)
        pairs = list((raw_headers if hasattr(raw_headers, "items") else response.headers).items())
        meta = response_meta(response.status_code, pairs, version, response.reason or "", stream)
        handle.set_response(meta)
        # Dropped half-read, the body ends as `Tee.__del__` says: when the last of its
        # readers goes, not the Response (`requests.get(url, stream=True).raw` outlives it).
        response.raw = RawTee(response.raw, Tee(handle))
        return response

    return wrapper


PATCHES = (Patch("requests.adapters", "HTTPAdapter.send", _adapter_send),)
