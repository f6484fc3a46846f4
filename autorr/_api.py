"""The module-level API of the user guide, over a default `Recorder` and `Player`.

Several agents in one process use their own `Recorder`/`Player` instances instead
(``with autorr.Recorder(agent_id="a"):``): the context-manager forms activate their
instance for the current thread / asyncio task only.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from pathlib import Path
from typing import Any, Iterator, Mapping

from . import _session
from ._config import Config, ReplayMode, coerce_setting, enum_setting, load_config, parse_overrides
from ._errors import ConfigError, NotActive
from ._recorder import Manifest, Recorder
from .replay import Player

__all__ = [
    "checkpoint", "configure_capture", "get_mismatch_details", "get_recording_directory",
    "get_replay_statistics", "is_recording", "list_checkpoints", "load_recording", "recording",
    "replay_from_checkpoint", "replaying", "restore", "set_replay_mode", "set_replay_overrides",
    "start_recording", "start_replay", "stop_recording", "stop_replay",
]

_lock = threading.RLock()
_recorder: Recorder | None = None
_player: Player | None = None
_capture: dict[str, bool] = {}
_pending_mode: ReplayMode | None = None
_pending_overrides: dict[str, Any] | None = None

_CAPTURE_KEYS = ("capture_llm_calls", "capture_tool_calls", "capture_streaming", "capture_file_operations")
_FILE_KEYS = ("files_root", "files_include", "files_exclude", "file_content_max_bytes")


def _config() -> Config:
    """The environment's config with what the API set in this process on top."""
    config = load_config()
    if _capture:
        config = config.with_(**_capture)
    if _pending_overrides is not None:
        config = config.with_(overrides=dict(_pending_overrides))
    return config


def _split_target(path_or_id: str | os.PathLike[str] | None) -> tuple[str | None, Path | None]:
    """("id", None) for an id; (stem, directory) for a path like recordings/run1.db."""
    if path_or_id is None:
        return None, None
    text = os.fspath(path_or_id)
    if "/" in text or os.sep in text or text.endswith(".db"):
        path = Path(text)
        return path.name[:-3] if path.name.endswith(".db") else path.name, path.parent
    return text, None


# -- recording --------------------------------------------------------------------------
def start_recording(session_id: str | None = None, task_id: str | None = None, agent_id: str | None = None,
                    *, recording_id: str | None = None, directory: str | os.PathLike[str] | None = None) -> str:
    """Start recording this process's calls; returns the recording id."""
    global _recorder
    with _lock:
        if _recorder is not None and _recorder.active:
            raise ConfigError(f"already recording {_recorder.id}; call stop_recording() first")
        _recorder = Recorder(recording_id, directory=directory, session_id=session_id, task_id=task_id,
                             agent_id=agent_id, config=_config())
        _recorder.start()
        _session.set_default(_recorder)
        return _recorder.id


def stop_recording() -> Manifest:
    """Stop the default recording; returns its `Manifest` (total_events, total_chunks, ...)."""
    with _lock:
        if _recorder is None:
            raise NotActive("no recording is running; call start_recording() first")
        return _recorder.stop()


def is_recording() -> bool:
    """True while a recording is active for the current thread / task."""
    current = _session.active()
    return isinstance(current, Recorder) and current.active


def checkpoint(name: str, state: Any = None) -> None:
    """Mark a named point in the current recording, with optional JSON-able state.

    During a replay it marks where the agent is (and where a `replay_from_checkpoint()`
    run goes live); with autorr off it does nothing, so agents can call it always.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError("checkpoint name must be a non-empty string")
    current = _session.active()
    if isinstance(current, (Recorder, Player)) and current.active:
        current.checkpoint(name, state)


def list_checkpoints(id_or_path: str | os.PathLike[str] | None = None,
                     directory: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The checkpoints of a recording (default: the latest): name, seq, events_before, state."""
    from .store import Reader, resolve

    folder = Path(directory) if directory is not None else load_config().output_dir
    with Reader(resolve(os.fspath(id_or_path) if id_or_path is not None else None, folder)) as reader:
        return reader.checkpoints()


def restore(name: str, id_or_path: str | os.PathLike[str] | None = None) -> Any:
    """The state stored with checkpoint ``name`` (of the replayed recording, or the one given).

    Called while replaying from that checkpoint, it also means "the agent resumes here":
    every later call goes live.
    """
    current = _session.active()
    if id_or_path is None and isinstance(current, Player) and current.active:
        return current.restore(name)
    from ._redact import Redactor
    from .replay._redacted import same_checkpoint

    # Names are stored redacted; this process's rules stand in for the recording's (made
    # once, and only if a stored name holds a mask).
    config = load_config()
    redactor = functools.lru_cache(maxsize=1)(
        functools.partial(Redactor, config.redaction_level, patterns=config.redact_sensitive_data))
    for cp in list_checkpoints(id_or_path):
        if same_checkpoint(cp["name"], name, redactor):
            return cp["state"]
    raise ConfigError(f"no checkpoint {name!r} in recording {id_or_path or 'latest'}")


def replay_from_checkpoint(name: str, mode: ReplayMode | str | None = None) -> str:
    """Replay the loaded (or latest) recording up to checkpoint ``name``, then go live.

    Calls after the checkpoint are recorded into a child recording that names its
    parent and the checkpoint; replaying that child reproduces the whole new run.
    """
    player = _default_player()
    player.from_checkpoint(name)
    recording_id = player.start(mode)
    _session.set_default(player)
    return recording_id


