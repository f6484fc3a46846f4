"""JSON columns as stored: serialised, then scrubbed of secrets (see `_redact`)."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["scrubbed_json", "scrubbed_jsons", "scrubbed_labels"]


def scrubbed_json(redactor: Any, value: Any) -> str:
    return redactor.scrub_text(orjson.dumps(value, default=str).decode())


def scrubbed_jsons(redactor: Any, *values: Any) -> list[str | None]:
    """Several JSON columns of a row (None stays None), scrubbed in one pass: each pass
    costs a dozen substring searches whatever the length. orjson never writes a raw
    newline, so one joins them; a redaction spanning two would change their count."""
    parts = [None if value is None else orjson.dumps(value, default=str) for value in values]
    present = [part for part in parts if part is not None]
    pieces = redactor.scrub(b"\n".join(present)).split(b"\n")
    if len(pieces) != len(present):
        pieces = [redactor.scrub(part) for part in present]
    texts = iter(pieces)
    return [None if part is None else next(texts).decode("utf-8", "replace") for part in parts]


def scrubbed_labels(redactor: Any, labels: dict[str, Any], cache: dict) -> str:
    """``labels`` as stored; the same few labels are on every event of a recording, so
    their text is kept in ``cache`` (the writer's per-segment cache)."""
    try:
        key = ("labels", tuple(labels.items()))
        text = cache.get(key)
    except TypeError:  # an unhashable label value
        return scrubbed_json(redactor, labels)
    if text is None:
        text = cache[key] = scrubbed_json(redactor, labels)
    return text
