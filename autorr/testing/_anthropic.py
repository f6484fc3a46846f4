"""Anthropic-shaped payloads: the Messages API, JSON and SSE."""

from __future__ import annotations

from typing import Any

from ._replies import Replies, split_chunks, split_json, text_of, words_in

__all__ = ["messages"]


def _sse(kind: str, data: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {Replies.dumps(dict(type=kind, **data))}\n\n".encode()


def _tool_result(message: dict[str, Any]) -> str | None:
    """The text of a user turn's tool_result blocks (several after parallel calls), joined."""
    content = message.get("content")
    if not isinstance(content, list):
        return None
    results = [text_of(block.get("content")) for block in content
               if isinstance(block, dict) and block.get("type") == "tool_result"]
    return "; ".join(results) if results else None


def _chosen_tool(body: dict[str, Any], tool_result: str | None) -> dict[str, Any] | None:
    """The tool the model uses this turn; None once a tool result came back."""
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("name")]
    choice = body.get("tool_choice") if isinstance(body.get("tool_choice"), dict) else {}
    if not tools or tool_result is not None or choice.get("type") == "none":
        return None
    if choice.get("type") == "tool":
        return next((t for t in tools if t["name"] == choice.get("name")), tools[0])
    return tools[0]


def messages(replies: Replies, body: dict[str, Any]) -> tuple[str, Any]:
    history = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    prompt = replies.last_text([m for m in history if _tool_result(m) is None])
    tool_result = _tool_result(history[-1]) if history else None
    tool = _chosen_tool(body, tool_result)
    model = body.get("model", "claude-fake")
    seed = Replies.dumps(body)
    input_tokens = words_in(history) + words_in(body.get("system") or "")
    if tool is not None:
        block = {"type": "tool_use", "id": replies.ident("toolu_", seed), "name": tool["name"],
                 "input": Replies.tool_arguments(tool.get("input_schema") or {}, prompt)}
        stop, output_tokens = "tool_use", 12
    else:
        block = {"type": "text", "text": replies.text(prompt, tool_result)}
        stop, output_tokens = "end_turn", len(block["text"].split())
    message = {"id": replies.ident("msg_", seed), "type": "message", "role": "assistant", "model": model,
               "content": [block], "stop_reason": stop, "stop_sequence": None,
               "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                         "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}
    if not body.get("stream"):
        return "json", message
    start = dict(message, content=[], stop_reason=None, usage=dict(message["usage"], output_tokens=1))
    events = [_sse("message_start", {"message": start}),
              _sse("content_block_start", {"index": 0, "content_block": dict(block, input={})
                                           if block["type"] == "tool_use" else dict(block, text="")}),
              _sse("ping", {})]
    if block["type"] == "tool_use":
        events += [_sse("content_block_delta", {"index": 0, "delta": {"type": "input_json_delta",
                                                                     "partial_json": piece}})
                   for piece in split_json(Replies.dumps(block["input"]))]
    else:
        events += [_sse("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
                   for piece in split_chunks(block["text"])]
    events += [_sse("content_block_stop", {"index": 0}),
               _sse("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None},
                                      "usage": {"output_tokens": output_tokens}}),
               _sse("message_stop", {})]
    return "sse", events
