"""Webhook alerts: a recording that fails, a replay that drifts, a recording that grows too big.

`configure_alerts()` sets a webhook; the recorder, the player and the API report to
this module through these observer calls, each a no-op until alerts are configured:

    notify(AlertKind.RECORDING_FAILURE, recording_id, message, error=...)
    on_mismatch(player)  /  session_ended(recorder_or_player)
    check_storage(recording_id, size_bytes)

Recording failures are also picked up from the ``autorr`` logger, where every failure
that lets a call through unrecorded is already reported, and storage is also watched
by a background thread, so alerts work even where no explicit call is wired in.

An alert fires at most once per recording and kind. It is POSTed as JSON with the
standard library from a background thread (never the agent's) that autorr does not
record or replay; a failing webhook is logged and otherwise ignored.
"""

from __future__ import annotations

import atexit
import datetime
import enum
import logging
import os
import platform
import queue
import threading
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import orjson

from . import _session
from ._errors import ConfigError

__all__ = ["AlertConfig", "AlertKind", "check_mismatch_rate", "check_storage", "configure_alerts", "flush",
           "notify", "on_mismatch", "session_ended"]

log = logging.getLogger("autorr.alerts")


class AlertKind(str, enum.Enum):
    RECORDING_FAILURE = "recording_failure"
    MISMATCH_RATE = "replay_mismatch_rate"
    STORAGE = "storage_threshold"


@dataclass(frozen=True)
class AlertConfig:
    webhook_url: str
    on_recording_failure: bool = True
    mismatch_rate_threshold: float | None = None  # 0..1; None: not watched
    mismatch_min_calls: int = 10  # mid-run, a rate over fewer calls is noise; the final check ignores it
    storage_mb_threshold: float | None = None  # None: not watched
    check_interval_seconds: float = 5.0  # how often the storage watcher looks
    timeout_seconds: float = 5.0
    headers: dict[str, str] = field(default_factory=dict)


_KEYS = tuple(AlertConfig.__dataclass_fields__) + ("enabled",)

_lock = threading.Lock()
_config: AlertConfig | None = None
_fired: set[tuple[str, str | None]] = set()
_queue: "queue.Queue[tuple[AlertConfig, dict[str, Any]] | None]" = queue.Queue(maxsize=100)
_worker: threading.Thread | None = None
_watcher_stop: threading.Event | None = None
_pending = 0
_idle = threading.Condition(_lock)


# -- configuration ------------------------------------------------------------------
def _positive(key: str, value: Any, *, integer: bool = False, maximum: float | None = None) -> Any:
    kind = int if integer else (int, float)
    # `not value > 0`, not `value <= 0`: NaN passes the latter, and no size or delay is ever above NaN.
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0 or value == float("inf") \
            or (maximum is not None and value > maximum):
        limit = f" and at most {maximum:g}" if maximum is not None else ""
        raise ConfigError(f"configure_alerts: {key}={value!r} is not valid; "
                          f"use a {'whole ' if integer else ''}number above 0{limit}")
    return value


def _parse(settings: Mapping[str, Any]) -> AlertConfig | None:
    unknown = [k for k in settings if k not in _KEYS]
    if unknown:
        raise ConfigError(f"configure_alerts: unknown key {unknown[0]!r}; use: {', '.join(_KEYS)}")
    enabled = settings.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"configure_alerts: enabled={enabled!r} is not valid; use true or false")
    if not enabled:
        return None
    url = settings.get("webhook_url")
    if url is None:  # "webhook_url=None is not valid" read as if a threshold given was the problem
        raise ConfigError("configure_alerts: webhook_url is required (an http:// or https:// URL to POST alerts to)")
    parsed = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"configure_alerts: webhook_url={url!r} is not valid; use an http:// or https:// URL")
    values: dict[str, Any] = {"webhook_url": url}
    flag = settings.get("on_recording_failure", True)
    if not isinstance(flag, bool):
        raise ConfigError(f"configure_alerts: on_recording_failure={flag!r} is not valid; use true or false")
    values["on_recording_failure"] = flag
    if settings.get("mismatch_rate_threshold") is not None:
        # 0 is allowed here: "alert on any mismatch".
        rate = settings["mismatch_rate_threshold"]
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise ConfigError(f"configure_alerts: mismatch_rate_threshold={rate!r} is not valid; "
                              "use a fraction between 0 and 1 (0.1 = 10% of calls)")
        values["mismatch_rate_threshold"] = float(rate)
    if "mismatch_min_calls" in settings:
        values["mismatch_min_calls"] = _positive("mismatch_min_calls", settings["mismatch_min_calls"], integer=True)
    if settings.get("storage_mb_threshold") is not None:
        values["storage_mb_threshold"] = float(_positive("storage_mb_threshold", settings["storage_mb_threshold"]))
    for key in ("check_interval_seconds", "timeout_seconds"):
        if key in settings:
            values[key] = float(_positive(key, settings[key], maximum=3600))
    headers = settings.get("headers", {})
    if not isinstance(headers, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in headers.items()):
        raise ConfigError(f"configure_alerts: headers={headers!r} is not valid; use a mapping of strings")
    values["headers"] = dict(headers)
    return AlertConfig(**values)


