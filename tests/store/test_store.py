import sqlite3
import threading
import time

import pytest

from autorr import RecordingCorrupt, RecordingNotFound
from autorr._events import CallRequest, Event
from autorr._redact import Redactor
from autorr.store import Checkpoint, Reader, Writer, connect, resolve


def _request(messages):
    body = {"model": "m", "messages": messages}
    return CallRequest(method="POST", url="http://h/v1/chat/completions", host="h", path="/v1/chat/completions",
                       query=[], headers=[("authorization", "Bearer sk-live-abcdefghijklmnopqrstu")],
                       body=b"{}", json=body, content_type="application/json")


def _event(i, messages, body=b'{"ok": true}', chunks=None):
    return Event(kind="http", fingerprint=f"fp{i}", occurrence=0, seq=i, started_at=1000.0 + i, duration_us=1500,
                 status="ok", request=_request(messages), body=body, chunks=chunks,
                 response={"status": 200, "headers": [("content-type", "application/json")], "streamed": bool(chunks)})


def test_round_trip_and_history_stored_once(tmp_path):
    path = tmp_path / "r.db"
    writer = Writer(path, redactor=Redactor(environ={}))
    history = []
    for i in range(30):
        history.append({"role": "user", "content": f"message {i} " + "lorem ipsum " * 40})
        writer.put(_event(i, list(history)))
    writer.put(Checkpoint(name="half", seq=30, created_at=1.0, state={"step": 30}))
    writer.flush()
    writer.close()

    with Reader(path) as reader:
        assert reader.count() == (30, 0)
        events = list(reader.events(with_body=True))
        last = reader.request(events[-1])
        assert last["json"]["messages"] == history
        assert events[0].body == b'{"ok": true}'
        assert reader.checkpoints()[0]["state"] == {"step": 30}
        # 30 messages, each stored once, although the requests carried 465 in all
        (blobs,) = reader._query("SELECT count(*) FROM blobs WHERE size > 400")[0]
        assert blobs == 30
        assert reader.index()[("http", "fp3")] == {0: events[3].id}
        # each row holds a few hashes, not the whole history: storage is linear in turns
        (longest,) = reader._query("SELECT max(length(request)) FROM events")[0]
        assert longest < 400


def test_stream_chunks_keep_their_boundaries_and_offsets(tmp_path):
    path = tmp_path / "r.db"
    writer = Writer(path, redactor=Redactor(environ={}))
    writer.put(_event(1, [], body=b"data: a\n\ndata: b\n\n", chunks=[(9, 100), (9, 25_100)]))
    writer.close()
    with Reader(path) as reader:
        event = next(reader.events(with_body=True))
        assert event.chunks == [(9, 100), (9, 25_100)] and event.body == b"data: a\n\ndata: b\n\n"


def test_secrets_never_reach_the_file(tmp_path):
    path = tmp_path / "r.db"
    writer = Writer(path, redactor=Redactor(environ={}))
    secret = "sk-live-abcdefghijklmnopqrstu"
    writer.put(_event(1, [{"role": "user", "content": f"my key is {secret}"}],
                      body=f'{{"echo": "{secret}"}}'.encode()))
    writer.close()
    for file in tmp_path.iterdir():
        assert secret.encode() not in file.read_bytes()


def test_secret_split_across_chunks_is_still_removed(tmp_path):
    path = tmp_path / "r.db"
    redactor = Redactor(environ={"X_API_KEY": "splitsecret-0123456789"})
    writer = Writer(path, redactor=redactor)
    writer.put(_event(1, [], body=b"aa splitsecret-0123456789 zz", chunks=[(17, 1), (11, 2)]))
    writer.close()
    assert b"splitsecret-0123456789" not in path.read_bytes()


