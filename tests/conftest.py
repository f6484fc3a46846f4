"""Shared fixtures: a real fake-LLM server on loopback, and agents run as real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from autorr import _session
from autorr._patching import uninstall

AGENTS = Path(__file__).parent / "agents"
FAKE_KEY = "sk-test-DO-NOT-LEAK-0123456789abcdefXYZ"


@pytest.fixture
def llm_server():
    from autorr.testing import FakeLLMServer

    with FakeLLMServer(nonce=True) as server:
        yield server


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    path = tmp_path / "recordings"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def _clean_autorr_state(monkeypatch: pytest.MonkeyPatch):
    for name in list(os.environ):
        if name.startswith(("AUTORR_", "_AUTORR_")):
            monkeypatch.delenv(name)
    yield
    _session.set_default(None)
    uninstall()


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AUTORR_", "_AUTORR_", "OPENAI_", "ANTHROPIC_"))}
    env.update(extra)
    return env


@pytest.fixture
def run_agent(recordings: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``tests/agents/<name>`` in a fresh interpreter: the zero-code path."""

    def run(name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120,
            server: Any = None, url: str | None = None) -> subprocess.CompletedProcess[str]:
        extra = {"AUTORR_DIR": str(recordings)}
        base = url or (server.url if server else "http://127.0.0.1:9")
        extra.update(OPENAI_BASE_URL=base + "/v1", ANTHROPIC_BASE_URL=base, FAKE_SERVER_URL=base)
        extra.update(env or {})
        if extra.get("AUTORR_MODE") != "replay":
            extra.setdefault("OPENAI_API_KEY", FAKE_KEY)
            extra.setdefault("ANTHROPIC_API_KEY", FAKE_KEY)
        return subprocess.run([sys.executable, str(AGENTS / name), *args], env=_clean_env(extra),
                              capture_output=True, text=True, timeout=timeout, check=False)

    return run
