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

A process's dialog (an asyncio subprocess's ``steps``) is cut the same way: a secret
printed in two writes comes out in two ``out`` steps, one written to stdin in two
pieces in two ``in`` steps. Each channel's pieces are joined and scrubbed alike; those
written to stdin only within a run of writes with nothing between them, which is what
replay compares a live write against (scrubbed), so the masked recording still matches.
"""

from __future__ import annotations

import re
from typing import Any

from ._redact import _MASK_B, _Kept, rechunk

__all__ = ["scrub_deltas", "scrub_steps"]

# A JSON string under a key that carries streamed text; its escapes stay as they are
# (a secret has none: the joined escapes are text the scrubber ignores).
_DELTA = re.compile(rb'"(?:content|text|delta|arguments|partial_json)"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _is_stream(body: bytes) -> bool:
    head = body.lstrip()[:6]
    return head.startswith((b"data:", b"event:", b"id:", b":"))


# A step of a process's dialog as `asyncio_subprocess` stores it: {"out": {"utf8": "..."}, "t": ...}.
# Outside a JSON string (where quotes are escaped), so output that prints this shape is not one.
_STEP = re.compile(rb'\{"(in|out|err)":\{"(?:utf8|latin1)":"((?:[^"\\]|\\.)*)"\}')
_STEPS = b'"steps":['


def scrub_deltas(redactor: Any, body: bytes, chunks: list[tuple[int, int]] | None) -> tuple[bytes, Any]:
    """``body`` (an SSE stream, already scrubbed event by event) with the secrets that
    only its joined delta strings show masked, and its chunk list kept true to it.
    A process's dialog (see `scrub_steps`) is handled here too: the writer calls this
    on every body."""
    if body[:1] == b"{" and body.find(_STEPS) != -1:
        return scrub_steps(redactor, body, chunks)
    if not chunks or not _is_stream(body):
        return body, chunks
    spans = [m.span(1) for m in _DELTA.finditer(body)]
    return _apply(body, chunks, _edits(redactor, body, spans))


def scrub_steps(redactor: Any, body: bytes, chunks: list[tuple[int, int]] | None) -> tuple[bytes, Any]:
    """``body`` (a process's result with its ``steps``, already scrubbed as a whole) with
    the secrets that only a channel's joined pieces show masked: stdout's, stderr's, and
    each run of consecutive stdin writes'."""
    groups: dict[Any, list[tuple[int, int]]] = {}
    run, last, last_kind = 0, 0, None
    for match in _STEP.finditer(body):
        kind = match.group(1)
        key: Any = kind
        if kind == b"in":
            # A new run after another kind of step: one _STEP reads ("out") or one it does
            # not ({"close": null, ...}, which puts a "{" between the two).
            if last_kind is not None and (last_kind != b"in" or body.find(b"{", last, match.start()) != -1):
                run += 1
            key = (kind, run)
        groups.setdefault(key, []).append(match.span(2))
        last, last_kind = match.end(), kind
    edits = []
    for spans in groups.values():
        edits += _edits(redactor, body, spans)
    edits.sort()
    return _apply(body, chunks, edits)


def _edits(redactor: Any, body: bytes, spans: list[tuple[int, int]]) -> list[tuple[int, int, bytes]]:
    """(start, end, new text) in ``body`` for each of the strings at ``spans`` that changes
    once their joined text is scrubbed: the mask where a secret begins, its rest gone."""
    if len(spans) < 2:
        return []
    joined = b"".join(body[a:b] for a, b in spans)
    kept = _Kept(len(joined))
    if redactor._scrub(joined, kept) == joined:  # the usual case: nothing across pieces
        return []
    replaced = _replaced(kept.parts, len(joined))
    edits = []
    at = 0  # where the current string starts in `joined`
    for a, b in spans:
        new = _rewritten(joined, at, at + (b - a), replaced)
        if new != body[a:b]:
            edits.append((a, b, new))
        at += b - a
    return edits


def _apply(body: bytes, chunks: list[tuple[int, int]] | None,
           edits: list[tuple[int, int, bytes]]) -> tuple[bytes, Any]:
    """``edits`` (in order, not overlapping) made to ``body``, its chunk list kept true to it."""
    if not edits:
        return body, chunks
    out, pos = [], 0
    for a, b, new in edits:
        out += (body[pos:a], new)
        pos = b
    out.append(body[pos:])
    scrubbed = b"".join(out)
    if not chunks:
        return scrubbed, chunks
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