def test_compression_is_used_for_large_payloads(tmp_path):
    path = tmp_path / "r.db"
    writer = Writer(path, redactor=Redactor(environ={}))
    writer.put(_event(1, [], body=b"x" * 100_000))
    writer.close()
    with Reader(path) as reader:
        (codec, stored), = reader._query("SELECT codec, length(data) FROM blobs WHERE size = 100000")
        assert codec == 1 and stored < 1_000


def test_resolve_by_id_name_path_and_latest(tmp_path):
    for name in ("a", "b"):
        Writer(tmp_path / f"{name}.db", redactor=Redactor(environ={})).close()
    assert resolve("a", tmp_path).name == "a.db"
    assert resolve("a.db", tmp_path).name == "a.db"
    assert resolve(str(tmp_path / "a.db"), tmp_path).name == "a.db"
    assert resolve(None, tmp_path).name in ("a.db", "b.db")
    with pytest.raises(RecordingNotFound, match="'zz' not found"):
        resolve("zz", tmp_path)
    with pytest.raises(RecordingNotFound, match="no recordings"):
        resolve(None, tmp_path / "empty")


def test_not_a_recording(tmp_path):
    path = tmp_path / "x.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(RecordingCorrupt):
        Reader(path)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(RecordingCorrupt, match="not an autorr recording"):
        Reader(other)


def test_a_history_prefix_is_reused_only_when_byte_for_byte_the_same(tmp_path):
    # true == 1 == 1.0 in Python: a prefix matched by `==` would store the wrong value.
    path = tmp_path / "r.db"
    writer = Writer(path, redactor=Redactor(environ={}))
    sent = [[{"flag": 1}, {"n": "a"}], [{"flag": True}, {"n": "a"}, {"n": 2}], [{"flag": 1.0}, {"n": "a"}, {"n": 2}]]
    for i, messages in enumerate(sent):
        writer.put(_event(i, messages))
    writer.close()
    with Reader(path) as reader:
        stored = [reader.request(e)["json"]["messages"] for e in reader.events()]
    assert [[repr(v) for m in s for v in m.values()] for s in stored] == \
        [[repr(v) for m in s for v in m.values()] for s in sent]


def test_a_new_file_stores_its_schema_without_the_comments(tmp_path):
    conn = connect(tmp_path / "r.db", create=True)
    try:
        statements = [sql for sql, in conn.execute("SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL")]
        assert len(statements) >= 4 and not any("--" in sql or "\n" in sql for sql in statements)
        with pytest.raises(sqlite3.OperationalError, match="no such table: nope"):
            conn.execute("SELECT * FROM nope")  # only the checkpoints table is created on demand
    finally:
        conn.close()


def test_a_growing_conversation_is_fingerprinted_and_stored_as_if_parsed_whole(tmp_path):
    import json

    from autorr.replay._fingerprint import request_fingerprint

    path = tmp_path / "r.db"
    writer = Writer(path, redactor=Redactor(environ={}))
    history, sent = [{"role": "system", "content": "be brief é"}], []
    for i in range(12):
        history.append({"role": "user", "content": f"turn {i}", "n": [1, 1.0, True][i % 3]})
        body = json.dumps({"model": "m", "messages": history, "stream": i % 2 == 0}, ensure_ascii=False).encode()
        request = CallRequest(method="POST", url="http://h/v1/chat/completions", host="h", path="/v1/chat/completions",
                              query=[], headers=[], body=body, content_type="application/json")
        writer.put(Event(kind="http", fingerprint=None, occurrence=None, seq=i, started_at=1000.0 + i,
                         duration_us=10, status="ok", request=request, body=b"{}",
                         response={"status": 200, "headers": [], "streamed": False}))
        whole = CallRequest(method="POST", url="", host="h", path="/v1/chat/completions", query=[], headers=[],
                            body=body, content_type="application/json")
        sent.append((request_fingerprint(whole), json.loads(body)))
        history.append({"role": "assistant", "content": f"reply {i}"})
    writer.close()
    assert writer._conversations  # the turns after the first were parsed by their new part
    with Reader(path) as reader:
        events = list(reader.events())
        assert [e.fingerprint for e in events] == [fp for fp, _ in sent]
        stored = [reader.request(e)["json"] for e in events]
    assert [json.dumps(s) for s in stored] == [json.dumps(value) for _, value in sent]


