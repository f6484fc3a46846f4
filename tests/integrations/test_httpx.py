"""httpx and httpx2 at the `Client.send` choke point, against a real loopback server."""

from __future__ import annotations

import asyncio
import gzip
import json
import subprocess
import sys
import time

import pytest

import autorr

from conftest import _clean_env

LIBS = ["httpx", "httpx2"]


def _stop(srv):
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("libname", LIBS)
def test_sync_record_then_replay_offline(libname, echo_server, recordings):
    lib = pytest.importorskip(libname)
    url, srv = echo_server

    def agent():
        with lib.Client() as client:
            out = [client.get(url + "/a?x=1").json(), client.post(url + "/echo", json={"q": 1}).json()]
            with client.stream("POST", url + "/sse", json={"n": 4}) as r:
                out.append([line for line in r.iter_lines() if line])
            out.append(client.get(url + "/gzip").json())
            out.append(client.get(url + "/status/503").status_code)
            out.append(client.get(url + "/a?x=1").json())  # the same request again: its own answer
            head = client.get(url + "/status/503")
            out.append((head.reason_phrase, head.http_version, head.headers.raw))  # as received, byte for byte
        return out

    with autorr.recording(recordings / "run.db") as rec:
        live = agent()
    assert rec.manifest.total_events == 7
    _stop(srv)
    with autorr.replaying(recordings / "run.db") as player:
        replayed = agent()
    assert replayed == live
    assert player.statistics()["matched"] == 7 and player.statistics()["success_rate"] == 1.0


@pytest.mark.parametrize("libname", LIBS)
def test_async_record_then_replay(libname, echo_server, recordings):
    lib = pytest.importorskip(libname)
    url, srv = echo_server

    async def agent():
        async with lib.AsyncClient() as client:
            out = [(await client.post(url + "/echo", json={"q": 2})).json()]
            async with client.stream("POST", url + "/sse", json={"n": 3}) as r:
                out.append([line async for line in r.aiter_lines() if line])
        return out

    with autorr.recording(recordings / "run.db"):
        live = asyncio.run(agent())
    _stop(srv)
    with autorr.replaying(recordings / "run.db"):
        assert asyncio.run(agent()) == live


@pytest.mark.parametrize("libname", LIBS)
def test_a_replayed_body_is_left_as_reading_it_live_leaves_it(libname, echo_server, recordings):
    """A body replayed whole (not streamed) is handed over read: what the client and its
    hooks can see of it is what a live read leaves."""
    lib = pytest.importorskip(libname)
    url, srv = echo_server
    seen = []

    def state(r):
        raw = [r.status_code, r.content, r.text, r.is_closed, r.is_stream_consumed, b"".join(r.iter_bytes())]
        try:
            r.iter_raw()  # a generator: nothing runs until it is stepped
            next(r.iter_raw())
        except lib.StreamConsumed:
            raw.append("consumed")
        return raw

    def agent():
        with lib.Client(event_hooks={"response": [lambda r: seen.append(r.is_closed)]}) as client:
            plain = client.post(url + "/echo", json={"q": 1})
            out = state(plain) + [plain.num_bytes_downloaded, plain.json()]
            return out + state(client.get(url + "/gzip"))  # decoded when recorded: read as plain bytes

    async def aagent():
        async with lib.AsyncClient() as client:
            r = await client.post(url + "/echo", json={"q": 2})
            return [r.content, r.is_closed, r.is_stream_consumed, r.num_bytes_downloaded, await r.aread()]

    with autorr.recording(recordings / "run.db"):
        live = agent(), asyncio.run(aagent())
    _stop(srv)
    with autorr.replaying(recordings / "run.db"):
        assert (agent(), asyncio.run(aagent())) == live
    assert seen == [False, False, False, False]  # hooks run before the body is read, as live


