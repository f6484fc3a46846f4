"""What one recorded call looks like in memory, between the integrations and the store."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CallRequest", "Event", "Kind", "Status"]


class Kind(str, enum.Enum):
    HTTP = "http"
    SUBPROCESS = "subprocess"
    FILE = "file"
    TOOL = "tool"


class Status(str, enum.Enum):
    OK = "ok"
    ERROR = "error"  # the call raised; replay raises the same
    INCOMPLETE = "incomplete"  # a stream closed or dropped before its end


@dataclass(slots=True)
class CallRequest:
    """A request as the matcher sees it (auth headers still present in memory only)."""

    method: str
    url: str
    host: str
    path: str
    query: list[tuple[str, str]]
    headers: list[tuple[str, str]]
    body: bytes
    json: Any = None  # parsed body when it is JSON
    content_type: str = ""

    @property
    def summary(self) -> str:
        return f"{self.method} {self.host}{self.path}" if self.host else f"{self.method} {self.path}"


@dataclass(slots=True)
class Event:
    kind: str
    fingerprint: str
    occurrence: int
    seq: int  # start order within the recording process
    started_at: float  # unix time
    duration_us: int
    status: str
    request: CallRequest | dict[str, Any]
    response: dict[str, Any] | None = None  # status, headers, http_version, reason, streamed, ttfb_us
    body: bytes | None = None
    chunks: list[tuple[int, int]] | None = None  # (size, offset_us from call start)
    error: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, Any] = field(default_factory=dict)
    pid: int = 0
    id: int | None = None  # row id once stored

    @property
    def summary(self) -> str:
        req = self.request
        if isinstance(req, CallRequest):
            return req.summary
        host = req.get("host") or ""
        return f"{req.get('method', '')} {host}{req.get('path', '')}".strip() if host else \
            f"{req.get('method', '')} {req.get('path', '')}".strip()
