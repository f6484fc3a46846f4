"""Recorded events and streams as objects for analysis (`get_recorded_events`, ...)."""

from __future__ import annotations

import base64
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import orjson

from ._config import load_config
from ._llm import first_output_at, recorded_ttft_ms
from .store import Reader, resolve

__all__ = ["RecordedEvent", "RecordedStream", "StreamChunk", "analyze_stream_timing", "get_recorded_events",
           "get_recorded_streams", "recorded_stream"]


@dataclass(frozen=True)
class StreamChunk:
    index: int
    offset_us: int  # from the start of the call
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


@dataclass(frozen=True)
class RecordedEvent:
    id: int
    timestamp: float  # unix seconds at the start of the call
    event_type: str  # llm_call | http | subprocess | file | tool
    call: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    duration: float  # seconds
    status: str
    metadata: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    occurrence: int = 0


@dataclass(frozen=True)
class RecordedStream:
    event_id: int
    call: str
    chunks: list[StreamChunk]
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def ttft_ms(self) -> float | None:
        """Time to first token, as recorded (see `recorded_ttft_ms` for its fallback to
        the first chunk, for older recordings and streams with no recognised output)."""
        return recorded_ttft_ms(self.metadata, [(len(c.data), c.offset_us) for c in self.chunks[:1]])

    @property
    def first_chunk_ms(self) -> float | None:
        """Time to the first chunk of any kind: a keep-alive or a role-only delta counts."""
        return self.chunks[0].offset_us / 1000 if self.chunks else None


def _open(id_or_path: str | os.PathLike[str] | None, directory: str | os.PathLike[str] | None) -> Reader:
    folder = Path(directory) if directory is not None else load_config().output_dir
    return Reader(resolve(os.fspath(id_or_path) if id_or_path is not None else None, folder))


def _body_view(body: bytes | None, streamed: bool) -> Any:
    if not body:
        return None
    if not streamed:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    return body.decode("utf-8", "replace")


def _outputs(event: Any) -> dict[str, Any]:
    if event.kind == "file":
        out = {k: v for k, v in (event.response or {}).items() if k != "status"}
        if event.body is not None:
            try:
                out["content"] = event.body.decode("utf-8")
            except UnicodeDecodeError:
                out["content_base64"] = base64.b64encode(event.body).decode()
        return out
    if event.kind != "http":
        return orjson.loads(event.body) if event.body else {}
    response = event.response or {}
    out = {"status": response.get("status"), "headers": dict(response.get("headers") or []),
           "body": _body_view(event.body, bool(event.chunks))}
    if event.error:
        out["error"] = event.error
    return out


def get_recorded_events(id_or_path: str | os.PathLike[str] | None = None,
                        directory: str | os.PathLike[str] | None = None) -> list[RecordedEvent]:
    """Every recorded call, in start order, with its inputs, outputs, duration and metadata."""
    with _open(id_or_path, directory) as reader:
        out = []
        for event in reader.events(with_body=True):
            request = reader.request(event)
            inputs = request.get("json") if request.get("json") is not None else request
            event_type = "llm_call" if event.meta.get("provider") else event.kind
            out.append(RecordedEvent(
                id=event.id or 0, timestamp=event.started_at, event_type=event_type, call=event.summary,
                inputs=inputs if isinstance(inputs, dict) else {"value": inputs}, outputs=_outputs(event),
                duration=event.duration_us / 1e6, status=event.status, metadata=dict(event.meta),
                fingerprint=event.fingerprint, occurrence=event.occurrence))
        return out


def get_recorded_streams(id_or_path: str | os.PathLike[str] | None = None,
                         directory: str | os.PathLike[str] | None = None) -> list[RecordedStream]:
    """Every streamed response, chunk by chunk, with each chunk's offset in microseconds."""
    with _open(id_or_path, directory) as reader:
        streams = []
        for event in reader.events(with_body=True):
            if event.chunks:
                streams.append(recorded_stream(event))
        return streams


def recorded_stream(event: Any) -> RecordedStream:
    """A streamed event's body cut back into the chunks it arrived in."""
    body, pos, chunks = event.body or b"", 0, []
    for i, (size, offset) in enumerate(event.chunks or ()):
        chunks.append(StreamChunk(i, offset, body[pos:pos + size]))
        pos += size
    return RecordedStream(event.id or 0, event.summary, chunks, dict(event.meta))


def _first_token_us(chunks: list[StreamChunk]) -> int | None:
    # Chunks cut from a recorded body hold its bytes: the first that carries output is
    # found as the recorder found it (`_llm.first_output_at`).
    at = first_output_at(b"".join(c.data for c in chunks))
    if at is None:
        return None
    end = 0
    for chunk in chunks:
        end += len(chunk.data)
        if at < end:
            return chunk.offset_us
    return None


def analyze_stream_timing(chunks: RecordedStream | Iterable[StreamChunk | tuple[int, int] | float],
                          output_tokens: int | None = None) -> dict[str, Any]:
    """Average gap, TTFT and throughput of one stream: a `RecordedStream`, its chunks
    (`StreamChunk`, or (size, offset µs) pairs as recorded), or their offsets: integers
    in µs, as autorr stores them, or floats in seconds.

    ``ttft_seconds`` is the time to the first token: the stored one for a `RecordedStream`,
    the first chunk carrying output for `StreamChunk`s; for chunks without their bytes
    (pairs, offsets), or when no chunk carries output autorr recognises, the first chunk's,
    as ``first_chunk_seconds`` always is. ``tokens_per_second`` counts from the first token."""
    ttft_us = None
    if isinstance(chunks, RecordedStream):
        stored = chunks.metadata.get("ttft_ms")
        ttft_us = stored * 1000 if isinstance(stored, (int, float)) and not isinstance(stored, bool) else None
        if output_tokens is None and isinstance(chunks.metadata.get("output_tokens"), int):
            output_tokens = chunks.metadata["output_tokens"]
        chunks = chunks.chunks
    chunks = list(chunks)
    if ttft_us is None and chunks and all(isinstance(c, StreamChunk) for c in chunks):
        ttft_us = _first_token_us(chunks)  # type: ignore[arg-type]
    offsets = []
    for chunk in chunks:
        if isinstance(chunk, StreamChunk):
            offsets.append(chunk.offset_us / 1e6)
        elif isinstance(chunk, tuple):
            offsets.append(chunk[1] / 1e6)
        elif isinstance(chunk, int):
            offsets.append(chunk / 1e6)
        else:
            offsets.append(float(chunk))
    if not offsets:
        return {"chunks": 0, "ttft_seconds": None, "first_chunk_seconds": None, "average_delay_seconds": None,
                "tokens_per_second": None}
    gaps = [b - a for a, b in zip(offsets, offsets[1:])]
    ttft = offsets[0] if ttft_us is None else ttft_us / 1e6
    span = offsets[-1] - ttft
    # Without a token count, each chunk from the first token on stands for one.
    tokens = output_tokens if output_tokens is not None else sum(1 for o in offsets if o >= ttft)
    return {
        "chunks": len(offsets),
        "ttft_seconds": ttft,
        "first_chunk_seconds": offsets[0],
        "average_delay_seconds": statistics.fmean(gaps) if gaps else 0.0,
        "median_delay_seconds": statistics.median(gaps) if gaps else 0.0,
        "max_delay_seconds": max(gaps) if gaps else 0.0,
        "total_seconds": offsets[-1],
        "tokens_per_second": round(tokens / span, 3) if span > 0 else None,
    }
