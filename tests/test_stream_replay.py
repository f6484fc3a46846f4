"""`replay_streaming_call`: one recorded stream played back at its pace, or at once."""

from __future__ import annotations

import asyncio
import time

import pytest

import autorr
from autorr import _stream_replay

GAP = 0.04


@pytest.fixture
def streamed(echo_server, recordings):
    """A recording with a plain call (event 1) and a 5-chunk stream with 40 ms gaps (event 2)."""
    import httpx2

    url, _ = echo_server
    with autorr.recording(recordings / "streams.db"):
        httpx2.get(url + "/plain")
        with httpx2.stream("POST", url + "/sse", json={"n": 5, "gap": GAP}) as response:
            live = list(response.iter_bytes())
    return recordings, b"".join(live)


def _sleeps(monkeypatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(_stream_replay.time, "sleep", slept.append)
    return slept


def test_preserve_timing_keeps_the_recorded_gaps(streamed):
    recordings, live = streamed
    (stream,) = autorr.get_recorded_streams("streams", directory=recordings)
    recorded_span = (stream.chunks[-1].offset_us - stream.chunks[0].offset_us) / 1e6
    assert recorded_span >= 3 * GAP
    start = time.perf_counter()
    arrivals = []
    chunks = []
    for chunk in autorr.replay_streaming_call("streams", directory=recordings):
        arrivals.append(time.perf_counter() - start)
        chunks.append(chunk)
    assert b"".join(c.data for c in chunks) == live
    assert [c.index for c in chunks] == list(range(5))
    # Loose on purpose: the clock only guarantees "not earlier than recorded".
    assert arrivals[-1] - arrivals[0] >= 0.8 * recorded_span
    for (a, b), (ca, cb) in zip(zip(arrivals, arrivals[1:]), zip(chunks, chunks[1:])):
        assert b - a >= (cb.offset_us - ca.offset_us) / 1e6 - 0.01


def test_fast_mode_never_sleeps(streamed, monkeypatch):
    recordings, live = streamed
    slept = _sleeps(monkeypatch)
    chunks = list(autorr.replay_streaming_call("streams", 2, preserve_timing=False, directory=recordings))
    assert b"".join(c.data for c in chunks) == live and slept == []


def test_waits_are_due_times_from_the_start(streamed, monkeypatch):
    recordings, _ = streamed
    slept = _sleeps(monkeypatch)
    (stream,) = autorr.get_recorded_streams("streams", directory=recordings)
    assert len(list(autorr.replay_streaming_call(stream))) == 5
    # With sleep stubbed no time passes: each wait is the chunk's whole offset, not a
    # gap added to the previous waits (so a slow consumer does not delay later chunks).
    assert slept == pytest.approx([c.offset_us / 1e6 for c in stream.chunks], abs=0.05)
    assert slept == sorted(slept)


def test_async_variant(streamed, monkeypatch):
    recordings, live = streamed

    async def collect(preserve):
        return [c async for c in autorr.areplay_streaming_call(recordings / "streams.db", preserve_timing=preserve)]

    assert b"".join(c.data for c in asyncio.run(collect(False))) == live
    start = time.perf_counter()
    asyncio.run(collect(True))
    assert time.perf_counter() - start >= 0.8 * 4 * GAP


def test_bad_selection_names_what_is_wrong(streamed):
    recordings, _ = streamed
    for args, message in [
        (("streams", 1), "event 1 of recording 'streams'"),
        (("streams", 99), "has no event 99; its streamed calls are events: 2"),
        (("streams", "2"), "event_id must be an int"),
        ((3,), "stream must be a RecordedStream, a recording id or a path, not int"),
    ]:
        # Raised by the call itself, before anything is iterated.
        with pytest.raises(autorr.ConfigError) as info:
            autorr.replay_streaming_call(*args, directory=recordings)
        assert message in str(info.value)


def test_missing_recording_and_recording_without_streams(streamed, echo_server):
    import httpx2

    recordings, _ = streamed
    with pytest.raises(autorr.RecordingNotFound, match="recording 'nope' not found"):
        autorr.replay_streaming_call("nope", directory=recordings)
    with autorr.recording(recordings / "plain.db"):
        httpx2.get(echo_server[0] + "/x")
    with pytest.raises(autorr.ConfigError, match="recording 'plain' .* has no streamed calls"):
        autorr.replay_streaming_call("plain", directory=recordings)
    (stream,) = autorr.get_recorded_streams("streams", directory=recordings)
    with pytest.raises(autorr.ConfigError, match="contradicts the RecordedStream"):
        autorr.replay_streaming_call(stream, stream.event_id + 1)


def test_cli_prints_the_stream(streamed, capsysbinary):
    from autorr.cli import main

    recordings, live = streamed
    assert main(["replay-stream", "streams", "2", "--fast", "--dir", str(recordings)]) == 0
    assert capsysbinary.readouterr().out == live
    assert main(["replay-streaming-call", "streams", "1", "--dir", str(recordings)]) == 2
    assert b"event 1 of recording 'streams'" in capsysbinary.readouterr().err
