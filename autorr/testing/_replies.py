"""Deterministic reply text, tool arguments and token counts shared by both APIs."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

__all__ = ["Replies", "split_chunks", "split_json", "text_of", "words_in"]

_VOCABULARY = ("the", "agent", "plans", "a", "careful", "answer", "with", "tools", "and", "streams", "tokens",
               "back", "to", "you", "while", "autorr", "records", "every", "call", "faithfully")


def words_in(value: Any) -> int:
    """Whitespace-separated words in all the text of a message structure."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(words_in(v) for v in value)
    if isinstance(value, dict):
        return sum(words_in(v) for k, v in value.items() if k in ("content", "text", "input", "system", "output"))
    return 0


def text_of(content: Any) -> str:
    """The text of a message or tool-result content: a string, or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(text_of(part.get("text") or part.get("content") or "") if isinstance(part, dict)
                        else str(part) for part in content)
    return ""


def split_chunks(text: str, parts: int = 8) -> list[str]:
    """``text`` in ``parts`` near-equal runs of words that join back exactly.

    Real servers batch several tokens per event; a fixed count keeps a stream's event
    count independent of the reply length (40 words: 8 events of 5 words).
    """
    words = text.split(" ")
    parts = max(1, min(parts, len(words)))
    cuts = [len(words) * k // parts for k in range(parts + 1)]
    pieces = [" ".join(words[cuts[k]:cuts[k + 1]]) for k in range(parts)]
    return [p + (" " if i < parts - 1 else "") for i, p in enumerate(pieces)]


def split_json(text: str, parts: int = 4) -> list[str]:
    """Tool arguments in pieces, as models stream them: clients must join before parsing."""
    step = max(1, -(-len(text) // parts))
    return [text[i:i + step] for i in range(0, len(text), step)] or [""]


class Replies:
    def __init__(self, server: Any) -> None:
        self.server = server

    def ident(self, prefix: str, seed: str) -> str:
        """A fresh id, or with nonce=False one hashed from ``seed`` (callers pass the
        whole request body, so two turns that share a last prompt still differ)."""
        if self.server.nonce:
            return prefix + secrets.token_hex(12)
        return prefix + hashlib.sha256(f"{prefix}\0{seed}".encode()).hexdigest()[:24]

    def created(self) -> int:
        return int(time.time()) if self.server.nonce else 1_700_000_000

    def text(self, prompt: str, tool_result: str | None = None) -> str:
        digest = hashlib.sha256(prompt.encode()).digest()
        words = [_VOCABULARY[b % len(_VOCABULARY)] for b in digest]
        while len(words) < self.server.reply_words:
            words += words
        words = words[: max(1, self.server.reply_words)]
        lead = f"About '{prompt[-60:]}':" if tool_result is None else f"The tool said {tool_result[:80]}."
        return self.server.reply_prefix + lead + " " + " ".join(words[: max(1, len(words) - len(lead.split()))])

    @staticmethod
    def last_text(messages: list[Any]) -> str:
        for message in reversed(messages or []):
            if isinstance(message, dict) and message.get("role") in ("user", None):
                text = text_of(message.get("content"))
                if text:
                    return text
        return ""

    @staticmethod
    def tool_arguments(tool_schema: dict[str, Any], prompt: str) -> dict[str, Any]:
        """Arguments from the schema's required properties: strings from the prompt's last
        word ("weather in Paris?" -> city="Paris"), numbers 2, booleans true, enums their first."""
        properties = tool_schema.get("properties") or {}
        last_word = (prompt.split() or ["x"])[-1].strip("?.!,;:\"'")
        out: dict[str, Any] = {}
        for name in tool_schema.get("required") or list(properties)[:1]:
            spec = properties.get(name) or {}
            kind = spec.get("type", "string")
            if spec.get("enum"):
                out[name] = spec["enum"][0]
            elif kind in ("integer", "number"):
                out[name] = 2
            elif kind == "boolean":
                out[name] = True
            elif kind in ("array", "object"):
                out[name] = [] if kind == "array" else Replies.tool_arguments(spec, prompt)
            else:
                out[name] = last_word
        return out

    @staticmethod
    def dumps(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"))
