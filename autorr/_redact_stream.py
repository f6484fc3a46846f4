"""Secrets a model streams in pieces: one SSE event per token.

An LLM stream carries its text as a JSON string per event (OpenAI chat
``"delta": {"content": "AK"}``, Anthropic ``"text_delta"``, the Responses API
``"delta": "..."``, tool-call argument and ``partial_json`` deltas). A key the model
writes back comes out in several of them, and no single event holds the whole of it
for the scrubber to find. Here the delta strings of a stream are joined, scrubbed as one
text, and the parts of a secret are taken out of the events that carried them: the
mask goes in the event where the secret began, the events after it lose their part.
Each event stays valid JSON (only the inside of a string changes), and the chunk
boundaries move with the text around them (see `_redact.rechunk`).
"""

from __future__ import annotations

import re
from typing import Any

from ._redact import _MASK_B, _Kept, rechunk

__all__ = ["scrub_deltas"]

# A JSON string under a key that carries streamed text; its escapes stay as they are
# (a secret has none: the joined escapes are text the scrubber ignores).
_DELTA = re.compile(rb'"(?:content|text|delta|arguments|partial_json)"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _is_stream(body: bytes) -> bool:
    head = body.lstrip()[:6]
    return head.startswith((b"data:", b"event:", b"id:", b":"))


def scrub_deltas(redactor: Any, body: bytes, chunks: list[tuple[int, int]] | None) -> tuple[bytes, Any]:
    """``body`` (an SSE stream, already scrubbed event by event) with the secrets that
    only its joined delta strings show masked, and its chunk list kept true to it."""
    if not chunks or not _is_stream(body):
        return body, chunks
    spans = [m.span(1) for m in _DELTA.finditer(body)]
    if len(spans) < 2:
        return body, chunks
    joined = b"".join(body[a:b] for a, b in spans)
    kept = _Kept(len(joined))
    if redactor._scrub(joined, kept) == joined:  # the usual case: nothing across events
        return body, chunks
    replaced = _replaced(kept.parts, len(joined))
    edits = []  # (start, end, new text) in the body, for each delta string that changes
    at = 0  # where the current delta string starts in `joined`
    for a, b in spans:
        new = _rewritten(joined, at, at + (b - a), replaced)
        if new != body[a:b]:
            edits.append((a, b, new))
        at += b - a
    if not edits:
        return body, chunks
    out, pos = [], 0
    for a, b, new in edits:
        out += (body[pos:a], new)
        pos = b
    out.append(body[pos:])
    scrubbed = b"".join(out)
    track = _Kept(len(body))
    track.cut([(a, b, len(new)) for a, b, new in edits])
    return scrubbed, rechunk(track, chunks, len(body), len(scrubbed))


def _replaced(parts: list[tuple[int, int, int]], size: int) -> list[tuple[int, int]]:
    """The stretches of the joined text a scrub replaced: what lies between its kept parts."""
    gaps, pos = [], 0
    for orig, _, length in parts:
        if orig > pos:
            gaps.append((pos, orig))
        pos = orig + length
    if pos < size:
        gaps.append((pos, size))
    return gaps


def _rewritten(joined: bytes, start: int, end: int, replaced: list[tuple[int, int]]) -> bytes:
    """The delta string at ``joined[start:end]`` with the secrets' parts out of it: the
    mask where a secret begins, nothing where one goes on from an earlier event."""
    out, pos = [], start
    for a, b in replaced:
        if b <= start or a >= end:
            continue
        if a > pos:
            out.append(joined[pos:a])
        if a >= start:
            out.append(_MASK_B)
        pos = max(pos, min(b, end))
    out.append(joined[pos:end])
    return b"".join(out)
