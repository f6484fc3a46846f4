"""LLM call metadata, read from the recorded HTTP exchange (OpenAI and Anthropic shapes).

Runs on the writer thread, never on the agent's: provider, model requested and served,
sampling parameters, token usage (for streams, from the final usage event), cost from
the versioned price table in ``data/prices.json``, time to first chunk and to first
token (``first_chunk_ms``, ``ttft_ms``: streams only), tokens per second and the tool
calls the model asked for.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any, Iterator

import orjson

__all__ = ["cost_of", "describe_llm_call", "first_output_at", "price_table", "recorded_ttft_ms"]

_PARAMS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "max_output_tokens", "seed", "stream",
           "tool_choice", "reasoning_effort", "stop", "n", "frequency_penalty", "presence_penalty")

_OPENAI_PATHS = ("/chat/completions", "/completions", "/responses", "/embeddings")


# Gemini's native API names the model in the path: /v1beta/models/gemini-2.0-flash:generateContent.
_GOOGLE_PATHS = (":generateContent", ":streamGenerateContent")


def provider_of(host: str, path: str) -> str | None:
    """The API shape of an LLM call (an OpenAI-compatible server of any vendor is "openai");
    the same endpoints the replay engine counts as LLM calls (`replay._engine._LLM_PATHS`)."""
    if path.endswith(("/messages", "/v1/complete")):
        return "anthropic"
    if path.endswith(_OPENAI_PATHS):
        return "openai" if "anthropic" not in host else "anthropic"
    if path.endswith(_GOOGLE_PATHS):
        return "google"
    return None


@functools.lru_cache(maxsize=1)
def price_table() -> dict[str, Any]:
    return json.loads(resources.files("autorr").joinpath("data/prices.json").read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=256)
def _price_of(model: str) -> dict[str, float] | None:
    # The longest listed prefix: "gpt-4o-mini-2024-07-18" is priced as "gpt-4o-mini", not "gpt-4o".
    models = price_table()["models"]
    name = model.lower().rsplit("/", 1)[-1]
    match = max((m for m in models if name.startswith(m)), key=len, default=None)
    return None if match is None else models[match]


# Anthropic bills a cache write at 1.25 times the input price (5-minute cache); the table
# may list "cache_write" for a model where it differs.
_CACHE_WRITE = 1.25


def cost_of(model: str | None, input_tokens: int | None, output_tokens: int | None,
            cached_tokens: int | None = 0, cache_write_tokens: int | None = 0) -> float | None:
    """USD for one call, or None for a model the table does not list. ``input_tokens``
    counts every input token, the ``cached_tokens`` read from a cache and the
    ``cache_write_tokens`` written to one included."""
    if not isinstance(model, str) or not model or input_tokens is None:
        return None
    price = _price_of(model)
    if price is None:
        return None
    cached = min(cached_tokens or 0, input_tokens)
    written = min(cache_write_tokens or 0, input_tokens - cached)
    total = ((input_tokens - cached - written) * price["input"]
             + cached * price.get("cached_input", price["input"])
             + written * price.get("cache_write", price["input"] * _CACHE_WRITE)
             + (output_tokens or 0) * price.get("output", 0.0))
    return round(total / 1_000_000, 10)


# An SSE event can only add metadata when it holds usage (OpenAI puts "usage": null on
# every chunk when asked for usage: not that; Gemini's is "usageMetadata"), an error
# (OpenAI-compatible servers' and Anthropic's `event: error`, the Responses API's
# response.failed) or a tool call; most of a stream is text deltas, not worth parsing.
# The last event naming a model is parsed too.
_USAGE = re.compile(rb'"(?:usage|usageMetadata|error)"\s*:\s*\{')


def _sse_payloads(body: bytes) -> Iterator[dict[str, Any]]:
    datas = [line[5:].strip() for line in body.splitlines() if line.startswith(b"data:")]
    last_model = next((i for i in range(len(datas) - 1, -1, -1) if datas[i].find(b'"model"') != -1), -1)
    for i, data in enumerate(datas):
        if not data or data == b"[DONE]" or (i != last_model and not _USAGE.search(data)
                                             and data.find(b"tool") == -1 and data.find(b"function_call") == -1):
            continue
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            yield value


def _count(value: Any) -> int | None:
    # A server's own null, string or bool is no count (True is an int to isinstance).
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# (meta key, the names servers give it): OpenAI chat, OpenAI Responses and Anthropic,
# Gemini's usageMetadata, Ollama's native counts.
_COUNTS = (("input_tokens", ("prompt_tokens", "input_tokens", "promptTokenCount", "prompt_eval_count")),
           ("output_tokens", ("completion_tokens", "output_tokens", "candidatesTokenCount", "eval_count")))


def _usage(into: dict[str, Any], usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    # A server's own null, string or bool is no count (True is an int to isinstance).
    counts = {name: value for name, value in usage.items() if type(value) is int}
    for target, names in _COUNTS:
        for name in names:
            if name in counts:
                into[target] = counts[name]
    thoughts = counts.get("thoughtsTokenCount")
    if thoughts and "candidatesTokenCount" in counts:  # Gemini bills its thinking as output, counted apart
        into["output_tokens"] = counts["candidatesTokenCount"] + thoughts
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, dict) else None
    for name in ("cachedContentTokenCount", "prompt_cache_hit_tokens", "cache_read_input_tokens"):
        cached = cached if cached is not None else counts.get(name)
    if cached is not None:
        into["cached_tokens"] = cached
    # Anthropic counts cache reads and writes apart from input_tokens, not inside them
    # (a proxy that reports them next to OpenAI's prompt_tokens counts them inside).
    read, written = counts.get("cache_read_input_tokens"), counts.get("cache_creation_input_tokens")
    if (read is not None or written is not None) and "prompt_tokens" not in usage:
        into["cached_tokens"] = read or 0
        into["cache_creation_tokens"] = written or 0


def _name(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


_TOOL_KEYS = frozenset(("choices", "content", "content_block", "output"))


def _tool_names(payload: dict[str, Any]) -> list[str]:
    # Every level is checked for its type: a server's odd shape loses its tool names,
    # not the rest of the call's metadata.
    names: list[str] = []
    if _TOOL_KEYS.isdisjoint(payload):  # most events (usage, deltas of text) hold none
        return names
    choices = payload.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        message = (choice.get("message") or choice.get("delta")) if isinstance(choice, dict) else None
        calls = message.get("tool_calls") if isinstance(message, dict) else None
        for call in calls if isinstance(calls, list) else ():
            function = call.get("function") if isinstance(call, dict) else None
            name = _name(function.get("name")) if isinstance(function, dict) else None
            if name:
                names.append(name)
    blocks = payload.get("content")
    block = payload.get("content_block")
    output = payload.get("output")
    for item in ([block] if isinstance(block, dict) else []) + (blocks if isinstance(blocks, list) else []):
        if isinstance(item, dict) and item.get("type") == "tool_use" and _name(item.get("name")):
            names.append(item["name"])
    for item in output if isinstance(output, list) else ():
        if isinstance(item, dict) and item.get("type") == "function_call" and _name(item.get("name")):
            names.append(item["name"])
    return names


def _read_payload(meta: dict[str, Any], payload: dict[str, Any], tools: list[str]) -> None:
    # Usage, errors and the served model sit at the top (OpenAI chat, Gemini), under "response"
    # (Responses API events), under "message" (Anthropic message_start) or, for usage,
    # under "x_groq" (Groq's streams).
    for source in (payload, payload.get("response"), payload.get("message"), payload.get("x_groq")):
        if isinstance(source, dict):
            model = _name(source.get("model")) or _name(source.get("modelVersion"))
            if model:
                meta["model_served"] = model
            _usage(meta, source.get("usage") or source.get("usageMetadata"))
            tools += _tool_names(source)
            error = source.get("error")
            if isinstance(error, dict):  # what the API said went wrong, mid-stream or as the whole body
                meta["api_error"] = {k: error[k] for k in ("type", "code", "message")
                                     if isinstance(error.get(k), (str, int))}


def _model_in_path(path: str) -> str | None:
    """Gemini's model, from ``.../models/<model>:generateContent``."""
    head = path.rpartition(":")[0]
    if "/models/" not in head:
        return None
    return head.rpartition("/models/")[2] or None


