"""autorr: record an AI agent's calls to the outside world and replay them exactly.

Zero code: ``AUTORR_MODE=record python agent.py`` then ``AUTORR_MODE=replay python agent.py``.
This module is the Python API of the user guide (the "adapter").
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing

__version__ = "0.1.0"

# Public name -> the private module that defines it. Imported on first use: `import autorr`
# (and pytest loading the plugin) stays a few milliseconds; recording or replaying loads
# what it needs anyway.
_EXPORTS: dict[str, str] = {
    "AutorrError": "._errors",
    "ConfigError": "._errors",
    "EventCorrupt": "._errors",
    "NotActive": "._errors",
    "OverrideError": "._errors",
    "RecordingCorrupt": "._errors",
    "RecordingNotFound": "._errors",
    "ReplayMismatch": "._errors",
    "StrictReplayMismatch": "._errors",
    "Config": "._config",
    "Mode": "._config",
    "RedactionLevel": "._config",
    "ReplayMode": "._config",
    "Timing": "._config",
    "load_config": "._config",
    "Manifest": "._recorder",
    "Recorder": "._recorder",
    "Player": ".replay",
    "RecordedEvent": "._analysis",
    "RecordedStream": "._analysis",
    "StreamChunk": "._analysis",
    "analyze_stream_timing": "._analysis",
    "get_recorded_events": "._analysis",
    "get_recorded_streams": "._analysis",
    "StreamingLLMWrapper": "._wrapper",
    "analyze_performance": "._performance",
    "areplay_streaming_call": "._stream_replay",
    "replay_streaming_call": "._stream_replay",
    "checkpoint": "._api",
    "configure_capture": "._api",
    "get_mismatch_details": "._api",
    "get_recording_directory": "._api",
    "get_replay_statistics": "._api",
    "is_recording": "._api",
    "list_checkpoints": "._api",
    "load_recording": "._api",
    "recording": "._api",
    "replay_from_checkpoint": "._api",
    "replaying": "._api",
    "restore": "._api",
    "set_replay_mode": "._api",
    "set_replay_overrides": "._api",
    "start_recording": "._api",
    "start_replay": "._api",
    "stop_recording": "._api",
    "stop_replay": "._api",
    "configure_alerts": "._alerts",
    "download_recording": ".store._remote",
    "upload_recording": ".store._remote",
    "get_performance_metrics": "._monitor",
    "get_recording_status": "._monitor",
    "get_storage_info": "._monitor",
    "tool": ".integrations.tools",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from ._errors import AutorrError, ConfigError, EventCorrupt, NotActive, OverrideError, RecordingCorrupt, RecordingNotFound, ReplayMismatch, StrictReplayMismatch
    from ._config import Config, Mode, RedactionLevel, ReplayMode, Timing, load_config
    from ._recorder import Manifest, Recorder
    from .replay import Player
    from ._analysis import RecordedEvent, RecordedStream, StreamChunk, analyze_stream_timing, get_recorded_events, get_recorded_streams
    from ._wrapper import StreamingLLMWrapper
    from ._performance import analyze_performance
    from ._stream_replay import areplay_streaming_call, replay_streaming_call
    from ._api import checkpoint, configure_capture, get_mismatch_details, get_recording_directory, get_replay_statistics, is_recording, list_checkpoints, load_recording, recording, replay_from_checkpoint, replaying, restore, set_replay_mode, set_replay_overrides, start_recording, start_replay, stop_recording, stop_replay
    from ._alerts import configure_alerts
    from .store._remote import download_recording, upload_recording
    from ._monitor import get_performance_metrics, get_recording_status, get_storage_info
    from .integrations.tools import tool


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'autorr' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
