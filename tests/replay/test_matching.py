"""Matching keys: the exact key of the bytes as sent first, the canonical fingerprint after."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import sqlite3
import sys

import httpx2
import orjson
import pytest

import autorr
from autorr._events import CallRequest
from autorr.replay import _fingerprint
from autorr.store import Reader


def _post(client: httpx2.Client, url: str, body: bytes) -> dict:
    return client.post(url, content=body, headers={"content-type": "application/json"}).json()


def test_a_request_seen_byte_for_byte_is_matched_without_parsing_it(echo_server, tmp_path, monkeypatch):
    body = orjson.dumps({"messages": [{"role": "user", "content": f"m{i}"} for i in range(50)], "model": "x"})
    with httpx2.Client() as client:
        with autorr.recording(tmp_path / "r.db"):
            recorded = [_post(client, echo_server[0] + "/chat", body) for _ in range(2)]

        def no_parsing(*args, **kwargs):
            raise AssertionError("replay parsed a request it had seen byte for byte")

        monkeypatch.setattr(_fingerprint, "parse_body", no_parsing)
        with autorr.replaying(tmp_path / "r.db"):
            assert [_post(client, echo_server[0] + "/chat", body) for _ in range(2)] == recorded


def test_the_same_json_in_other_bytes_still_matches(echo_server, tmp_path):
    data = {"model": "x", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    with httpx2.Client() as client:
        with autorr.recording(tmp_path / "r.db"):
            recorded = _post(client, echo_server[0] + "/chat", orjson.dumps(data))
        reordered = b'{ "temperature": 0,\n "messages": [{"content": "hi", "role": "user"}], "model": "x" }'
        with autorr.replaying(tmp_path / "r.db") as player:
            assert _post(client, echo_server[0] + "/chat", reordered) == recorded
        assert player.statistics()["matched"] == 1


def test_the_writer_numbers_identical_calls_in_order(echo_server, tmp_path):
    with httpx2.Client() as client:
        with autorr.recording(tmp_path / "r.db"):
            for i in range(3):
                client.post(echo_server[0] + "/same", json={"q": 1})
            client.post(echo_server[0] + "/other", json={"q": 2})
    with Reader(tmp_path / "r.db") as reader:
        rows = reader._query("SELECT fingerprint, occurrence, exact FROM events ORDER BY id")
        assert reader.fingerprint_version == _fingerprint.FINGERPRINT_V2
    assert [occ for _, occ, _ in rows] == [0, 1, 2, 0]
    assert len({fp for fp, _, _ in rows[:3]}) == 1 and rows[3][0] != rows[0][0]
    assert all(exact for _, _, exact in rows)


def test_recordings_of_schema_1_keep_their_blake2b_fingerprints(echo_server, tmp_path):
    with httpx2.Client() as client:
        with autorr.recording(tmp_path / "r.db"):
            recorded = _post(client, echo_server[0] + "/chat", b'{"q": 1}')
    # what a file written before the exact key looks like
    conn = sqlite3.connect(tmp_path / "r.db", isolation_level=None)
    call = CallRequest("POST", echo_server[0] + "/chat", "127.0.0.1", "/chat", [], [], b'{"q": 1}',
                                      content_type="application/json")
    old = _fingerprint.request_fingerprint(call, _fingerprint.FINGERPRINT_V1)
    conn.execute("UPDATE events SET fingerprint = ?, exact = NULL", (old,))
    conn.execute("DELETE FROM meta WHERE key = 'fingerprint'")
    conn.close()
    with httpx2.Client() as client, autorr.replaying(tmp_path / "r.db"):
        assert _post(client, echo_server[0] + "/chat", b'{"q": 1}') == recorded
    with pytest.raises(autorr.StrictReplayMismatch):
        with httpx2.Client() as client, autorr.replaying(tmp_path / "r.db"):
            _post(client, echo_server[0] + "/chat", b'{"q": 2}')


def test_answers_past_the_preload_budget_are_read_on_demand(echo_server, tmp_path, monkeypatch):
    from autorr.replay import _engine

    with httpx2.Client() as client:
        with autorr.recording(tmp_path / "r.db"):
            recorded = [_post(client, echo_server[0] + f"/n{i}", b'{"pad": "' + b"x" * 500 + b'"}') for i in range(8)]
        monkeypatch.setattr(_engine, "PRELOAD_BYTES", 1500)
        with autorr.replaying(tmp_path / "r.db") as player:
            assert 0 < len(player._answers) < 8
            # what serving a preloaded answer needs is worked out at load, not on the agent's call
            assert all(answer.form is not None for answer in player._answers.values())
            assert [_post(client, echo_server[0] + f"/n{i}", b'{"pad": "' + b"x" * 500 + b'"}')
                    for i in range(8)] == recorded


def test_a_damaged_answer_fails_only_the_call_that_needs_it(echo_server, tmp_path):
    with httpx2.Client() as client:
        with autorr.Recorder("r", directory=tmp_path,
                             config=dataclasses.replace(autorr.load_config(), compression=False)):
            good = _post(client, echo_server[0] + "/good", b'{"q": 1}')
            _post(client, echo_server[0] + "/bad", b'{"q": 2}')
        conn = sqlite3.connect(tmp_path / "r.db", isolation_level=None)
        conn.execute("DELETE FROM blobs WHERE hash = (SELECT body FROM events WHERE summary LIKE '%/bad')")
        conn.close()
        with autorr.replaying(tmp_path / "r.db"):
            assert _post(client, echo_server[0] + "/good", b'{"q": 1}') == good
            with pytest.raises(Exception, match="missing"):
                _post(client, echo_server[0] + "/bad", b'{"q": 2}')


SECRET = "AKIA" + "IOSFODNN7EXAMPLQ"


def _echo_agent(url: str, question: str = "summarise") -> tuple[dict, str]:
    """A tool's output holds a key; the answer echoes it and goes back in the next request."""
    with httpx2.Client() as client:
        first = client.post(url + "/echo", json={"tool_output": f"aws_access_key_id={SECRET}"}).json()
        second = client.post(url + "/echo", json={"history": [first["echo"]], "q": question}).json()
    return first["echo"], second["echo"]["q"]


