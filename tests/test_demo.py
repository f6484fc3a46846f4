"""The README's first command, and the example agents, end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import _clean_env

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_autorr_demo_records_replays_and_shows(tmp_path):
    result = subprocess.run([sys.executable, "-m", "autorr", "demo", "--dir", str(tmp_path / "recs"),
                             "--chunk-delay", "0.005"], env=_clean_env({}), capture_output=True, text=True,
                            timeout=180, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "=== record: live against the fake LLM server" in out
    assert "=== replay: server stopped, no API key" in out
    assert "replay output identical to the recorded run: yes" in out
    assert "POST 127.0.0.1/v1/chat/completions" in out and "models: gpt-4o-mini" in out
    assert len(list((tmp_path / "recs").glob("demo-*.db"))) == 1


def test_anthropic_example_replays_offline(llm_server, recordings):
    env = {"ANTHROPIC_BASE_URL": llm_server.anthropic_base_url, "ANTHROPIC_API_KEY": "sk-ant-test-0123456789abcdef",
           "AUTORR_DIR": str(recordings)}
    agent = [sys.executable, str(EXAMPLES / "agent_anthropic.py")]
    recorded = subprocess.run(agent, env=_clean_env(dict(env, AUTORR_MODE="record")), capture_output=True,
                              text=True, timeout=120)
    assert recorded.returncode == 0, recorded.stderr
    assert "asked for get_weather" in recorded.stdout and "final answer (streamed): The tool said" in recorded.stdout
    llm_server.stop()
    env.pop("ANTHROPIC_API_KEY")
    replayed = subprocess.run(agent, env=_clean_env(dict(env, AUTORR_MODE="replay")), capture_output=True,
                              text=True, timeout=120)
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout == recorded.stdout
