"""Monitoring: what the current recording is doing, how fast, and what it costs on disk."""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from . import _session
from ._config import load_config
from ._recorder import Recorder
from .replay import Player

__all__ = ["get_performance_metrics", "get_recording_status", "get_storage_info"]


def _recorder() -> Recorder | None:
    current = _session.active()
    if isinstance(current, Recorder) and current.active:
        return current
    if isinstance(current, Player) and current.child is not None and current.child.active:
        return current.child
    return None


def get_recording_status() -> dict[str, Any]:
    """``active``, ``recording_id``, ``events_count`` (finished calls), ``active_streams``
    (calls still streaming), ``duration_seconds``, ``mode``."""
    recorder = _recorder()
    current = _session.active()
    if recorder is None:
        return {"active": False, "recording_id": None, "events_count": 0, "active_streams": 0,
                "duration_seconds": 0.0, "mode": "replay" if isinstance(current, Player) and current.active else "off"}
    writer = recorder._writer
    return {"active": True, "recording_id": recorder.id, "path": str(recorder.path),
            "events_count": writer.events_written + writer.queued_events,
            "active_streams": len(recorder._open), "duration_seconds": round(time.time() - recorder._started_at, 3),
            "mode": "record", "labels": dict(recorder.labels)}


def _memory_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 2)


def get_performance_metrics() -> dict[str, Any]:
    """``events_per_second``, ``memory_mb`` (peak RSS), ``storage_mb_per_sec``, ``queue_depth``,
    ``compression_ratio`` of the current recording."""
    recorder = _recorder()
    if recorder is None:
        return {"events_per_second": 0.0, "memory_mb": _memory_mb(), "storage_mb_per_sec": 0.0, "queue_depth": 0,
                "compression_ratio": None}
    writer = recorder._writer
    elapsed = max(time.time() - recorder._started_at, 1e-6)
    size = _size(recorder.path)
    return {"events_per_second": round(writer.events_written / elapsed, 3), "memory_mb": _memory_mb(),
            "storage_mb_per_sec": round(size / 1e6 / elapsed, 6), "queue_depth": writer.queued,
            "compression_ratio": round(writer.raw_bytes / writer.stored_bytes, 3) if writer.stored_bytes else None,
            "write_errors": 0 if writer.failed is None else 1}


def _size(path: Path) -> int:
    from .store import recording_size

    return recording_size(path)  # every segment of a rotated recording, with its -wal


def get_storage_info(directory: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The recordings directory: how many recordings, their total size, the current one's size."""
    from .store import list_recordings

    recorder = _recorder()
    folder = Path(directory) if directory is not None else (
        recorder.directory if recorder is not None else load_config().output_dir)
    files = list_recordings(folder)
    total = sum(_size(p) for p in files)
    return {"directory": str(folder.resolve()), "recordings": len(files), "total_bytes": total,
            "total_mb": round(total / 1e6, 3),
            "current_recording_bytes": _size(recorder.path) if recorder is not None else None}