def configure_capture(settings: Mapping[str, bool]) -> None:
    """Switch kinds of capture on or off.

    ``capture_llm_calls`` (LLM API requests), ``capture_tool_calls`` (other HTTP,
    subprocesses, ``@autorr.tool`` functions), ``capture_streaming`` (chunk timing),
    ``capture_file_operations`` (reads and writes under the project); and which files:
    ``files_root``, ``files_include`` / ``files_exclude`` (globs), ``file_content_max_bytes``.
    """
    if not isinstance(settings, Mapping):
        raise ConfigError(f"configure_capture: expected a mapping like {{'capture_llm_calls': False}}, "
                          f"not {type(settings).__name__}")
    parsed: dict[str, Any] = {}
    for key, value in settings.items():
        if key in _CAPTURE_KEYS:
            if not isinstance(value, bool):
                raise ConfigError(f"configure_capture: {key}={value!r} is not valid; use true or false")
            parsed[key] = value
        elif key in _FILE_KEYS:
            parsed[key] = coerce_setting(key, value, f"configure_capture: {key}")
        else:
            known = ", ".join(_CAPTURE_KEYS + _FILE_KEYS)
            raise ConfigError(f"configure_capture: unknown key {key!r}; use: {known}")
    _capture.update(parsed)
    for session in (_recorder, _player, _session.active()):
        if isinstance(session, (Recorder, Player)):
            session.config = session.config.with_(**parsed)
            session.__dict__.pop("_file_policy", None)
            if isinstance(session, Recorder):
                session.capture.update({k: v for k, v in parsed.items() if k in _CAPTURE_KEYS})


def get_recording_directory() -> str:
    """The absolute directory recordings are written to (and read from)."""
    current = _session.active()
    directory = current.directory if isinstance(current, (Recorder, Player)) else load_config().output_dir
    return str(Path(directory).resolve())


@contextlib.contextmanager
def recording(path_or_id: str | os.PathLike[str] | None = None, **labels: Any) -> Iterator[Recorder]:
    """Record the calls made inside the block (this thread/task, and threads it starts)."""
    recording_id, directory = _split_target(path_or_id)
    recorder = Recorder(recording_id, directory=directory, config=_config(), **labels)
    with _scoped(recorder):
        yield recorder


@contextlib.contextmanager
def _scoped(session: Recorder | Player) -> Iterator[None]:
    with session:
        owns_default = False
        with _lock:
            if _session.get_default() is None:  # threads started inside see it too
                _session.set_default(session)
                owns_default = True
        try:
            yield
        finally:
            if owns_default and _session.get_default() is session:
                _session.set_default(None)


# -- replay -----------------------------------------------------------------------------
def _default_player() -> Player:
    global _player
    with _lock:
        if _player is None:
            _player = Player(config=_config(), mode=_pending_mode)
        return _player


def load_recording(id_or_path: str | os.PathLike[str] | None = None) -> bool:
    """Load a recording (id, file name or path; None: the latest) for `start_replay()`."""
    global _player
    with _lock:
        _player = None
        return _default_player().load(os.fspath(id_or_path) if id_or_path is not None else None)


def start_replay(mode: ReplayMode | str | None = None) -> str:
    """Start replaying the loaded (or latest) recording; returns its id."""
    player = _default_player()
    recording_id = player.start(mode)
    _session.set_default(player)
    return recording_id


def stop_replay() -> dict[str, Any]:
    """Stop the default replay; returns its statistics."""
    with _lock:
        if _player is None:
            raise NotActive("no replay is running")
        return _player.stop()


def set_replay_mode(mode: ReplayMode | str) -> None:
    """strict | warn | hybrid, for the current (or next) replay."""
    global _pending_mode
    value = _pending_mode = enum_setting(ReplayMode, mode, "replay mode")
    current = _session.active()
    for player in (_player, current):
        if isinstance(player, Player):
            player.set_mode(value)


def set_replay_overrides(overrides: Mapping[str, Any]) -> None:
    """Per category (llm_calls, tool_calls, http, subprocess, files): {"live_mode": bool, "model": str}."""
    global _pending_overrides
    # Not `dict(overrides)` first: a list or a string would fail there with a TypeError.
    parsed = parse_overrides(overrides, "set_replay_overrides")
    _pending_overrides = parsed
    for player in (_player, _session.active()):
        if isinstance(player, Player):
            player.overrides = dict(parsed)


def _current_player() -> Player:
    current = _session.active()
    if isinstance(current, Player):
        return current
    if _player is not None:
        return _player
    raise NotActive("no replay has run; call start_replay() or use replaying()")


def get_replay_statistics() -> dict[str, Any]:
    """success_rate, mismatch_count, matched, live, total, per category."""
    return _current_player().statistics()


def get_mismatch_details() -> list[dict[str, Any]]:
    """One dict per mismatch: type, kind, call, expected, actual, diff, action."""
    return _current_player().mismatches()


@contextlib.contextmanager
def replaying(path_or_id: str | os.PathLike[str] | None = None,
              mode: ReplayMode | str | None = None, **options: Any) -> Iterator[Player]:
    """Replay a recording for the calls made inside the block."""
    player = Player(os.fspath(path_or_id) if path_or_id is not None else None, mode=mode,
                    config=_config(), **options)
    global _player
    _player = player
    with _scoped(player):
        yield player