def test_a_secret_an_answer_brought_back_still_matches(echo_server, recordings):
    """The recording stores the first answer redacted, so replay hands the agent the mask
    where the live run had the key: the second request is the one recorded, redacted."""
    url, srv = echo_server
    with autorr.recording(recordings / "r.db"):
        live = _echo_agent(url)
    srv.shutdown()
    srv.server_close()
    with autorr.replaying(recordings / "r.db") as player:
        replayed = _echo_agent(url)
    assert replayed == ({"tool_output": "aws_access_key_id=[REDACTED]"}, live[1])
    assert player.statistics()["matched"] == 2 and player.mismatches() == []
    with autorr.replaying(recordings / "r.db"):  # a real change is still one, shown without the key
        with pytest.raises(autorr.StrictReplayMismatch) as raised:
            _echo_agent(url, "translate")
    assert SECRET not in str(raised.value) and "$.q" in str(raised.value)
    assert "tool_output" not in str(raised.value)  # the masked message is the same on both sides


def test_warn_serves_the_nearest_turn_not_an_earlier_one(echo_server, recordings):
    """Turn 2 with its new question edited is one value away from recorded turn 2 and two
    messages away from turn 1 (whose answer was served already)."""
    url, srv = echo_server

    def agent(question):
        with httpx2.Client() as client:
            first = client.post(url + "/echo", json={"messages": ["plan the trip"]}).json()
            second = client.post(url + "/echo", json={"messages": ["plan the trip", "ok", question]}).json()
        return first["nonce"], second["nonce"]

    with autorr.recording(recordings / "r.db"):
        live = agent("and the budget?")
    srv.shutdown()
    srv.server_close()
    with autorr.replaying(recordings / "r.db", mode="warn") as player:
        replayed = agent("and the hotels?")
    assert replayed == live
    (miss,) = player.mismatches()
    assert "event 2" in miss["expected"] and miss["diff"] == ["body: $.messages[2]: recorded 'and the budget?', "
                                                              "now 'and the hotels?'"]


def test_distance_counts_missing_items_one_each():
    from autorr.replay._matchers import distance

    assert distance({"m": ["a"]}, {"m": ["a", "b", "c"]}) == 2
    assert distance({"m": ["a", "b", "c"]}, {"m": ["a", "b", "x"]}) == 1
    assert distance({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {"c": 3}, "d": 4}) == 2


