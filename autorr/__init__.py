"""autorr: record an AI agent's calls to the outside world and replay them exactly.

Zero code: ``AUTORR_MODE=record python agent.py`` then ``AUTORR_MODE=replay python agent.py``.
This module is the Python API of the user guide (the "adapter").
"""

from ._api import (
    checkpoint,
    configure_capture,
    get_mismatch_details,
    get_recording_directory,
    get_replay_statistics,
    is_recording,
    list_checkpoints,
    load_recording,
    recording,
    replay_from_checkpoint,
    replaying,
    restore,
    set_replay_mode,
    set_replay_overrides,
    start_recording,
    start_replay,
    stop_recording,
    stop_replay,
)
from ._alerts import configure_alerts
from ._analysis import (
    RecordedEvent,
    RecordedStream,
    StreamChunk,
    analyze_stream_timing,
    get_recorded_events,
    get_recorded_streams,
)
from ._config import Config, Mode, RedactionLevel, ReplayMode, Timing, load_config
from ._errors import (
    AutorrError,
    ConfigError,
    NotActive,
    OverrideError,
    RecordingCorrupt,
    RecordingNotFound,
    ReplayMismatch,
    StrictReplayMismatch,
)
from ._monitor import get_performance_metrics, get_recording_status, get_storage_info
from ._performance import analyze_performance
from ._recorder import Manifest, Recorder
from ._stream_replay import areplay_streaming_call, replay_streaming_call
from ._wrapper import StreamingLLMWrapper
from .integrations.tools import tool
from .replay import Player
from .store._remote import download_recording, upload_recording

__version__ = "0.1.0"

__all__ = [
    "AutorrError",
    "Config",
    "ConfigError",
    "Manifest",
    "Mode",
    "NotActive",
    "OverrideError",
    "Player",
    "Recorder",
    "RecordingCorrupt",
    "RecordingNotFound",
    "RecordedEvent",
    "RecordedStream",
    "RedactionLevel",
    "ReplayMismatch",
    "ReplayMode",
    "StreamChunk",
    "StreamingLLMWrapper",
    "StrictReplayMismatch",
    "Timing",
    "analyze_performance",
    "analyze_stream_timing",
    "areplay_streaming_call",
    "checkpoint",
    "configure_alerts",
    "configure_capture",
    "download_recording",
    "get_mismatch_details",
    "get_performance_metrics",
    "get_recorded_events",
    "get_recorded_streams",
    "get_recording_directory",
    "get_recording_status",
    "get_replay_statistics",
    "get_storage_info",
    "is_recording",
    "list_checkpoints",
    "load_config",
    "load_recording",
    "recording",
    "replay_from_checkpoint",
    "replay_streaming_call",
    "replaying",
    "restore",
    "set_replay_mode",
    "set_replay_overrides",
    "start_recording",
    "start_replay",
    "stop_recording",
    "stop_replay",
    "tool",
    "upload_recording",
]
