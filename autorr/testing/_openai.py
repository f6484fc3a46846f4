"""OpenAI-shaped payloads: chat completions, the Responses API, embeddings."""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any

from ._replies import Replies, split_chunks, split_json, text_of, words_in

__all__ = ["chat", "embeddings", "responses"]

Reply = tuple[str, Any]  # ("json", body) or ("sse", [event bytes, ...])


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {Replies.dumps(data)}\n\n".encode()


def _chosen_tool(body: dict[str, Any], last: dict[str, Any]) -> dict[str, Any] | None:
    """The function the model calls this turn; None once a tool result came back."""
    tools = [t.get("function") or {} for t in body.get("tools") or [] if isinstance(t, dict)]
    choice = body.get("tool_choice")
    if not tools or last.get("role") == "tool" or choice == "none":
        return None
    if isinstance(choice, dict):  # {"type": "function", "function": {"name": ...}}
        wanted = (choice.get("function") or {}).get("name")
        return next((fn for fn in tools if fn.get("name") == wanted), tools[0])
    return tools[0]


def _tool_results(messages: list[Any]) -> str | None:
    """The trailing tool messages' text (several after parallel calls), joined."""
    results = []
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") != "tool":
            break
        results.append(text_of(message.get("content")))
    return "; ".join(reversed(results)) if results else None


def chat(replies: Replies, body: dict[str, Any]) -> Reply:
    messages = body.get("messages") or []
    model = body.get("model", "gpt-fake")
    prompt = replies.last_text(messages)
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    seed = Replies.dumps(body)
    base = {"id": replies.ident("chatcmpl-", seed), "created": replies.created(), "model": model,
            "service_tier": "default", "system_fingerprint": "fp_autorr_fake"}
    prompt_tokens = words_in(messages)
    fn = _chosen_tool(body, last)
    if fn is not None:
        arguments = Replies.dumps(Replies.tool_arguments(fn.get("parameters") or {}, prompt))
        call = {"id": replies.ident("call_", seed), "type": "function",
                "function": {"name": fn.get("name", "tool"), "arguments": arguments}}
        message = {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None, "annotations": []}
        finish, completion_tokens = "tool_calls", 12
    else:
        text = replies.text(prompt, _tool_results(messages))
        message = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
        finish, completion_tokens = "stop", len(text.split())
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
             "total_tokens": prompt_tokens + completion_tokens,
             "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}
    if not body.get("stream"):
        return "json", dict(base, object="chat.completion", usage=usage, choices=[
            {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}])

    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    # With include_usage the API puts "usage": null on every chunk, then one usage-only chunk.
    extra = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return _sse(dict(base, object="chat.completion.chunk", choices=[
            {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}], **extra))

    events = []
    if fn is not None:
        call = message["tool_calls"][0]
        events.append(chunk({"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": call["id"], "type": "function",
             "function": {"name": call["function"]["name"], "arguments": ""}}]}))
        events += [chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
                   for piece in split_json(call["function"]["arguments"])]
    else:
        events.append(chunk({"role": "assistant", "content": "", "refusal": None}))
        events += [chunk({"content": piece}) for piece in split_chunks(message["content"])]
    events.append(chunk({}, finish))
    if include_usage:
        events.append(_sse(dict(base, object="chat.completion.chunk", choices=[], usage=usage)))
    events.append(b"data: [DONE]\n\n")
    return "sse", events


def _input_text(value: Any) -> tuple[str, str | None]:
    """(prompt, tool output) from ``input``: a string, or a list of messages and items."""
    if isinstance(value, str):
        return value, None
    items = [m for m in value or [] if isinstance(m, dict)]
    outputs = []
    for item in reversed(items):
        if item.get("type") != "function_call_output":
            break
        output = item.get("output")
        outputs.append(output if isinstance(output, str) else text_of(output))
    return Replies.last_text(items), "; ".join(reversed(outputs)) if outputs else None


def responses(replies: Replies, body: dict[str, Any]) -> Reply:
    prompt, tool_output = _input_text(body.get("input"))
    text = replies.text(prompt, tool_output)
    model = body.get("model", "gpt-fake")
    seed = Replies.dumps(body)
    response_id = replies.ident("resp_", seed)
    item_id = replies.ident("msg_", seed)
    input_tokens = words_in(body.get("input")) + words_in(body.get("instructions") or "")
    output_tokens = len(text.split())
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    item = {"id": item_id, "type": "message", "status": "completed", "role": "assistant", "content": [part]}
    full = {"id": response_id, "object": "response", "created_at": replies.created(), "status": "completed",
            "model": model, "output": [item], "parallel_tool_calls": True,
            "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [],
            "error": None, "incomplete_details": None, "instructions": body.get("instructions"), "metadata": {},
            "previous_response_id": body.get("previous_response_id"), "temperature": body.get("temperature", 1.0),
            "top_p": body.get("top_p", 1.0), "text": {"format": {"type": "text"}}, "truncation": "disabled",
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                      "total_tokens": input_tokens + output_tokens, "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens_details": {"reasoning_tokens": 0}}}
    if not body.get("stream"):
        return "json", full
    seq = iter(range(10_000))

    def event(kind: str, **fields: Any) -> bytes:
        return _sse(dict(type=kind, sequence_number=next(seq), **fields), kind)

    started = dict(full, status="in_progress", output=[], usage=None)
    empty_item = dict(item, status="in_progress", content=[])
    empty_part = dict(part, text="")
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    events = [event("response.created", response=started), event("response.in_progress", response=started),
              event("response.output_item.added", output_index=0, item=empty_item),
              event("response.content_part.added", part=empty_part, **where)]
    events += [event("response.output_text.delta", delta=piece, logprobs=[], **where)
               for piece in split_chunks(text)]
    events += [event("response.output_text.done", text=text, logprobs=[], **where),
               event("response.content_part.done", part=part, **where),
               event("response.output_item.done", output_index=0, item=item),
               event("response.completed", response=full)]
    return "sse", events


def _vector(text: str, dims: int = 8) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    while len(digest) < dims:  # `dimensions` may ask for more than one digest holds
        digest += hashlib.sha256(digest).digest()
    return [round((b - 128) / 128, 6) for b in digest[:dims]]


def embeddings(replies: Replies, body: dict[str, Any]) -> Reply:
    inputs = body.get("input")
    # One string or one list of token ids is a single input; otherwise a list of them.
    single = isinstance(inputs, str) or (isinstance(inputs, list) and inputs and
                                         all(isinstance(t, int) for t in inputs))
    items = [inputs] if single else list(inputs or [])
    texts = [t if isinstance(t, str) else Replies.dumps(t) for t in items]
    dims = body.get("dimensions") if isinstance(body.get("dimensions"), int) and body["dimensions"] > 0 else 8
    data = []
    for i, text in enumerate(texts):
        vector = _vector(text, dims)
        embedding: Any = vector
        # The SDK asks for base64 unless the caller chose a format, and decodes float32 itself.
        if body.get("encoding_format") == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    tokens = sum(len(t.split()) for t in texts)
    return "json", {"object": "list", "data": data, "model": body.get("model", "embedding-fake"),
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
