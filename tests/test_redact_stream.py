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
