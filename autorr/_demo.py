"""``autorr demo``: record the example agent against the built-in fake LLM server,
replay it with the server stopped and no API key, and show the recording."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ._config import load_config
from ._inspect import describe, format_description

__all__ = ["demo", "example_agent"]


def example_agent(name: str = "agent.py") -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "_examples" / name, here.parent / "examples" / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"example agent {name} is missing from this installation")


def _run(env: dict[str, str], agent: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(agent), "What is the weather in Paris?"],
                          env=env, capture_output=True, text=True, timeout=300, check=False)


def _section(title: str, text: str) -> None:
    print(f"\n=== {title} ===")
    print(text.rstrip())


def demo(directory: str | os.PathLike[str] | None = None, chunk_delay: float = 0.02) -> int:
    from .testing import FakeLLMServer

    out_dir = Path(directory) if directory else load_config().output_dir
    recording_id = "demo-" + time.strftime("%Y%m%d-%H%M%S")
    agent = example_agent()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AUTORR_", "_AUTORR_", "OPENAI_"))}
    base.update(AUTORR_DIR=str(out_dir), AUTORR_RECORDING_ID=recording_id)

    with FakeLLMServer(chunk_delay=chunk_delay) as server:
        env = dict(base, AUTORR_MODE="record", OPENAI_BASE_URL=server.openai_base_url,
                   OPENAI_API_KEY="sk-demo-0000000000000000000000")
        started = time.perf_counter()
        recorded = _run(env, agent)
        record_s = time.perf_counter() - started
        hits = server.hits
    _section(f"record: live against the fake LLM server ({hits} requests, {record_s:.2f}s)", recorded.stdout)
    if recorded.returncode != 0:
        print(recorded.stderr, file=sys.stderr)
        return recorded.returncode

    # The server is stopped and the key is gone: replay needs neither.
    env = dict(base, AUTORR_MODE="replay", AUTORR_RECORDING=recording_id,
               OPENAI_BASE_URL=server.openai_base_url)
    started = time.perf_counter()
    replayed = _run(env, agent)
    replay_s = time.perf_counter() - started
    _section(f"replay: server stopped, no API key ({replay_s:.2f}s)", replayed.stdout)
    if replayed.returncode != 0:
        print(replayed.stderr, file=sys.stderr)
        return replayed.returncode

    same = recorded.stdout == replayed.stdout
    _section("show", format_description(describe(recording_id, out_dir)))
    print(f"\nreplay output identical to the recorded run: {'yes' if same else 'NO'}")
    print(f"inspect it again with: autorr show {recording_id} --dir {out_dir}")
    return 0 if same else 1