def configure_alerts(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Send webhook alerts (JSON POSTs); returns the settings in force (``{}``: off).

    ``webhook_url`` (required), ``on_recording_failure`` (default true: the writer lost
    events, or a call went through unrecorded), ``mismatch_rate_threshold`` (fraction
    of replayed calls that mismatched, e.g. 0.1; checked as calls mismatch once
    ``mismatch_min_calls``, default 10, were made, and when the replay ends),
    ``storage_mb_threshold`` (recording file size; checked every
    ``check_interval_seconds``, default 5, and when the recording stops),
    ``timeout_seconds`` (default 5), ``headers`` (e.g. an auth token).
    ``None`` or ``{"enabled": False}`` turns alerts off. Each alert fires once per
    recording and kind; its body has ``alert`` (recording_failure |
    replay_mismatch_rate | storage_threshold), ``recording_id``, ``message`` (also as
    ``text``, for chat webhooks), ``details``, ``time``, ``host`` and ``pid``.
    """
    global _config
    if settings is not None and not isinstance(settings, Mapping):
        raise ConfigError(f"configure_alerts: expected a mapping of settings, not {type(settings).__name__}")
    config = _parse(settings) if settings else None
    with _lock:
        _config = config
        _fired.clear()
    _watch_failures(config is not None and config.on_recording_failure)
    _watch_storage(config)
    return {} if config is None else asdict(config)


# -- the observer calls ---------------------------------------------------------------
def notify(kind: AlertKind | str, recording_id: str | None = None, message: str = "", **details: Any) -> bool:
    """Fire an alert unless alerts are off or this one already fired; True if it was queued."""
    config = _config
    if config is None:
        return False
    kind = AlertKind(kind)
    if kind is AlertKind.RECORDING_FAILURE and not config.on_recording_failure:
        return False
    global _pending
    with _lock:
        if (kind.value, recording_id) in _fired:
            return False
        _fired.add((kind.value, recording_id))
        _pending += 1
    payload = {
        "source": "autorr", "alert": kind.value, "recording_id": recording_id,
        "message": message or f"autorr: {kind.value} for recording {recording_id}",
        "details": details, "time": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "host": platform.node(), "pid": os.getpid(),
    }
    payload["text"] = payload["message"]
    _dispatch(config, payload)
    return True


def check_mismatch_rate(stats: Mapping[str, Any], recording_id: str | None = None, *, final: bool = False) -> bool:
    """Alert if a replay's mismatch rate is above the threshold (``stats``: a Player's statistics()).

    Mid-run (``final=False``) only once ``mismatch_min_calls`` calls were made, so the
    first call's miss is not reported as a 100% rate; at the end, whatever was made.
    """
    config = _config
    if config is None or config.mismatch_rate_threshold is None:
        return False
    total = int(stats.get("total") or 0) - int(stats.get("ignored") or 0)  # telemetry is not the agent's
    mismatched = int(stats.get("mismatched", stats.get("mismatch_count")) or 0)
    if total <= 0 or (not final and total < config.mismatch_min_calls):
        return False
    rate = mismatched / total
    if rate <= config.mismatch_rate_threshold:
        return False
    recording_id = recording_id or stats.get("recording_id")
    return notify(AlertKind.MISMATCH_RATE, recording_id,
                  f"autorr: replay of {recording_id} mismatched {mismatched} of {total} calls ({rate:.0%}), "
                  f"above the {config.mismatch_rate_threshold:.0%} threshold",
                  mismatch_rate=round(rate, 4), mismatched=mismatched, total=total,
                  threshold=config.mismatch_rate_threshold, mode=stats.get("mode"),
                  child_recording_id=stats.get("child_recording_id"))


def on_mismatch(player: Any) -> None:
    """A replay call mismatched: check the player's rate mid-run (statistics only if watched)."""
    config = _config
    if config is None or config.mismatch_rate_threshold is None:
        return
    try:
        check_mismatch_rate(player.statistics(), getattr(player, "recording_id", None))
    except Exception as exc:  # alerts must never break the host program
        log.debug("autorr: alert check failed: %s", exc)


def check_storage(recording_id: str | None, size_bytes: int, path: str | None = None) -> bool:
    """Alert if a recording's size on disk is above ``storage_mb_threshold``."""
    config = _config
    if config is None or config.storage_mb_threshold is None:
        return False
    size_mb = size_bytes / 1e6
    if size_mb <= config.storage_mb_threshold:
        return False
    return notify(AlertKind.STORAGE, recording_id,
                  f"autorr: recording {recording_id} is {size_mb:.1f} MB, above the "
                  f"{config.storage_mb_threshold:g} MB threshold",
                  size_mb=round(size_mb, 3), threshold_mb=config.storage_mb_threshold, path=path)


