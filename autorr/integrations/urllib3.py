"""``urllib3``, at ``HTTPConnectionPool.urlopen``: for the clients that use it directly
(botocore, so boto3 and Bedrock; ``urllib3.request``; ``PoolManager``).

requests sends through here too, but is recorded one level up (`requests`): a call
made inside a recorded call is that call (`decide` sees it), so it passes through.
Redirects and retries a pool follows inside one ``urlopen`` are part of that call;
those a ``PoolManager`` follows are calls of their own, as they are on the wire.

Recording tees what the caller reads (``read``, ``stream``, ``data``...), decoded when
urllib3 decodes it; a preloaded body is recorded whole. Replay hands back a real
``HTTPResponse`` reading the recorded pieces, so every way of reading it still works.
"""

from __future__ import annotations

import functools
import io
import json
from typing import Any

from .._events import Status
from .._patching import Patch
from .._session import Serve, active
from ._http import (Pieces, PiecesReader, Tee, TeeProxy, call_live, decide, make_request, rebuild_exception,
                    response_meta, rewrite_parts)

__all__ = ["PATCHES", "VERSIONS", "RawTee", "body_bytes", "header_dict", "read_from_stream"]

VERSIONS = {10: "HTTP/1.0", 11: "HTTP/1.1", 20: "HTTP/2"}  # a response's `version`, as text
_VERSION_NUMBERS = {text: number for number, text in VERSIONS.items()}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NAMES = ("method", "url", "body", "headers")  # urlopen's first parameters, in order


class RawTee(TeeProxy):
    """urllib3's response, with what the caller reads also recorded. Every way of
    reading goes through ``read`` or ``stream`` here: urllib3's own ``data``, ``json``,
    ``readinto`` and iteration call the response's methods, not the proxy's."""

    def stream(self, *args: Any, **kwargs: Any):
        return self._self_tee.relay(self.__wrapped__.stream(*args, **kwargs))

    def read(self, amt: int | None = None, *args: Any, **kwargs: Any) -> bytes:
        data = self.__wrapped__.read(amt, *args, **kwargs)
        if data:
            self._self_tee.chunk(data)
        if not data or amt is None:  # read() without a size reads to the end: no b"" follows
            self._self_tee.end()
        return data

    def read1(self, amt: int | None = None, *args: Any, **kwargs: Any) -> bytes:
        data = self.__wrapped__.read1(amt, *args, **kwargs)
        if data:
            self._self_tee.chunk(data)
        else:
            self._self_tee.end()
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    @property
    def data(self) -> bytes:
        if self._self_tee.handle.done:  # read already (preloaded, or read to its end)
            return self.__wrapped__.data
        data = self.__wrapped__.data  # the rest, kept by the response as its body
        if data:
            self._self_tee.chunk(data)
        self._self_tee.end()
        return data

    def json(self) -> Any:
        return json.loads(self.data.decode("utf-8"))

    def __iter__(self):
        pending = b""
        for chunk in self.stream(decode_content=True):
            *lines, pending = (pending + chunk).split(b"\n")
            yield from (line + b"\n" for line in lines)
        if pending:
            yield pending

    def release_conn(self) -> None:
        try:
            self.__wrapped__.release_conn()
        finally:
            self._self_tee.closed()


def header_dict(pairs: list) -> Any:
    """urllib3's headers, repeated names kept apart."""
    try:
        from urllib3 import HTTPHeaderDict
    except ImportError:  # pragma: no cover - urllib3 < 1.26 keeps it elsewhere
        from urllib3._collections import HTTPHeaderDict
    headers = HTTPHeaderDict()
    for name, value in pairs:
        headers.add(name, value)
    return headers


def _arguments(args: tuple, kwargs: dict) -> dict[str, Any]:
    return {**dict(zip(_NAMES, args)), **kwargs}


def _with(args: tuple, kwargs: dict, name: str, value: Any) -> tuple[tuple, dict]:
    """``args`` and ``kwargs`` with ``name`` set to ``value``, where the caller gave it."""
    position = _NAMES.index(name)
    if len(args) > position:
        return args[:position] + (value,) + args[position + 1:], kwargs
    return args, {**kwargs, name: value}


def _url(pool: Any, url: str) -> str:
    if url.startswith(("http://", "https://")):  # sent through a proxy: the whole URL
        return url
    host = pool.host if ":" not in pool.host or pool.host.startswith("[") else f"[{pool.host}]"
    port = pool.port if pool.port not in (None, _DEFAULT_PORTS.get(pool.scheme)) else None
    return f"{pool.scheme}://{host}{'' if port is None else f':{port}'}{url}"


def read_from_stream(body: Any) -> bool:
    """Whether `body_bytes` had to read ``body`` (a file or generator): the call must then
    send the bytes read."""
    return not isinstance(body, (bytes, bytearray, memoryview, str, type(None)))


def body_bytes(body: Any) -> bytes:
    """A request body as the bytes sent; a file or generator is read (once: the caller
    then sends these bytes)."""
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    data = body.read() if hasattr(body, "read") else b"".join(
        part.encode() if isinstance(part, str) else bytes(part) for part in body)
    return data.encode("utf-8") if isinstance(data, str) else data


def _text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)


