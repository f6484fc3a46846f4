"""Anthropic-shaped payloads: the Messages API, JSON and SSE."""

from __future__ import annotations

from typing import Any

from ._replies import Replies, split_chunks, words_in

__all__ = ["messages"]


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {Replies.dumps(dict(type=kind, **data))}\n\n".encode()


def _tool_result(message: dict[str, Any]) -> str | None:
    content = message.get("content")
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                inner = block.get("content")
                return inner if isinstance(inner, str) else Replies.dumps(inner)
    return None


def messages(replies: Replies, body: dict[str, Any]) -> tuple[str, Any]:
    history = body.get("messages") or []
    prompt = replies.last_text([m for m in history if _tool_result(m) is None])
    last = history[-1] if history else {}
    tool_result = _tool_result(last) if isinstance(last, dict) else None
    tools = body.get("tools") or []
    model = body.get("model", "claude-fake")
    input_tokens = words_in(history) + words_in(body.get("system") or "")
    if tools and tool_result is None:
        tool = tools[0]
        block = {"type": "tool_use", "id": replies.ident("toolu_", prompt), "name": tool.get("name", "tool"),
                 "input": Replies.tool_arguments(tool.get("input_schema") or {}, prompt)}
        stop, output_tokens = "tool_use", 12
    else:
        block = {"type": "text", "text": replies.text(prompt, tool_result)}
        stop, output_tokens = "end_turn", len(block["text"].split())
    message = {"id": replies.ident("msg_", prompt), "type": "message", "role": "assistant", "model": model,
               "content": [block], "stop_reason": stop, "stop_sequence": None,
               "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                         "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
    if not body.get("stream"):
        return "json", message
    start = dict(message, content=[], stop_reason=None, usage=dict(message["usage"], output_tokens=1))
    events = [_sse("message_start", {"message": start})]
    if block["type"] == "tool_use":
        events.append(_sse("content_block_start", {"index": 0, "content_block": dict(block, input={})}))
        args = Replies.dumps(block["input"])
        step = max(1, -(-len(args) // 4))
        events += [_sse("content_block_delta", {"index": 0, "delta": {"type": "input_json_delta",
                                                                     "partial_json": args[i:i + step]}})
                   for i in range(0, len(args), step)]
    else:
        events.append(_sse("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}))
        events.append(_sse("ping", {}))
        events += [_sse("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
                   for piece in split_chunks(block["text"])]
    events += [_sse("content_block_stop", {"index": 0}),
               _sse("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None},
                                      "usage": {"output_tokens": output_tokens}}),
               _sse("message_stop", {})]
    return "sse", events