def _size(path: Path) -> int:
    # The WAL holds committed events until a checkpoint: it is part of the recording's size.
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


def session_ended(session: Any) -> None:
    """A Recorder or Player (or its hybrid child) is stopping: the final checks."""
    if _config is None:
        return
    try:
        stats = getattr(session, "statistics", None)
        if callable(stats):
            check_mismatch_rate(stats(), getattr(session, "recording_id", None), final=True)
            session = getattr(session, "child", None)
        path = getattr(session, "path", None)
        if path is not None and getattr(session, "id", None):
            check_storage(session.id, _size(Path(path)), str(path))
    except Exception as exc:  # alerts must never break the host program
        log.debug("autorr: alert check failed: %s", exc)


# -- delivery -------------------------------------------------------------------------
def _dispatch(config: AlertConfig, payload: dict[str, Any]) -> None:
    if not threading.main_thread().is_alive():
        # Interpreter shutdown (atexit: a replay ending): a worker would be killed mid-send.
        _deliver(config, payload)
        return
    global _worker
    with _lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_run, name="autorr-alerts", daemon=True)
            _worker.start()
    try:
        _queue.put_nowait((config, payload))
    except queue.Full:  # a webhook this far behind is down; never block the agent for it
        log.warning("autorr: alert queue full; dropped %s alert", payload["alert"])
        _done()


def _run() -> None:
    _session.suspend()  # the webhook's own request is autorr's, never the agent's
    while True:
        item = _queue.get()
        if item is None:
            return
        _deliver(*item)


def _deliver(config: AlertConfig, payload: dict[str, Any]) -> None:
    import urllib.request  # http.client, email, ssl: only once an alert fires

    token = _session.suspend()
    try:
        request = urllib.request.Request(
            config.webhook_url, data=orjson.dumps(payload, default=str), method="POST",
            headers={"content-type": "application/json", "user-agent": "autorr-alerts", **config.headers})
        with urllib.request.urlopen(request, timeout=config.timeout_seconds) as response:  # noqa: S310 - http(s) only
            response.read()
    except Exception as exc:  # a broken webhook must not break the run; say so once per alert
        log.warning("autorr: alert webhook %s failed for %s: %s", config.webhook_url, payload["alert"], exc)
    finally:
        _session.deactivate(token)
        _done()


def _done() -> None:
    global _pending
    with _idle:
        _pending -= 1
        _idle.notify_all()


def flush(timeout: float = 10.0) -> bool:
    """Wait until the alerts fired so far were delivered (or failed); False on timeout."""
    with _idle:
        return _idle.wait_for(lambda: _pending <= 0, timeout)


atexit.register(flush, 5.0)  # alerts fired during the run reach the webhook before the process ends


# -- watchers that need no call from the recorder -----------------------------------
# Messages the recorder, writer and integrations log when a call goes unrecorded.
_FAILURES = ("autorr: failed to record", "autorr: recording %s lost events", "autorr: could not write",
             "autorr: not recording", "autorr: could not close recording")


class _FailureHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            template = str(record.msg)
            if record.name.startswith(log.name) or not template.startswith(_FAILURES):
                return
            notify(AlertKind.RECORDING_FAILURE, _recording_of(record), record.getMessage(),
                   logger=record.name, level=record.levelname)
        except Exception:  # pragma: no cover - a handler must never raise into the logging call
            pass


def _recording_of(record: logging.LogRecord) -> str | None:
    template, args = str(record.msg), record.args if isinstance(record.args, tuple) else ()
    if ("lost events" in template or "could not close" in template) and args:
        return str(args[0])
    if "could not write" in template and len(args) > 1:
        return Path(str(args[1])).stem
    current = _session.active()  # the agent's thread: the recorder the call was for
    recording_id = getattr(current, "id", None)
    return recording_id if isinstance(recording_id, str) else None


_handler = _FailureHandler(logging.WARNING)


def _watch_failures(on: bool) -> None:
    logger = logging.getLogger("autorr")
    if on and _handler not in logger.handlers:
        logger.addHandler(_handler)
    elif not on and _handler in logger.handlers:
        logger.removeHandler(_handler)


def _watch_storage(config: AlertConfig | None) -> None:
    global _watcher_stop
    if _watcher_stop is not None:
        _watcher_stop.set()
        _watcher_stop = None
    if config is None or config.storage_mb_threshold is None:
        return
    stop = _watcher_stop = threading.Event()
    threading.Thread(target=_watch, args=(stop, config.check_interval_seconds), name="autorr-alerts-storage",
                     daemon=True).start()


def _watch(stop: threading.Event, interval: float) -> None:
    from ._exit import live

    _session.suspend()
    while not stop.wait(interval):
        # Every recorder started in this process (threads, contexts, hybrid children).
        for recorder in list(live):
            try:
                if recorder.active and recorder._pid == os.getpid():
                    check_storage(recorder.id, _size(recorder.path), str(recorder.path))
            except Exception as exc:  # a file rotated or removed under us: next round
                log.debug("autorr: storage check failed: %s", exc)
