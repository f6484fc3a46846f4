"""`autorr show`'s table (autorr/_inspect.py)."""

from __future__ import annotations

from autorr._inspect import format_description


def _event(model):
    return {"id": 1, "kind": "llm", "call": "POST api.anthropic.com/v1/messages", "status": "ok", "model": model,
            "duration_ms": 812.5, "ttft_ms": 301.2, "chunks": 9, "input_tokens": 1200, "output_tokens": 80,
            "cost_usd": 0.0048, "http_status": 200}


def test_long_model_ids_are_shown_whole():
    info = {"recording_id": "r", "path": "r.db", "size_bytes": 2048, "total_events": 2, "total_chunks": 9,
            "meta": {}, "checkpoints": [], "events": [_event("claude-sonnet-4-5-20250929"), _event(None)]}
    lines = format_description(info).splitlines()
    header = next(line for line in lines if "tokens in/out" in line)
    long, short = lines[lines.index(header) + 1:lines.index(header) + 3]
    assert "claude-sonnet-4-5-20250929 " in long
    # the columns after the model stay aligned
    assert long.index("812.5") == short.index("812.5") and header.index("ms") < long.index("812.5") + 5