def test_a_failed_transaction_is_retried_with_every_blob(tmp_path):
    """Blobs of a rolled-back transaction are forgotten, so the retry stores them again;
    those stored before it are not stored twice."""
    path = tmp_path / "r.db"
    writer = Writer(path, redactor=Redactor(environ={}), synchronous=True)
    history = [{"role": "user", "content": "first " * 100}]
    writer.put(_event(0, list(history)))

    class FailingCommitOnce:
        def __init__(self, conn):
            self.conn, self.failed = conn, False

        def execute(self, sql, *args):
            if sql == "COMMIT" and not self.failed:
                self.failed = True
                raise sqlite3.OperationalError("disk I/O error (simulated)")
            return self.conn.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self.conn, name)

    real = writer._conn
    writer._conn = FailingCommitOnce(real)
    history.append({"role": "user", "content": "second " * 100})
    writer.put(_event(1, list(history)))
    assert writer._conn.failed and writer.failed is None
    writer._conn = real
    writer.close()
    with Reader(path) as reader:
        assert reader.request(list(reader.events())[-1])["json"]["messages"] == history
        (count,) = reader._query("SELECT count(*) FROM blobs WHERE size > 500")[0]
        assert count == 2


def test_request_headers_are_stored_once_whatever_their_content_length():
    from autorr.store._codec import BlobSink, headers_ref

    sink = BlobSink(set(), False, lambda data: data)
    first = headers_ref([("Accept", "*/*"), ("Content-Length", "10")], sink, list)
    again = headers_ref([("Accept", "*/*"), ("content-length", "99999")], sink, list)
    assert first is again and first == [["Accept", "*/*"]]
    assert headers_ref([("Accept", "text/html")], sink, list) == [["Accept", "text/html"]]


