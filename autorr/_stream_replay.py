"""`replay_streaming_call`: play one recorded stream back, chunk by chunk, at its recorded pace.

    for chunk in autorr.replay_streaming_call("run1", event_id=3):
        print(chunk.text, end="", flush=True)

No SDK and no network are involved: the chunks are the bytes the server sent (SSE
events for the LLM APIs), each yielded when it was received during recording,
counted from the moment iteration starts, so time to first token is kept too.
"""

from __future__ import annotations

import os
import time
from typing import AsyncIterator, Iterator, Union

from ._analysis import RecordedStream, StreamChunk, _open, recorded_stream
from ._errors import ConfigError

__all__ = ["areplay_streaming_call", "replay_streaming_call"]

StreamSource = Union[RecordedStream, str, "os.PathLike[str]", None]


def _load(stream: StreamSource, event_id: int | None, directory: str | os.PathLike[str] | None) -> RecordedStream:
    if isinstance(stream, RecordedStream):
        if event_id is not None and event_id != stream.event_id:
            raise ConfigError(f"replay_streaming_call: event_id={event_id} contradicts the RecordedStream given "
                              f"(event {stream.event_id}); pass one or the other")
        return stream
    if stream is not None and not isinstance(stream, (str, os.PathLike)):
        raise ConfigError(f"replay_streaming_call: stream must be a RecordedStream, a recording id or a path, "
                          f"not {type(stream).__name__} {stream!r}")
    if event_id is not None and (isinstance(event_id, bool) or not isinstance(event_id, int)):
        raise ConfigError(f"replay_streaming_call: event_id must be an int (the # column of `autorr show`), "
                          f"not {event_id!r}")
    with _open(stream, directory) as reader:
        # Only the chunk sizes are read for every event; the one body wanted is loaded after.
        events = list(reader.events(with_body=False))
        streamed = [e.id for e in events if e.chunks]
        listing = ", ".join(str(i) for i in streamed[:20]) + (", ..." if len(streamed) > 20 else "")
        where = f"recording {reader.id!r} ({reader.path})"
        if event_id is None:
            if not streamed:
                raise ConfigError(f"{where} has no streamed calls")
            event_id = streamed[0]
        found = next((e for e in events if e.id == event_id), None)
        if found is None:
            raise ConfigError(f"{where} has no event {event_id}; its streamed calls are events: {listing or 'none'}")
        if not found.chunks:
            raise ConfigError(f"event {event_id} of {where} ({found.summary}) is not a streamed call; "
                              f"its streamed calls are events: {listing or 'none'}")
        event = reader.event(event_id)
    return recorded_stream(event)


def replay_streaming_call(stream: StreamSource = None, event_id: int | None = None, *, preserve_timing: bool = True,
                          directory: str | os.PathLike[str] | None = None) -> Iterator[StreamChunk]:
    """Yield the recorded chunks of one streamed call, at the recorded gaps unless ``preserve_timing=False``.

    ``stream`` is a `RecordedStream` (from `get_recorded_streams()`) or a recording id or
    path (None: the latest); ``event_id`` then picks the call (the ``#`` column of
    ``autorr show``; default: the recording's first streamed call). Each chunk is due at
    its recorded offset from the start of iteration. A bad id raises at once, before
    the first chunk: `RecordingNotFound` or `ConfigError` naming the streamed events.
    """
    recorded = _load(stream, event_id, directory)
    return _paced(recorded.chunks, preserve_timing)


def areplay_streaming_call(stream: StreamSource = None, event_id: int | None = None, *,
                           preserve_timing: bool = True,
                           directory: str | os.PathLike[str] | None = None) -> AsyncIterator[StreamChunk]:
    """`replay_streaming_call` for ``async for``: waits with the event loop's sleep, not the thread's."""
    recorded = _load(stream, event_id, directory)
    return _apaced(recorded.chunks, preserve_timing)


def _paced(chunks: list[StreamChunk], preserve: bool) -> Iterator[StreamChunk]:
    t0 = time.perf_counter()
    for chunk in chunks:
        # Due times count from the start, so the time the consumer spends on a chunk
        # does not push every later chunk back (as it would not on a live stream).
        delay = t0 + chunk.offset_us / 1e6 - time.perf_counter() if preserve else 0
        if delay > 0:
            time.sleep(delay)
        yield chunk


async def _apaced(chunks: list[StreamChunk], preserve: bool) -> AsyncIterator[StreamChunk]:
    from .integrations._http import async_sleep

    t0 = time.perf_counter()
    for chunk in chunks:
        delay = t0 + chunk.offset_us / 1e6 - time.perf_counter() if preserve else 0
        if delay > 0:
            await async_sleep(delay)
        yield chunk
