"""A recorded HTTP answer as replay serves it (`Form`), worked out once per answer.

The replay engine makes every preloaded answer's form as it loads the recording, where
the agent does not wait on it; the HTTP integrations build their library's objects from
it, with nothing left to encode or scan on the agent's call.
"""

from __future__ import annotations

import datetime
from typing import Any, NamedTuple

from .._events import Status

__all__ = ["Form", "form_of", "wire"]

# A body that ends in an error, or was cut short when recorded: read through `Pieces`.
_ENDS_BADLY = (Status.ERROR.value, Status.INCOMPLETE.value)


class Form(NamedTuple):
    """A recorded HTTP answer as replay serves it, worked out once (see `form_of`):
    serving is then building the library's objects, with nothing to encode or scan."""

    status: int
    headers: list[tuple[bytes, bytes, bytes]]  # (name as sent, lower-case name, value): copy before use
    names: frozenset[bytes]  # lower-case
    extensions: dict[str, bytes]  # http_version, reason_phrase: copy before use
    elapsed: datetime.timedelta
    whole: bytes | None  # what a read returns, when nothing is left to decode or raise
    cookies: bool  # a Set-Cookie in the answer or on a redirect hop


def wire(text: str) -> bytes:
    # Recorded header text was decoded as latin-1; text written some other way (by hand,
    # by a library that decodes UTF-8) may hold more.
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def form_of(event: Any) -> Form:
    """The event's `Form`, made on first use and kept on the event. The replay engine
    makes them as it loads the recording, where the agent does not wait on them."""
    found = event.form
    if found is None:
        meta = event.response or {}
        triples = [(wire(k), wire(k).lower(), wire(v)) for k, v in meta.get("headers") or ()]
        names = frozenset(lower for _, lower, _ in triples)
        hops = meta.get("redirects") or ()
        found = event.form = Form(
            meta.get("status", 200), triples, names,
            {"http_version": str(meta.get("http_version", "HTTP/1.1")).encode(),
             "reason_phrase": str(meta.get("reason", "")).encode()},
            datetime.timedelta(microseconds=event.duration_us),
            None if b"content-encoding" in names or event.status in _ENDS_BADLY else event.body or b"",
            b"set-cookie" in names or any(k.lower() == "set-cookie" for hop in hops for k, _ in hop["headers"]))
    return found
