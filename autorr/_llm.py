"""LLM call metadata, read from the recorded HTTP exchange (OpenAI and Anthropic shapes).

Runs on the writer thread, never on the agent's: provider, model requested and served,
sampling parameters, token usage (for streams, from the final usage event), cost from
the versioned price table in ``data/prices.json``, time to first token, tokens per
second and the tool calls the model asked for.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any, Iterator

import orjson

__all__ = ["cost_of", "describe_llm_call", "price_table"]

_PARAMS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "max_output_tokens", "seed", "stream",
           "tool_choice", "reasoning_effort", "stop", "n", "frequency_penalty", "presence_penalty")

_OPENAI_PATHS = ("/chat/completions", "/completions", "/responses", "/embeddings")


def provider_of(host: str, path: str) -> str | None:
    if path.endswith("/messages"):
        return "anthropic"
    if path.endswith(_OPENAI_PATHS):
        return "openai" if "anthropic" not in host else "anthropic"
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


def cost_of(model: str | None, input_tokens: int | None, output_tokens: int | None,
            cached_tokens: int | None = 0) -> float | None:
    """USD for one call, or None for a model the table does not list."""
    if not model or input_tokens is None:
        return None
    price = _price_of(model)
    if price is None:
        return None
    cached = min(cached_tokens or 0, input_tokens)
    total = ((input_tokens - cached) * price["input"] + cached * price.get("cached_input", price["input"])
             + (output_tokens or 0) * price.get("output", 0.0))
    return round(total / 1_000_000, 10)


# An SSE event can only add metadata when it holds usage (OpenAI puts "usage": null on
# every chunk when asked for usage: not that) or a tool call; most of a stream is text
# deltas, not worth parsing. The last event naming a model is parsed too.
_USAGE = re.compile(rb'"usage"\s*:\s*\{')


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


def _usage(into: dict[str, Any], usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    pairs = (("input_tokens", ("prompt_tokens", "input_tokens")),
             ("output_tokens", ("completion_tokens", "output_tokens")))
    for target, names in pairs:
        for name in names:
            if isinstance(usage.get(name), int):
                into[target] = usage[name]
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    cached = cached if cached is not None else usage.get("cache_read_input_tokens")
    if isinstance(cached, int):
        into["cached_tokens"] = cached


def _tool_names(payload: dict[str, Any]) -> list[str]:
    names = []
    for choice in payload.get("choices") or []:
        message = choice.get("message") or choice.get("delta") or {}
        for call in message.get("tool_calls") or []:
            name = (call.get("function") or {}).get("name")
            if name:
                names.append(name)
    blocks = payload.get("content") or []
    block = payload.get("content_block")
    for item in ([block] if isinstance(block, dict) else []) + (blocks if isinstance(blocks, list) else []):
        if isinstance(item, dict) and item.get("type") == "tool_use" and item.get("name"):
            names.append(item["name"])
    for item in payload.get("output") or []:
        if isinstance(item, dict) and item.get("type") == "function_call" and item.get("name"):
            names.append(item["name"])
    return names


def _read_payload(meta: dict[str, Any], payload: dict[str, Any], tools: list[str]) -> None:
    # Usage and the served model sit at the top (OpenAI chat), under "response"
    # (Responses API events) or under "message" (Anthropic message_start).
    for source in (payload, payload.get("response"), payload.get("message")):
        if isinstance(source, dict):
            if isinstance(source.get("model"), str):
                meta["model_served"] = source["model"]
            _usage(meta, source.get("usage"))
            tools += _tool_names(source)


def describe_llm_call(request: dict[str, Any], response: dict[str, Any] | None, body: bytes | None,
                      chunks: list[tuple[int, int]] | None, duration_us: int) -> dict[str, Any]:
    """The metadata of one recorded LLM call; {} when it is not one."""
    provider = provider_of(request.get("host", ""), request.get("path", ""))
    if provider is None:
        return {}
    body_json = request.get("json") if isinstance(request.get("json"), dict) else {}
    meta: dict[str, Any] = {"provider": provider, "model": body_json.get("model"),
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
            _read_payload(meta, payload, tools)
    if tools:
        meta["tool_calls"] = list(dict.fromkeys(tools))
    meta["http_status"] = (response or {}).get("status")
    first = chunks[0][1] if chunks else (response or {}).get("ttfb_us")
    if first is not None:
        meta["ttft_ms"] = round(first / 1000, 3)
    output = meta.get("output_tokens")
    if output and chunks and duration_us > (first or 0):
        meta["tokens_per_second"] = round(output / ((duration_us - (first or 0)) / 1e6), 2)
    meta["cost_usd"] = cost_of(meta.get("model_served") or meta.get("model"), meta.get("input_tokens"), output,
                               meta.get("cached_tokens"))
    meta["price_table"] = price_table()["version"]
    return meta
