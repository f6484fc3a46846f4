"""``@autorr.tool``: recorded arguments and results; replay never calls the function."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

import autorr

calls: list[str] = []


@dataclasses.dataclass
class Forecast:
    city: str
    temp_c: float


@autorr.tool
def forecast(city: str, days: int = 1) -> Forecast:
    calls.append(f"forecast {city}")
    return Forecast(city, 20.5 + days)


@autorr.tool(name="search")
async def search(query: str) -> list[dict]:
    calls.append(f"search {query}")
    await asyncio.sleep(0)
    return [{"title": f"about {query}", "rank": 1}]


@autorr.tool
def explode(reason: str) -> None:
    calls.append("explode")
    raise ValueError(f"tool failed: {reason}")


def _agent():
    out = [forecast("Paris"), forecast("Paris", days=3), asyncio.run(search("cats"))]
    with pytest.raises(ValueError, match="tool failed: boom"):
        explode("boom")
    return out


def test_tools_record_and_replay_without_running(recordings):
    calls.clear()
    with autorr.recording(recordings / "tools.db"):
        live = _agent()
    assert len(calls) == 4
    calls.clear()
    with autorr.replaying(recordings / "tools.db") as player:
        assert _agent() == live
    assert calls == [] and player.statistics()["matched"] == 4
    events = autorr.get_recorded_events(recordings / "tools.db")
    assert [e.event_type for e in events] == ["tool"] * 4
    assert events[0].inputs == {"tool": "test_tools.forecast", "args": ["Paris"], "kwargs": {}}
    assert events[2].call == "TOOL search"


def test_changed_arguments_are_a_mismatch(recordings):
    with autorr.recording(recordings / "tools.db"):
        forecast("Paris")
    with autorr.replaying(recordings / "tools.db"):
        with pytest.raises(autorr.StrictReplayMismatch, match=r"\$\.args\[0\]: recorded 'Paris', now 'Rome'"):
            forecast("Rome")


def test_tools_run_normally_when_autorr_is_off():
    calls.clear()
    assert forecast("Oslo").city == "Oslo" and calls == ["forecast Oslo"]


def test_capture_switch_off_runs_tools_unrecorded(recordings):
    autorr.configure_capture({"capture_tool_calls": False})
    try:
        with autorr.recording(recordings / "off.db") as rec:
            forecast("Paris")
        assert rec.manifest.total_events == 0
    finally:
        autorr.configure_capture({"capture_tool_calls": True})


GITHUB_TOKEN = "ghp_aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"


@autorr.tool
def fetch_bytes() -> bytes:
    return f"creds {GITHUB_TOKEN}".encode() + b"\xff"


@autorr.tool
def fetch_forecast() -> Forecast:
    return Forecast(f"city with key {GITHUB_TOKEN}", 1.5)


@autorr.tool
def fail_with_secret() -> None:
    raise ValueError(f"bad token {GITHUB_TOKEN}")


def _secret_agent():
    out = [fetch_bytes(), fetch_forecast()]
    with pytest.raises(ValueError) as info:
        fail_with_secret()
    return out + [str(info.value)]


def test_secrets_in_bytes_and_pickled_results_never_reach_the_recording(recordings):
    """Bytes and pickles are scrubbed like JSON results: replay gets the value with the
    secret masked, as for any other recorded text."""
    with autorr.recording(recordings / "tools.db"):
        _secret_agent()
    stored = repr([(e.inputs, e.outputs) for e in autorr.get_recorded_events(recordings / "tools.db")])
    assert GITHUB_TOKEN not in stored and "[REDACTED]" in stored
    with autorr.replaying(recordings / "tools.db"):
        assert _secret_agent() == [b"creds [REDACTED]\xff", Forecast("city with key [REDACTED]", 1.5),
                                   "bad token [REDACTED]"]


@autorr.tool
def login(user: str, password: str = "") -> str:
    return f"welcome {user}, {password} works"


def test_a_credential_passed_to_a_tool_is_masked_in_what_it_returns(recordings):
    # The arguments are scrubbed before the result: the password they teach is masked there.
    with autorr.recording(recordings / "tools.db"):
        assert login("ann", password="BodyPassw0rd!x9") == "welcome ann, BodyPassw0rd!x9 works"
    stored = repr([(e.inputs, e.outputs) for e in autorr.get_recorded_events(recordings / "tools.db")])
    assert "BodyPassw0rd!x9" not in stored
    with autorr.replaying(recordings / "tools.db"):
        assert login("ann", password="BodyPassw0rd!x9") == "welcome ann, [REDACTED] works"