def _headers(pool: Any, headers: Any) -> list[tuple[str, str]]:
    """As text: botocore gives some values as bytes (``X-Amz-Date``)."""
    headers = pool.headers if headers is None else headers
    return [(_text(k), _text(v)) for k, v in (headers.items() if hasattr(headers, "items") else headers or ())]


def _record(wrapped: Any, args: tuple, kwargs: dict, handle: Any, preload: bool, decoded: bool) -> Any:
    response = call_live(handle, wrapped, args, kwargs)
    pairs = list(response.headers.items())  # HTTPHeaderDict keeps repeated headers apart
    version, reason = VERSIONS.get(response.version, "HTTP/1.1"), response.reason or ""
    if decoded:  # the caller gets the body decoded: the headers that said how go
        meta = response_meta(response.status, pairs, version, reason, not preload)
    else:
        meta = {"status": response.status, "headers": pairs, "http_version": version, "reason": reason,
                "streamed": not preload}
    handle.set_response(meta)
    if preload:  # read inside urlopen: the body is all there
        handle.meta["end"] = "eof"
        handle.chunk(response.data or b"")
        handle.finish(Status.OK)
        return response
    return RawTee(response, Tee(handle))


@functools.lru_cache(maxsize=None)
def _replayed_class() -> type:
    import urllib3

    class ReplayedResponse(urllib3.HTTPResponse):
        """A recorded response. A chunked body streams piece by piece as urllib3 streams
        one live (each transfer chunk, split at ``amt``), rather than refilled to ``amt``
        at every step as a body of known length is."""

        takes_version_string = urllib3.__version__.split(".")[0] != "1"  # 1.26 has none

        def stream(self, amt: int | None = 2**16, decode_content: bool | None = None):
            if not self.chunked or "content-encoding" in self.headers:  # encoded: urllib3 decodes it
                yield from super().stream(amt, decode_content)
                return
            while data := self._fp.read1(amt or 2**16):
                yield data
            self._fp.close()

    return ReplayedResponse


def _replay(method: str, url: str, decision: Serve, preload: bool, decoded: bool) -> Any:
    event = decision.event
    if event.status == Status.ERROR.value and event.response is None:
        raise rebuild_exception(event.error or {})
    meta = event.response or {}
    body = io.BufferedReader(PiecesReader(Pieces(event, decision.timing_preserve, call=(method, url)).sync()))
    replayed = _replayed_class()
    arguments = dict(body=body, headers=header_dict(meta.get("headers") or []), status=meta.get("status", 200),
                     version=_VERSION_NUMBERS.get(meta.get("http_version"), 11), reason=meta.get("reason"),
                     preload_content=preload, decode_content=decoded, request_method=method, request_url=url,
                     enforce_content_length=False)
    if replayed.takes_version_string:
        arguments["version_string"] = meta.get("http_version") or "HTTP/1.1"
    return replayed(**arguments)


_REWRITES: Any = None  # a PoolManager for overridden calls' endpoints


def _rewritten(pool: Any, url: str, given: dict, body: Any, rewrite: dict,
               args: tuple, kwargs: dict) -> tuple[Any, tuple, dict]:
    """The urlopen to call and its arguments, for a call an A/B override sends elsewhere:
    the target's own pool (its urlopen runs inside this recorded call: not recorded again)."""
    global _REWRITES
    import urllib3

    new_url, headers, new_body = rewrite_parts(url, _headers(pool, given.get("headers")), body_bytes(body), rewrite)
    if _REWRITES is None:
        _REWRITES = urllib3.PoolManager()
    target = _REWRITES.connection_from_url(new_url)
    args, kwargs = _with(args, kwargs, "url", urllib3.util.parse_url(new_url).request_uri)
    args, kwargs = _with(args, kwargs, "body", new_body)
    args, kwargs = _with(args, kwargs, "headers", dict(headers))
    return target.urlopen, args, kwargs


def _urlopen(module: Any):
    def wrapper(wrapped, instance, args, kwargs):
        session = active()
        if session is None:
            return wrapped(*args, **kwargs)
        given = _arguments(args, kwargs)
        method, url = str(given["method"]).upper(), _url(instance, str(given["url"]))
        body, read = given.get("body"), []

        def request() -> Any:  # not made for a call inside a recorded one (requests'), which passes through
            read.append(body_bytes(body))
            return make_request(method, url, _headers(instance, given.get("headers")), read[0])

        decision = decide(session, request, lambda: f"{method} {url}")
        if read and read_from_stream(body):
            body = read[0]  # a file or generator read for the fingerprint: sent as the bytes read
            args, kwargs = _with(args, kwargs, "body", body)
        preload, decoded = given.get("preload_content", True), given.get("decode_content", True)
        if decision is None:
            return wrapped(*args, **kwargs)
        if isinstance(decision, Serve):
            return _replay(method, url, decision, preload, decoded)
        if decision.rewrite:  # an A/B override: the same call, to the endpoint it names
            wrapped, args, kwargs = _rewritten(instance, url, given, body, decision.rewrite, args, kwargs)
        return _record(wrapped, args, kwargs, decision.handle, preload, decoded)

    return wrapper


PATCHES = (Patch("urllib3.connectionpool", "HTTPConnectionPool.urlopen", _urlopen),)