@pytest.mark.parametrize("libname", LIBS)
def test_a_body_broken_midway_replays_its_chunks_then_its_error(libname, echo_server, recordings):
    lib = pytest.importorskip(libname)
    url, srv = echo_server
    broken = {"n": 4, "drop": 2}

    def outcome(read):
        got = []
        try:
            read(got)
        except Exception as exc:
            got.append(type(exc).__name__)
        return got

    def agent():
        with lib.Client() as client:
            def streamed(got):
                with client.stream("POST", url + "/sse", json=broken) as r:
                    got.extend(line for line in r.iter_lines() if line)

            return [outcome(streamed), outcome(lambda got: got.append(client.post(url + "/sse", json=broken).text))]

    async def aagent():
        async with lib.AsyncClient() as client:
            got = []
            try:
                async with client.stream("POST", url + "/sse", json=broken) as r:
                    got.extend([line async for line in r.aiter_lines() if line])
            except Exception as exc:
                got.append(type(exc).__name__)
            return got

    with autorr.recording(recordings / "run.db"):
        live = agent(), asyncio.run(aagent())
    assert live[0][0][-1] == live[0][1][-1] == live[1][-1] == "RemoteProtocolError" and len(live[0][0]) == 3
    _stop(srv)
    with autorr.replaying(recordings / "run.db") as player:
        assert (agent(), asyncio.run(aagent())) == live
    assert player.statistics()["matched"] == 3


@pytest.mark.parametrize("libname", LIBS)
def test_followed_redirects_replay_where_they_ended(libname, echo_server, recordings):
    lib = pytest.importorskip(libname)
    url, srv = echo_server

    def agent():
        with lib.Client(follow_redirects=True) as client:
            r = client.get(url + "/redirect/2")
            return (r.status_code, str(r.url), r.request.method, r.json()["path"],
                    [(h.status_code, str(h.url), h.headers["location"]) for h in r.history])

    with autorr.recording(recordings / "run.db"):
        live = agent()
    assert len(live[-1]) == 2 and live[1].endswith("/a?from=redirect")
    _stop(srv)
    with autorr.replaying(recordings / "run.db"):
        assert agent() == live


def test_stream_is_teed_not_buffered(echo_server, recordings):
    import httpx2

    url, _ = echo_server
    with autorr.recording(recordings / "run.db"), httpx2.Client() as client:
        with client.stream("POST", url + "/sse", json={"n": 4, "gap": 0.15}) as r:
            started = time.perf_counter()
            chunks = r.iter_raw()
            first = next(chunks)
            first_at = time.perf_counter() - started
            rest = b"".join(chunks)
    assert first.startswith(b"data:") and rest
    # the whole stream takes >= 450 ms; the first chunk must not wait for it
    assert first_at < 0.3


def test_preserve_timing_replays_the_gaps(echo_server, recordings):
    import httpx2

    url, srv = echo_server
    with autorr.recording(recordings / "run.db"), httpx2.Client() as client:
        client.post(url + "/sse", json={"n": 3, "gap": 0.1})
    _stop(srv)
    for timing, low, high in (("preserve", 0.18, 2.0), ("fast", 0.0, 0.1)):
        with autorr.replaying(recordings / "run.db", timing=timing), httpx2.Client() as client:
            started = time.perf_counter()
            with client.stream("POST", url + "/sse", json={"n": 3, "gap": 0.1}) as r:
                for _ in r.iter_raw():
                    pass
            took = time.perf_counter() - started
        assert low <= took <= high, (timing, took)


def test_half_read_stream_is_kept(echo_server, recordings):
    import httpx2

    url, _ = echo_server
    with autorr.recording(recordings / "run.db") as rec, httpx2.Client() as client:
        with client.stream("POST", url + "/sse", json={"n": 5, "gap": 0.02}) as r:
            next(r.iter_raw())
    assert rec.manifest.total_events == 1
    from autorr.store import Reader

    with Reader(recordings / "run.db") as reader:
        (event,) = reader.events()
        assert event.meta["end"] == "closed" and 1 <= len(event.chunks) < 5


def test_connection_error_is_recorded_and_replayed(recordings):
    import httpx2

    with autorr.recording(recordings / "run.db"), httpx2.Client() as client:
        with pytest.raises(httpx2.ConnectError):
            client.get("http://127.0.0.1:9/nothing-listens-here")
    with autorr.replaying(recordings / "run.db"), httpx2.Client() as client:
        with pytest.raises(httpx2.ConnectError):
            client.get("http://127.0.0.1:9/nothing-listens-here")


