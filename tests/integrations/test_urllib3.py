"""urllib3 used directly (botocore's way), at HTTPConnectionPool.urlopen: every way of
reading a body, streams, gzip, errors, replay offline; requests on top recorded once."""

from __future__ import annotations

import io
import time

import pytest

import autorr
from autorr.store import Reader

urllib3 = pytest.importorskip("urllib3")


def _stop(srv):
    srv.shutdown()
    srv.server_close()


def _agent(url):
    """The ways callers read a urllib3 response, preloaded or not."""
    http = urllib3.PoolManager()
    out = [http.request("GET", url + "/a?x=1").json(),
           http.request("POST", url + "/echo", json={"q": 1}).json(),
           http.request("GET", url + "/gzip").json(),
           http.request("GET", url + "/status/404").status]
    r = http.request("POST", url + "/sse", json={"n": 4}, preload_content=False)
    out.append([chunk for chunk in r.stream(32)])
    r.release_conn()
    out.append(http.request("POST", url + "/echo", body=b"raw", preload_content=False).json())
    out.append(http.request("POST", url + "/echo", body=io.BytesIO(b'{"file": 1}'), preload_content=False).read())
    with http.request("POST", url + "/sse", json={"n": 3}, preload_content=False) as r:
        out.append(list(r))  # line by line
    pool = urllib3.HTTPConnectionPool("127.0.0.1", int(url.rsplit(":", 1)[1]))  # a pool, as botocore holds one
    r = pool.urlopen("POST", "/echo", body=b'{"pool": true}', headers={"Content-Type": "application/json"},
                     preload_content=False, decode_content=False)
    out.append(b"".join(iter(lambda: r.read(7), b"")))
    return out


def test_record_then_replay_offline(echo_server, recordings):
    url, srv = echo_server
    with autorr.recording(recordings / "u3.db") as rec:
        live = _agent(url)
    assert rec.manifest.total_events == 9
    assert live[2] == {"zipped": True, "nonce": live[2]["nonce"]} and live[3] == 404
    _stop(srv)
    with autorr.replaying(recordings / "u3.db") as player:
        assert _agent(url) == live
    assert player.statistics()["matched"] == 9 and player.mismatches() == []


def test_a_stream_still_streams_while_recording(echo_server, recordings):
    url, _ = echo_server
    with autorr.recording(recordings / "u3.db"):
        started = time.perf_counter()
        r = urllib3.request("POST", url + "/sse", json={"n": 4, "gap": 0.15}, preload_content=False)
        chunks = r.stream()
        first_at = (next(chunks), time.perf_counter() - started)[1]
        rest = list(chunks)
    assert first_at < 0.3 and rest


def test_requests_on_top_is_recorded_once(echo_server, recordings):
    requests = pytest.importorskip("requests")
    url, _ = echo_server
    with autorr.recording(recordings / "rq.db"):
        requests.post(url + "/echo", json={"q": 1})
    with Reader(recordings / "rq.db") as reader:
        assert len(list(reader.events())) == 1


def test_a_connection_error_replays_as_the_same_urllib3_error(recordings):
    """botocore tells errors apart by class (NewConnectionError: EndpointConnectionError;
    its base ConnectTimeoutError: a timeout), and NewConnectionError wants its connection
    to be made: replay makes the same class without it."""
    def agent():
        with pytest.raises(urllib3.exceptions.HTTPError) as caught:
            urllib3.request("GET", "http://127.0.0.1:9/", retries=False, timeout=2)
        return type(caught.value), str(caught.value)

    with autorr.recording(recordings / "u3.db"):
        live = agent()
    with autorr.replaying(recordings / "u3.db") as player:
        assert agent() == live
    assert live[0] is urllib3.exceptions.NewConnectionError
    assert player.statistics()["matched"] == 1


def test_a_changed_body_fails_strict_replay(echo_server, recordings):
    url, srv = echo_server
    with autorr.recording(recordings / "u3.db"):
        urllib3.request("POST", url + "/echo", json={"city": "Paris"})
    _stop(srv)
    with autorr.replaying(recordings / "u3.db"):
        with pytest.raises(autorr.StrictReplayMismatch, match=r"\$\.city: recorded 'Paris', now 'Rome'"):
            urllib3.request("POST", url + "/echo", json={"city": "Rome"})


