"""``urllib.request``, at ``AbstractHTTPHandler.do_open``: where ``HTTPHandler``,
``HTTPSHandler`` and any opener made with ``build_opener`` open their connection.

Everything around it stays urllib's own, in replay too: ``HTTPRedirectHandler``
follows redirects (each hop is its own recorded call), ``HTTPErrorProcessor`` turns a
4xx/5xx into ``HTTPError`` after ``do_open`` returns, cookie and auth handlers run as
usual. The body is teed as the caller reads it, so a stream still streams while
recording; replay returns an ``http.client.HTTPResponse`` whose body is the recorded
pieces, read by http.client's own code.
"""

from __future__ import annotations

import functools
import io
from typing import Any

from .._events import Status, find_header
from .._patching import Patch
from .._session import Serve, active
from ._http import (Pieces, PiecesReader, Tee, TeeProxy, call_live, decide, exception_class, make_request,
                    rebuild_exception, rewrite_parts)

__all__ = ["PATCHES"]

_ERROR, _OK = Status.ERROR.value, Status.OK.value
_VERSIONS = {9: "HTTP/0.9", 10: "HTTP/1.0", 11: "HTTP/1.1"}
# urllib hands the caller the body as sent; the recording stores it decoded (secrets in
# a gzip body get scrubbed), so replay encodes it again with these (wbits for zlib).
_ENCODERS = {"gzip": 31, "x-gzip": 31, "deflate": 15}


def _headers(req: Any) -> list[tuple[str, str]]:
    """The headers do_open sends: unredirected ones (Host, auth, Content-type) first."""
    merged = dict(req.unredirected_hdrs)
    merged.update((k, v) for k, v in req.headers.items() if k not in merged)
    return [(k.title(), str(v)) for k, v in merged.items()]


def _body_bytes(req: Any) -> bytes:
    data = req.data
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    try:
        return memoryview(data).tobytes()
    except TypeError:  # a file or an iterable: one-shot, so read once and send these bytes
        pass
    parts = iter(lambda: data.read(65536), b"") if hasattr(data, "read") else data
    # http.client sends text read from a file as ISO-8859-1; the same here.
    body = b"".join(p.encode("iso-8859-1") if isinstance(p, str) else bytes(p) for p in parts if p)
    length = req.get_header("Content-length")
    req.data = body  # the setter drops Content-length; the framing urllib chose stays
    if length is not None:
        req.add_unredirected_header("Content-length", length)
    return body


def _call_request(req: Any) -> Any:
    return make_request(req.get_method(), req.get_full_url(), _headers(req), _body_bytes(req))


def _name(req: Any) -> str:
    return f"{req.get_method()} {req.get_full_url()}"


def _rewrite(req: Any, rewrite: dict[str, Any]) -> None:
    """An A/B override (model, base URL, key) applied to the live request."""
    url, headers, body = rewrite_parts(req.get_full_url(), _headers(req), _body_bytes(req), rewrite)
    req.full_url = url
    req.unredirected_hdrs = {}
    req.headers = {k.capitalize(): v for k, v in headers if k.lower() != "transfer-encoding"}
    req.data = body
    req.add_unredirected_header("Content-length", str(len(body)))


def _stored_error(exc: BaseException) -> BaseException:
    """What is recorded of a failed do_open. A URLError around a socket error (refused,
    timed out, no such host) keeps its cause's class and errno, which the recorder's
    plain attributes cannot hold: as text in a stand-in's ``reason``, read by `_raised`."""
    from urllib.error import URLError

    cause = getattr(exc, "reason", None)
    if type(exc) is not URLError or not isinstance(cause, BaseException):
        return exc
    kind = type(cause)
    stand_in = URLError(f"{kind.__module__}.{kind.__qualname__}: {cause}")
    stand_in.errno, stand_in.strerror = getattr(cause, "errno", None), getattr(cause, "strerror", None)
    return stand_in


def _raised(error: dict[str, Any]) -> BaseException:
    """The recorded do_open failure, rebuilt (see `_stored_error`)."""
    from urllib.error import URLError

    if exception_class(error) is not URLError:
        return rebuild_exception(error)
    attrs = error.get("attrs") or {}
    reason = str(attrs.get("reason", error.get("message", "")))
    name, _, text = reason.partition(": ")
    kind = exception_class({"type": name}) if text else None
    if kind is None:
        return URLError(reason)
    try:  # OSError(errno, strerror): the same args, str() and errno subclass as the original
        return URLError(kind(attrs["errno"], attrs["strerror"]))
    except (TypeError, KeyError):
        return URLError(rebuild_exception({"type": name, "message": text, "attrs": attrs}))