def test_strict_mismatch_is_a_base_exception_with_a_diff(echo_server, recordings):
    import httpx2

    url, srv = echo_server
    with autorr.recording(recordings / "run.db"), httpx2.Client() as client:
        client.post(url + "/echo", json={"messages": [{"role": "user", "content": "What is 2+2?"}]})
    _stop(srv)
    with autorr.replaying(recordings / "run.db") as player, httpx2.Client() as client:
        with pytest.raises(autorr.StrictReplayMismatch) as info:
            try:
                client.post(url + "/echo", json={"messages": [{"role": "user", "content": "What is 3+3?"}]})
            except Exception:  # what agent frameworks do: must not catch it
                pytest.fail("a strict mismatch was caught by `except Exception`")
    message = str(info.value)
    assert "POST 127.0.0.1/echo" in message and "$.messages[0].content" in message
    assert "'What is 2+2?'" in message and "'What is 3+3?'" in message
    (detail,) = player.mismatches()
    assert detail["type"] == "no_match" and detail["action"] == "raised"
    assert any("$.messages[0].content" in line for line in detail["diff"])


def test_warn_serves_nearest_and_counts(echo_server, recordings):
    import httpx2

    url, srv = echo_server
    with autorr.recording(recordings / "run.db"), httpx2.Client() as client:
        recorded = client.post(url + "/echo", json={"q": "a"}).json()
    _stop(srv)
    with autorr.replaying(recordings / "run.db", mode="warn") as player, httpx2.Client() as client:
        assert client.post(url + "/echo", json={"q": "b"}).json() == recorded
        assert client.post(url + "/echo", json={"q": "a"}).json() == recorded  # its own recorded answer
        assert client.post(url + "/echo", json={"q": "a"}).json() == recorded  # exhausted: nearest again
    stats = player.statistics()
    assert stats["mismatch_count"] == 2 and stats["matched"] == 1
    assert [m["type"] for m in player.mismatches()] == ["no_match", "exhausted"]


def test_hybrid_goes_live_for_the_changed_call_only(echo_server, recordings):
    import httpx2

    url, srv = echo_server
    with autorr.recording(recordings / "run.db"), httpx2.Client() as client:
        client.post(url + "/echo", json={"q": "a"})
        client.post(url + "/echo", json={"q": "b"})
    srv.RequestHandlerClass.hits.clear()
    with autorr.replaying(recordings / "run.db", mode="hybrid") as player, httpx2.Client() as client:
        client.post(url + "/echo", json={"q": "a"})
        changed = client.post(url + "/echo", json={"q": "CHANGED"}).json()
    assert srv.RequestHandlerClass.hits == ["/echo"] and changed["echo"] == {"q": "CHANGED"}
    child = player.child
    assert child is not None and child.manifest.total_events == 1
    assert child.manifest.parent_id == "run"
    # the child replays the whole new run offline: parent prefix + child suffix
    _stop(srv)
    with autorr.replaying(child.path), httpx2.Client() as client:
        client.post(url + "/echo", json={"q": "a"})
        assert client.post(url + "/echo", json={"q": "CHANGED"}).json() == changed


def test_recording_off_leaves_calls_untouched(echo_server):
    import httpx2

    url, _ = echo_server
    assert httpx2.Client().get(url + "/plain").json()["path"] == "/plain"


def test_telemetry_is_neither_recorded_nor_sent_in_replay(echo_server, recordings):
    import httpx2

    url, srv = echo_server
    trace_url = "https://api.openai.com/v1/traces/ingest"

    def transport_for(hits):
        def handler(request):
            hits.append(str(request.url))
            return httpx2.Response(200, json={"ok": True})

        return httpx2.MockTransport(handler)

    recorded_hits: list[str] = []
    with autorr.recording(recordings / "run.db") as rec:
        with httpx2.Client(transport=transport_for(recorded_hits)) as exporter:
            exporter.post(trace_url, json={"trace_id": "random-1"})
        httpx2.get(url + "/x")
    assert recorded_hits == [trace_url] and rec.manifest.total_events == 1
    _stop(srv)
    replay_hits: list[str] = []
    with autorr.replaying(recordings / "run.db") as player:
        with httpx2.Client(transport=transport_for(replay_hits)) as exporter:
            assert exporter.post(trace_url, json={"trace_id": "random-2"}).status_code == 200
        httpx2.get(url + "/x")
    assert replay_hits == [] and player.statistics()["ignored"] == 1
    assert player.statistics()["mismatch_count"] == 0


