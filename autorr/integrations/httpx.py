"""``httpx`` and its fork ``httpx2`` (which openai>=3 and anthropic>=1 are built on).

One choke point per client class: ``Client.send`` / ``AsyncClient.send``. Every SDK
path (``create``, ``stream=True``, ``.stream()`` helpers, ``with_raw_response``,
``.parse()``) goes through it. Recording forces ``stream=True`` underneath and tees the
byte stream, so the caller still gets each chunk the moment it arrives; replay builds
a real ``Response`` of the same library around the recorded chunks.
"""

from __future__ import annotations

import functools
from typing import Any

from .._events import CallRequest, Status
from .._patching import Patch
from .._session import Serve, active
from ._http import (Form, Pieces, Tee, decide, enter_live, exit_live, form_of, rebuild_exception, redirects_meta,
                    response_meta, rewrite_parts, wire)

__all__ = ["PATCHES"]

_ERROR = Status.ERROR.value  # an enum's `.value` is a Python property call


class _Parts:
    """The parts of an httpx request that recording reads on the writer thread."""

    @staticmethod
    def url(request: Any) -> str:
        return str(request.url)

    @staticmethod
    def headers(request: Any) -> list[tuple[bytes, bytes]]:
        return request.headers.raw

    @staticmethod
    def content_type(request: Any) -> str:
        return request.headers.get("content-type", "")


# Parsed URL -> (host, path, query): httpx's `host`, `path` (an unquote) and `params`
# are Python code, and an agent sends its requests to a handful of URLs.
_ENDPOINTS: dict[Any, tuple[str, str, list[tuple[str, str]]]] = {}
_ENDPOINTS_MAX = 4096


def _endpoint(url: Any) -> tuple[str, str, list[tuple[str, str]]]:
    """(host, path, query pairs) of an httpx URL. The query list is shared: read only."""
    reference = getattr(url, "_uri_reference", None)  # httpx's parse of the URL: a hashable NamedTuple
    found = _ENDPOINTS.get(reference) if reference is not None else None
    if found is None:
        found = (url.host, url.path, list(url.params.multi_items()) if url.query else [])
        if reference is not None and len(_ENDPOINTS) < _ENDPOINTS_MAX:
            _ENDPOINTS[reference] = found
    return found


def _call_request(request: Any, body: bytes) -> CallRequest:
    host, path, query = _endpoint(request.url)
    return CallRequest(request.method, None, host, path, query, None, body, content_type=None, source=request,
                       parts=_Parts)


def _summary(request: Any, body: bytes) -> str:
    return f"{request.method} {request.url}"


def _live_kwargs(kwargs: dict) -> dict:
    """Keyword arguments for the real send, which always streams (the tee reads on)."""
    rest = dict(kwargs, stream=True)
    rest.pop("request", None)
    return rest


@functools.lru_cache(maxsize=None)
def _stream_classes(lib: Any) -> tuple[type, type, type, type]:
    """Tee and replay byte streams, subclassing *this* library's stream base classes."""

    class TeeSync(lib.SyncByteStream):
        def __init__(self, inner: Any, tee: Tee) -> None:
            self._inner, self._tee = inner, tee

        def __iter__(self):
            return self._tee.relay(self._inner)

        def close(self) -> None:
            try:
                self._inner.close()
            finally:
                self._tee.closed()

    class TeeAsync(lib.AsyncByteStream):
        def __init__(self, inner: Any, tee: Tee) -> None:
            self._inner, self._tee = inner, tee

        def __aiter__(self):
            return self._tee.arelay(self._inner)

        async def aclose(self) -> None:
            try:
                await self._inner.aclose()
            finally:
                self._tee.closed()

    # A replayed body is its `Pieces` as this library's stream: one object to make per call.
    class ReplaySync(Pieces, lib.SyncByteStream):
        def __iter__(self):
            return self.sync()

    class ReplayAsync(Pieces, lib.AsyncByteStream):
        def __aiter__(self):
            return self.aio()

    return TeeSync, TeeAsync, ReplaySync, ReplayAsync


