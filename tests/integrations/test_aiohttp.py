"""aiohttp, at ClientSession._request: bodies, streams, errors; replay offline."""

from __future__ import annotations

import asyncio
import time

import pytest

import autorr

aiohttp = pytest.importorskip("aiohttp")


def _stop(srv):
    srv.shutdown()
    srv.server_close()


async def _agent(url):
    async with aiohttp.ClientSession() as s:
        out = []
        async with s.get(url + "/a", params={"x": "1"}) as r:
            out.append(await r.json())
        async with s.post(url + "/echo", json={"q": 1}) as r:
            out.append((r.status, await r.json()))
        async with s.get(url + "/gzip") as r:
            out.append(await r.json())
        async with s.get(url + "/status/404") as r:
            out.append((r.status, await r.text()))
        async with s.post(url + "/sse", json={"n": 4}) as r:
            out.append([line async for line in r.content if line.strip()])
        async with s.post(url + "/echo", data=b"raw") as r:
            out.append(await r.read())
    return out


def test_record_then_replay_offline(echo_server, recordings):
    url, srv = echo_server
    with autorr.recording(recordings / "aio.db") as rec:
        live = asyncio.run(_agent(url))
    assert rec.manifest.total_events == 6
    _stop(srv)
    with autorr.replaying(recordings / "aio.db") as player:
        assert asyncio.run(_agent(url)) == live
    assert player.statistics()["matched"] == 6


def test_streams_while_recording_and_preserves_gaps_in_replay(echo_server, recordings):
    url, srv = echo_server

    async def stream():
        async with aiohttp.ClientSession() as s:
            started = time.perf_counter()
            async with s.post(url + "/sse", json={"n": 3, "gap": 0.12}) as r:
                times = [time.perf_counter() - started async for line in r.content if line.strip()]
        return times

    with autorr.recording(recordings / "aio.db"):
        live = asyncio.run(stream())
    assert live[0] < 0.1 and live[-1] > 0.2
    _stop(srv)
    with autorr.replaying(recordings / "aio.db", timing="preserve"):
        replayed = asyncio.run(stream())
    assert replayed[-1] > 0.2
    with autorr.replaying(recordings / "aio.db", timing="fast"):
        assert asyncio.run(stream())[-1] < 0.1


@pytest.mark.parametrize("timing", ["fast", "preserve"])
def test_a_body_broken_midway_replays_its_chunks_then_its_error(echo_server, recordings, monkeypatch, timing):
    url, srv = echo_server

    async def agent():
        got = []
        async with aiohttp.ClientSession() as s:
            try:
                async with s.post(url + "/sse", json={"n": 4, "drop": 2}) as r:
                    async for line in r.content:
                        if line.strip():
                            got.append(line)
            except aiohttp.ClientError as exc:
                got.append(type(exc).__name__)
        return got

    with autorr.recording(recordings / "aio.db"):
        live = asyncio.run(agent())
    assert live[-1] == "ClientPayloadError" and len(live) == 3
    _stop(srv)
    monkeypatch.setenv("AUTORR_TIMING", timing)
    with autorr.replaying(recordings / "aio.db"):
        assert asyncio.run(agent()) == live


def test_followed_redirects_replay_where_they_ended(echo_server, recordings):
    url, srv = echo_server

    async def agent():
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/redirect/2") as r:
                return (r.status, str(r.url), r.method, (await r.json())["path"],
                        [(h.status, str(h.url), h.headers["location"]) for h in r.history])

    with autorr.recording(recordings / "aio.db"):
        live = asyncio.run(agent())
    assert len(live[-1]) == 2 and live[1].endswith("/a?from=redirect")
    _stop(srv)
    with autorr.replaying(recordings / "aio.db"):
        assert asyncio.run(agent()) == live


def test_errors_replay_as_their_own_class_with_what_the_agent_reads_of_them(echo_server, recordings):
    url, srv = echo_server

    async def agent():
        out = []
        async with aiohttp.ClientSession(raise_for_status=True) as s:
            try:
                async with s.get(url + "/status/404") as r:
                    out.append(r.status)
            except aiohttp.ClientResponseError as exc:
                out.append((type(exc).__name__, exc.status, exc.message, str(exc.request_info.url)))
        async with aiohttp.ClientSession() as s:
            try:
                async with s.get("http://127.0.0.1:9/") as r:
                    out.append(await r.text())
            except aiohttp.ClientConnectorError as exc:
                out.append((type(exc).__name__, type(exc.os_error).__name__, exc.host, exc.port))
        return out

    with autorr.recording(recordings / "aio.db"):
        live = asyncio.run(agent())
    assert live[0][:2] == ("ClientResponseError", 404) and live[1][0] == "ClientConnectorError"
    _stop(srv)
    with autorr.replaying(recordings / "aio.db"):
        assert asyncio.run(agent()) == live


def test_a_form_upload_matches_its_recording_whatever_its_boundary(echo_server, recordings):
    # aiohttp makes the multipart body (random boundary) after autorr has matched; the
    # form's fields are what matching sees, never the FormData's memory address.
    import io

    url, srv = echo_server

    async def upload(content):
        async with aiohttp.ClientSession() as s:
            form = aiohttp.FormData()
            form.add_field("file", content, filename="batch.jsonl")
            form.add_field("notes", io.BytesIO(b"more"), filename="notes.txt", content_type="text/plain")
            form.add_field("purpose", "batch")
            async with s.post(url + "/echo", data=form) as r:
                return (await r.json())["nonce"]

    async def agent():
        return [await upload(b'{"a": 1}\n'), await upload(b'{"a": 2}\n')]

    with autorr.recording(recordings / "aio.db"):
        live = asyncio.run(agent())
    _stop(srv)
    with autorr.replaying(recordings / "aio.db") as player:
        assert asyncio.run(agent()) == live
    assert player.statistics()["matched"] == 2
    with autorr.replaying(recordings / "aio.db", mode="warn") as player:  # another file's bytes: a miss
        asyncio.run(upload(b'{"a": 3}\n'))
    assert player.statistics()["mismatch_count"] == 1


@pytest.mark.parametrize("timing", ["fast", "preserve"])
def test_a_stream_cut_short_by_the_recordings_stop_fails_strict_replay_only_if_read_past(echo_server, recordings,
                                                                                          timing):
    """aiohttp's replayed body is fed ahead of the caller: a body cut short when recorded is
    a mismatch only once the caller reads past what was recorded (see `Pieces.ending`)."""
    url, _ = echo_server

    async def record():
        rec = autorr.Recorder("cut", directory=recordings)
        async with aiohttp.ClientSession() as s:
            with rec:
                r = await s.post(url + "/sse", json={"n": 4, "gap": 0.02})
                first = await r.content.readline()
            rest = await r.read()  # live, after the recording stopped
            r.release()
        return first, rest

    async def replay(read_on: bool):
        async with aiohttp.ClientSession() as s:
            async with s.post(url + "/sse", json={"n": 4, "gap": 0.02}) as r:
                first = await r.content.readline()
                return first, (await r.content.read() if read_on else None)

    first, rest = asyncio.run(record())
    assert first and rest
    with autorr.replaying(recordings / "cut.db", timing=timing) as player:
        assert asyncio.run(replay(read_on=False)) == (first, None)
    assert player.mismatches() == []
    with autorr.replaying(recordings / "cut.db", timing=timing) as player:
        with pytest.raises(autorr.StrictReplayMismatch, match="cut short when recorded"):
            asyncio.run(replay(read_on=True))
    assert [m["action"] for m in player.mismatches()] == ["raised"]
