"""Settings: ``config/recording.yaml`` overlaid by ``AUTORR_*`` environment variables.

The result is a frozen `Config`; every bad value raises `ConfigError` with one line
that names the variable (or YAML key) and what it accepts.
"""

from __future__ import annotations

import enum
import json
import math
import os
import stat
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from ._errors import ConfigError

__all__ = [
    "CATEGORIES",
    "Config",
    "Mode",
    "RedactionLevel",
    "ReplayMode",
    "Timing",
    "check_recording_id",
    "coerce_setting",
    "enum_setting",
    "load_config",
    "parse_overrides",
]


class Mode(str, enum.Enum):
    """``AUTORR_MODE``: what the patched calls do."""

    OFF = "off"
    RECORD = "record"
    REPLAY = "replay"


class ReplayMode(str, enum.Enum):
    """``AUTORR_REPLAY_MODE``: what replay does with a call it has no recorded answer for."""

    STRICT = "strict"
    WARN = "warn"
    HYBRID = "hybrid"


class Timing(str, enum.Enum):
    """``AUTORR_TIMING``: replayed streams all at once, or at the recorded gaps."""

    FAST = "fast"
    PRESERVE = "preserve"


class RedactionLevel(str, enum.Enum):
    """How much beyond credentials is scrubbed before anything reaches the disk."""

    MINIMAL = "minimal"
    MODERATE = "moderate"
    STRICT = "strict"


# Override categories, as in the user guide's `set_replay_overrides()`.
CATEGORIES = ("llm_calls", "tool_calls", "http", "subprocess", "files")


@dataclass(frozen=True)
class Config:
    """Every setting of a process, from the YAML file and ``AUTORR_*`` variables (frozen)."""

    mode: Mode = Mode.OFF
    replay_mode: ReplayMode = ReplayMode.STRICT
    output_dir: Path = Path("recordings")
    recording: str | None = None  # id or path to replay
    recording_id: str | None = None  # id for a new recording
    session_id: str | None = None
    task_id: str | None = None
    agent_id: str | None = None
    checkpoint: str | None = None
    timing: Timing = Timing.FAST
    overrides: Mapping[str, Any] = field(default_factory=dict)
    config_path: Path | None = None
    # The `recording:` section of the YAML file.
    enabled: bool = True
    compression: bool = True
    max_file_size_mb: float = 100.0
    capture_llm_calls: bool = True
    capture_tool_calls: bool = True
    capture_streaming: bool = True
    capture_file_operations: bool = True
    files_root: str | None = None  # default: the working directory when recording/replay starts
    files_include: tuple[str, ...] = ()  # globs relative to files_root; empty: everything under it
    files_exclude: tuple[str, ...] = ()
    file_content_max_bytes: int = 10_000_000
    redact_sensitive_data: bool = True
    redaction_level: RedactionLevel = RedactionLevel.MODERATE

    @property
    def labels(self) -> dict[str, str]:
        """The run's labels that are set (`AUTORR_SESSION_ID`, `..._TASK_ID`, `..._AGENT_ID`)."""
        return {name: value for name in ("session_id", "task_id", "agent_id") if (value := getattr(self, name))}

    def with_(self, **changes: Any) -> "Config":
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able view, stored in recordings and hashed for provenance."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out


_YAML_KEYS = {
    "enabled": bool,
    "output_dir": str,
    "compression": bool,
    "max_file_size_mb": float,
    "capture_llm_calls": bool,
    "capture_tool_calls": bool,
    "capture_streaming": bool,
    "capture_file_operations": bool,
    "files_root": str,
    "files_include": tuple,
    "files_exclude": tuple,
    "file_content_max_bytes": int,
    "redact_sensitive_data": bool,
    "redaction_level": RedactionLevel,
    "replay_mode": ReplayMode,
    "timing": Timing,
    "overrides": dict,
}

_ENUM_VARS = {
    "AUTORR_MODE": ("mode", Mode),
    "AUTORR_REPLAY_MODE": ("replay_mode", ReplayMode),
    "AUTORR_TIMING": ("timing", Timing),
}

_TEXT_VARS = {
    "AUTORR_RECORDING": "recording",
    "AUTORR_RECORDING_ID": "recording_id",
    "AUTORR_SESSION_ID": "session_id",
    "AUTORR_TASK_ID": "task_id",
    "AUTORR_AGENT_ID": "agent_id",
    "AUTORR_CHECKPOINT": "checkpoint",
}


def _enum_value(enum_cls: type[enum.Enum], raw: Any, where: str, sep: str = "=") -> Any:
    # `str()` of a member of a str-mixin Enum is "ReplayMode.STRICT" (3.11+), not its value.
    text = str(getattr(raw, "value", raw)).strip().lower()
    try:
        return enum_cls(text)
    except ValueError:
        allowed = ", ".join(m.value for m in enum_cls)
        raise ConfigError(f"{where}{sep}{raw!r} is not valid; use one of: {allowed}") from None