def _attach_tee(lib: Any, response: Any, handle: Any, streamed: bool, is_async: bool) -> None:
    ext = response.extensions
    if hasattr(response, "_content"):
        # Built in memory (MockTransport, a custom transport's Response(content=...)):
        # already read and decoded, so nothing will flow through a tee.
        handle.set_response(dict(response_meta(response.status_code, response.headers.raw,
                                               ext.get("http_version", b"HTTP/1.1"), ext.get("reason_phrase", b""),
                                               streamed), **_redirects(response)))
        handle.meta["end"] = "eof"
        handle.chunk(response.content)
        handle.finish(Status.OK)
        return
    # Headers, version and reason as the library holds them (bytes), and the body as
    # received: the writer thread decodes them all (`decode_recorded`).
    handle.set_response({"status": response.status_code, "headers": response.headers.raw,
                         "http_version": ext.get("http_version", b"HTTP/1.1"),
                         "reason": ext.get("reason_phrase", b""), "streamed": streamed, "decode": _undoes(lib),
                         **_redirects(response)})
    tee_sync, tee_async, _, _ = _stream_classes(lib)
    response.stream = (tee_async if is_async else tee_sync)(response.stream, Tee(handle))


@functools.lru_cache(maxsize=None)
def _undoes(lib: Any) -> frozenset[str] | bool:
    """The Content-Encodings this library decodes (see `decode_recorded`); True: unknown, all."""
    supported = getattr(getattr(lib, "_decoders", None), "SUPPORTED_DECODERS", None)
    return frozenset(supported) if supported else True


def _redirects(response: Any) -> dict[str, Any]:
    """The redirects the client followed (see `redirects_meta`); none: nothing."""
    if not response.history:
        return {}
    return redirects_meta(((hop.status_code, hop.request.method, str(hop.request.url), hop.headers.raw)
                           for hop in response.history), response.request.method, str(response.request.url))


def _followed(lib: Any, client: Any, request: Any, meta: dict[str, Any]) -> tuple[Any, list[Any]]:
    """The request a recorded redirect chain ended with, and the responses on the way.

    Each next request is made from the one before as the client made it live
    (`_build_redirect_request`: same headers, less what a new origin or a switch to GET
    drops), not from the recorded method and URL alone: SDKs read their own markers
    off ``response.request`` (openai's ``with_raw_response`` is a request header), and a
    bare request sent them down another path than the recorded run took.
    """
    history = []
    build = getattr(client, "_build_redirect_request", None)
    for hop in meta["redirects"]:
        request = _as_sent(lib, request, hop["method"], hop["url"])
        step = lib.Response(hop["status"], headers=[(wire(k), wire(v)) for k, v in hop["headers"]],
                            stream=lib.ByteStream(b""), request=request)
        step.read()  # closed, as the client leaves a redirect it followed
        history.append(step)
        if build is not None:
            try:
                request = build(request, step)
            except Exception:  # a Location it cannot follow now: the recorded hop says where it went
                pass
    method, url = meta["final"]
    return _as_sent(lib, request, method, url), history


def _as_sent(lib: Any, request: Any, method: str, url: str) -> Any:
    """``request`` if it is the recorded one, else the recorded one with its headers."""
    if request.method == method and str(request.url) == url:
        return request
    return lib.Request(method, url, headers=request.headers, extensions=request.extensions)


@functools.lru_cache(maxsize=None)
def _headers_fast(lib: Any) -> bool:
    # httpx (and httpx2) keep headers as (raw key, lower key, value) bytes triples in
    # `_list`; if a version does not, replay takes the public constructor.
    empty = lib.Headers()
    return getattr(empty, "_list", None) == [] and getattr(empty, "_encoding", 0) is None


def _headers(lib: Any, triples: list[tuple[bytes, bytes, bytes]]) -> Any:
    """Recorded headers as the library's Headers, without its constructor, which
    normalises every pair through three functions (and, for none, asks an ABC whether
    None is a Mapping): the Response copies them as they are."""
    if not _headers_fast(lib):
        return lib.Headers([(k, v) for k, _, v in triples])
    headers = lib.Headers.__new__(lib.Headers)
    headers._list, headers._encoding = triples, None
    return headers


