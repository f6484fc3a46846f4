"""Why a live call does not match a recorded one: tiny named matchers + a JSON diff.

Only run on a miss: the hot path matches by fingerprint alone.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

__all__ = ["MATCHERS", "closeness", "distance", "explain", "json_diff"]

MAX_DIFFS = 8


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pair(recorded: Any, live: Any, limit: int = 80) -> str:
    """"recorded X, now Y", each cut to a window around where they first differ: real
    prompts are longer than a line, and both cut from the start would show the same text."""
    a, b = repr(recorded), repr(live)
    if len(a) <= limit and len(b) <= limit:
        return f"recorded {a}, now {b}"
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    start = max(0, at - limit // 3)

    def window(text: str) -> str:
        end = start + limit - 6
        return ("..." if start else "") + text[start:end] + ("..." if end < len(text) else "")

    sizes = f" ({len(recorded):,} and {len(live):,} characters)" if isinstance(recorded, str) and isinstance(
        live, str) and len(recorded) != len(live) else ""
    return f"recorded {window(a)}, now {window(b)}{sizes}"


def json_diff(recorded: Any, live: Any, path: str = "$") -> Iterator[str]:
    """Yield one line per JSON path whose value differs."""
    if isinstance(recorded, dict) and isinstance(live, dict):
        for key in sorted(set(recorded) | set(live), key=str):
            sub = f"{path}.{key}"
            if key not in live:
                yield f"{sub}: only in recording ({_short(recorded[key])})"
            elif key not in recorded:
                yield f"{sub}: only in this call ({_short(live[key])})"
            else:
                yield from json_diff(recorded[key], live[key], sub)
    elif isinstance(recorded, list) and isinstance(live, list):
        for i, (a, b) in enumerate(zip(recorded, live)):
            yield from json_diff(a, b, f"{path}[{i}]")
        if len(recorded) != len(live):
            yield f"{path}: {len(recorded)} items recorded, {len(live)} in this call"
    elif recorded != live or type(recorded) is not type(live):
        yield f"{path}: {_pair(recorded, live)}"


def same_method(recorded: dict[str, Any], live: dict[str, Any]) -> str | None:
    if recorded.get("method") != live.get("method"):
        return f"method: recorded {recorded.get('method')}, now {live.get('method')}"
    return None


def same_host(recorded: dict[str, Any], live: dict[str, Any]) -> str | None:
    if (recorded.get("host") or "").lower() != (live.get("host") or "").lower():
        return f"host: recorded {recorded.get('host')}, now {live.get('host')}"
    return None


def same_path(recorded: dict[str, Any], live: dict[str, Any]) -> str | None:
    if recorded.get("path") != live.get("path"):
        return f"path: recorded {recorded.get('path')}, now {live.get('path')}"
    return None


def same_query(recorded: dict[str, Any], live: dict[str, Any]) -> str | None:
    a = sorted(map(tuple, recorded.get("query") or []))
    b = sorted(map(tuple, live.get("query") or []))
    if a != b:
        return f"query: {_pair(a, b)}"
    return None


def same_body(recorded: dict[str, Any], live: dict[str, Any]) -> str | None:
    a, b = recorded.get("json"), live.get("json")
    if a is not None or b is not None:
        diffs = list(json_diff(a, b))
        if diffs:
            extra = f" (+{len(diffs) - MAX_DIFFS} more)" if len(diffs) > MAX_DIFFS else ""
            return "body: " + "; ".join(diffs[:MAX_DIFFS]) + extra
        return None
    if (recorded.get("body") or b"") != (live.get("body") or b""):
        return "body: raw bytes differ"
    return None


MATCHERS: tuple[Callable[[dict[str, Any], dict[str, Any]], str | None], ...] = (
    same_method, same_host, same_path, same_query, same_body,
)


def explain(recorded: dict[str, Any], live: dict[str, Any]) -> list[str]:
    """The reasons, one per matcher that says no."""
    return [reason for matcher in MATCHERS if (reason := matcher(recorded, live))]


def distance(recorded: Any, live: Any) -> int:
    """How many JSON values differ, a list's missing or extra items counted one each (a
    history one turn longer is further than one message edited)."""
    if isinstance(recorded, dict) and isinstance(live, dict):
        return sum(distance(recorded[k], live[k]) if k in recorded and k in live else 1
                   for k in recorded.keys() | live.keys())
    if isinstance(recorded, list) and isinstance(live, list):
        return sum(map(distance, recorded, live)) + abs(len(recorded) - len(live))
    return 0 if recorded == live and type(recorded) is type(live) else 1


def closeness(recorded: dict[str, Any], live: dict[str, Any]) -> tuple[int, int]:
    """Sort key for the nearest candidate: fewer failing matchers, then fewer JSON values apart."""
    structural = sum(1 for m in MATCHERS[:4] if m(recorded, live))
    body = distance(recorded.get("json"), live.get("json")) if structural == 0 else 1_000
    return structural, body
