"""Reading a recording for people: the `autorr show` / `autorr list` views."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from ._llm import recorded_ttft_ms
from .store import Reader, check_directory, list_recordings, recording_size, resolve

__all__ = ["cost_summary", "describe", "format_description", "list_summaries"]


def describe(id_or_path: str | Path | None, directory: Path) -> dict[str, Any]:
    path = resolve(id_or_path, directory)
    with Reader(path) as reader:
        meta = reader.meta()
        events_count, chunks = reader.count()
        events = []
        # Tokens and cost were read from the bodies when recorded: no body is loaded here.
        for event in reader.events():
            found = event.meta
            events.append({
                "id": event.id, "kind": "llm" if found.get("provider") else event.kind, "call": _call(event),
                "status": event.status, "model": found.get("model_served") or found.get("model"),
                "started_at": event.started_at, "duration_ms": round(event.duration_us / 1000, 2),
                "ttft_ms": _ms(recorded_ttft_ms(found, event.chunks)),
                "chunks": len(event.chunks or ()),
                "input_tokens": found.get("input_tokens"),
                "output_tokens": found.get("output_tokens"),
                "cost_usd": found.get("cost_usd"),
                "http_status": (event.response or {}).get("status") if event.kind == "http" else None,
            })
        return {"recording_id": meta.get("recording_id", path.stem), "path": str(path),
                "size_bytes": reader.size_bytes(), "segments": len(reader.paths), "total_events": events_count,
                "total_chunks": chunks, "meta": meta, "checkpoints": reader.checkpoints(), "events": events,
                "cost": cost_summary(events)}


def _call(event: Any) -> str:
    """The call as listed: a file's says whether it was read or written."""
    op = (event.request.get("json") or {}).get("op") if event.kind == "file" and isinstance(event.request, dict) \
        else None
    return f"{event.summary} ({op})" if isinstance(op, str) else event.summary


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _unpriced(event: dict[str, Any]) -> bool:
    # A call the API refused (4xx, 5xx) or that got no answer at all was not billed: no
    # price is missing for it.
    status = event.get("http_status")
    return event["kind"] == "llm" and event["cost_usd"] is None and isinstance(status, int) and status < 400


def cost_summary(events: list[dict[str, Any]]) -> dict[str, Any]:
    """What the priced calls cost, and which LLM calls have no price (a model the price
    table does not list, or a call whose usage the server did not report): the total
    leaves them out, so it is a floor while any are listed."""
    priced = [e["cost_usd"] for e in events if e["cost_usd"] is not None]
    unpriced = [e for e in events if _unpriced(e)]
    why = [f"{e['model'] or '-'}{' (no usage reported)' if e['input_tokens'] is None else ''}" for e in unpriced]
    return {"total_usd": round(sum(priced), 10) if priced else None, "priced_calls": len(priced),
            "unpriced_calls": len(unpriced), "unpriced": list(dict.fromkeys(why))}


def _time(ts: float | None) -> str:
    return datetime.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def format_description(info: dict[str, Any]) -> str:
    meta = info["meta"]
    prov = meta.get("provenance") or {}
    git = prov.get("git") or {}
    segments = f", {info['segments']} segments" if info.get("segments", 1) > 1 else ""
    lines = [
        f"recording {info['recording_id']}  ({info['path']}, {info['size_bytes'] / 1024:.1f} KiB{segments})",
        f"  started {_time(meta.get('started_at'))}, ended {_time(meta.get('ended_at'))}; "
        f"{info['total_events']} events, {info['total_chunks']} stream chunks",
    ]
    if meta.get("parent"):
        lines.append(f"  parent: {meta['parent'].get('recording_id')} ({meta['parent'].get('reason')})")
    if meta.get("labels"):
        lines.append("  labels: " + ", ".join(f"{k}={v}" for k, v in meta["labels"].items()))
    if git.get("commit"):
        lines.append(f"  git {git['commit'][:12]}{' (dirty)' if git.get('dirty') else ''}")
    if prov:
        pkgs = ", ".join(f"{k} {v}" for k, v in (prov.get("packages") or {}).items())
        lines.append(f"  python {prov.get('python')} on {prov.get('host')}; {pkgs}")
    if meta.get("models"):
        lines.append(f"  models: {', '.join(meta['models'])}")
    lines.append("")
    width = max([3] + [len(str(e["id"])) for e in info["events"]])  # ids of later segments are longer
    # Model ids are long ("claude-sonnet-4-5-20250929"): as wide as the longest, within reason.
    mw = min(40, max([5] + [len(str(e["model"] or "-")) for e in info["events"]]))
    lines.append(f"  {'#':>{width}}  {'kind':<10} {'call':<44} {'status':<10} {'model':<{mw}} {'ms':>8} {'ttft':>7} "
                 f"{'chunks':>6} {'tokens in/out':>13} {'cost $':>10}")
    for e in info["events"]:
        tokens = "" if e["input_tokens"] is None else f"{e['input_tokens']}/{e['output_tokens'] or '-'}"
        ttft = "" if e["ttft_ms"] is None else f"{e['ttft_ms']:.1f}"
        status = e["status"] if e["http_status"] in (None, 200) else f"{e['status']} {e['http_status']}"
        cost = f"{e['cost_usd']:.6f}" if e["cost_usd"] is not None else "?" if _unpriced(e) else ""
        lines.append(
            f"  {e['id']:>{width}}  {e['kind']:<10} {e['call'][:44]:<44} {status:<10} "
            f"{str(e['model'] or '-')[:mw]:<{mw}} {e['duration_ms']:>8.1f} {ttft:>7} "
            f"{e['chunks'] or '':>6} {tokens:>13} {cost:>10}"
        )
    cost = cost_summary(info["events"])
    if cost["priced_calls"] or cost["unpriced_calls"]:
        total = "unknown" if cost["total_usd"] is None else f"${cost['total_usd']:.6f}"
        n = cost["unpriced_calls"]
        missing = f" ({n} call{'s' if n > 1 else ''} with no price: {', '.join(cost['unpriced'])})" if n else ""
        lines.append(f"  total cost {total}{missing}")
    for cp in info["checkpoints"]:
        lines.append(f"  checkpoint {cp['name']!r} after {cp['events_before']} events")
    return "\n".join(lines)


def list_summaries(directory: Path) -> list[dict[str, Any]]:
    check_directory(directory)
    out = []
    for path in list_recordings(directory):
        try:
            with Reader(path) as reader:
                meta = reader.meta()
                events, chunks = reader.count()
        except Exception as exc:  # one bad file must not hide the others
            out.append({"recording_id": path.stem, "path": str(path), "error": str(exc)})
            continue
        # The file's name, which `show`/AUTORR_RECORDING take: a copy (run.db -> run-ok.db) keeps
        # the id it was recorded with in its meta, and would be listed under its original's name.
        out.append({"recording_id": path.stem, "path": str(path),
                    "started_at": meta.get("started_at"), "events": events, "chunks": chunks,
                    "parent": (meta.get("parent") or {}).get("recording_id"), "labels": meta.get("labels") or {},
                    "size_bytes": recording_size(path)})
    return out
