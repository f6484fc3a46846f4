"""Secrets streamed in pieces, one SSE event per token (autorr/_redact_stream.py)."""

from __future__ import annotations

import json

import httpx2

import autorr
from autorr._redact import MASK, Redactor
from autorr._redact_stream import scrub_deltas
from autorr.store import Reader

KEY = "AKIA" + "IOSFODNN7EXAMPLQ"


def _openai(pieces):
    return [b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": p}}]}).encode() + b"\n\n"
            for p in pieces] + [b"data: [DONE]\n\n"]


def _anthropic(pieces):
    events = [b'event: message_start\ndata: {"type": "message_start", "message": {"content": []}}\n\n']
    for p in pieces:
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
        events.append(b"event: content_block_delta\ndata: " + json.dumps(delta).encode() + b"\n\n")
    return events + [b'event: message_stop\ndata: {"type": "message_stop"}\n\n']


def _texts(body: bytes) -> list[str]:
    out = []
    for line in body.decode().splitlines():
        if line.startswith("data: {"):
            data = json.loads(line[6:])
            delta = (data.get("choices") or [{}])[0].get("delta") or data.get("delta") or {}
            if "content" in delta or "text" in delta:
                out.append(delta.get("content", delta.get("text")))
    return out


def test_a_key_streamed_in_pieces_is_masked_where_it_began():
    r = Redactor(environ={})
    for build in (_openai, _anthropic):
        events = build(["The key is ", KEY[:4], KEY[4:11], KEY[11:] + " and", " more."])
        body = b"".join(events)
        chunks = [(len(e), 1000 * i) for i, e in enumerate(events)]
        out, new_chunks = scrub_deltas(r, body, chunks)
        assert _texts(out) == ["The key is ", MASK, "", " and", " more."]
        assert KEY[4:11].encode() not in out and KEY[11:].encode() not in out
        # each event is still a chunk of its own, at its own time
        assert [o for _, o in new_chunks] == [o for _, o in chunks] and sum(s for s, _ in new_chunks) == len(out)
        pos = 0
        for size, _ in new_chunks:
            assert out[pos:pos + size].endswith(b"\n\n")
            pos += size


def test_a_stream_with_no_secret_across_events_is_left_as_it_is():
    events = _openai(["Hello", " world", ", AKIA is a prefix", " only."])
    body = b"".join(events)
    chunks = [(len(body), 5)]  # one network read for all of it
    assert scrub_deltas(Redactor(environ={}), body, chunks) == (body, chunks)


def test_a_key_streamed_in_pieces_is_not_recorded_and_replays_masked(echo_server, recordings):
    url, srv = echo_server
    pieces = ["Your key: ", KEY[:6], KEY[6:14], KEY[14:], "."]

    def agent():
        with httpx2.Client() as client:
            with client.stream("POST", url + "/sse", json={"pieces": pieces}) as r:
                return "".join(_texts(r.read()))

    with autorr.recording(recordings / "r.db"):
        live = agent()
    assert live == "Your key: " + KEY + "."
    with Reader(recordings / "r.db") as reader:
        (event,) = [e for e in reader.events(with_body=True)]
        assert "".join(_texts(event.body)) == f"Your key: {MASK}."
    srv.shutdown()
    srv.server_close()
    with autorr.replaying(recordings / "r.db"):
        assert agent() == f"Your key: {MASK}."


def _dialog(steps):
    """An asyncio subprocess's stored result (see integrations/asyncio_subprocess.py)."""
    return json.dumps({"value": {"json": {"returncode": 0, "steps": steps, "text": False}}},
                      separators=(",", ":")).encode()


def _step_texts(body: bytes, kind: str) -> list[str]:
    steps = json.loads(body)["value"]["json"]["steps"]
    return [s[kind]["utf8"] for s in steps if kind in s]


def test_a_secret_a_process_wrote_in_two_pieces_is_masked_in_its_steps():
    """An MCP server that prints a key in two writes, a caller that writes one to stdin in
    two: each piece alone is no secret, the channel's joined text is."""
    r = Redactor(environ={})
    line = '{"k": "' + KEY + '"}\n'
    steps = [{"in": {"utf8": line[:10]}, "t": 1}, {"in": {"utf8": line[10:]}, "t": 2},
             {"out": {"utf8": "key=" + KEY[:7]}, "t": 3}, {"err": {"utf8": "log"}, "t": 4},
             {"out": {"utf8": KEY[7:] + "\n"}, "t": 5}, {"close": None, "t": 6}, {"exit": 0, "t": 7}]
    body = _dialog(steps)
    out, chunks = scrub_deltas(r, r.scrub(body), None)
    assert chunks is None
    assert KEY[7:].encode() not in out and KEY[4:14].encode() not in out
    assert _step_texts(out, "in") == ['{"k": "' + MASK, '"}\n']  # replay compares the run joined
    assert _step_texts(out, "out") == ["key=" + MASK, "\n"]
    assert _step_texts(out, "err") == ["log"]
    assert json.loads(out)["value"]["json"]["steps"][-2:] == steps[-2:]


def test_stdin_writes_apart_are_not_joined_and_a_clean_dialog_stays_as_it_is():
    r = Redactor(environ={})
    # Two runs of writes (output between them): replay compares each run on its own.
    steps = [{"in": {"utf8": "a " + KEY[:8]}, "t": 1}, {"out": {"utf8": "ok"}, "t": 2},
             {"in": {"utf8": KEY[8:] + "\n"}, "t": 3}, {"close": None, "t": 4},
             {"in": {"utf8": "x"}, "t": 5}]
    body = _dialog(steps)
    assert scrub_deltas(r, body, None) == (body, None)
    clean = _dialog([{"out": {"utf8": "hello "}, "t": 1}, {"out": {"utf8": "world\n"}, "t": 2}])
    assert scrub_deltas(r, clean, None) == (clean, None)
