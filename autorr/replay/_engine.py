"""`Player`: serves recorded answers by (kind, fingerprint, occurrence), in O(1).

strict: a call with no recorded answer raises `StrictReplayMismatch`;
warn:   the mismatch is logged and the nearest recorded answer is served;
hybrid: the call goes live into a child recording that names its parent; later
        lookups try the child first, then the parent. Strict and warn never go live on a miss.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import threading
from pathlib import Path
from typing import Any

from .. import _alerts, _session
from .._config import Config, ReplayMode, Timing, enum_setting, load_config
from .._errors import ConfigError, EventCorrupt, strict_mismatch
from .._events import CallRequest, Event, Kind, Status
from ._counts import bump, taken
from ._matchers import closeness, explain
from ._fingerprint import FINGERPRINT_V2, exact_key, request_fingerprint
from ._form import form_of
from ._overrides import llm_rewrite
from ._redacted import RedactedIndex, redacted_view, same_checkpoint
from ._telemetry import is_telemetry

__all__ = ["Player", "category_of", "endpoint_category"]

log = logging.getLogger("autorr")

PRELOAD_BYTES = 64 << 20
_HTTP = Kind.HTTP.value

_LLM_PATHS = ("/chat/completions", "/completions", "/responses", "/messages", "/embeddings",
              ":generateContent", ":streamGenerateContent", "/v1/complete")


def category_of(kind: Kind, path: str) -> str:
    """The override category of a call to ``path`` (`set_replay_overrides()` keys)."""
    if kind is Kind.HTTP:
        return "llm_calls" if path.endswith(_LLM_PATHS) else "http"
    return {Kind.SUBPROCESS: "subprocess", Kind.FILE: "files"}.get(kind, "tool_calls")


@functools.lru_cache(maxsize=4096)  # an agent calls few endpoints (files: bounded all the same)
def endpoint_category(kind: Kind, host: str, path: str) -> str | None:
    """The override category of a call to (host, path); None for telemetry, which is
    neither recorded nor replayed."""
    if kind is Kind.HTTP and is_telemetry(host, path):
        return None
    return category_of(kind, path)


def _live_view(request: CallRequest) -> dict[str, Any]:
    return {"method": request.method, "host": request.host, "path": request.path, "query": request.query,
            "json": request.json, "body": None if request.json is not None else request.body}


def _empty_answer(fingerprint: str) -> Event:
    return Event(kind=Kind.HTTP.value, fingerprint=fingerprint, occurrence=0, seq=0, started_at=0.0, duration_us=0,
                 status=Status.OK.value, request={}, body=b"{}",
                 response={"status": 200, "headers": [("content-type", "application/json")], "streamed": False})


class Player(_session.Scoped):
    """Replays one recording (and its parents); each instance has its own counters."""

    fail_open = False  # an autorr failure during replay must not reach the network

    def __init__(self, recording: str | Path | None = None, *, mode: ReplayMode | str | None = None,
                 timing: Timing | str | None = None, directory: str | Path | None = None,
                 config: Config | None = None) -> None:
        self.config = config or load_config()
        self.directory = Path(directory) if directory is not None else self.config.output_dir
        self.mode = enum_setting(ReplayMode, mode or self.config.replay_mode, "replay mode")
        self.timing = enum_setting(Timing, timing or self.config.timing, "timing")
        self.overrides: dict[str, dict[str, Any]] = dict(self.config.overrides)
        self._recording = recording if recording is not None else self.config.recording
        self._chain: list[tuple[Any, dict]] = []  # (Reader, index), child first
        self._exact: dict[tuple[str, str], str] = {}  # (kind, exact key) -> fingerprint, whole chain
        self._answers: dict[tuple[int, int], Event] = {}  # (chain position, event id) -> decoded answer
        self._redacted: RedactedIndex | None = None  # built at the first miss (see `_redacted`)
        self._redactor: Any = None
        self._fingerprint_version = FINGERPRINT_V2
        self._lock = threading.Lock()
        # (kind, fingerprint) -> its occurrences so far; (what, category, segment) -> calls,
        # summed by `statistics()`; the calls so far: counters of `_counts`, taken lock-free.
        self._next: dict[tuple[str, str], Any] = {}
        self._tally: dict[tuple[str, str, str], Any] = {}
        self._call_numbers = itertools.count()
        self._mismatches: list[dict[str, Any]] = []
        self._child: Any = None
        self.active = False
        self._checkpoints: list[dict[str, Any]] = []  # of the loaded recording, by seq
        self._target: dict[str, Any] | None = None  # replay_from_checkpoint()
        self._live_from_now = False

    # -- loading --------------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        return self._chain[0][0].path if self._chain else None

    @property
    def recording_id(self) -> str | None:
        return self._chain[0][0].id if self._chain else None

    def load(self, id_or_path: str | Path | None = None) -> bool:
        from ..store import Reader, resolve

        self.close()
        # "The latest" is this agent's latest when several record into one directory.
        target = resolve(id_or_path if id_or_path is not None else self._recording, self.directory, self.config.labels)
        seen: set[Path] = set()
        while target is not None and target.resolve() not in seen:
            seen.add(target.resolve())
            reader = Reader(target)
            if not self._chain:
                self._checkpoints = sorted(reader.checkpoints(), key=lambda cp: cp["seq"])
                self._fingerprint_version = reader.fingerprint_version
            index, exact = reader.indexes()
            self._chain.append((reader, index))
            for key, fp in exact.items():
                self._exact.setdefault(key, fp)
            self._preload(len(self._chain) - 1, reader, index)
            parent = reader.meta().get("parent") or {}
            target = self._parent_path(parent, target)
        return True

    def _preload(self, position: int, reader: Any, index: dict) -> None:
        """Decode the answers up front, in one sequential pass, as a tape player would.

        A call then costs a dict lookup instead of a query, a decompression and a JSON
        parse with caches the agent's own work has just evicted. Bounded: past
        `PRELOAD_BYTES` of bodies the rest is read on demand.
        """
        budget = PRELOAD_BYTES - sum(len(e.body or b"") for e in self._answers.values())
        for event_id in sorted(i for by_occurrence in index.values() for i in by_occurrence.values()):
            if budget <= 0:
                return
            try:
                answer = reader.answer(event_id)
            except EventCorrupt as exc:  # a damaged event fails when (if) it is served
                log.debug("autorr: event %s of %s not preloaded: %s", event_id, reader.path, exc)
                continue
            if answer.response is not None and answer.kind == _HTTP:
                form_of(answer)  # what serving it would work out, done before the agent waits
            self._answers[(position, event_id)] = answer
            budget -= len(answer.body or b"") + 200

    def _parent_path(self, parent: dict[str, Any], child: Path) -> Path | None:
        from ..store import resolve

        for ref in (parent.get("path"), parent.get("recording_id")):
            if ref:
                try:
                    return resolve(ref, child.parent)
                except Exception:
                    continue
        if parent:
            log.warning("autorr: parent recording %s of %s is missing", parent.get("recording_id"), child)
        return None

    def close(self) -> None:
        for reader, _ in self._chain:
            reader.close()
        self._chain = []
        self._exact = {}
        self._answers = {}
        self._redacted = self._redactor = None

    # -- lifecycle ------------------------------------------------------------------
    def start(self, mode: ReplayMode | str | None = None) -> str:
        from ..integrations import install_all

        install_all()
        if mode is not None:
            self.set_mode(mode)
        if not self._chain:
            self.load()
        with self._lock:
            self._next.clear()
            self._mismatches.clear()
            self._tally.clear()
            self._call_numbers = itertools.count()
            self._live_from_now = False
        if self.config.checkpoint and self._target is None:
            self.from_checkpoint(self.config.checkpoint)
        self.started_cwd = os.getcwd()
        self.active = True
        return self.recording_id or ""

    def stop(self) -> dict[str, Any]:
        _alerts.session_ended(self)
        self.active = False
        child = self._child
        if child is not None and child.active:
            child.stop()
        if _session.get_default() is self:
            _session.set_default(None)
        return self.statistics()

    def set_mode(self, mode: ReplayMode | str) -> None:
        self.mode = enum_setting(ReplayMode, mode, "replay mode")

    @property
    def child(self) -> Any:
        """The recording that hybrid / live calls went into (None until the first)."""
        return self._child

    # -- the hot path ---------------------------------------------------------------
    def decide(self, kind: Kind, request: CallRequest, *, output: bool = False) -> _session.Decision:
        """Serve, go live, or (strict) raise. ``output``: the call only writes (a file
        written): a miss is reported and the write performed, never raised."""
        if not self.active:
            return None
        category = endpoint_category(kind, request.host, request.path)
        if category is None:  # telemetry
            self._count("ignored", "http")
            return _session.Serve(_empty_answer(""))
        # The exact bytes' key finds the fingerprint of a request recorded so (see `exact_key`).
        # `_value_`, not `.value`: the enum property is a Python call on every replayed call.
        found = self._exact.get((kind._value_, exact_key(request)))
        key = (kind._value_, found if found is not None else request_fingerprint(request, self._fingerprint_version))
        occurrence = bump(self._next, key)
        call_no = next(self._call_numbers) + 1
        segment = self._segment_of(call_no) if self._checkpoints else "start"
        target = self._target
        if self._live_from_now or (target is not None and call_no > target["seq"]):
            return self._go_live(kind, key[1], request, occurrence, category, "checkpoint", segment)
        override = self.overrides.get(category)
        if override and override.get("live_mode"):
            return self._go_live(kind, key[1], request, occurrence, category, "override", segment, override)
        served = self._serve(key, occurrence, category, segment) or self._serve_redacted(kind, key, request,
                                                                                      category, segment)
        return served or self._miss(kind, key[1], request, occurrence, category, segment, output)

    def _serve(self, key: tuple[str, str], occurrence: int, category: str, segment: str) -> _session.Serve | None:
        for position, (reader, index) in enumerate(self._chain):
            occurrences = index.get(key)
            event_id = occurrences.get(occurrence) if occurrences else None
            if event_id is not None:
                bump(self._tally, ("matched", category, segment))
                # Before a checkpoint being resumed from, the prefix is served at full speed.
                preserve = self.timing is Timing.PRESERVE and self._target is None
                answer = self._answers.get((position, event_id)) or reader.answer(event_id)
                return _session.Serve(answer, preserve)
        return None

    def _serve_redacted(self, kind: Kind, key: tuple[str, str], request: CallRequest, category: str,
                        segment: str) -> _session.Serve | None:
        """A request that differs from a recorded one only where the recording masked a
        secret (see `_redacted`): served as that one, counted under its fingerprint."""
        if any(key in index for _, index in self._chain):
            return None  # recorded, and used up: a miss of its own
        if self._redacted is None:
            self._redacted = RedactedIndex(self._chain, self.recording_redactor(), self._fingerprint_version)
        fingerprint = self._redacted.find(kind._value_, request)
        if fingerprint is None or fingerprint == key[1]:
            return None
        # Counted under the recorded fingerprint it is served as. The request's own count
        # stays: it numbers this request's calls, and its misses come back here.
        matched = (key[0], fingerprint)
        return self._serve(matched, bump(self._next, matched), category, segment)

    def recording_redactor(self) -> Any:
        """The redaction the recording was made with (its stored config), else this run's."""
        if self._redactor is None:
            from .._redact import Redactor

            stored = (self._chain[0][0].meta().get("config") or {}) if self._chain else {}
            level = stored.get("redaction_level") or self.config.redaction_level
            patterns = stored.get("redact_sensitive_data", self.config.redact_sensitive_data)
            self._redactor = Redactor(level, patterns=bool(patterns))
        return self._redactor

    def _go_live(self, kind: Kind, fingerprint: str, request: CallRequest, occurrence: int, category: str,
                 reason: str, segment: str = "", override: dict[str, Any] | None = None) -> _session.Decision:
        rewrite = None
        if override and category == "llm_calls":
            from .._llm import provider_of

            rewrite = llm_rewrite(override, provider_of(request.host, request.path), request.summary)
        self._count("live", category, segment)
        handle = self._child_recorder(reason).begin(kind, request, fingerprint, occurrence)
        if rewrite:
            handle.meta["override"] = {k: v for k, v in rewrite.items() if k != "api_key"}
        return _session.Record(handle, rewrite)

    def _child_recorder(self, reason: str) -> Any:
        with self._lock:
            if self._child is None:
                from .._recorder import Recorder, new_recording_id

                parent = {"recording_id": self.recording_id, "path": str(self.path), "reason": reason}
                if self._target is not None:
                    parent["checkpoint"] = self._target["name"]
                self._child = Recorder(f"{self.recording_id}.{reason}-{new_recording_id()}",
                                       directory=self.path.parent if self.path else self.directory,
                                       config=self.config, parent=parent)
                self._child.start()
                if self._target is not None:
                    self._child.checkpoint(self._target["name"], self._target.get("state"))
                if reason == "checkpoint" and _session.get_default() is self:
                    self._hand_over_environment()
            return self._child

    def _hand_over_environment(self) -> None:
        # Past the checkpoint the run is live: processes it starts from now on record
        # into the child recording instead of replaying the parent's prefix again.
        child = self._child
        os.environ.update(AUTORR_MODE="record", AUTORR_RECORDING_ID=child.id, AUTORR_DIR=str(child.directory),
                          _AUTORR_OWNER_PID=str(os.getpid()))
        for name in ("AUTORR_CHECKPOINT", "AUTORR_RECORDING"):
            os.environ.pop(name, None)

    # -- checkpoints ----------------------------------------------------------------
    def checkpoints(self) -> list[dict[str, Any]]:
        return [dict(cp) for cp in self._checkpoints]

    def find_checkpoint(self, name: str) -> dict[str, Any]:
        # From the root of the chain: a child recording made from a checkpoint stores it
        # again as its own first (seq 0), where the parent's says where it is in the run.
        for reader, _ in reversed(self._chain):
            for cp in reader.checkpoints():
                if same_checkpoint(cp["name"], name, self.recording_redactor):
                    return cp
        known = ", ".join(dict.fromkeys(cp["name"] for cp in self._checkpoints)) or "none"
        raise ConfigError(f"no checkpoint {name!r} in recording {self.recording_id} (checkpoints: {known})")

    def from_checkpoint(self, name: str) -> None:
        """Serve the calls before checkpoint ``name``; from there on go live into a child recording."""
        if not self._chain:
            self.load()
        self._target = self.find_checkpoint(name)

    def checkpoint(self, name: str, state: Any = None) -> None:
        """The agent reached a checkpoint during replay."""
        target = self._target is not None and same_checkpoint(self._target["name"], name, self.recording_redactor)
        if target:
            self._live_from_now = True  # exactly where the recording says the new run starts
        if self._child is not None and not target:
            self._child.checkpoint(name, state)

    def restore(self, name: str) -> Any:
        """The state stored with checkpoint ``name``; an agent resuming from it skips the prefix."""
        found = self.find_checkpoint(name)
        if self._target is not None and same_checkpoint(self._target["name"], name, self.recording_redactor):
            self._live_from_now = True
        return found.get("state")

    def _segment_of(self, call_no: int) -> str:
        segment = "start"
        for cp in self._checkpoints:
            if cp["seq"] < call_no:
                segment = cp["name"]
            else:
                break
        return segment

    def _miss(self, kind: Kind, fingerprint: str, request: CallRequest, occurrence: int,
              category: str, segment: str, output: bool = False) -> _session.Decision:
        details, nearest = self._explain(kind, fingerprint, request, occurrence)
        if output and self.mode is not ReplayMode.HYBRID:
            # A new log or report file (often named by the time) is no reason to fail a run.
            details["action"] = "reported"
            self._record_mismatch(details, category, segment)
            log.warning("%s\n  an output: performed, not replayed", self._message(details))
            return None
        if self.mode is ReplayMode.HYBRID:
            details["action"] = "live"
            self._record_mismatch(details, category, segment)
            log.info("autorr: hybrid replay: %s goes live (%s)", details["call"], "; ".join(details["diff"]))
            return self._go_live(kind, fingerprint, request, occurrence, category, "hybrid")
        message = self._message(details)
        if self.mode is ReplayMode.WARN and nearest is not None:
            details["action"] = "served_nearest"
            self._record_mismatch(details, category, segment)
            log.warning("%s\n  warn mode: serving the nearest recorded answer", message)
            reader, event_id = nearest
            return _session.Serve(reader.event(event_id), self.timing is Timing.PRESERVE)
        details["action"] = "raised"
        self._record_mismatch(details, category, segment)
        # SDK retry loops and `except Exception` in agent frameworks must not hide this.
        raise strict_mismatch(message, details)

    def content_mismatch(self, kind: Kind, request: CallRequest, diff: list[str], fatal: bool = True) -> str:
        """A matched call whose world changed (a file edited since recording).

        Returns what to do: "serve" the recording (warn), go "live" (hybrid); strict
        raises, unless ``fatal`` is off (then it is reported like warn).
        """
        summary = self.recording_redactor().scrub_text(request.summary)  # printed: no secret in it
        details = {"type": "content_changed", "kind": kind.value, "call": summary,
                   "actual": summary, "expected": summary, "fingerprint": "", "occurrence": 0,
                   "diff": diff, "recording_id": self.recording_id, "recording": str(self.path)}
        category = category_of(kind, request.path)
        if self.mode is ReplayMode.HYBRID:
            details["action"] = "live"
            self._record_mismatch(details, category)
            return "live"
        message = f"autorr: {summary} changed since it was recorded\n" + \
            "\n".join(f"  differs: {line}" for line in diff)
        if self.mode is ReplayMode.WARN or not fatal:
            details["action"] = "served_recorded"
            self._record_mismatch(details, category)
            log.warning("%s\n  warn mode: serving the recorded content", message)
            return "serve"
        details["action"] = "raised"
        self._record_mismatch(details, category)
        raise strict_mismatch(message, details)

    def _explain(self, kind: Kind, fingerprint: str, request: CallRequest,
                 occurrence: int) -> tuple[dict[str, Any], tuple[Any, int] | None]:
        redactor = self.recording_redactor()
        live, summary = redacted_view(_live_view(request), redactor), redactor.scrub_text(request.summary)
        details: dict[str, Any] = {
            "type": "no_match", "kind": kind.value, "call": summary, "actual": summary,
            "fingerprint": fingerprint, "occurrence": occurrence, "expected": None, "diff": [],
            "recording_id": self.recording_id, "recording": str(self.path),
        }
        same = [(r, idx.get((kind.value, fingerprint), {})) for r, idx in self._chain]
        recorded_times = max((len(occ) for _, occ in same), default=0)
        if recorded_times:
            details["type"] = "exhausted"
            details["diff"] = [f"this request was recorded {recorded_times} time(s); this is call "
                               f"#{occurrence + 1} of it"]
            reader, occ_map = next((r, o) for r, o in same if o)
            last = max(occ_map)
            details["expected"] = f"{summary} (occurrence {last})"
            return details, (reader, occ_map[last])
        best: tuple[Any, ...] | None = None
        for reader, _ in self._chain:
            events = list(reader.events(kind=kind.value))
            # Rebuilding a request body costs; compare bodies only where the call is the same.
            same_call = [e for e in events if e.summary == summary]  # stored summaries are redacted too
            for event in same_call or events:
                recorded = reader.request(event)
                # Ties go to an answer not served yet in this run (warn mode serves it).
                served = taken(self._next.get((kind.value, event.fingerprint))) > (event.occurrence or 0)
                score = (*closeness(recorded, live), served)
                if best is None or score < best[0]:
                    best = (score, reader, event, recorded)
        if best is None:
            details["diff"] = [f"the recording has no {kind.value} calls at all"]
            return details, None
        _, reader, event, recorded = best
        details["expected"] = f"{event.summary} (occurrence {event.occurrence}, event {event.id})"
        details["diff"] = explain(recorded, live) or ["requests differ only in bytes autorr does not compare"]
        return details, (reader, event.id)

    @staticmethod
    def _message(details: dict[str, Any]) -> str:
        lines = [f"autorr: replay has no recorded answer for {details['call']} "
                 f"(call #{details['occurrence'] + 1} with this request)"]
        if details["expected"]:
            lines.append(f"  nearest recorded: {details['expected']}")
        lines += [f"  differs: {line}" for line in details["diff"]]
        lines.append(f"  recording: {details['recording']}  (re-record, or set AUTORR_REPLAY_MODE=warn or hybrid)")
        return "\n".join(lines)

    # -- statistics -----------------------------------------------------------------
    def _count(self, what: str, category: str, segment: str = "") -> None:
        bump(self._tally, (what, category, segment))

    def _record_mismatch(self, details: dict[str, Any], category: str, segment: str | None = None) -> None:
        # A content mismatch comes after its call was decided: the last call given out.
        if segment is None:
            segment = self._segment_of(taken(self._call_numbers))
        self._count("mismatched", category, segment)
        with self._lock:
            self._mismatches.append(details)
        _alerts.on_mismatch(self)

    def statistics(self) -> dict[str, Any]:
        tally = {key: taken(counter) for key, counter in dict(self._tally).items()}
        total = taken(self._call_numbers)
        stats: dict[str, Any] = {"total": total, "matched": 0, "mismatched": 0, "live": 0, "ignored": 0,
                                 "by_category": {}, "by_segment": {}}
        for (what, category, segment), calls in tally.items():
            stats[what] += calls
            for table, name in (("by_category", category), ("by_segment", segment)):
                if name:
                    per = stats[table].setdefault(name, {"matched": 0, "mismatched": 0, "live": 0})
                    per[what] = per.get(what, 0) + calls
        stats["mismatch_count"] = stats["mismatched"]
        stats["success_rate"] = (stats["matched"] / total) if total else 1.0
        stats["mode"] = self.mode.value
        stats["recording_id"] = self.recording_id
        stats["child_recording_id"] = self._child.id if self._child is not None else None
        return stats

    def mismatches(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(m) for m in self._mismatches]
