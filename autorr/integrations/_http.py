"""What the HTTP integrations share: the tee that records a live body, the recorded
pieces a replayed body is served from, response metadata and rebuilt errors."""

from __future__ import annotations

import contextvars
import importlib
import io
import logging
import threading
import time
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

import wrapt

from .._events import CallRequest, Kind, Status, find_header, text_headers
from .._session import active
from ..replay._form import Form, form_of, wire
from ._decode import decoded_headers, decoder_of

__all__ = ["Form", "Pieces", "PiecesReader", "Tee", "TeeProxy", "async_sleep", "call_live", "decide", "form_of",
           "enter_live", "exit_live", "make_request", "exception_class", "rebuild_exception", "redirects_meta",
           "response_meta", "rewrite_parts", "wire"]

log = logging.getLogger("autorr")
_ERROR = Status.ERROR.value
_INCOMPLETE = Status.INCOMPLETE.value


def make_request(method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> CallRequest:
    """A `CallRequest` from plain parts (for libraries without a parsed URL object)."""
    parts = urlsplit(url)
    content_type = find_header(headers, "content-type") or ""
    return CallRequest(method=method.upper(), url=url, host=parts.hostname or "", path=parts.path or "/",
                       query=parse_qsl(parts.query, keep_blank_values=True), headers=headers, body=body,
                       content_type=content_type)


# Set while a captured HTTP call runs live: a client used inside another's transport
# (litellm's aiohttp transport under httpx, say) is the same call, recorded once.
_inside: contextvars.ContextVar[bool] = contextvars.ContextVar("autorr_inside_http", default=False)


def enter_live() -> contextvars.Token:
    return _inside.set(True)


def exit_live(token: contextvars.Token) -> None:
    _inside.reset(token)


def call_live(handle: Any, wrapped: Callable[..., Any], args: tuple, kwargs: dict,
              stored: Callable[[BaseException], BaseException] | None = None) -> Any:
    """The real call, marked live (see `enter_live`); what it raises is the recorded answer
    (as ``stored(exc)`` says, if given)."""
    token = enter_live()
    try:
        return wrapped(*args, **kwargs)
    except BaseException as exc:
        handle.finish(Status.ERROR, exc if stored is None else stored(exc))
        raise
    finally:
        exit_live(token)


def decide(session: Any, build: Callable[..., CallRequest], what: Callable[..., str], *args: Any) -> Any:
    """Ask the session; in record mode an autorr failure lets the call through unrecorded.
    ``build(*args)`` makes the request; ``what(*args)`` names the call in the warning
    (formatted only then). Passing functions and their arguments, not closures, spares
    every call making two functions."""
    if _inside.get():
        return None
    try:
        return session.decide(Kind.HTTP, build(*args))
    except Exception as exc:
        if not session.fail_open:  # replay must not fall through to the network
            raise
        log.warning("autorr: not recording %s: %s", what(*args), exc)
        return None


def response_meta(status: int, headers: list[tuple[str, str]] | list[tuple[bytes, bytes]], http_version: str | bytes,
                  reason: str | bytes, streamed: bool) -> dict[str, Any]:
    """The response record of a body its library hands over decoded: the headers that
    describe an encoding autorr would have undone are dropped (see `_decode`).

    ``headers``, ``http_version`` and ``reason`` may be raw bytes: the writer thread
    decodes them (see `text_response`).
    """
    text = text_headers(headers)
    if decoder_of(text)[1] is not None:
        headers = decoded_headers(text)
    return {"status": status, "headers": headers, "http_version": http_version, "reason": reason,
            "streamed": streamed}


def redirects_meta(hops: Any, method: str, url: str) -> dict[str, Any]:
    """What a response record keeps of the redirects the client followed: each hop's
    (status, method, URL, raw header pairs), and the request it ended with. Rare, so
    decoded here, as text."""
    return {"redirects": [{"status": status, "method": hop_method, "url": hop_url,
                           "headers": [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]}
                          for status, hop_method, hop_url, raw in hops],
            "final": [method, url]}


def rewrite_parts(url: str, headers: list[tuple[str, str]], body: bytes,
                  rewrite: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Apply an A/B override (model, base URL, key) to a live LLM request."""
    import orjson

    data = orjson.loads(body)
    data["model"] = rewrite["model"]
    body = orjson.dumps(data)
    if rewrite.get("base_url"):
        path = urlsplit(url).path
        suffix = path.split("/v1/", 1)[1] if "/v1/" in path else path.lstrip("/")
        url = rewrite["base_url"].rstrip("/") + "/" + suffix
    dropped = {"content-length", "host"} | ({"authorization", "x-api-key"} if rewrite.get("api_key") else set())
    headers = [(k, v) for k, v in headers if k.lower() not in dropped]
    if rewrite.get("api_key"):
        headers.append(("Authorization", f"Bearer {rewrite['api_key']}"))
    return url, headers, body


def exception_class(error: dict[str, Any]) -> type | None:
    """The recorded exception's class, when it can still be imported."""
    module, _, name = str(error.get("type", "")).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None
    return cls if isinstance(cls, type) and issubclass(cls, BaseException) else None


def rebuild_exception(error: dict[str, Any], **kwargs: Any) -> BaseException:
    """The recorded exception, as an instance of the same class when one can be made,
    with its arguments (when they were plain, see `_exc_record`) and the plain attributes
    it had (``status``, ``errno``...)."""
    from .._exc_record import recorded_args

    message = error.get("message", "recorded error")
    cls = exception_class(error)
    if cls is not None:
        # Its own arguments first (`IncompleteRead(partial)` says how many bytes it read),
        # kept if it then reads as the recorded one did; a recording made before they
        # were kept has none. Some classes want more than a message (urllib3's
        # NewConnectionError wants its connection, aiohttp's ClientConnectorError the
        # connection key): then the class made without its constructor, if it reads as
        # the recorded one did, else the nearest base class that can be made, so the
        # caller's `except` clauses still match.
        args = recorded_args(error)
        for candidate in cls.__mro__:
            if candidate in (BaseException, object) or not issubclass(candidate, BaseException):
                continue
            for positional in ((args, (message,)) if candidate is cls and args is not None else ((message,),)):
                for extra in (kwargs, {}):
                    try:
                        exc = _with_attrs(candidate(*positional, **extra), error)
                    except Exception as failed:  # a constructor that checks what it is given
                        if positional is args or isinstance(failed, TypeError):
                            continue
                        raise
                    if positional is args and not _reads_as(exc, message):
                        continue
                    return exc
            try:
                bare = candidate.__new__(candidate)
                bare.args = (message,)
            except Exception:  # a class that cannot be made so either
                continue
            if _reads_as(_with_attrs(bare, error), message):
                return bare
    return ConnectionError(f"{error.get('type', '')}: {message} (recorded)")


def _with_attrs(exc: BaseException, error: dict[str, Any]) -> BaseException:
    """``exc`` with the plain attributes the recorded one had (``status``, ``errno``...)."""
    for name, value in (error.get("attrs") or {}).items():
        if name != "message" and getattr(exc, name, None) is None:
            try:
                setattr(exc, name, value)
            except (AttributeError, TypeError):  # read-only on this class
                pass
    return exc


def _reads_as(exc: BaseException, message: str) -> bool:
    try:
        return str(exc) == message
    except Exception:  # a __str__ that needs what was not recorded
        return False


async def async_sleep(delay: float) -> None:
    try:
        import anyio  # trio and asyncio alike

        await anyio.sleep(delay)
    except ImportError:  # pragma: no cover - httpx and httpx2 both depend on anyio
        import asyncio

        await asyncio.sleep(delay)


class TeeProxy(wrapt.ObjectProxy):  # type: ignore[misc]
    """A library's live response, its body recorded by a `Tee` as the caller reads it.
    ``with`` and ``close`` go through the proxy: the response's own ``__enter__`` returns
    the response itself, whose reads would pass the tee by."""

    def __init__(self, response: Any, tee: "Tee") -> None:
        super().__init__(response)
        self._self_tee = tee

    def __enter__(self) -> Any:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_tee.closed()


class Tee:
    """Feeds a live response's chunks, as received, into the recording handle."""

    __slots__ = ("handle",)

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def chunk(self, data: bytes) -> None:
        try:
            self.handle.chunk(data)
        except Exception as exc:  # a recording problem never breaks the caller's stream
            log.debug("autorr: could not record a chunk: %s", exc)

    def relay(self, chunks: Any) -> Any:
        """Pass ``chunks`` through to the caller as they come, recording each one."""
        try:
            for chunk in chunks:
                self.chunk(chunk)
                yield chunk
        except BaseException as exc:
            self.fail(exc)
            raise
        self.end()

    async def arelay(self, chunks: Any) -> Any:
        try:
            async for chunk in chunks:
                self.chunk(chunk)
                yield chunk
        except BaseException as exc:
            self.fail(exc)
            raise
        self.end()

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

    def __del__(self) -> None:
        # A response dropped half-read still leaves the chunks that did arrive (cheaper
        # than a weakref.finalize per response: the tee lives exactly as long as the body).
        if not self.handle.done:
            self.handle.finish(Status.INCOMPLETE)


# How much longer than the recorded run a daemon thread waits at a cut-short body's end.
_OUTLIVE_GRACE = 2.0


def _wait_as_recorded(t0: float, duration_us: int | None) -> None:
    """A daemon thread reading past a body cut short when recorded waits there as the
    recorded run's did: its process ended (the recording stopped at exit) while the thread
    still waited for the rest. Replayed at once, the thread gets there sooner; ending the
    process first ends it just the same, with nothing reported. Read past once the recorded
    run's process would have ended (plus `_OUTLIVE_GRACE`), it is a mismatch: the run went on
    where the recording cannot follow. The main thread and non-daemon threads keep the
    process alive and fail at once."""
    thread = threading.current_thread()
    if not thread.daemon or thread is threading.main_thread():
        return
    deadline = t0 + (duration_us or 0) / 1e6 + _OUTLIVE_GRACE
    main = threading.main_thread()
    while main.is_alive() and time.perf_counter() < deadline:
        main.join(0.05)
    while not main.is_alive():  # the interpreter is shutting down: it ends this thread
        time.sleep(0.05)


class Pieces:
    """A recorded body, served once, chunk by chunk, at the recorded offsets if asked,
    ending as it ended when recorded: with its error (a dropped connection, a timeout)
    after the chunks that did arrive.

    One-shot: the openai SDK drains a stream again after [DONE]; a body that started
    over would replay (and sleep) a second time.
    """

    __slots__ = ("event", "t0", "preserve", "used", "request", "call", "session")

    def __init__(self, event: Any, preserve: bool, request: Any = None, call: tuple[str, str] | None = None) -> None:
        """``request``: the library's, for the errors it is rebuilt into; ``call``: (method,
        URL) where there is none, to name the call in a mismatch."""
        self.event, self.preserve, self.used, self.request = event, preserve, False, request
        self.call = call
        # The player that served it, for a body cut short when recorded: the caller may read
        # on in a thread or a context where another session, or none, is active.
        self.session = active() if event.status == _INCOMPLETE else None
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

    def failure(self) -> BaseException | None:
        """The exception the body ended with when recorded, or None."""
        event = self.event
        if event.status == _INCOMPLETE:
            return self._cut_short()
        if event.status != _ERROR or not event.error:
            return None
        return rebuild_exception(event.error, **({} if self.request is None else {"request": self.request}))

    def _cut_short(self) -> BaseException | None:
        """A body whose recording ended before it did (the recording stopped while it was
        open, or the recorded run dropped it half-read), read past that point: the run has
        gone where the recording cannot follow. Strict replay fails there (the error, to
        raise where the caller reads on); warn and hybrid end the body, reported."""
        session = self.session
        if not hasattr(session, "content_mismatch"):
            return None
        _wait_as_recorded(self.t0, self.event.duration_us)
        method, url = self.call or (str(getattr(self.request, "method", "")), str(getattr(self.request, "url", "")))
        request = make_request(method, url, [], b"")
        size = len(self.event.body or b"")
        why = (f"the recorded answer ends after {size} bytes, cut short when recorded (the recorded run stopped "
               "reading it, or its recording stopped while it was open): there is nothing more to serve"
               if self.event.response is not None else
               "the recording stopped before this call's answer arrived: there is no answer to serve")
        try:
            session.content_mismatch(Kind.HTTP, request, [why])
        except BaseException as exc:  # noqa: BLE001 - strict's StrictReplayMismatch, for the reader
            return exc
        return None

    def sync(self):
        """The pieces, sleeping until each one is due."""
        fresh = not self.used
        for piece, due in self.take():
            delay = due - time.perf_counter() if due else 0
            if delay > 0:
                time.sleep(delay)
            yield piece
        failure = self.failure() if fresh else None
        if failure is not None:
            raise failure

    async def aio(self):
        fresh = not self.used
        async for piece in self.paced():
            yield piece
        failure = self.failure() if fresh else None
        if failure is not None:
            raise failure

    async def paced(self):
        """The pieces, each when it is due, and no ending (see `aio`)."""
        for piece, due in self.take():
            delay = due - time.perf_counter() if due else 0
            if delay > 0:
                await async_sleep(delay)
            yield piece

    def ending(self) -> Any:
        """How the body ends, for a reader fed ahead of the caller: the recorded error (or
        None), or, for a body cut short when recorded, `failure` itself, to be called
        only if the caller reads past the end (a cut-short body is a mismatch only then)."""
        return self.failure if self.event.status == _INCOMPLETE else self.failure()


class PiecesReader(io.RawIOBase):
    """Recorded pieces (an iterator of bytes) as a raw stream: a BufferedReader on it reads
    as one on the socket does live (read(n) waits for n bytes, read1 does not)."""

    def __init__(self, pieces: Any) -> None:
        self._pieces, self._left = pieces, memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._left = memoryview(piece)
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n