def _replay_response(lib: Any, client: Any, request: Any, decision: Serve,
                     is_async: bool) -> tuple[Any, Form, bytes | None]:
    """The replayed Response, the answer's `Form`, and the body when a read can take it
    whole (see `_read_whole`)."""
    event = decision.event
    if event.status == _ERROR and event.response is None:
        raise rebuild_exception(event.error or {}, request=request)
    form = event.form or form_of(event)  # made at load (see `form_of`)
    _, _, replay_sync, replay_async = _stream_classes(lib)
    pieces = (replay_async if is_async else replay_sync)(event, decision.timing_preserve, request)
    history: list[Any] = []
    meta = event.response or {}  # none: the call was still waiting when its recording stopped
    if meta.get("redirects"):
        request, history = _followed(lib, client, request, meta)
    response = lib.Response(form.status, headers=_headers(lib, form.headers), stream=pieces, request=request,
                            extensions=form.extensions, history=history)  # all three copied by Response
    response.elapsed = form.elapsed
    # Nothing to wait for or to decode: the recorded body is what a read would return.
    return response, form, None if pieces.preserve else form.whole


def _read_whole(response: Any, body: bytes) -> None:
    """What `read()` leaves, without the decoder, chunker and generators it runs the
    body through: ~90K of the ~100K instructions a replayed call took (instructions.py)."""
    response._content = body
    response._num_bytes_downloaded = len(body)
    response.is_stream_consumed = response.is_closed = True


def _replay_hooks(client: Any, response: Any, form: Form) -> list[Any]:
    """What the client would have done with a real response: keep its cookies, run its hooks."""
    try:
        for hop in (*response.history, response) if form.cookies else ():
            client.cookies.extract_cookies(hop)
        return list(client.event_hooks.get("response", ()))
    except Exception:  # a client without these (a subclass): nothing to run
        return []


def _rewritten(lib: Any, request: Any, rewrite: dict[str, Any] | None) -> Any:
    if not rewrite:
        return request
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
    url, headers, body = rewrite_parts(str(request.url), headers, request.content, rewrite)
    return lib.Request(request.method, url, headers=headers, content=body, extensions=request.extensions)


# -- the wrappers: twins around the shared pieces above -------------------------------
def sync_send(lib: Any):
    def wrapper(wrapped, instance, args, kwargs):
        session = active()
        if session is None:
            return wrapped(*args, **kwargs)
        request = args[0] if args else kwargs["request"]
        stream = kwargs.get("stream", False)
        body = getattr(request, "_content", None)  # set by a read; `content` is a property
        if body is None:
            body = request.read()  # a generator body must be read before we can fingerprint it
        decision = decide(session, _call_request, _summary, request, body)
        if decision is None:
            return wrapped(*args, **kwargs)
        if isinstance(decision, Serve):
            response, form, whole = _replay_response(lib, instance, request, decision, is_async=False)
            for hook in _replay_hooks(instance, response, form):
                hook(response)
        else:
            whole = None
            token = enter_live()
            try:
                response = wrapped(_rewritten(lib, request, decision.rewrite), **_live_kwargs(kwargs))
            except BaseException as exc:
                decision.handle.finish(Status.ERROR, exc)
                raise
            finally:
                exit_live(token)
            _attach_tee(lib, response, decision.handle, stream, is_async=False)
        if not stream and whole is not None:
            _read_whole(response, whole)
        elif not stream:
            try:
                response.read()
            except BaseException:
                response.close()
                raise
        return response

    return wrapper


def async_send(lib: Any):
    async def wrapper(wrapped, instance, args, kwargs):
        session = active()
        if session is None:
            return await wrapped(*args, **kwargs)
        request = args[0] if args else kwargs["request"]
        stream = kwargs.get("stream", False)
        body = getattr(request, "_content", None)  # set by a read; `content` is a property
        if body is None:
            body = await request.aread()  # a generator body must be read before we can fingerprint it
        decision = decide(session, _call_request, _summary, request, body)
        if decision is None:
            return await wrapped(*args, **kwargs)
        if isinstance(decision, Serve):
            response, form, whole = _replay_response(lib, instance, request, decision, is_async=True)
            for hook in _replay_hooks(instance, response, form):
                await hook(response)
        else:
            whole = None
            token = enter_live()
            try:
                response = await wrapped(_rewritten(lib, request, decision.rewrite), **_live_kwargs(kwargs))
            except BaseException as exc:
                decision.handle.finish(Status.ERROR, exc)
                raise
            finally:
                exit_live(token)
            _attach_tee(lib, response, decision.handle, stream, is_async=True)
        if not stream and whole is not None:
            _read_whole(response, whole)
        elif not stream:
            try:
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        return response

    return wrapper


PATCHES = tuple(
    Patch(module, attribute, factory)
    for module in ("httpx2", "httpx")
    for attribute, factory in (("Client.send", sync_send), ("AsyncClient.send", async_send))
)