# Time to first token: the first SSE event that carries generated output, not the first
# chunk, which may be a keep-alive comment (`: OPENROUTER PROCESSING`), OpenAI's role-only
# delta or Anthropic's message_start / content_block_start / ping, sent before the model
# has produced anything. An event without any of these names cannot carry output and is
# passed over unparsed.
_OUTPUT_HINT = re.compile(rb'"(?:content|text|delta|arguments|partial_json|thinking|reasoning|reasoning_content'
                          rb'|refusal|completion|name|parts|item|content_block|data)"')
_LINE = re.compile(rb"([^\r\n]*)(\r\n|\r|\n|$)")


def _some(value: Any) -> bool:
    # Mistral streams `content` as a list of typed parts; "" and [] are no output.
    return isinstance(value, (str, list)) and len(value) > 0


def _function_started(value: Any) -> bool:
    return isinstance(value, dict) and (_some(value.get("name")) or _some(value.get("arguments")))


def _carries_output(payload: dict[str, Any]) -> bool:
    """Text, a tool call's name or arguments, reasoning or a refusal, in any API's stream shape."""
    kind = payload.get("type")
    if kind == "content_block_delta":  # Anthropic: text_delta, input_json_delta, thinking_delta
        delta = payload.get("delta")
        return isinstance(delta, dict) and any(_some(delta.get(k)) for k in ("text", "partial_json", "thinking"))
    if kind == "content_block_start":  # a tool_use block names its tool here, before its input
        block = payload.get("content_block")
        return isinstance(block, dict) and any(_some(block.get(k)) for k in ("name", "text", "thinking", "data"))
    if isinstance(kind, str) and kind.startswith("response."):  # the Responses API
        if kind.endswith(".delta"):  # output_text, function_call_arguments, reasoning_*, refusal...
            return _some(payload.get("delta"))
        item = payload.get("item")
        return kind == "response.output_item.added" and isinstance(item, dict) and _some(item.get("name"))
    if kind == "completion":  # Anthropic's legacy /v1/complete
        return _some(payload.get("completion"))
    choices = payload.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        if _some(choice.get("text")):  # the legacy /completions stream
            return True
        if isinstance(delta, dict):
            if any(_some(delta.get(k)) for k in ("content", "reasoning_content", "reasoning", "refusal")):
                return True
            calls = delta.get("tool_calls")
            if any(isinstance(c, dict) and _function_started(c.get("function"))
                   for c in (calls if isinstance(calls, list) else ())):
                return True
            if _function_started(delta.get("function_call")):
                return True
    candidates = payload.get("candidates")  # Gemini
    for candidate in candidates if isinstance(candidates, list) else ():
        content = candidate.get("content") if isinstance(candidate, dict) else None
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, dict) and (_some(part.get("text")) or isinstance(part.get("functionCall"), dict)):
                return True
    return False


