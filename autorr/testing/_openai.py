"""OpenAI-shaped payloads: chat completions, the Responses API, embeddings."""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any

from ._replies import Replies, split_chunks, words_in

__all__ = ["chat", "embeddings", "responses"]

Reply = tuple[str, Any]  # ("json", body) or ("sse", [event bytes, ...])


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {Replies.dumps(data)}\n\n".encode()


def chat(replies: Replies, body: dict[str, Any]) -> Reply:
    messages = body.get("messages") or []
    model = body.get("model", "gpt-fake")
    prompt = replies.last_text(messages)
    last = messages[-1] if messages else {}
    tools = body.get("tools") or []
    base = {"id": replies.ident("chatcmpl-", prompt), "created": replies.created(), "model": model,
            "system_fingerprint": "fp_autorr_fake"}
    prompt_tokens = words_in(messages)
    wants_tool = bool(tools) and last.get("role") != "tool"
    if wants_tool:
        fn = tools[0].get("function") or {}
        arguments = Replies.dumps(Replies.tool_arguments(fn.get("parameters") or {}, prompt))
        call = {"id": replies.ident("call_", prompt + "tool"), "type": "function",
                "function": {"name": fn.get("name", "tool"), "arguments": arguments}}
        message = {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None}
        finish, completion_tokens = "tool_calls", 12
    else:
        tool_result = str(last.get("content")) if last.get("role") == "tool" else None
        text = replies.text(prompt, tool_result)
        message = {"role": "assistant", "content": text, "refusal": None}
        finish, completion_tokens = "stop", len(text.split())
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
             "total_tokens": prompt_tokens + completion_tokens,
             "prompt_tokens_details": {"cached_tokens": 0}, "completion_tokens_details": {"reasoning_tokens": 0}}
    if not body.get("stream"):
        return "json", dict(base, object="chat.completion", usage=usage, choices=[
            {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}])

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return _sse(dict(base, object="chat.completion.chunk", choices=[
            {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]))

    events = []
    if wants_tool:
        call = message["tool_calls"][0]
        events.append(chunk({"role": "assistant", "content": None, "tool_calls": [
            {"index": 0, "id": call["id"], "type": "function",
             "function": {"name": call["function"]["name"], "arguments": ""}}]}))
        args = call["function"]["arguments"]
        step = max(1, -(-len(args) // 4))
        for i in range(0, len(args), step):
            events.append(chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[i:i + step]}}]}))
    else:
        events.append(chunk({"role": "assistant", "content": "", "refusal": None}))
        events += [chunk({"content": piece}) for piece in split_chunks(message["content"])]
    events.append(chunk({}, finish))
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append(_sse(dict(base, object="chat.completion.chunk", choices=[], usage=usage)))
    events.append(b"data: [DONE]\n\n")
    return "sse", events


def _input_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return Replies.last_text([m for m in value or [] if isinstance(m, dict)])


def responses(replies: Replies, body: dict[str, Any]) -> Reply:
    prompt = _input_text(body.get("input"))
    text = replies.text(prompt)
    model = body.get("model", "gpt-fake")
    response_id = replies.ident("resp_", prompt)
    item_id = replies.ident("msg_", prompt)
    input_tokens = words_in(body.get("input")) + words_in(body.get("instructions") or "")
    output_tokens = len(text.split())
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    item = {"id": item_id, "type": "message", "status": "completed", "role": "assistant", "content": [part]}
    full = {"id": response_id, "object": "response", "created_at": replies.created(), "status": "completed",
            "model": model, "output": [item], "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
            "error": None, "incomplete_details": None, "instructions": body.get("instructions"), "metadata": {},
            "temperature": 1.0, "top_p": 1.0,
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
    return [round((b - 128) / 128, 6) for b in digest[:dims]]


def embeddings(replies: Replies, body: dict[str, Any]) -> Reply:
    inputs = body.get("input")
    items = [inputs] if isinstance(inputs, str) else list(inputs or [])
    data = []
    for i, text in enumerate(items):
        vector = _vector(str(text))
        embedding: Any = vector
        if body.get("encoding_format") == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": embedding})
    tokens = sum(len(str(t).split()) for t in items)
    return "json", {"object": "list", "data": data, "model": body.get("model", "embedding-fake"),
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
