"""``aiohttp``, at ``ClientSession._request``.

Recording taps the response's ``StreamReader`` where the connection feeds it (data
already buffered when ``_request`` returns, then every later ``feed_data``), so what
the caller reads is untouched and chunk times are arrival times. Replay builds a real
``ClientResponse`` whose ``content`` is fed the recorded chunks (at the recorded
offsets with ``AUTORR_TIMING=preserve``).
"""

from __future__ import annotations

import asyncio
import datetime
import inspect
import io
import json as _json
import re
import weakref
from typing import Any, Callable
from urllib.parse import urlencode

from .._events import Status
from .._patching import Patch
from .._session import Serve, active
from ._calls import encode_bytes
from ._http import (Pieces, Tee, decide, enter_live, exit_live, exception_class, make_request, rebuild_exception,
                    redirects_meta, response_meta)

__all__ = ["PATCHES"]

_TEES: dict[int, Tee] = {}  # StreamReader has __slots__: its tee is kept here, by id
_TAP_CLASS: type | None = None
# By id, as _TEES: only a reader switched to the Broken class looks here, always after
# `_end` set its entry; the entry goes once the reader's own exception takes over.
_FAILURES: dict[int, BaseException] = {}
_BROKEN_CLASS: type | None = None


def _broken_class() -> type:
    """A replayed body that ends with its recorded error: raised once what arrived is read.

    `set_exception` would make the next read raise at once, dropping data still
    buffered that the live caller did get; this raises where a read would wait for more.
    """
    global _BROKEN_CLASS
    if _BROKEN_CLASS is None:
        from aiohttp.streams import StreamReader

        class Broken(StreamReader):
            __slots__ = ()

            async def _wait(self, func_name: str) -> None:
                failure = _FAILURES.pop(id(self), None)
                if callable(failure):  # decided only now that the caller reads on (`Pieces.ending`)
                    failure = failure()
                    if failure is None:
                        self.feed_eof()
                        return
                if failure is not None:
                    # Everything that arrived is read: from here on the reader raises it
                    # itself, on this read and every later one.
                    self.set_exception(failure)
                    raise failure
                await super()._wait(func_name)

        _BROKEN_CLASS = Broken
    return _BROKEN_CLASS


def _end(content: Any, failure: BaseException | Callable[[], BaseException | None] | None) -> None:
    """End a replayed body: at EOF, or with its recorded error once the rest is read (a
    callable: the error, or None for EOF, decided then)."""
    if failure is None:
        content.feed_eof()
        return
    _FAILURES[id(content)] = failure
    content.__class__ = _broken_class()
    waiter, content._waiter = content._waiter, None  # a read already waiting: it fails now
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


def _tap_class() -> type:
    global _TAP_CLASS
    if _TAP_CLASS is None:
        from aiohttp.streams import StreamReader

        class Tap(StreamReader):
            __slots__ = ()  # same layout: an existing reader can switch to this class

            def feed_data(self, data: bytes, *args: Any) -> Any:
                tee = _TEES.get(id(self))
                if tee is not None:
                    tee.chunk(bytes(data))
                return super().feed_data(data, *args)

            def feed_eof(self) -> None:
                tee = _TEES.pop(id(self), None)
                if tee is not None:
                    tee.end()
                super().feed_eof()

            def set_exception(self, exc: BaseException, *args: Any) -> None:
                # The connection broke (or timed out) under the body: recorded as it ended.
                tee = _TEES.pop(id(self), None)
                if tee is not None:
                    tee.fail(exc)
                super().set_exception(exc, *args)

        _TAP_CLASS = Tap
    return _TAP_CLASS


def _body(kwargs: dict[str, Any]) -> tuple[bytes, str]:
    if kwargs.get("json") is not None:
        return _json.dumps(kwargs["json"]).encode(), "application/json"
    data = kwargs.get("data")
    if data is None:
        return b"", ""
    if isinstance(data, str):
        return data.encode(), "text/plain"
    if isinstance(data, (bytes, bytearray)):
        return bytes(data), "application/octet-stream"
    if isinstance(data, dict) or isinstance(data, (list, tuple)):
        return urlencode(sorted(dict(data).items()) if isinstance(data, dict) else list(data)).encode(), \
            "application/x-www-form-urlencoded"
    if type(data).__name__ == "FormData" and isinstance(getattr(data, "_fields", None), list):
        return _form_fields(data), "multipart/form-data"
    # Streams, generators, payload objects: matched by their shape. Their repr holds a
    # memory address (`<generator object at 0x...>`) that differs every run.
    return _ADDRESS.sub(b"", repr(data).encode()), ""


