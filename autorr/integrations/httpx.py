"""``httpx`` and its fork ``httpx2`` (which openai>=3 and anthropic>=1 are built on).

One choke point per client class: ``Client.send`` / ``AsyncClient.send``. Every SDK
path (``create``, ``stream=True``, ``.stream()`` helpers, ``with_raw_response``,
``.parse()``) goes through it. Recording forces ``stream=True`` underneath and tees the
byte stream, so the caller still gets each chunk the moment it arrives; replay builds
a real ``Response`` of the same library around the recorded chunks.
"""

from __future__ import annotations

import datetime
import functools
import logging
import time
import weakref
from typing import Any

from .._events import CallRequest, Kind, Status
from .._patching import Patch
from .._session import Serve, active
from ..replay._fingerprint import parse_body, request_fingerprint
from ._decode import decoder_for

__all__ = ["PATCHES"]

log = logging.getLogger("autorr")

_DROP_ON_DECODE = ("content-encoding", "content-length")


def _call_request(request: Any) -> CallRequest:
    url = request.url
    content_type = request.headers.get("content-type", "")
    body = request.content
    return CallRequest(
        method=request.method, url=str(url), host=url.host, path=url.path,
        query=list(url.params.multi_items()),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
        body=body, json=parse_body(body, content_type), content_type=content_type,
    )


def _bind(args: tuple, kwargs: dict) -> tuple[Any, bool, dict]:
    """(request, caller's stream flag, kwargs for the real send with stream=True)."""
    request = args[0] if args else kwargs["request"]
    rest = dict(kwargs)
    rest.pop("request", None)
    stream = bool(rest.pop("stream", False))
    return request, stream, rest


def _decide(session: Any, request: Any) -> Any:
    try:
        call = _call_request(request)
        return session.decide(Kind.HTTP, request_fingerprint(call), call)
    except Exception as exc:
        if not session.fail_open:  # replay must not fall through to the network
            raise
        log.warning("autorr: not recording %s %s: %s", request.method, request.url, exc)
        return None


# -- streams ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _stream_classes(lib: Any) -> tuple[type, type, type, type]:
    """Tee and replay byte streams, subclassing *this* library's stream base classes."""

    class TeeSync(lib.SyncByteStream):
        def __init__(self, inner: Any, tee: "_Tee") -> None:
            self._inner, self._tee = inner, tee

        def __iter__(self):
            tee = self._tee
            try:
                for chunk in self._inner:
                    tee.chunk(chunk)
                    yield chunk
            except BaseException as exc:
                tee.fail(exc)
                raise
            tee.end()

        def close(self) -> None:
            try:
                self._inner.close()
            finally:
                self._tee.closed()

    class TeeAsync(lib.AsyncByteStream):
        def __init__(self, inner: Any, tee: "_Tee") -> None:
            self._inner, self._tee = inner, tee

        async def __aiter__(self):
            tee = self._tee
            try:
                async for chunk in self._inner:
                    tee.chunk(chunk)
                    yield chunk
            except BaseException as exc:
                tee.fail(exc)
                raise
            tee.end()

        async def aclose(self) -> None:
            try:
                await self._inner.aclose()
            finally:
                self._tee.closed()

    class ReplaySync(lib.SyncByteStream):
        # One-shot: the openai SDK drains the stream again after [DONE]; a stream that
        # started over would replay (and sleep) a second time.
        def __init__(self, pieces: "_Pieces") -> None:
            self._pieces = pieces

        def __iter__(self):
            for piece, due in self._pieces.take():
                if due:
                    delay = due - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                yield piece

    class ReplayAsync(lib.AsyncByteStream):
        def __init__(self, pieces: "_Pieces") -> None:
            self._pieces = pieces

        async def __aiter__(self):
            for piece, due in self._pieces.take():
                if due:
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await _async_sleep(delay)
                yield piece

    return TeeSync, TeeAsync, ReplaySync, ReplayAsync


async def _async_sleep(delay: float) -> None:
    try:
        import anyio  # trio and asyncio alike

        await anyio.sleep(delay)
    except ImportError:  # pragma: no cover - httpx and httpx2 both depend on anyio
        import asyncio

        await asyncio.sleep(delay)