def test_a_long_prompt_changed_near_its_end_shows_where(echo_server, tmp_path):
    """Prompts are longer than a line: the diff shows both sides around where they
    differ, not their (equal) beginnings."""
    prompt = "You are a careful assistant. " * 20 + "Run: echo stamp-f"
    with httpx2.Client() as client:
        with autorr.recording(tmp_path / "r.db"):
            _post(client, echo_server[0] + "/chat", orjson.dumps({"messages": [{"content": prompt}]}))
        with pytest.raises(autorr.StrictReplayMismatch) as caught:
            with autorr.replaying(tmp_path / "r.db"):
                _post(client, echo_server[0] + "/chat",
                      orjson.dumps({"messages": [{"content": prompt.replace("stamp-f", "stampX-f")}]}))
    message = str(caught.value)
    assert "echo stamp-f" in message and "echo stampX-f" in message
    assert f"({len(prompt):,} and {len(prompt) + 1:,} characters)" in message


def _record_labelled(client, url, directory, name, **labels):
    with autorr.Recorder(name, directory=directory, **labels):
        return _post(client, url + f"/{name}", b'{"q": 1}')


def _replay_latest(client, url, directory, name, **labels):
    config = dataclasses.replace(autorr.load_config(), **labels)
    with autorr.Player(directory=directory, config=config) as player:
        return player.recording_id, _post(client, url + f"/{name}", b'{"q": 1}')


def test_the_latest_recording_is_the_replaying_agents_own(echo_server, tmp_path):
    """Several agents recording into one directory: "the latest" a labelled agent replays
    is its own latest (then one recorded without labels), never another agent's."""
    url = echo_server[0]
    with httpx2.Client() as client:
        planner = _record_labelled(client, url, tmp_path, "planner", agent_id="planner")
        _record_labelled(client, url, tmp_path, "coder", agent_id="coder")
        _record_labelled(client, url, tmp_path, "plain")  # no labels, and the newest
        assert _replay_latest(client, url, tmp_path, "planner", agent_id="planner") == ("planner", planner)
        assert _replay_latest(client, url, tmp_path, "plain", agent_id="tester")[0] == "plain"
        assert _replay_latest(client, url, tmp_path, "plain")[0] == "plain"
        (tmp_path / "plain.db").unlink()
        with pytest.raises(autorr.RecordingNotFound, match="agent_id=tester.*the latest, coder, has agent_id=coder"):
            _replay_latest(client, url, tmp_path, "x", agent_id="tester")


def test_a_miss_names_the_live_call_without_the_token_in_its_path(echo_server, recordings, caplog):
    """The error of a miss (and the warning of warn mode) shows the live call: a token in
    its path ("/bot<token>/sendMessage") is masked there as in the recording."""
    url, _ = echo_server
    recorded, live = ("5512345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0", "5512345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw9")
    with autorr.recording(recordings / "r.db"):
        httpx2.post(f"{url}/bot{recorded}/sendMessage", json={"text": "hi"})
    with autorr.replaying(recordings / "r.db"):
        with pytest.raises(autorr.StrictReplayMismatch) as raised:
            httpx2.post(f"{url}/bot{live}/sendMessage", json={"text": "hi"})
    details = autorr.get_mismatch_details()
    assert "/bot[REDACTED]/sendMessage" in str(raised.value)
    assert live not in str(raised.value) + repr(details) and recorded not in str(raised.value)
    with autorr.replaying(recordings / "r.db", mode="warn"):
        httpx2.post(f"{url}/bot{live}/sendMessage", json={"text": "hello"})
    assert "warn mode" in caplog.text and live not in caplog.text


def test_threads_replaying_one_request_each_get_their_own_recorded_answer(echo_server, tmp_path):
    # Replay numbers identical requests without a lock (`_bump`): no answer may be
    # served twice, or skipped, however the threads interleave.
    url = echo_server[0] + "/same"
    with httpx2.Client() as client:
        with autorr.recording(tmp_path / "r.db"):
            recorded = [client.post(url, json={"q": 1}).json()["nonce"] for _ in range(120)]
        served: list[float] = []
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # hand the GIL over as often as CPython allows
        try:
            with autorr.replaying(tmp_path / "r.db") as player:
                with concurrent.futures.ThreadPoolExecutor(6) as pool:
                    def agent(_):
                        return [client.post(url, json={"q": 1}).json()["nonce"] for _ in range(20)]

                    for nonces in pool.map(agent, range(6)):
                        served += nonces
        finally:
            sys.setswitchinterval(interval)
    assert sorted(served) == sorted(recorded)
    stats = player.statistics()
    assert (stats["total"], stats["matched"], stats["by_category"]["http"]["matched"]) == (120, 120, 120)