_ADDRESS = re.compile(rb" at 0x[0-9a-fA-F]+")


def _form_fields(form: Any) -> bytes:
    """A FormData as matching sees it: each field's name, filename, headers and value
    (its bytes when it holds them), in order. The multipart body aiohttp makes from it has
    a random boundary, and making it consumes the form."""
    fields = []
    for options, headers, value in form._fields:
        if isinstance(value, io.BytesIO):
            value = value.getvalue()
        if isinstance(value, (bytes, bytearray)):
            value = encode_bytes(bytes(value))
        elif not isinstance(value, str):  # an open file, a payload: by its repr, as above
            value = _ADDRESS.sub(b"", repr(value).encode()).decode("utf-8", "replace")
        fields.append([sorted((str(k), str(v)) for k, v in options.items()), sorted(dict(headers).items()), value])
    return _json.dumps(fields, sort_keys=True).encode()


def _build_call(session: Any, method: str, url: Any, kwargs: dict[str, Any]) -> Any:
    from yarl import URL

    target = URL(str(url))
    if getattr(session, "_base_url", None) is not None and not target.is_absolute():
        target = session._base_url.join(target)
    if kwargs.get("params"):
        target = target.extend_query(kwargs["params"])
    body, content_type = _body(kwargs)
    headers = [(str(k), str(v)) for k, v in dict(getattr(session, "_default_headers", {}) or {}).items()]
    headers += [(str(k), str(v)) for k, v in dict(kwargs.get("headers") or {}).items()]
    if content_type and not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", content_type))
    return make_request(method, str(target), headers, body)


def _tap(response: Any, handle: Any) -> None:
    from aiohttp.streams import StreamReader

    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers]
    version = f"HTTP/{response.version.major}.{response.version.minor}" if response.version else "HTTP/1.1"
    streamed = "event-stream" in response.headers.get("content-type", "")
    # aiohttp feeds the reader decompressed data: keep it, drop Content-Encoding.
    meta = response_meta(response.status, headers, version, response.reason or "", streamed)
    if response.history:  # redirects followed: replay gives back the chain and where it ended
        meta.update(redirects_meta(((hop.status, hop.method, str(hop.url), hop.raw_headers)
                                    for hop in response.history), response.method, str(response.url)))
    handle.set_response(meta)
    tee = Tee(handle)
    content = response.content
    if type(content) is not StreamReader:  # the shared empty payload (HEAD, 204...)
        tee.end()
        return
    for piece in list(content._buffer):  # what arrived with the headers, not read yet
        tee.chunk(bytes(piece))
    if content._eof:
        tee.end()
        return
    _TEES[id(content)] = tee
    content.__class__ = _tap_class()
    weakref.finalize(response, handle.finish, Status.INCOMPLETE)


class _NoWriter:
    output_size = 0


class _Feed:
    """The protocol end of a replayed body: always "connected", no flow control."""

    connected = True

    def pause_reading(self, *args: Any, **kwargs: Any) -> None:
        pass

    def resume_reading(self, *args: Any, **kwargs: Any) -> None:
        pass


def _rebuilt_error(error: dict[str, Any], method: str, call: Any) -> BaseException:
    """The recorded error; aiohttp's response errors (raise_for_status) want the request
    they answered: given, so `except ClientResponseError` and its `.status` still work."""
    from aiohttp import ClientConnectorError, ClientResponseError, RequestInfo
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    cls = exception_class(error)
    attrs = error.get("attrs") or {}
    url = URL(call.url)
    try:
        if cls is not None and issubclass(cls, ClientResponseError):
            info = RequestInfo(url, method, CIMultiDictProxy(CIMultiDict(call.headers)), url)
            return cls(info, (), status=attrs.get("status"), message=attrs.get("message", ""))
        if cls is not None and issubclass(cls, ClientConnectorError):  # refused, unreachable, DNS
            from aiohttp.client_reqrep import ConnectionKey

            key = dict.fromkeys(ConnectionKey._fields)
            key.update(host=url.host, port=url.port, is_ssl=url.scheme in ("https", "wss"), ssl=True)
            os_error = OSError(attrs.get("errno"), attrs.get("strerror") or error.get("message", ""))
            return cls(ConnectionKey(**key), os_error)
    except (TypeError, AttributeError, ImportError):  # another aiohttp's signatures: the generic way
        pass
    return rebuild_exception(error)