def enum_setting(enum_cls: type[enum.Enum], raw: Any, what: str) -> Any:
    """A mode, timing or level given to the API (a member or its value in any case): a
    ConfigError naming ``what`` ("replay mode 'lax' is not valid; use one of: ..."),
    not Enum's bare ValueError."""
    return _enum_value(enum_cls, raw, what, " ")


def _coerce(key: str, kind: Any, raw: Any, where: str) -> Any:
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return _enum_value(kind, raw, where)
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        raise ConfigError(f"{where}={raw!r} is not valid; use true or false")
    if kind is float:  # max_file_size_mb: 0 or null never rotates
        if raw is None:
            return 0.0
        if isinstance(raw, (int, float)) and not isinstance(raw, bool) and 0 <= raw < math.inf:
            return float(raw)
        raise ConfigError(f"{where}={raw!r} is not valid; use a number of megabytes (0 or null: never rotate)")
    if kind is dict:
        return parse_overrides(raw, where)
    if kind is tuple:
        if isinstance(raw, str):
            raw = [raw]
        if isinstance(raw, list) and all(isinstance(v, str) and v for v in raw):
            return tuple(raw)
        raise ConfigError(f"{where}={raw!r} is not valid; use a list of glob patterns")
    if kind is int:
        if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
            return raw
        raise ConfigError(f"{where}={raw!r} is not valid; use a whole number of bytes")
    if not isinstance(raw, str) or not raw.strip():  # "  " would become a folder named by blanks
        raise ConfigError(f"{where}={raw!r} is not valid; use a non-empty string")
    return raw


def coerce_setting(key: str, raw: Any, where: str) -> Any:
    """One ``recording:`` setting, checked and converted (ConfigError names ``where``)."""
    if key not in _YAML_KEYS:
        raise ConfigError(f"{where}: unknown setting {key!r}")
    if _YAML_KEYS[key] is tuple and raw == []:
        return ()
    return _coerce(key, _YAML_KEYS[key], raw, where)