class _Tee:
    """Feeds a live response's chunks, decoded, into the recording handle."""

    __slots__ = ("handle", "decode")

    def __init__(self, handle: Any, decode: Any) -> None:
        self.handle = handle
        self.decode = decode

    def chunk(self, data: bytes) -> None:
        try:
            self.handle.chunk(self.decode(data) if self.decode else data)
        except Exception as exc:  # a recording problem never breaks the caller's stream
            log.debug("autorr: could not record a chunk: %s", exc)
            self.decode = None

    def end(self) -> None:
        self.handle.meta["end"] = "eof"
        self.handle.finish(Status.OK)

    def closed(self) -> None:
        # SDKs close the response once they have seen [DONE], before the transport's
        # end: a normal ending, with every chunk the caller read on record.
        if not self.handle.done:
            self.handle.meta["end"] = "closed"
            self.handle.finish(Status.OK)

    def fail(self, exc: BaseException) -> None:
        if isinstance(exc, GeneratorExit):  # the caller stopped iterating
            self.closed()
        else:
            self.handle.finish(Status.ERROR, exc)


class _Pieces:
    __slots__ = ("event", "t0", "preserve", "used")

    def __init__(self, event: Any, preserve: bool) -> None:
        self.event, self.preserve, self.used = event, preserve, False
        self.t0 = time.perf_counter()

    def take(self):
        if self.used:
            return
        self.used = True
        body = self.event.body or b""
        chunks = self.event.chunks or [(len(body), self.event.duration_us)]
        pos = 0
        for size, offset_us in chunks:
            yield body[pos:pos + size], (self.t0 + offset_us / 1e6) if self.preserve else 0.0
            pos += size
        if pos < len(body):
            yield body[pos:], 0.0


def _attach_tee(lib: Any, response: Any, handle: Any, streamed: bool, is_async: bool) -> None:
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw]
    decode = decoder_for(response.headers.get("content-encoding", ""))
    if decode is not None:
        headers = [(k, v) for k, v in headers if k.lower() not in _DROP_ON_DECODE]
    handle.set_response({"status": response.status_code, "headers": headers,
                         "http_version": response.http_version, "reason": response.reason_phrase,
                         "streamed": streamed})
    tee = _Tee(handle, decode)
    tee_sync, tee_async, _, _ = _stream_classes(lib)
    response.stream = (tee_async if is_async else tee_sync)(response.stream, tee)
    # A response dropped half-read still leaves the chunks that did arrive.
    weakref.finalize(response, handle.finish, Status.INCOMPLETE)


def _replay_response(lib: Any, request: Any, decision: Serve, is_async: bool) -> Any:
    event = decision.event
    if event.status == Status.ERROR.value and event.response is None:
        raise _rebuild_error(lib, event.error or {}, request)
    meta = event.response or {}
    _, _, replay_sync, replay_async = _stream_classes(lib)
    pieces = _Pieces(event, decision.timing_preserve)
    response = lib.Response(
        meta.get("status", 200), headers=meta.get("headers") or [],
        stream=(replay_async if is_async else replay_sync)(pieces), request=request,
        extensions={"http_version": str(meta.get("http_version", "HTTP/1.1")).encode(),
                    "reason_phrase": str(meta.get("reason", "")).encode()},
    )
    response.elapsed = datetime.timedelta(microseconds=event.duration_us)
    return response


def _rebuild_error(lib: Any, error: dict, request: Any) -> BaseException:
    """The recorded transport error, as an instance of the same library class when possible."""
    name = str(error.get("type", "")).rsplit(".", 1)[-1]
    cls = getattr(lib, name, None)
    message = error.get("message", "recorded error")
    if isinstance(cls, type) and issubclass(cls, getattr(lib, "RequestError", ())):
        return cls(message, request=request)
    return getattr(lib, "ConnectError")(f"{error.get('type')}: {message}", request=request)


# -- the wrappers: twins around the shared pieces above -------------------------------
def sync_send(lib: Any):
    def wrapper(wrapped, instance, args, kwargs):
        session = active()
        if session is None:
            return wrapped(*args, **kwargs)
        request, stream, rest = _bind(args, kwargs)
        request.read()  # a generator body must be read before we can fingerprint it
        decision = _decide(session, request)
        if decision is None:
            return wrapped(*args, **kwargs)
        if isinstance(decision, Serve):
            response = _replay_response(lib, request, decision, is_async=False)
        else:
            try:
                response = wrapped(request, stream=True, **rest)
            except BaseException as exc:
                decision.handle.finish(Status.ERROR, exc)
                raise
            _attach_tee(lib, response, decision.handle, stream, is_async=False)
        if not stream:
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
        request, stream, rest = _bind(args, kwargs)
        await request.aread()
        decision = _decide(session, request)
        if decision is None:
            return await wrapped(*args, **kwargs)
        if isinstance(decision, Serve):
            response = _replay_response(lib, request, decision, is_async=True)
        else:
            try:
                response = await wrapped(request, stream=True, **rest)
            except BaseException as exc:
                decision.handle.finish(Status.ERROR, exc)
                raise
            _attach_tee(lib, response, decision.handle, stream, is_async=True)
        if not stream:
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
