"""Failed calls replay as they failed live: the same exception class, text and arguments.

An agent reads more off an error than its message: `e.partial` of an `IncompleteRead`,
`e.args` of a refused connection. Each case fails live against a real local server (or
a port nothing listens on), is recorded, then replayed with the server gone.
"""

from __future__ import annotations

import http.client
import socket
import socketserver
import threading
import urllib.error
import urllib.request
from typing import Any, Callable

import pytest

import autorr
from autorr._exc_record import error_record, recorded_args
from autorr._redact import Redactor
from autorr.integrations._http import rebuild_exception


class _Handler(socketserver.StreamRequestHandler):
    """/hang: reads the request and never answers; /cut: a chunked body cut after "hello"."""

    def handle(self) -> None:
        line = self.rfile.readline().decode()
        while self.rfile.readline() not in (b"\r\n", b""):
            pass
        if " /hang" in line:
            self.server.release.wait(30)  # type: ignore[attr-defined]
            return
        self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n")
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def broken_server():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.release = threading.Event()  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.release.set()  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


@pytest.fixture
def refused_url() -> str:
    with socket.socket() as sock:  # a port just freed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/x"


def _failure(call: Callable[[], Any]) -> BaseException:
    with pytest.raises(BaseException) as info:
        call()
    return info.value


def _args(exc: BaseException) -> list[Any]:
    """The arguments as the caller compares them: the plain ones as they are, an exception
    wrapped inside one (requests wraps urllib3's, which a recording keeps as text) by its text."""
    plain = (str, bytes, int, float, bool, type(None))
    return [a if isinstance(a, plain) else str(a) for a in exc.args]


def _same_live_and_replayed(tmp_path, call: Callable[[], Any]) -> tuple[BaseException, BaseException]:
    path = tmp_path / "errors.db"
    with autorr.recording(path):
        live = _failure(call)
    with autorr.replaying(path, mode="strict") as player:
        replayed = _failure(call)
    assert player.statistics()["matched"] == 1
    assert type(replayed) is type(live)
    assert str(replayed) == str(live)
    assert _args(replayed) == _args(live)
    return live, replayed


def _requests_get(url: str, **kwargs: Any) -> Callable[[], Any]:
    import requests

    def call() -> Any:
        with requests.get(url, stream=True, **kwargs) as response:
            return response.content
    return call


def _httpx_get(lib: str, url: str, **kwargs: Any) -> Callable[[], Any]:
    client_lib = pytest.importorskip(lib)

    def call() -> Any:
        with client_lib.Client(**kwargs) as client:
            return client.get(url).read()
    return call


def _urlopen(url: str, **kwargs: Any) -> Callable[[], Any]:
    def call() -> Any:
        with urllib.request.urlopen(url, **kwargs) as response:
            return response.read()
    return call


@pytest.mark.parametrize("lib", ["requests", "httpx", "httpx2", "urllib"])
def test_a_refused_connection_replays_as_it_failed(tmp_path, refused_url, lib):
    call = {"requests": lambda: _requests_get(refused_url), "urllib": lambda: _urlopen(refused_url),
            "httpx": lambda: _httpx_get("httpx", refused_url),
            "httpx2": lambda: _httpx_get("httpx2", refused_url)}[lib]()
    live, replayed = _same_live_and_replayed(tmp_path, call)
    if lib == "urllib":  # URLError(ConnectionRefusedError(111, 'Connection refused'))
        assert type(replayed.reason) is ConnectionRefusedError and replayed.reason.args == live.reason.args


@pytest.mark.parametrize("lib", ["requests", "httpx", "httpx2", "urllib"])
def test_a_read_timeout_replays_as_it_failed(tmp_path, broken_server, lib):
    url = broken_server + "/hang"
    call = {"requests": lambda: _requests_get(url, timeout=0.3), "urllib": lambda: _urlopen(url, timeout=0.3),
            "httpx": lambda: _httpx_get("httpx", url, timeout=0.3),
            "httpx2": lambda: _httpx_get("httpx2", url, timeout=0.3)}[lib]()
    _same_live_and_replayed(tmp_path, call)


