"""A disk that fills while recording: the program goes on, told once, and told at stop how much was lost."""

from __future__ import annotations

import logging
import os

from autorr._redact import Redactor
from autorr.store import Reader, Writer

from test_store import _event


def _fill(writer: Writer) -> None:
    """The file may not grow by a page from now on: a full disk, with SQLite's own SQLITE_FULL."""
    with writer._io_lock:
        (pages,) = writer._conn.execute("PRAGMA page_count").fetchone()
        writer._conn.execute(f"PRAGMA max_page_count = {pages}")


def _autorr_errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "autorr" and r.levelno >= logging.WARNING]


def test_a_disk_that_stays_full_is_reported_once_then_summed_up_at_close(tmp_path, caplog):
    path = tmp_path / "r.db"
    failures = []
    writer = Writer(path, redactor=Redactor(environ={}), synchronous=True, on_error=failures.append)
    writer.put(_event(0, [{"role": "user", "content": "first"}]))
    _fill(writer)
    with caplog.at_level("DEBUG", logger="autorr"):
        for i in range(1, 21):  # twenty batches fail, as twenty writer wake-ups would
            writer.put(_event(i, [{"role": "user", "content": f"call {i}"}], body=os.urandom(50_000)))
        assert len(_autorr_errors(caplog)) == 1
        first = _autorr_errors(caplog)[0]
        assert first.startswith(f"autorr: could not write 1 item(s) to {path}: database or disk is full.")
        assert "program goes on" in first and "not recorded" in first
        assert len(failures) == 1  # the recorder's alert fires once too
        writer.close()
    errors = _autorr_errors(caplog)
    assert len(errors) == 2
    assert errors[1].startswith(f"autorr: 20 recorded call(s) could not be written to {path}")
    with Reader(path) as reader:
        assert [e.seq for e in reader.events()] == [0]


def test_meta_queued_with_calls_that_do_not_fit_still_lands(tmp_path, caplog):
    """`ended_at` is a few bytes: written even when the large responses beside it were not."""
    path = tmp_path / "r.db"
    writer = Writer(path, redactor=Redactor(environ={}), synchronous=True)
    writer.put(_event(0, [{"role": "user", "content": "first"}]))
    _fill(writer)
    with caplog.at_level("ERROR", logger="autorr"):
        writer._write([_event(1, [{"role": "user", "content": "big"}], body=os.urandom(200_000)),
                       writer_meta(ended_at=123.5)])
        writer.close()
    with Reader(path) as reader:
        assert reader.meta()["ended_at"] == 123.5
        assert reader.count()[0] == 1


def writer_meta(**values):
    from autorr.store._writer import _Meta

    return _Meta(values)


def test_a_recording_whose_disk_fills_logs_two_lines_and_keeps_its_manifest(echo_server, tmp_path, caplog):
    """What the user sees: one line when the disk fills, one at stop with the count; the
    recording still closes with its end time and manifest."""
    import httpx2

    import autorr

    url = echo_server[0] + "/ask"
    path = tmp_path / "r.db"
    with caplog.at_level("WARNING", logger="autorr"):
        recorder = autorr.Recorder(directory=tmp_path, recording_id="r")
        recorder.start()
        with recorder, httpx2.Client() as client:
            client.post(url, json={"q": "before"})
            recorder.flush()
            _fill(recorder._writer)
            for i in range(15):
                client.post(url, json={"q": i, "pad": os.urandom(30_000).hex()})
                recorder.flush()  # each call its own failed batch, as on a slow machine
            assert len(_autorr_errors(caplog)) == 1
            manifest = recorder.stop()
    errors = _autorr_errors(caplog)
    assert len(errors) == 2, errors
    assert "15 recorded call(s) could not be written" in errors[1]
    assert manifest.total_events == 1
    with Reader(path) as reader:
        meta = reader.meta()
        assert meta["ended_at"] == manifest.ended_at
        assert meta["manifest"]["total_events"] == 1
