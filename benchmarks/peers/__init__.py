"""Peer record/replay tools, benchmarked with the same workload as autorr (run.py --peers).

Each peer lives in its own venv under benchmarks/.venvs/<name> (made by setup.sh), so none
of them is a dependency of autorr. A peer module has `install(phase, path, own) -> Peer`:
it starts the tool for `phase` ("record" or "replay") with its files under the directory
`path`, after putting `own`'s timers around the tool's interception function (outer) and
the real transport under it (inner: `own.real_transport()`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple

VENVS = Path(__file__).resolve().parent.parent / ".venvs"


class Tool(NamedTuple):
    version: str
    module: str
    intercepts: str  # where its interception sits, for the results file


TOOLS = {
    "vcrpy": Tool("9.4.2", "_vcrpy", "its own stub on httpx2.HTTPTransport.handle_request (vcrpy supports httpx2)"),
    "cassetter": Tool("0.16.1", "_cassetter", "its own patch of httpx2.HTTPTransport.handle_request (supports httpx2)"),
    "tracefork": Tool("1.0.0", "_tracefork", "TraceforkTransport around the client's HTTPTransport, as its Recorder"),
}


def python(tool: str) -> Path:
    return VENVS / tool / "bin" / "python"


@dataclass
class Peer:
    client: Callable[[Any], Any] = field(default=lambda client: client)  # the SDK client the agent gets
    finish: Callable[[], None] = field(default=lambda: None)  # end the session: save files, undo patches


def install(tool: str, phase: str, path: Path, own: Any) -> Peer:
    path.mkdir(parents=True, exist_ok=True)
    return importlib.import_module(f"peers.{TOOLS[tool].module}").install(phase, path, own)
