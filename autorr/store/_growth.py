"""Parsing a request body that re-sends the previous one's history, by its new part only.

Turn n+1 of a chat sends turn n's body again up to the end of its message list, then
the new messages and the closing keys. Parsing (and canonicalising) the whole body on
every turn made recording quadratic in a conversation's length: at 200 turns the
writer spent more time parsing than everything else together, and the GIL it held
was time taken from the agent. Here a body that starts with the previous body of a
conversation, up to that body's list end, is parsed from there: the new elements
and the keys after the list. Everything else (a first turn, an edited history, a
body of another shape) is parsed whole, as before.

The result is the same as parsing the whole body: orjson parses every value (the
stdlib scanner only finds where a new element ends), the shared elements are the
values parsed on an earlier turn, and the canonical form (sorted keys, as
`canonical_json` writes it) is assembled from the elements' canonical forms.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["Conversations", "Growth"]

_WS = re.compile(r"[ \t\n\r]*")
_scan = json.JSONDecoder().raw_decode
_SORTED = orjson.OPT_SORT_KEYS
_CONVERSATION_KEYS = ("messages", "input", "contents")
_MAX_TRIES = 32  # candidate list ends tried from the back of a first body
_token = itertools.count(1)


@dataclass(slots=True)
class _Stream:
    """What the next turn of a conversation is compared with."""

    prefix: bytes  # the body up to, not including, its list's closing bracket
    head: list[tuple[str, Any]]  # the keys before the list, parsed
    key: str  # the list's key
    items: list[Any]  # its elements, parsed
    canonical: bytes  # their canonical JSON, comma-joined
    token: int  # names this state (see `Growth`)


@dataclass(slots=True)
class Growth:
    """A parsed body: ``value`` as orjson would parse it, ``canonical`` as
    `canonical_json` would write it; its list ``key`` holds ``shared`` elements
    of the previous turn (the one named ``previous``), then new ones."""

    value: dict[str, Any]
    canonical: bytes
    key: str
    shared: int
    previous: int | None  # the token of the turn it extends; None for a first turn
    token: int  # this turn's


class Conversations:
    """The last body of a few conversations (agents interleave theirs)."""

    def __init__(self, size: int = 8) -> None:
        self._streams: list[_Stream] = []
        self._size = size

    def clear(self) -> None:
        self._streams.clear()

    def parse(self, body: bytes) -> Growth | None:
        """``body`` parsed, from where it leaves an earlier turn's when it extends one;
        None when it is not a JSON object with a list (the caller parses it as usual)."""
        for position in range(len(self._streams) - 1, -1, -1):  # newest first
            stream = self._streams[position]
            if body.startswith(stream.prefix):
                grown = self._extend(stream, body)
                if grown is not None:
                    del self._streams[position]
                    return grown
        return self._first(body)

    def _keep(self, stream: _Stream) -> None:
        self._streams.append(stream)
        del self._streams[:-self._size]

    # -- a body that extends a known one ------------------------------------------
    def _extend(self, stream: _Stream, body: bytes) -> Growth | None:
        start = len(stream.prefix)
        try:
            tail = body[start:].decode()
        except UnicodeDecodeError:
            return None
        found = _new_elements(tail, first=not stream.items)
        if found is None:
            return None
        elements, close = found
        rest = _rest(tail[close + 1:])
        head = dict(stream.head)
        if rest is None or stream.key in rest or not head.keys().isdisjoint(rest):
            return None  # a key twice: orjson keeps the last one, leave that to it
        try:
            new = orjson.loads(f"[{elements}]") if elements else []
        except orjson.JSONDecodeError:
            return None
        new_canonical = orjson.dumps(new, option=_SORTED)[1:-1]  # the elements, comma-joined
        canonical = b",".join(part for part in (stream.canonical, new_canonical) if part)
        items = stream.items + new
        value = {**head, stream.key: items, **rest}
        close_at = start + (close if tail.isascii() else len(tail[:close].encode()))
        state = _Stream(body[:close_at], stream.head, stream.key, items, canonical, next(_token))
        self._keep(state)
        return Growth(value, _assemble(value, stream.key, canonical), stream.key, len(stream.items), stream.token,
                      state.token)

    # -- a first turn: parsed whole; where its list ends is found from the back ----
    def _first(self, body: bytes) -> Growth | None:
        stripped = body.lstrip()
        if stripped[:1] != b"{":
            return None
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        lists = [k for k, v in value.items() if isinstance(v, list)]
        if not isinstance(value, dict) or not lists:
            return None
        # The conversation (OpenAI and Anthropic: messages; Responses API: input; Gemini:
        # contents), not a stop list or tool definitions that are longer on a first turn.
        key = next((k for k in _CONVERSATION_KEYS if k in lists), None) or max(lists, key=lambda k: len(value[k]))
        names = list(value)
        after = names[names.index(key) + 1:]
        expected = {k: value[k] for k in after}
        close = _list_end(body, expected)
        items = value[key]
        canonical = orjson.dumps(items, option=_SORTED)[1:-1]  # the elements, comma-joined
        token = next(_token)
        if close is not None:
            head = [(k, value[k]) for k in names[:names.index(key)]]
            self._keep(_Stream(body[:close], head, key, items, canonical, token))
        return Growth(value, _assemble(value, key, canonical), key, 0, None, token)


def _new_elements(tail: str, first: bool) -> tuple[str, int] | None:
    """In ``tail`` (right after the last shared element, or the opening bracket when
    the list was empty: ``first``): the new elements' text and the index of the
    bracket that closes the list."""
    at = _WS.match(tail).end()
    if tail[at:at + 1] == "]":
        return "", at
    if not first:
        if tail[at:at + 1] != ",":
            return None
        at += 1
    start = at
    while True:
        try:
            _, at = _scan(tail, _WS.match(tail, at).end())
        except (ValueError, IndexError):
            return None
        at = _WS.match(tail, at).end()
        sign = tail[at:at + 1]
        if sign == "]":
            return tail[start:at], at
        if sign != ",":
            return None
        at += 1


def _rest(text: str) -> dict[str, Any] | None:
    """The keys after the list: ``text`` is what follows its closing bracket."""
    text = text.strip()
    if text == "}":
        return {}
    if not text.startswith(","):
        return None
    try:
        rest = orjson.loads("{" + text[1:])
    except orjson.JSONDecodeError:
        return None
    return rest if isinstance(rest, dict) else None


def _list_end(body: bytes, expected: dict[str, Any]) -> int | None:
    """Where the list closes in a body parsed whole: the ']' after which exactly the
    ``expected`` keys follow (tried from the back: those keys are short)."""
    at = len(body)
    for _ in range(_MAX_TRIES):
        at = body.rfind(b"]", 0, at)
        if at < 0:
            return None
        try:
            rest = _rest(body[at + 1:].decode())
        except UnicodeDecodeError:
            return None
        if rest == expected and list(rest) == list(expected):
            return at
    return None


def _assemble(value: dict[str, Any], key: str, items: bytes) -> bytes:
    """``orjson.dumps(value, option=OPT_SORT_KEYS)``, with the list's part given
    (joined once: the list is most of the bytes)."""
    pieces = [b"{"]
    for name in sorted(value):
        pieces += (b",", orjson.dumps(name), b":")
        pieces += (b"[", items, b"]") if name == key else (orjson.dumps(value[name], option=_SORTED),)
    del pieces[1:2]  # the comma before the first key
    pieces.append(b"}")
    return b"".join(pieces)