def _replay(session: Any, method: str, call: Any, decision: Serve, kwargs: dict[str, Any]) -> Any:
    from aiohttp import ClientResponse, RequestInfo
    from aiohttp.helpers import TimerNoop
    from aiohttp.http import HttpVersion10, HttpVersion11
    from aiohttp.streams import StreamReader
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    event = decision.event
    if event.status == Status.ERROR.value and event.response is None:
        raise _rebuilt_error(event.error or {}, method, call)
    meta = event.response or {}
    loop = asyncio.get_running_loop()
    request_headers = CIMultiDictProxy(CIMultiDict(call.headers))
    accepted = inspect.signature(ClientResponse.__init__).parameters

    def bare(method: str, url: Any, status: int, headers: list, reason: str = "") -> Any:
        options = {"writer": None, "continue100": None, "timer": TimerNoop(), "traces": [], "loop": loop,
                   "session": session, "stream_writer": _NoWriter(),
                   "request_info": RequestInfo(url, method, request_headers, url)}
        response = ClientResponse(method, url, **{k: v for k, v in options.items() if k in accepted})
        response._headers = CIMultiDictProxy(CIMultiDict(headers))
        response._raw_headers = tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers)
        response.status, response.reason = status, reason
        return response

    # A redirect chain the session followed: the responses on the way, and where it ended.
    history = tuple(bare(hop["method"], URL(hop["url"]), hop["status"], [tuple(h) for h in hop["headers"]])
                    for hop in meta.get("redirects") or ())
    method, url = meta["final"] if history else (method, call.url)
    url = URL(url)
    headers = [(k, v) for k, v in meta.get("headers") or []]
    response = bare(method, url, meta.get("status", 200), headers, meta.get("reason", ""))
    response._history = history
    response.version = HttpVersion10 if meta.get("http_version") == "HTTP/1.0" else HttpVersion11
    for value in response._headers.getall("set-cookie", ()):
        response.cookies.load(value)
    if response.cookies and getattr(session, "cookie_jar", None) is not None:
        session.cookie_jar.update_cookies(response.cookies, url)
    content = StreamReader(_Feed(), 2 ** 16, loop=loop)
    response.content = content
    pieces = Pieces(event, decision.timing_preserve, call=(method, str(url)))
    if decision.timing_preserve:
        async def feed() -> None:
            async for piece in pieces.paced():
                content.feed_data(piece)
            _end(content, pieces.ending())

        response._autorr_feeder = loop.create_task(feed())
    else:
        for piece, _ in pieces.take():
            content.feed_data(piece)
        _end(content, pieces.ending())
    check = kwargs.get("raise_for_status")
    if check is None:
        check = getattr(session, "_raise_for_status", False)
    if check is True:
        response.raise_for_status()
    response._autorr_elapsed = datetime.timedelta(microseconds=event.duration_us)
    return response


def _request(module: Any):
    async def wrapper(wrapped, instance, args, kwargs):
        session = active()
        if session is None:
            return await wrapped(*args, **kwargs)
        method, url = (list(args) + [kwargs.get("method"), kwargs.get("str_or_url")])[:2]
        decision = decide(session, lambda: _build_call(instance, method, url, kwargs), lambda: f"{method} {url}")
        if decision is None:
            return await wrapped(*args, **kwargs)
        if isinstance(decision, Serve):
            call = _build_call(instance, method, url, kwargs)
            return _replay(instance, method, call, decision, kwargs)
        handle = decision.handle
        if decision.rewrite and kwargs.get("json") is not None:
            kwargs["json"] = dict(kwargs["json"], model=decision.rewrite["model"])
        token = enter_live()
        try:
            response = await wrapped(*args, **kwargs)
        except BaseException as exc:
            handle.finish(Status.ERROR, exc)
            raise
        finally:
            exit_live(token)
        _tap(response, handle)
        return response

    return wrapper


PATCHES = (Patch("aiohttp.client", "ClientSession._request", _request),)