@pytest.mark.parametrize("lib", ["requests", "httpx", "httpx2", "urllib"])
def test_a_body_cut_mid_chunk_replays_as_it_failed(tmp_path, broken_server, lib):
    url = broken_server + "/cut"
    call = {"requests": lambda: _requests_get(url), "urllib": lambda: _urlopen(url),
            "httpx": lambda: _httpx_get("httpx", url), "httpx2": lambda: _httpx_get("httpx2", url)}[lib]()
    live, replayed = _same_live_and_replayed(tmp_path, call)
    if lib == "urllib":
        assert replayed.partial == live.partial == b"hello"


def test_incomplete_read_keeps_its_partial_body_and_expected_count():
    live = http.client.IncompleteRead(b"hello", 3)
    record = error_record(live)
    assert record["args"] == [{"latin1": "hello"}]
    replayed = rebuild_exception(record)
    assert (type(replayed), str(replayed), replayed.args, replayed.partial, replayed.expected) == (
        http.client.IncompleteRead, "IncompleteRead(5 bytes read, 3 more expected)", (b"hello",), b"hello", 3)


def test_arguments_that_are_not_plain_or_too_large_are_not_kept():
    assert "args" not in error_record(urllib.error.URLError(ConnectionRefusedError(111, "refused")))
    assert "args" not in error_record(ValueError("x" * (65 << 10)))
    assert "args" not in error_record(ValueError(float("nan")))
    assert error_record(ConnectionRefusedError(111, "Connection refused"))["args"] == [111, "Connection refused"]


def test_a_recording_made_before_arguments_were_kept_replays_as_before():
    old = {"type": "http.client.IncompleteRead", "message": "IncompleteRead(5 bytes read)"}
    replayed = rebuild_exception(old)
    assert type(replayed) is http.client.IncompleteRead and replayed.partial == "IncompleteRead(5 bytes read)"
    assert recorded_args(old) is None


def test_arguments_that_do_not_rebuild_the_same_text_fall_back_to_the_message():
    record = {"type": "builtins.ConnectionRefusedError", "message": "[Errno 111] Connection refused",
              "args": ["something else"]}
    replayed = rebuild_exception(record)
    assert str(replayed) == "[Errno 111] Connection refused"


class _NeedsItsConnection(ConnectionError):
    def __init__(self, conn, message):
        super().__init__(message)
        self.conn = conn


class _PrintsItsConnection(_NeedsItsConnection):
    def __str__(self):
        return f"{self.conn}: {self.args[0]}"


def test_a_class_that_wants_more_than_a_message_is_still_that_class_if_it_reads_as_recorded():
    """urllib3's NewConnectionError(conn, message): botocore tells it apart from its base
    class. One whose text needs what was not recorded falls back to the nearest base."""
    record = {"type": f"{__name__}._NeedsItsConnection", "message": "Connection refused", "attrs": {"errno": 111}}
    replayed = rebuild_exception(record)
    assert (type(replayed), str(replayed), replayed.errno) == (_NeedsItsConnection, "Connection refused", 111)
    replayed = rebuild_exception(dict(record, type=f"{__name__}._PrintsItsConnection"))
    assert (type(replayed), str(replayed)) == (_NeedsItsConnection, "Connection refused")


def test_a_secret_in_an_error_argument_is_redacted_like_its_message(tmp_path):
    """Bytes are kept as latin-1 text, not base64: the redaction scanning the stored JSON sees them."""
    from autorr._events import CallRequest, Event
    from autorr.store import Reader, Writer

    secret = "sk-proj-" + "a1B2c3D4e5F6g7H8i9J0" * 2
    error = http.client.IncompleteRead(f"token={secret}".encode())
    path = tmp_path / "r.db"
    writer = Writer(path, redactor=Redactor(environ={}), synchronous=True)
    writer.put(Event(kind="http", fingerprint="fp", occurrence=0, seq=1, started_at=1.0, duration_us=1, status="error",
                     request=CallRequest(method="GET", url="http://h/x", host="h", path="/x", query=[], headers=[],
                                         body=b"", content_type=""),
                     error=error_record(error)))
    writer.close()
    with Reader(path) as reader:
        (event,) = list(reader.events())
    assert secret not in str(event.error)
    (partial,) = recorded_args(event.error)
    assert partial.startswith(b"token=") and secret.encode() not in partial
    assert secret not in repr(rebuild_exception(event.error).args)
