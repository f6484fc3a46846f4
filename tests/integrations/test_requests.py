"""requests, at HTTPAdapter.send: plain, streamed, gzip, errors; replay offline."""

from __future__ import annotations

import pytest

import autorr

requests = pytest.importorskip("requests")


def _stop(srv):
    srv.shutdown()
    srv.server_close()


def _agent(url):
    with requests.Session() as s:
        out = [s.get(url + "/a?x=1").json(), s.post(url + "/echo", json={"q": 1}).json(),
               s.get(url + "/gzip").json(), s.get(url + "/status/404").status_code]
        with s.post(url + "/sse", json={"n": 4}, stream=True) as r:
            out.append([line for line in r.iter_lines() if line])
        out.append(requests.post(url + "/echo", data=b"raw-bytes", headers={"content-type": "text/plain"}).text)
    return out


def test_record_then_replay_offline(echo_server, recordings):
    url, srv = echo_server
    with autorr.recording(recordings / "rq.db") as rec:
        live = _agent(url)
    assert rec.manifest.total_events == 6
    _stop(srv)
    with autorr.replaying(recordings / "rq.db") as player:
        assert _agent(url) == live
    assert player.statistics()["matched"] == 6


def test_stream_true_still_streams_while_recording(echo_server, recordings):
    import time

    url, _ = echo_server
    with autorr.recording(recordings / "rq.db"):
        started = time.perf_counter()
        with requests.post(url + "/sse", json={"n": 4, "gap": 0.15}, stream=True) as r:
            lines = r.iter_lines()
            first = next(line for line in lines if line)
            first_at = time.perf_counter() - started
            rest = [line for line in lines if line]
    assert first.startswith(b"data:") and len(rest) == 3 and first_at < 0.3


def test_a_body_broken_midway_replays_its_chunks_then_its_error(echo_server, recordings):
    url, srv = echo_server

    def agent():
        out = []
        for stream in (True, False):
            got = []
            try:
                with requests.post(url + "/sse", json={"n": 4, "drop": 2}, stream=stream) as r:
                    got.extend(line for line in r.iter_lines() if line)
            except requests.RequestException as exc:
                got.append(type(exc).__name__)
            out.append(got)
        return out

    with autorr.recording(recordings / "rq.db"):
        live = agent()
    assert [got[-1] for got in live] == ["ChunkedEncodingError"] * 2 and len(live[0]) == 3
    _stop(srv)
    with autorr.replaying(recordings / "rq.db"):
        assert agent() == live


def test_cookies_reach_the_session_in_replay_with_their_values_masked(echo_server, recordings):
    url, srv = echo_server

    def agent():
        with requests.Session() as s:
            r = s.get(url + "/x")
            return dict(s.cookies.items()), r.headers["set-cookie"].split("=")[0], r.raw.headers.getlist("set-cookie")

    with autorr.recording(recordings / "rq.db"):
        live = agent()
    _stop(srv)
    with autorr.replaying(recordings / "rq.db"):
        replayed = agent()
    assert live[0] == {"sid": "abc123456789"}
    assert replayed == ({"sid": "[REDACTED]"}, "sid", ["sid=[REDACTED]"])
    assert b"abc123456789" not in (recordings / "rq.db").read_bytes()


def test_connection_error_replays(recordings):
    with autorr.recording(recordings / "rq.db"):
        with pytest.raises(requests.ConnectionError):
            requests.get("http://127.0.0.1:9/", timeout=2)
    with autorr.replaying(recordings / "rq.db"):
        with pytest.raises(requests.ConnectionError):
            requests.get("http://127.0.0.1:9/", timeout=2)


def test_mismatch_names_the_json_path(echo_server, recordings):
    url, srv = echo_server
    with autorr.recording(recordings / "rq.db"):
        requests.post(url + "/echo", json={"city": "Paris"})
    _stop(srv)
    with autorr.replaying(recordings / "rq.db"):
        with pytest.raises(autorr.StrictReplayMismatch, match=r"\$\.city: recorded 'Paris', now 'Rome'"):
            requests.post(url + "/echo", json={"city": "Rome"})


def test_a_body_read_through_raw_after_its_response_is_dropped_replays_whole(echo_server, recordings):
    """`requests.get(url, stream=True).raw`: the Response goes at once, the body is read on
    through `raw`. It was whole when recorded, and replays whole, with no mismatch."""
    url, srv = echo_server

    def agent():
        raw = requests.post(url + "/sse", json={"n": 3}, stream=True).raw
        return raw.read()

    with autorr.recording(recordings / "raw.db"):
        live = agent()
    _stop(srv)
    with autorr.replaying(recordings / "raw.db") as player:
        assert agent() == live
    assert player.mismatches() == []