def parse_overrides(raw: Any, where: str = "overrides") -> dict[str, dict[str, Any]]:
    """Validate `set_replay_overrides()` / ``AUTORR_OVERRIDES`` data."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where} is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be an object keyed by category ({', '.join(CATEGORIES)})")
    out: dict[str, dict[str, Any]] = {}
    for category, spec in raw.items():
        if category not in CATEGORIES:
            raise ConfigError(f"{where}: unknown category {category!r}; use one of: {', '.join(CATEGORIES)}")
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where}.{category} must be an object like {{\"live_mode\": true}}")
        allowed = {"live_mode", "model", "base_url", "api_key_env"} if category == "llm_calls" else {"live_mode"}
        for key, value in spec.items():
            if key not in allowed:
                raise ConfigError(f"{where}.{category}: unknown key {key!r}; use: {', '.join(sorted(allowed))}")
            if key == "live_mode" and not isinstance(value, bool):
                raise ConfigError(f"{where}.{category}.live_mode={value!r} is not valid; use true or false")
            if key in ("model", "base_url", "api_key_env") and not (isinstance(value, str) and value):
                raise ConfigError(f"{where}.{category}.{key}={value!r} is not valid; use a non-empty string")
        out[category] = dict(spec)
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml  # only when a config file exists: keeps start-up light

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read config file {path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}"
                          f" at offset {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.load(text, Loader=_unique_keys_loader()) or {}
    # ValueError: a date that does not exist (2024-02-30); RecursionError: absurd nesting.
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        raise ConfigError(f"cannot read config file {path}: {_one_line(exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping with a 'recording:' section")
    # Keys in file order, not sorted: YAML keys may be numbers and strings mixed.
    unknown = [key for key in data if key != "recording"]
    if unknown:
        raise ConfigError(f"config file {path}: unknown top-level key {unknown[0]!r}; expected 'recording'")
    section = data.get("recording")
    if section is None:  # `recording:` with nothing under it
        section = {}
    if not isinstance(section, dict):  # `recording: false` must not pass for "no settings"
        raise ConfigError(f"config file {path}: 'recording' must be a mapping of settings, not {section!r}")
    out: dict[str, Any] = {}
    for key, raw in section.items():
        if key not in _YAML_KEYS:
            raise ConfigError(
                f"config file {path}: unknown key 'recording.{key}'; known keys: {', '.join(sorted(_YAML_KEYS))}"
            )
        value = _coerce(key, _YAML_KEYS[key], raw, f"recording.{key}")
        out[key] = Path(value) if key == "output_dir" else value
    return out


def _one_line(exc: BaseException) -> str:
    """A YAML error as one line: its text spans several, with the offending line quoted."""
    problem, mark = getattr(exc, "problem", None), getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        context = getattr(exc, "context", None)
        return f"{context + ': ' if context else ''}{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(exc).split())


def _unique_keys_loader() -> Any:
    """yaml's SafeLoader, but a key given twice is an error: PyYAML keeps the last one
    silently, and `compression: true` further down would undo `compression: false`."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value if isinstance(node, yaml.MappingNode) else ():
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`, whose keys may be overridden
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: SafeLoader reports it itself
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            return super().construct_mapping(node, deep)

    return UniqueKeyLoader


def _config_file_exists(path: Path, explicit: str | os.PathLike[str] | None) -> bool:
    """Whether there is a config file to read. Something there that cannot be read as one
    is an error, not a file skipped: the process must not run with other settings than asked."""
    where = f"AUTORR_CONFIG={str(explicit)!r}" if explicit else f"config file {path}"
    try:
        mode = os.stat(path).st_mode  # not Path.is_file: it raises on a folder we may not enter
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise ConfigError(f"cannot read {where}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise ConfigError(f"{where} is a directory, not a YAML file")
    if not stat.S_ISREG(mode):  # a FIFO would block the start-up forever
        raise ConfigError(f"{where} is not a regular file")
    return True


def load_config(environ: Mapping[str, str] | None = None, path: str | os.PathLike[str] | None = None) -> Config:
    """Build the `Config` for this process: defaults < YAML file < environment."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}

    explicit = path or env.get("AUTORR_CONFIG")
    config_path = Path(explicit) if explicit else Path("config/recording.yaml")
    if _config_file_exists(config_path, explicit):
        values.update(_read_yaml(config_path))
        values["config_path"] = config_path
    elif explicit:
        raise ConfigError(f"AUTORR_CONFIG={str(explicit)!r}: no such file")

    for var, (name, enum_cls) in _ENUM_VARS.items():
        raw = env.get(var)
        if raw is not None and raw.strip():
            values[name] = _enum_value(enum_cls, raw, var)
    for var, name in _TEXT_VARS.items():
        raw = env.get(var)
        if raw and raw.strip():  # blank, as for the other variables: unset
            values[name] = raw.strip()
    for name in _BOOL_VARS:
        raw = env.get(f"AUTORR_{name.upper()}")
        if raw is not None and raw.strip():
            values[name] = _env_bool(raw, f"AUTORR_{name.upper()}")
    raw = env.get("AUTORR_MAX_FILE_SIZE_MB")
    if raw is not None and raw.strip():
        values["max_file_size_mb"] = _env_megabytes(raw, "AUTORR_MAX_FILE_SIZE_MB")
    raw = env.get("AUTORR_DIR")
    if raw and raw.strip():  # "  " would be a folder named by blanks in the working directory
        values["output_dir"] = Path(raw.strip())
    if env.get("AUTORR_OVERRIDES"):
        values["overrides"] = parse_overrides(env["AUTORR_OVERRIDES"], "AUTORR_OVERRIDES")
    if values.get("recording_id"):
        check_recording_id(values["recording_id"], "AUTORR_RECORDING_ID")
    return Config(**values)


_BOOL_VARS = ("capture_llm_calls", "capture_tool_calls", "capture_streaming", "capture_file_operations",
              "compression", "redact_sensitive_data")


def _env_bool(raw: str, where: str) -> bool:
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{where}={raw!r} is not valid; use true or false")


def _env_megabytes(raw: str, where: str) -> float:
    text = raw.strip().lower()
    if text in ("none", "null", "off"):
        return 0.0
    try:
        return _coerce("max_file_size_mb", float, float(text), where)
    except (ValueError, ConfigError):
        raise ConfigError(f"{where}={raw!r} is not valid; use a number of megabytes (0: never rotate)") from None


# An id becomes `<id>.db` and, rotated, `<id>.db.<n>-wal` (see `_segments`): both must fit
# a 255-byte file name.
MAX_ID_BYTES = 240


def check_recording_id(value: Any, where: str) -> str:
    """A new recording's id: one safe file-name component (ConfigError naming ``where``)."""
    if not isinstance(value, str):
        raise ConfigError(f"{where}={value!r} is not valid; use a string of letters, digits, '-', '_' or '.'")
    # Control characters (NUL above all) make no file name, or one no shell can type.
    if (not value or "/" in value or "\\" in value or value in (".", "..") or value.startswith(".")
            or any(ord(c) < 32 or ord(c) == 127 for c in value)):
        raise ConfigError(f"{where}={value!r} is not valid; use letters, digits, '-', '_' or '.'")
    size = len(value.encode("utf-8", "surrogateescape"))
    if size > MAX_ID_BYTES:
        raise ConfigError(f"{where}={value[:40]!r}... is not valid: {size} bytes long; use at most {MAX_ID_BYTES}")
    return value