def _damage_all_but_the_first_page(path):
    """Zero every page after the first: header and schema (page 1) stay intact, so the file
    opens, and the first query to reach the data fails."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) > page and not path.with_name(path.name + "-wal").exists()
    data[page:] = bytes(len(data) - page)
    path.write_bytes(bytes(data))


def test_a_damaged_page_is_a_recording_corrupt_naming_the_file(tmp_path):
    path = tmp_path / "r.db"
    writer = Writer(path, redactor=Redactor(environ={}))
    for i in range(20):
        writer.put(_event(i, [{"role": "user", "content": f"message {i} " * 200}]))
    writer.close()
    _damage_all_but_the_first_page(path)
    with Reader(path) as reader:  # opening reads the header only
        for read in (reader.meta, lambda: reader.fingerprint_version, reader.indexes, reader.checkpoints,
                     lambda: list(reader.events()), lambda: reader.answer(1)):
            with pytest.raises(RecordingCorrupt, match=rf"^{path}: cannot read this recording \(.*malformed"):
                read()


def test_one_body_sent_with_two_content_types_replays_in_order(echo_server, tmp_path):
    """The exact key hashes the bytes, the fingerprint the content type too: a key seen with
    two fingerprints is left out of the exact index, and such calls are fingerprinted."""
    import httpx2

    import autorr

    url = echo_server[0] + "/ask"
    types = ("application/json", "text/plain", "application/json")

    def calls(client):
        return [client.post(url, content=b'{"q": 1}', headers={"content-type": t}).json() for t in types]

    with httpx2.Client() as client:
        with autorr.recording(tmp_path / "r.db"):
            recorded = calls(client)
        with Reader(tmp_path / "r.db") as reader:
            index, exact = reader.indexes()
            assert len(index) == 2 and exact == {}
        with autorr.replaying(tmp_path / "r.db") as player:
            assert calls(client) == recorded
        assert player.statistics()["matched"] == 3


def test_a_full_disk_is_reported_as_such(tmp_path, caplog):
    """SQLite rolls the transaction back itself when the disk fills: the writer's own
    rollback then fails, and that failure must not stand in for the cause."""
    import os

    path = tmp_path / "r.db"
    writer = Writer(path, redactor=Redactor(environ={}), synchronous=True)
    writer.put(_event(0, [{"role": "user", "content": "first"}]))
    # The file may not grow by a page: as a full disk, with SQLite's own SQLITE_FULL.
    (pages,) = writer._conn.execute("PRAGMA page_count").fetchone()
    writer._conn.execute(f"PRAGMA max_page_count = {pages}")
    with caplog.at_level("ERROR", logger="autorr"):
        writer.put(_event(1, [{"role": "user", "content": "second"}], body=os.urandom(100_000)))
    assert str(writer.failed) == "database or disk is full"
    assert len(caplog.messages) == 1
    assert caplog.messages[0].startswith(f"autorr: could not write 1 item(s) to {path}: database or disk is full.")
    writer._conn.execute("PRAGMA max_page_count = 1000000")  # space freed: the next call lands
    writer.put(_event(2, [{"role": "user", "content": "third"}]))
    writer.close()
    with Reader(path) as reader:
        assert [e.seq for e in reader.events()] == [0, 2]


def test_what_is_queued_behind_the_stop_is_written_and_no_flush_is_left_waiting(tmp_path):
    """A call that finishes while close() waits for the writer, or a flush from a SIGTERM
    handler, lands behind the stop marker: written all the same, the flush released."""
    from autorr.store._writer import _STOP, MAX_BATCH, _Barrier

    path = tmp_path / "r.db"
    writer = Writer(path, redactor=Redactor(environ={}), synchronous=True)  # no thread: its loop run below
    barrier = _Barrier()
    writer._pending.extend([_STOP, *(_event(i, [{"role": "user", "content": f"m{i}"}]) for i in range(MAX_BATCH + 50)),
                            barrier])
    loop = threading.Thread(target=writer._run)  # a thread of its own, as the writer's (it suspends autorr there)
    loop.start()
    loop.join(60)
    writer.close()
    assert barrier.done.is_set()
    with Reader(path) as reader:
        assert reader.count()[0] == MAX_BATCH + 50


def _wait_written(writer, events, why):
    deadline = time.monotonic() + 10
    while writer.events_written < events:
        assert time.monotonic() < deadline, why
        time.sleep(0.005)


def test_a_call_put_while_the_writer_waits_is_committed_at_once(tmp_path, monkeypatch):
    """The calls just before a crash are the ones worth replaying: a finished call wakes
    the waiting writer (its bell), rather than waiting for the next poll."""
    from autorr.store import _writer

    monkeypatch.setattr(_writer, "POLL_INTERVAL", 3600)
    writer = Writer(tmp_path / "r.db", redactor=Redactor(environ={}))
    try:
        for i in range(3):
            time.sleep(0.05)  # the writer is waiting again (its gathering rest is 25 ms)
            writer.put(_event(i, [{"role": "user", "content": f"m{i}"}]))
            _wait_written(writer, i + 1, f"call {i} still queued")
    finally:
        writer.close()


def test_a_call_queued_at_start_is_committed_before_the_warm_up(tmp_path):
    """The writer loads its tables (the price table...) at its first idle moment: a call
    made, and a crash, right at start must not wait for them."""
    release = threading.Event()
    writer = Writer(tmp_path / "r.db", redactor=Redactor(environ={}), warm=lambda: release.wait(30))
    try:
        writer.put(_event(1, [{"role": "user", "content": "first"}]))
        _wait_written(writer, 1, "the call waited for the warm-up")
    finally:
        release.set()
        writer.close()