def test_replay_runs_response_hooks_and_masks_cookies(echo_server, recordings):
    import httpx2

    url, srv = echo_server
    seen = []
    with autorr.recording(recordings / "run.db"):
        with httpx2.Client(event_hooks={"response": [lambda r: seen.append(r.status_code)]}) as client:
            client.get(url + "/x")
            live_cookie = client.cookies.get("sid")
    _stop(srv)
    with autorr.replaying(recordings / "run.db"):
        with httpx2.Client(event_hooks={"response": [lambda r: seen.append(r.status_code)]}) as client:
            client.get(url + "/x")
            replayed_cookies = dict(client.cookies.items())
    assert live_cookie == "abc123456789" and seen == [200, 200]
    # the client's jar takes the replayed cookie: its name kept, its value masked
    assert replayed_cookies == {"sid": "[REDACTED]"}
    # a session cookie is a credential: masked on disk, like auth headers
    assert b"abc123456789" not in (recordings / "run.db").read_bytes()


def test_a_client_inside_another_clients_transport_is_recorded_once(echo_server, recordings):
    """litellm-style: an httpx transport that sends with requests underneath."""
    import httpx2
    import requests

    url, srv = echo_server

    class RequestsTransport(httpx2.BaseTransport):
        def handle_request(self, request):
            r = requests.request(request.method, str(request.url), data=request.read(),
                                 headers={"content-type": "application/json"})
            return httpx2.Response(r.status_code, headers=dict(r.headers), content=r.content)

    with autorr.recording(recordings / "run.db") as rec, httpx2.Client(transport=RequestsTransport()) as client:
        live = client.post(url + "/echo", json={"q": "nested"}).json()
    assert rec.manifest.total_events == 1
    _stop(srv)
    with autorr.replaying(recordings / "run.db"), httpx2.Client(transport=RequestsTransport()) as client:
        assert client.post(url + "/echo", json={"q": "nested"}).json() == live


def test_in_memory_responses_are_recorded(recordings):
    """Responses a transport builds already read (httpx's MockTransport) are kept too."""
    import httpx2

    transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json={"n": len(request.content)}))
    with autorr.recording(recordings / "run.db"), httpx2.Client(transport=transport) as client:
        live = client.post("http://mock.test/x", json={"a": 1}).json()
    with autorr.replaying(recordings / "run.db"), httpx2.Client(transport=httpx2.MockTransport(
            lambda request: pytest.fail("replay must not reach the transport"))) as client:
        assert client.post("http://mock.test/x", json={"a": 1}).json() == live == {"n": 7}


def test_compressed_bodies_are_stored_decoded(echo_server, recordings):
    """The tee keeps the bytes as received; the writer thread undoes the encoding."""
    import httpx2

    from autorr.store import Reader

    url, _ = echo_server
    with autorr.recording(recordings / "run.db"), httpx2.Client() as client:
        live = client.get(url + "/gzip").json()
    with Reader(recordings / "run.db") as reader:
        (event,) = reader.events()
        event = reader.event(event.id)
    assert json.loads(event.body) == live
    names = {k.lower() for k, _ in event.response["headers"]}
    assert "content-encoding" not in names and "content-length" not in names