def _is_output(data: list[bytes]) -> bool:
    joined = b"\n".join(data)
    if not _OUTPUT_HINT.search(joined):
        return False
    try:
        payload = orjson.loads(joined)
    except orjson.JSONDecodeError:
        return False
    return isinstance(payload, dict) and _carries_output(payload)


def first_output_at(body: bytes) -> int | None:
    """Where, in an SSE body, the first event carrying generated output starts; None when
    no event does. Scans forward and stops there: only the events before it are read."""
    start, data = None, []
    for line in _LINE.finditer(body):
        text, end = line.group(1), line.group(2)
        if text.startswith(b"data:"):
            data.append(text[6:] if text[5:6] == b" " else text[5:])
        if text and not text.startswith(b":") and start is None:
            # A comment line is no part of the event's time: a keep-alive may sit in the
            # same block, long before the data it precedes.
            start = line.start()
        if not text or not end:  # a blank line (or the body's end) completes the event
            if data and _is_output(data):
                return start
            start, data = None, []
            if not end:
                return None
    return None


def _chunk_offset(chunks: list[tuple[int, int]], position: int) -> int | None:
    """The offset (µs) of the chunk that holds byte ``position`` of the body."""
    end = 0
    for size, offset_us in chunks:
        end += size
        if position < end:
            return offset_us
    return None