def test_a_body_read_half_and_closed_replays_as_far_as_it_was_read(echo_server, recordings):
    url, srv = echo_server

    def agent():
        r = urllib3.request("POST", url + "/sse", json={"n": 5}, preload_content=False)
        first = r.read(10)
        r.close()
        return first

    with autorr.recording(recordings / "u3.db"):
        live = agent()
    _stop(srv)
    with autorr.replaying(recordings / "u3.db") as player:
        assert agent() == live
    assert player.mismatches() == []


def test_boto3_bedrock_records_and_replays_with_its_signature_masked(echo_server, recordings, monkeypatch):
    boto3 = pytest.importorskip("boto3")
    url, srv = echo_server
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    def agent():
        client = boto3.client("bedrock-runtime", endpoint_url=url)
        answer = client.invoke_model(modelId="anthropic.claude-3-haiku", body=b'{"messages": [{"content": "hi"}]}')
        return answer["body"].read()

    with autorr.recording(recordings / "bedrock.db"):
        live = agent()
    _stop(srv)
    with autorr.replaying(recordings / "bedrock.db") as player:
        assert agent() == live
    assert player.statistics()["matched"] == 1
    with Reader(recordings / "bedrock.db") as reader:
        (request,) = [reader.request(event) for event in reader.events()]
    headers = {name.lower(): value for name, value in request["headers"]}
    assert headers["authorization"] == "[REDACTED]" and "AKIAIOSFODNN7EXAMPLE" not in str(request)
    assert headers["x-amz-date"].endswith("Z") and not headers["x-amz-date"].startswith("b'")  # sent as bytes


def _event_message(payload: bytes) -> bytes:
    """One AWS event-stream message (what Bedrock streams): prelude, headers, payload, CRCs."""
    import binascii
    import struct

    headers = b"".join(bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
                       for name, value in ((":event-type", "chunk"), (":message-type", "event"),
                                           (":content-type", "application/json")))
    prelude = struct.pack(">II", 12 + len(headers) + len(payload) + 4, len(headers))
    body = prelude + struct.pack(">I", binascii.crc32(prelude)) + headers + payload
    return body + struct.pack(">I", binascii.crc32(body))


def test_a_bedrock_stream_streams_while_recording_and_replays_at_its_gaps(recordings, monkeypatch):
    import base64
    import json
    import threading
    from http.server import ThreadingHTTPServer

    from conftest import ReplyHandler

    boto3 = pytest.importorskip("boto3")

    class Bedrock(ReplyHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(200)
            self.send_header("content-type", "application/vnd.amazon.eventstream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for i in range(4):
                time.sleep(0.1 if i else 0)
                chunk = json.dumps({"delta": {"text": f"tok{i} "}, "nonce": time.time()}).encode()
                data = _event_message(json.dumps({"bytes": base64.b64encode(chunk).decode()}).encode())
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Bedrock)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("bedrock-runtime", endpoint_url=f"http://127.0.0.1:{srv.server_address[1]}")

    def agent():
        answer = client.invoke_model_with_response_stream(modelId="anthropic.claude-3-haiku", body=b"{}")
        return [(json.loads(event["chunk"]["bytes"]), time.perf_counter()) for event in answer["body"]]

    with autorr.recording(recordings / "stream.db"):
        live = agent()
    _stop(srv)
    with autorr.replaying(recordings / "stream.db") as player:
        fast = agent()
    with autorr.replaying(recordings / "stream.db", timing="preserve"):
        paced = agent()
    assert [c for c, _ in fast] == [c for c, _ in paced] == [c for c, _ in live] and len(live) == 4
    assert live[-1][1] - live[0][1] > 0.25  # each event reached the caller as it came
    assert fast[-1][1] - fast[0][1] < 0.1 < 0.25 < paced[-1][1] - paced[0][1]
    assert player.statistics()["matched"] == 1
