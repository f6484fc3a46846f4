"""`analyze_performance` / ``autorr analyze`` on a real recording: LLM, HTTP, subprocess, files, tools."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import autorr
from autorr.cli import main


@autorr.tool(name="lookup")
def lookup(term: str) -> str:
    return term.upper()


@pytest.fixture
def mixed_recording(llm_server, echo_server, tmp_path, monkeypatch):
    import httpx2
    import openai

    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("remember the milk\n")
    monkeypatch.chdir(project)  # files under the working directory are the project's
    recordings = tmp_path / "recs"
    url, _ = echo_server
    client = openai.OpenAI(base_url=llm_server.openai_base_url, api_key="k", max_retries=0)
    with autorr.recording(recordings / "mixed.db"):
        for model, question in (("gpt-4o-mini", "hi"), ("gpt-4o-mini", "again"), ("gpt-4.1", "plan")):
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}])
        httpx2.get(url + "/a")
        httpx2.get(url + "/b")
        subprocess.run([sys.executable, "-c", "print(1)"], capture_output=True, check=True)
        Path("notes.txt").read_text()
        Path("out.txt").write_text("done\n")
        lookup("x")
        lookup("y")
    return recordings


def test_time_per_operation(mixed_recording):
    report = autorr.analyze_performance("mixed", mixed_recording)
    ops = report["operations"]
    python = os.path.basename(sys.executable)
    assert {name: row["call_count"] for name, row in ops.items()} == {
        "llm:gpt-4o-mini": 2, "llm:gpt-4.1": 1, "http:127.0.0.1": 2, f"subprocess:{python}": 1,
        "file:read": 1, "file:write": 1, "tool:lookup": 2}
    assert report["call_count"] == 10 and report["recording_id"] == "mixed"
    assert sum(row["percentage"] for row in ops.values()) == pytest.approx(100, abs=0.1)
    assert report["total_time"] == pytest.approx(sum(row["total_time"] for row in ops.values()), abs=1e-5)
    totals = [row["total_time"] for row in ops.values()]
    assert totals == sorted(totals, reverse=True)  # slowest first
    for row in ops.values():
        assert row["average_time"] == pytest.approx(row["total_time"] / row["call_count"], abs=1e-5)
        assert 0 <= row["min_time"] <= row["average_time"] <= row["max_time"] and row["errors"] == 0
    # A process start costs more than a tool call that returns a constant.
    assert ops[f"subprocess:{python}"]["total_time"] > ops["tool:lookup"]["average_time"]
    assert report["wall_time"] >= max(row["max_time"] for row in ops.values())


def test_matches_the_recorded_events(mixed_recording):
    events = autorr.get_recorded_events("mixed", mixed_recording)
    report = autorr.analyze_performance(mixed_recording / "mixed.db")
    llm = [e for e in events if e.event_type == "llm_call"]
    assert report["operations"]["llm:gpt-4o-mini"]["total_time"] == pytest.approx(
        sum(e.duration for e in llm if e.inputs["model"] == "gpt-4o-mini"), abs=1e-5)


def test_cli_analyze(mixed_recording, capsys):
    assert main(["analyze", "mixed", "--dir", str(mixed_recording)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("recording mixed: 10 calls") and "llm:gpt-4o-mini" in out and "tool:lookup" in out
    assert main(["analyze", "--dir", str(mixed_recording), "--json"]) == 0  # the latest
    assert json.loads(capsys.readouterr().out)["operations"]["http:127.0.0.1"]["call_count"] == 2


def test_failed_calls_are_counted(echo_server, recordings):
    import httpx2

    with autorr.recording(recordings / "errs.db"):
        with pytest.raises(httpx2.ConnectError):
            httpx2.get("http://127.0.0.1:9/unreachable")
    row = autorr.analyze_performance("errs", recordings)["operations"]["http:127.0.0.1"]
    assert (row["call_count"], row["errors"]) == (1, 1)


def test_empty_and_missing_recordings(recordings, capsys):
    with autorr.recording(recordings / "empty.db"):
        pass
    report = autorr.analyze_performance("empty", recordings)
    assert (report["call_count"], report["operations"], report["wall_time"]) == (0, {}, 0.0)
    with pytest.raises(autorr.RecordingNotFound, match="'nope' not found"):
        autorr.analyze_performance("nope", recordings)
    assert main(["analyze", "nope", "--dir", str(recordings)]) == 2
    assert capsys.readouterr().err.startswith("autorr: error: recording 'nope' not found")
