"""Deterministic reply text, tool arguments and token counts shared by both APIs."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any

__all__ = ["Replies", "split_chunks", "words_in"]

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


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_text_of(part.get("text") or part.get("content") or "") if isinstance(part, dict)
                        else str(part) for part in content)
    return ""


def split_chunks(text: str, parts: int = 8) -> list[str]:
    """``text`` in ``parts`` roughly equal pieces that join back exactly."""
    words = text.split(" ")
    size = max(1, -(-len(words) // parts))
    pieces = [" ".join(words[i:i + size]) for i in range(0, len(words), size)]
    return [p + (" " if i < len(pieces) - 1 else "") for i, p in enumerate(pieces)]


class Replies:
    def __init__(self, server: Any) -> None:
        self.server = server

    def ident(self, prefix: str, seed: str) -> str:
        if self.server.nonce:
            return prefix + secrets.token_hex(12)
        return prefix + hashlib.sha256(seed.encode()).hexdigest()[:24]

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
                text = _text_of(message.get("content"))
                if text:
                    return text
        return ""

    @staticmethod
    def tool_arguments(tool_schema: dict[str, Any], prompt: str) -> dict[str, Any]:
        properties = tool_schema.get("properties") or {}
        last_word = (prompt.split() or ["x"])[-1].strip("?.!,")
        out: dict[str, Any] = {}
        for name in tool_schema.get("required") or list(properties)[:1]:
            kind = (properties.get(name) or {}).get("type", "string")
            out[name] = 2 if kind in ("integer", "number") else (True if kind == "boolean" else last_word)
        return out

    @staticmethod
    def dumps(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"))