class _LiveResponse(TeeProxy):
    """http.client's response, with each piece the caller reads also recorded.

    Iteration and ``readlines`` are routed through this proxy's ``readline`` (and ``with``
    through its ``close``): the proxied object's own would read past the tee.
    """

    def __init__(self, response: Any, tee: Tee, meta: dict[str, Any]) -> None:
        super().__init__(response, tee)
        self._self_meta, self._self_pieces = meta, 0

    def _self_read(self, method: Any, *args: Any) -> Any:
        tee = self._self_tee
        try:
            data = method(*args)
        except BaseException as exc:
            if not tee.handle.done:
                tee.fail(exc)
            raise
        if data:
            self._self_pieces += 1
            if self._self_pieces == 2:  # urllib has no stream flag: read in pieces, keep their times
                self._self_meta["streamed"] = True
            tee.chunk(bytes(data))
        if (not data or self.__wrapped__.isclosed()) and not tee.handle.done:
            tee.end()  # http.client closes at the end of a known length; else b"" is the end
        return data

    def read(self, amt: int | None = None) -> bytes:
        return self._self_read(self.__wrapped__.read, amt)

    def read1(self, n: int = -1) -> bytes:
        return self._self_read(self.__wrapped__.read1, n)

    def readline(self, limit: int = -1) -> bytes:
        return self._self_read(self.__wrapped__.readline, limit)

    def readinto(self, buffer: Any) -> int:
        return self._self_readinto(self.__wrapped__.readinto, buffer)

    def readinto1(self, buffer: Any) -> int:
        return self._self_readinto(self.__wrapped__.readinto1, buffer)

    def _self_readinto(self, method: Any, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        return len(self._self_read(lambda: view[:method(buffer)]))

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines, size = [], 0
        for line in self:
            lines.append(line)
            size += len(line)
            if 0 < hint <= size:
                break
        return lines

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


def _record(wrapped: Any, args: tuple, kwargs: dict, handle: Any) -> Any:
    response = call_live(handle, wrapped, args, kwargs, _stored_error)
    # The body as received: the writer thread undoes its Content-Encoding (`decode_recorded`).
    pairs = list(response.headers.items())
    meta = {"status": response.status, "headers": pairs, "http_version": _VERSIONS.get(response.version, "HTTP/1.1"),
            "reason": response.reason or "", "streamed": False, "decode": True}
    encoding = (find_header(pairs, "content-encoding") or "").strip().lower()
    if encoding in _ENCODERS:
        meta["encoding"] = encoding
    handle.set_response(meta)
    return _LiveResponse(response, Tee(handle), meta)


def _encoded(pieces: Any, wbits: int) -> Any:
    """Pieces compressed again, one flushed block per piece, so a stream still streams."""
    import zlib

    packer = zlib.compressobj(wbits=wbits)
    for piece in pieces:
        yield packer.compress(piece) + packer.flush(zlib.Z_SYNC_FLUSH)
    yield packer.flush()


@functools.lru_cache(maxsize=None)
def _response_class() -> type:
    import http.client

    class Response(http.client.HTTPResponse):
        """What do_open returns, around recorded pieces instead of a socket: http.client's
        own read methods, length accounting and closing run on it unchanged."""

        def __init__(self, fp: Any, method: str, status: int, reason: str, version: int, headers: Any,
                     length: int | None) -> None:
            # Not HTTPResponse.__init__ (it wants a socket): what it and begin() leave.
            self.fp, self.debuglevel, self._method = fp, 0, method
            self.code = self.status = status
            self.reason, self.version, self.headers = reason, version, headers
            self.msg = reason  # do_open puts the reason in place of the headers there
            self.chunked, self.chunk_left, self.length, self.will_close = False, None, length, True

    return Response


def _replay(req: Any, decision: Serve) -> Any:
    import http.client

    event = decision.event
    if event.status == _ERROR and event.response is None:
        raise _raised(event.error or {})
    meta = event.response or {}
    status = meta.get("status", 200)
    headers = http.client.HTTPMessage()
    for name, value in meta.get("headers") or ():
        headers[name] = value  # appends: repeated headers stay apart
    pieces = Pieces(event, decision.timing_preserve, call=(req.get_method(), req.full_url)).sync()
    wbits = _ENCODERS.get(meta.get("encoding", ""))
    if wbits and "content-encoding" not in headers:  # decoded when recorded: encode again
        headers["Content-Encoding"] = meta["encoding"]
        pieces = _encoded(pieces, wbits)
    length = None
    if status in (204, 304) or 100 <= status < 200 or req.get_method() == "HEAD":
        length = 0
    elif headers.get("content-length", "").strip().isdigit():
        # A whole body: its recorded length (a masked secret changes it). One that broke
        # off or was dropped half-read: the header's, as live (the pieces end first).
        length = len(event.body or b"") if event.status == _OK else int(headers["content-length"])
    version = 10 if meta.get("http_version") in ("HTTP/1.0", "HTTP/0.9") else 11
    response = _response_class()(io.BufferedReader(PiecesReader(pieces)), req.get_method(), status,
                                 meta.get("reason") or "", version, headers, length)
    response.url = req.get_full_url()  # as do_open leaves it
    return response


def _do_open(module: Any):
    def wrapper(wrapped, instance, args, kwargs):
        session = active()
        if session is None:
            return wrapped(*args, **kwargs)
        req = args[1] if len(args) > 1 else kwargs["req"]
        decision = decide(session, _call_request, _name, req)
        if decision is None:
            return wrapped(*args, **kwargs)
        if isinstance(decision, Serve):
            return _replay(req, decision)
        if decision.rewrite:
            _rewrite(req, decision.rewrite)
        return _record(wrapped, args, kwargs, decision.handle)

    return wrapper


PATCHES = (Patch("urllib.request", "AbstractHTTPHandler.do_open", _do_open),)
