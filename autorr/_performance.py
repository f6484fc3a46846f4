"""Where a recorded run spent its time: `analyze_performance` and ``autorr analyze``.

Built from the stored events alone (durations, metadata and request summaries), so
no payload is decompressed and a long recording is analysed in one pass.
"""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Any

from ._config import load_config
from .store import Reader, resolve

__all__ = ["Operation", "analyze_performance", "format_performance"]


class Operation(str, enum.Enum):
    """What kind of work an operation is; its name is ``<kind>:<what>``."""

    LLM = "llm"  # per model
    HTTP = "http"  # per host
    SUBPROCESS = "subprocess"  # per program
    FILE = "file"  # per read / write
    TOOL = "tool"  # per tool name


def _operation(event: Any) -> tuple[Operation, str]:
    request = event.request if isinstance(event.request, dict) else {}
    meta = event.meta or {}
    if meta.get("provider"):
        return Operation.LLM, str(meta.get("model_served") or meta.get("model") or "unknown model")
    if event.kind == "http":
        return Operation.HTTP, request.get("host") or "unknown host"
    if event.kind == "subprocess":
        # argv[0] as called: "/usr/bin/git" and "git" are the same program to the reader.
        return Operation.SUBPROCESS, os.path.basename(request.get("path") or "") or "unknown program"
    if event.kind == "file":
        body = request.get("json") if isinstance(request.get("json"), dict) else {}
        return Operation.FILE, str(body.get("op") or "read")
    return Operation.TOOL, request.get("path") or "unknown tool"


def analyze_performance(id_or_path: str | os.PathLike[str] | None = None,
                        directory: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Time spent per operation of a recording (default: the latest).

    ``operations`` maps ``llm:<model>``, ``http:<host>``, ``subprocess:<program>``,
    ``file:read|write`` and ``tool:<name>`` to ``total_time``, ``average_time``,
    ``min_time``, ``max_time`` (seconds), ``call_count``, ``errors`` and
    ``percentage`` (of the time spent in all recorded calls; calls that ran in
    parallel each count in full), slowest first. Also ``total_time``, ``call_count``
    and ``wall_time`` (first call's start to last call's end) of the whole recording.
    """
    folder = Path(directory) if directory is not None else load_config().output_dir
    path = resolve(os.fspath(id_or_path) if id_or_path is not None else None, folder)
    rows: dict[str, dict[str, Any]] = {}
    first_start, last_end = None, None
    with Reader(path) as reader:
        recording_id = reader.id
        for event in reader.events():
            kind, name = _operation(event)
            seconds = event.duration_us / 1e6
            row = rows.setdefault(f"{kind.value}:{name}", {
                "kind": kind.value, "name": name, "call_count": 0, "total_time": 0.0, "min_time": seconds,
                "max_time": seconds, "errors": 0})
            row["call_count"] += 1
            row["total_time"] += seconds
            row["min_time"] = min(row["min_time"], seconds)
            row["max_time"] = max(row["max_time"], seconds)
            row["errors"] += event.status == "error"
            first_start = event.started_at if first_start is None else min(first_start, event.started_at)
            end = event.started_at + seconds
            last_end = end if last_end is None else max(last_end, end)
    total = sum(row["total_time"] for row in rows.values())
    for row in rows.values():
        row["average_time"] = round(row["total_time"] / row["call_count"], 6)
        row["percentage"] = round(100 * row["total_time"] / total, 2) if total else 0.0
        for key in ("total_time", "min_time", "max_time"):
            row[key] = round(row[key], 6)
    ordered = dict(sorted(rows.items(), key=lambda item: (-item[1]["total_time"], item[0])))
    return {"recording_id": recording_id, "path": str(path), "total_time": round(total, 6),
            "call_count": sum(row["call_count"] for row in rows.values()),
            "wall_time": round(last_end - first_start, 6) if first_start is not None else 0.0,
            "operations": ordered}


def format_performance(report: dict[str, Any]) -> str:
    """The report as the table ``autorr analyze`` prints."""
    lines = [f"recording {report['recording_id']}: {report['call_count']} calls, "
             f"{report['total_time']:.3f} s in calls, {report['wall_time']:.3f} s wall time"]
    if not report["operations"]:
        lines.append("  no calls recorded")
        return "\n".join(lines)
    width = max(len(name) for name in report["operations"])
    lines.append(f"  {'operation':<{width}}  {'calls':>6}  {'total s':>9}  {'avg s':>9}  {'max s':>9}  {'share':>6}")
    for name, row in report["operations"].items():
        errors = f"  ({row['errors']} failed)" if row["errors"] else ""
        lines.append(f"  {name:<{width}}  {row['call_count']:>6}  {row['total_time']:>9.3f}  "
                     f"{row['average_time']:>9.4f}  {row['max_time']:>9.3f}  {row['percentage']:>5.1f}%{errors}")
    return "\n".join(lines)