def test_decode_recorded_keeps_each_chunks_arrival_time():
    from autorr.integrations._decode import decode_recorded

    plain = json.dumps([{"n": i, "text": "word " * 20} for i in range(50)]).encode()
    packed = gzip.compress(plain)
    cuts = [0, 7, len(packed) // 2, len(packed) - 3, len(packed)]
    parts = [packed[a:b] for a, b in zip(cuts, cuts[1:])]
    chunks = [(len(p), 1000 * (i + 1)) for i, p in enumerate(parts)]
    response = {"status": 200, "headers": [(b"Content-Encoding", b"gzip"), (b"Content-Length", b"9"),
                                           (b"X-Id", b"1")], "decode": True}
    out, body, timed = decode_recorded(response, parts, chunks)
    assert b"".join(body) == plain and out["headers"] == [("X-Id", "1")] and "decode" not in out
    assert [size for size, _ in timed] == [len(b) for b in body]
    assert {offset for _, offset in timed} <= {offset for _, offset in chunks}

    # Not what the header says: kept as received, header and all (the client failed the same way).
    out, body, timed = decode_recorded(response, [b"not gzip"], [(8, 5)])
    assert body == [b"not gzip"] and timed == [(8, 5)]
    assert ("Content-Encoding", "gzip") in out["headers"]


def test_a_compressed_stream_is_teed_and_stored_decoded_chunk_by_chunk(echo_server, recordings):
    import httpx2

    from autorr.store import Reader

    url, srv = echo_server

    def agent():
        body = {"n": 4, "gap": 0.03, "gzip": True}
        with httpx2.Client() as client, client.stream("POST", url + "/sse", json=body) as r:
            return [line for line in r.iter_lines() if line]

    with autorr.recording(recordings / "run.db"):
        live = agent()
    assert len(live) == 4
    with Reader(recordings / "run.db") as reader:
        (event,) = reader.events()
        event = reader.event(event.id)
    assert [line for line in event.body.decode().split("\n") if line] == live  # stored plain
    assert "content-encoding" not in {k.lower() for k, _ in event.response["headers"]}
    offsets = [offset for _, offset in event.chunks]
    assert len(offsets) >= 4 and offsets == sorted(offsets) and offsets[-1] - offsets[0] >= 60_000  # gaps kept
    _stop(srv)
    with autorr.replaying(recordings / "run.db"):
        assert agent() == live


def _replayed_headers(lib, pairs):
    """The Headers and lower-case names replay serves for an answer recorded with ``pairs``."""
    from autorr._events import Event, Status
    from autorr.integrations import httpx as integration
    from autorr.replay._form import form_of

    form = form_of(Event(kind="http", fingerprint="f", occurrence=0, seq=0, started_at=0.0, duration_us=5,
                         status=Status.OK.value, request={}, response={"headers": pairs}))
    headers = integration._headers(lib, list(form.headers))
    return lib.Response(200, headers=headers).headers, form.names


@pytest.mark.parametrize("libname", LIBS)
@pytest.mark.parametrize("pairs", [
    [("Content-Type", "application/json"), ("X-Request-ID", "req-1"), ("set-cookie", "a=1"), ("Set-Cookie", "b=2")],
    [("server", "caf\u00e9"), ("Date", "Tue, 01 Dec 2026 12:00:00 GMT")],  # latin-1, as decoded off the wire
    [("x-empty", ""), ("x-spaces", " a  b ")],
    [],
])
def test_replayed_headers_are_what_the_library_builds_from_the_wire(libname, pairs):
    lib = pytest.importorskip(libname)
    headers, names = _replayed_headers(lib, pairs)
    wire = lib.Headers([(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs])
    assert headers.raw == wire.raw and headers.multi_items() == wire.multi_items()
    assert headers.get_list("set-cookie") == wire.get_list("set-cookie")
    assert names == {k.lower().encode("latin-1") for k, _ in pairs}


@pytest.mark.parametrize("libname", LIBS)
@pytest.mark.parametrize("odd, wire", [(("x-note", "two\nlines"), b"two\nlines"), (("x-price", "5 \u20ac"), "5 \u20ac".encode())])
def test_replayed_headers_written_by_hand_still_load(libname, odd, wire):
    """Text no wire would carry (a newline in a value, a character past latin-1) goes one
    pair at a time, not joined."""
    lib = pytest.importorskip(libname)
    headers, names = _replayed_headers(lib, [("A", "b"), odd, ("set-cookie", "c=d")])
    assert headers.raw == [(b"A", b"b"), (odd[0].encode(), wire), (b"set-cookie", b"c=d")]
    assert headers["a"] == "b" and b"set-cookie" in names


@pytest.mark.parametrize("libname", LIBS)
def test_endpoint_parts_are_read_once_per_url(libname):
    from autorr.integrations import httpx as integration

    lib = pytest.importorskip(libname)
    url = lib.URL("http://Example.com/v1/a%20b?x=1&x=2&key=s")
    assert integration._endpoint(url) == ("example.com", "/v1/a b", [("x", "1"), ("x", "2"), ("key", "s")])
    assert integration._endpoint(lib.URL("http://example.com/v1/a%20b?x=1&x=2&key=s")) is integration._endpoint(url)
    assert integration._endpoint(lib.URL("http://example.com/v1/c")) == ("example.com", "/v1/c", [])
    assert integration._endpoint(lib.URL("http://example.com/v1/c?x=3"))[2] == [("x", "3")]


@pytest.mark.parametrize("libname", LIBS)
def test_a_call_still_waiting_when_the_recording_stopped_replays_without_failing_inside_autorr(libname, recordings,
                                                                                             monkeypatch):
    """Stopping a recording finishes the calls under way as incomplete, with no response:
    replaying one fails strict with a mismatch that says so (not an AttributeError from
    autorr, nor a made-up answer); warn hands the caller an empty response."""
    import socket
    import threading

    lib = pytest.importorskip(libname)
    arrived, release = threading.Event(), threading.Event()
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = server.accept()
        conn.recv(65536)
        arrived.set()
        release.wait(10)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/slow"
    monkeypatch.setenv("AUTORR_DIR", str(recordings))
    monkeypatch.setenv("AUTORR_RECORDING_ID", "inflight")
    autorr.start_recording()  # the process's recording: the call's thread records into it
    with lib.Client() as client:
        call = threading.Thread(target=client.get, args=(url,))
        call.start()
        assert arrived.wait(10)
        autorr.stop_recording()
        release.set()
        call.join(10)
    server.close()
    with autorr.replaying(recordings / "inflight.db"), lib.Client() as client:
        with pytest.raises(autorr.StrictReplayMismatch, match="stopped before this call's answer arrived"):
            client.get(url)
    with autorr.replaying(recordings / "inflight.db", mode="warn"), lib.Client() as client:
        assert client.get(url).content == b""


def test_a_key_in_the_url_path_is_masked_in_the_stored_url_path_and_summary(echo_server, recordings):
    """Some APIs put the credential in the path (a bot token): it is no less a secret there."""
    import sqlite3

    import httpx2

    key = "sk-proj-A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"
    url = echo_server[0] + f"/bot/{key}/send"
    with autorr.recording(recordings / "p.db"), httpx2.Client() as client:
        live = client.get(url).json()
    conn = sqlite3.connect(recordings / "p.db")
    stored = repr(conn.execute("SELECT summary, request FROM events").fetchall())
    assert "[REDACTED]" in stored and key not in stored
    assert repr([(e.inputs, e.metadata) for e in autorr.get_recorded_events(recordings / "p.db")]).count(key) == 0
    _stop(echo_server[1])
    with autorr.replaying(recordings / "p.db"), httpx2.Client() as client:
        assert client.get(url).json() == dict(live, path="/bot/[REDACTED]/send")  # the echo held it too


def _cut_by_stop(client_lib, url, recordings):
    """Record a stream, stop the recording after its first chunk, read the rest live."""
    rec = autorr.Recorder("cut", directory=recordings)
    with client_lib.Client() as client:
        with rec:
            response = client.send(client.build_request("POST", url + "/sse", json={"n": 5, "gap": 0.02}),
                                   stream=True)
            chunks = response.iter_raw()
            first = next(chunks)
        rest = b"".join(chunks)  # live, after the recording stopped: not in it
        response.close()
    return first, rest


@pytest.mark.parametrize("libname", LIBS)
def test_a_stream_cut_short_by_the_recordings_stop_fails_strict_replay_where_it_ends(libname, echo_server,
                                                                                       recordings):
    """The recorded run read on live after its recording stopped: a replay that reads past
    what was recorded has gone where the recording cannot follow. Strict fails there, loudly
    (not a clean end the agent would take for the whole answer); warn ends the body, reported."""
    lib = pytest.importorskip(libname)
    url, _ = echo_server
    first, rest = _cut_by_stop(lib, url, recordings)
    assert first and rest
    with autorr.replaying(recordings / "cut.db") as player, lib.Client() as client:
        with client.stream("POST", url + "/sse", json={"n": 5, "gap": 0.02}) as response:
            chunks = response.iter_raw()
            assert next(chunks) == first
            with pytest.raises(autorr.StrictReplayMismatch, match="cut short when recorded"):
                next(chunks)
    assert [m["action"] for m in player.mismatches()] == ["raised"]
    with autorr.replaying(recordings / "cut.db", mode="warn") as player, lib.Client() as client:
        with client.stream("POST", url + "/sse", json={"n": 5, "gap": 0.02}) as response:
            assert response.read() == first
    assert [m["action"] for m in player.mismatches()] == ["served_recorded"]


def test_a_stream_the_recorded_run_dropped_half_read_replays_as_far_as_it_was_read(echo_server, recordings):
    """Dropped half-read (no close, no end: incomplete), replayed by the same code: the
    caller stops where it stopped, and nothing is reported."""
    import gc

    import httpx2

    url, _ = echo_server
    with autorr.recording(recordings / "dropped.db"), httpx2.Client() as client:
        response = client.send(client.build_request("POST", url + "/sse", json={"n": 5}), stream=True)
        first = next(response.iter_raw())
        del response
        gc.collect()
    with autorr.replaying(recordings / "dropped.db") as player, httpx2.Client() as client:
        response = client.send(client.build_request("POST", url + "/sse", json={"n": 5}), stream=True)
        assert next(response.iter_raw()) == first
        del response
        gc.collect()
    assert player.mismatches() == []


def test_a_cut_short_stream_read_on_where_its_player_is_not_active_still_fails_strict(echo_server, recordings):
    """The caller reads on in another context (a consumer thread started before the
    replay, a callback): the mismatch is the player's that served the call, not nobody's."""
    import contextvars

    import httpx2

    url, _ = echo_server
    first, _ = _cut_by_stop(httpx2, url, recordings)
    with autorr.Player(recordings / "cut.db", mode="strict") as player, httpx2.Client() as client:
        response = client.send(client.build_request("POST", url + "/sse", json={"n": 5, "gap": 0.02}), stream=True)
        chunks = response.iter_raw()
        elsewhere = contextvars.Context()  # no session active there
        assert elsewhere.run(next, chunks) == first
        with pytest.raises(autorr.StrictReplayMismatch, match="cut short when recorded"):
            elsewhere.run(next, chunks)
        response.close()
    assert [m["action"] for m in player.mismatches()] == ["raised"]


# A daemon thread still reading a stream when the process exits: the recording stops with
# the stream open (cut short). The thread reads on in the recorded run, and it would in
# the replayed one, where the pieces come at once: it must wait there as it did, not fail.
DAEMON_READER = """
import sys, threading, time
import httpx

url, mode = sys.argv[1], sys.argv[2]

def read(out):
    with httpx.stream("POST", url + "/sse", json={"n": 40, "gap": 0.05}) as response:
        for chunk in response.iter_raw():
            out.append(chunk)

got = []
reader = threading.Thread(target=read, args=(got,), daemon=True)
reader.start()
time.sleep(0.4)
if mode == "join":  # the run goes on waiting for the stream: past what the recording holds
    reader.join()
print("main done")
"""


def test_a_daemon_thread_still_streaming_at_exit_replays_without_a_mismatch(echo_server, recordings, tmp_path):
    url, _ = echo_server
    agent = tmp_path / "daemon_reader.py"
    agent.write_text(DAEMON_READER)

    def run(mode, arg):
        env = _clean_env({"AUTORR_MODE": mode, "AUTORR_DIR": str(recordings)})
        return subprocess.run([sys.executable, str(agent), url, arg], env=env, capture_output=True, text=True,
                              timeout=60, check=False)

    recorded = run("record", "exit")
    assert (recorded.returncode, recorded.stdout) == (0, "main done\n"), recorded.stderr
    for _ in range(3):  # the replayed reader gets to the cut well before the main thread ends
        replayed = run("replay", "exit")
        assert (replayed.returncode, replayed.stdout) == (0, "main done\n"), replayed.stderr
        assert "autorr" not in replayed.stderr
    # Read past the cut while the process goes on (here, waiting for the reader): a mismatch,
    # once the recorded run would have ended; not a hang.
    started = time.monotonic()
    diverged = run("replay", "join")
    assert diverged.returncode != 0
    assert "cut short when recorded" in diverged.stderr
    assert time.monotonic() - started < 20