def describe_llm_call(request: dict[str, Any], response: dict[str, Any] | None, body: bytes | None,
                      chunks: list[tuple[int, int]] | None, duration_us: int) -> dict[str, Any]:
    """The metadata of one recorded LLM call; {} when it is not one."""
    provider = provider_of(request.get("host", ""), request.get("path", ""))
    if provider is None:
        return {}
    body_json = request.get("json") if isinstance(request.get("json"), dict) else {}
    model = _name(body_json.get("model"))  # a str or nothing: show and analyze group calls by it
    if model is None and provider == "google":
        model = _model_in_path(request.get("path", ""))
    meta: dict[str, Any] = {"provider": provider, "model": model,
                            "params": {k: body_json[k] for k in _PARAMS if k in body_json}}
    tools: list[str] = []
    if body:
        payloads = list(_sse_payloads(body)) if chunks or body.lstrip()[:5] in (b"data:", b"event") else []
        if not payloads:
            try:
                parsed = orjson.loads(body)
                payloads = [parsed] if isinstance(parsed, dict) else []
            except orjson.JSONDecodeError:
                payloads = []
        for payload in payloads:
            try:
                _read_payload(meta, payload, tools)
            except Exception:  # a shape no parser here expected: the other events still count
                continue
    if tools:
        meta["tool_calls"] = list(dict.fromkeys(tools))
    meta["http_status"] = (response or {}).get("status")
    output = meta.get("output_tokens")
    if chunks:  # a non-streamed call has no time to first token: its answer comes whole
        first = chunks[0][1]
        meta["first_chunk_ms"] = round(first / 1000, 3)
        at = first_output_at(body) if body else None
        token = _chunk_offset(chunks, at) if at is not None else None
        if token is not None:
            meta["ttft_ms"] = round(token / 1000, 3)
        # Generation speed: from the first token on, what came before it was the wait.
        start = first if token is None else token
        if output and duration_us > start:
            meta["tokens_per_second"] = round(output / ((duration_us - start) / 1e6), 2)
    inputs, cached, written = meta.get("input_tokens"), meta.get("cached_tokens"), meta.get("cache_creation_tokens")
    if inputs is not None and written is not None:  # Anthropic: the cache's tokens are on top of input_tokens
        inputs += (cached or 0) + written
    meta["cost_usd"] = cost_of(meta.get("model_served") or meta.get("model"), inputs, output, cached, written)
    meta["price_table"] = price_table()["version"]
    return meta


def recorded_ttft_ms(meta: dict[str, Any], chunks: list[tuple[int, int]] | None) -> float | None:
    """A recorded call's time to first token: ``meta["ttft_ms"]`` as stored when it was
    recorded. Falls back to the first chunk's offset for recordings made before autorr
    stored it and for streams with no output it recognises (a plain SSE endpoint, an API
    shape not listed in `_carries_output`); None for a call that was not streamed."""
    stored = meta.get("ttft_ms")
    if isinstance(stored, (int, float)) and not isinstance(stored, bool):
        return float(stored)
    return chunks[0][1] / 1000 if chunks else None
