"""Recordings to S3 (a real S3 API: moto's server on loopback) and other fsspec URLs, and back."""

from __future__ import annotations

import builtins
import re
import sqlite3
import subprocess
import sys

import pytest

import autorr
from autorr.cli import main

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

BUCKET = "agent-runs"


@pytest.fixture(scope="module")
def s3_endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    """Dummy credentials, the endpoint for s3fs (and the CLI) through the environment, a fresh bucket."""
    import boto3
    import fsspec

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": s3_endpoint}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    fsspec.get_filesystem_class("s3").clear_instance_cache()  # a cached one may hold other settings
    yield client
    for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _ask(client, question: str) -> str:
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])
    return reply.choices[0].message.content


def _stream(client, question: str) -> str:
    chunks = client.chat.completions.create(model="gpt-4o-mini", stream=True,
                                            messages=[{"role": "user", "content": question}])
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def _record_run(llm_server, recordings, recording_id: str = "run1") -> list[str]:
    import openai

    client = openai.OpenAI(base_url=llm_server.openai_base_url, api_key="k", max_retries=0)
    with autorr.recording(recordings / f"{recording_id}.db"):
        return [_ask(client, "What is 2+2?"), _stream(client, "Tell me a story"), _ask(client, "And 3+3?")]


def _replay_run(llm_server, path) -> list[str]:
    import openai

    client = openai.OpenAI(base_url=llm_server.openai_base_url, api_key="k", max_retries=0)
    with autorr.replaying(path, mode="strict") as player:
        answers = [_ask(client, "What is 2+2?"), _stream(client, "Tell me a story"), _ask(client, "And 3+3?")]
    assert player.statistics()["matched"] == 3
    return answers


def test_s3_round_trip_replays_the_same_answers(llm_server, recordings, tmp_path, s3):
    answers = _record_run(llm_server, recordings)
    url = autorr.upload_recording("run1", f"s3://{BUCKET}/team/runs/", directory=recordings)
    assert url == f"s3://{BUCKET}/team/runs/run1.db"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == ["team/runs/run1.db"]  # one self-contained file: no -wal, no -shm

    elsewhere = tmp_path / "other-machine"
    path = autorr.download_recording("run1", f"s3://{BUCKET}/team/runs/", elsewhere)
    assert path == elsewhere / "run1.db" and sorted(p.name for p in elsewhere.iterdir()) == ["run1.db"]
    llm_server.stop()
    assert _replay_run(llm_server, path) == answers
    assert autorr.analyze_performance("run1", elsewhere)["call_count"] == 3


def test_download_by_id_then_replay_by_id_from_the_environment(llm_server, recordings, tmp_path, s3, monkeypatch):
    answers = _record_run(llm_server, recordings, "by-id")
    autorr.upload_recording(recordings / "by-id.db", f"s3://{BUCKET}/exact/name.db")
    elsewhere = tmp_path / "dl"
    monkeypatch.setenv("AUTORR_DIR", str(elsewhere))
    assert autorr.download_recording(None, f"s3://{BUCKET}/exact/name.db") == elsewhere / "name.db"
    llm_server.stop()
    assert _replay_run(llm_server, "name") == answers  # resolved in AUTORR_DIR, as AUTORR_RECORDING=name would be


def test_upload_of_a_live_recording_keeps_events_still_in_the_wal(echo_server, recordings, tmp_path, s3):
    import httpx2

    url, _ = echo_server
    recorder = autorr.Recorder("live", directory=recordings)
    with recorder:
        for i in range(5):
            httpx2.get(f"{url}/item/{i}")
        recorder.flush()
        assert (recordings / "live.db-wal").stat().st_size > 0  # committed, not yet checkpointed
        autorr.upload_recording("live", f"s3://{BUCKET}/live/", directory=recordings)
        path = autorr.download_recording("live", f"s3://{BUCKET}/live/", tmp_path / "copy")
    expected = [f"GET 127.0.0.1/item/{i}" for i in range(5)]
    assert [e.call for e in autorr.get_recorded_events(path)] == expected
    # The transfer's own S3 requests (aiohttp, under s3fs) were not recorded into the live recording.
    assert [e.call for e in autorr.get_recorded_events("live", recordings)] == expected
    assert path.read_bytes()[18:20] == b"\x01\x01"  # rollback-journal mode: needs no -wal beside it


def test_cli_upload_and_download_over_s3(llm_server, recordings, tmp_path, s3, capsys):
    _record_run(llm_server, recordings, "cli-run")
    assert main(["upload", "cli-run", f"s3://{BUCKET}/cli/", "--dir", str(recordings)]) == 0
    assert capsys.readouterr().out.strip() == f"s3://{BUCKET}/cli/cli-run.db"
    target = tmp_path / "cli-dl"
    assert main(["download", f"s3://{BUCKET}/cli/cli-run.db", "--dir", str(target)]) == 0
    assert "AUTORR_RECORDING=cli-run" in capsys.readouterr().out
    assert main(["download", f"s3://{BUCKET}/cli/cli-run.db", "--dir", str(target)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["download", f"s3://{BUCKET}/cli/cli-run.db", "--dir", str(target), "--force"]) == 0


def test_missing_s3_object_names_the_url(recordings, s3):
    with pytest.raises(autorr.RecordingNotFound, match=f"no recording at s3://{BUCKET}/nope/ghost.db"):
        autorr.download_recording("ghost", f"s3://{BUCKET}/nope/", recordings)
    assert list(recordings.iterdir()) == []  # no partial file left behind


def test_file_url_round_trip(echo_server, recordings, tmp_path):
    import httpx2

    url, srv = echo_server
    with autorr.recording(recordings / "local.db"):
        recorded = httpx2.get(url + "/x").json()
    remote = tmp_path / "share"
    assert autorr.upload_recording("local", f"file://{remote}/nested/", directory=recordings) == \
        f"file://{remote}/nested/local.db"
    path = autorr.download_recording("local", f"file://{remote}/nested/", tmp_path / "back")
    srv.shutdown()
    srv.server_close()
    with autorr.replaying(path, mode="strict"):
        assert httpx2.get(url + "/x").json() == recorded


def test_memory_url_and_a_file_that_is_not_a_recording(recordings):
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/junk/notes.db", b"these are not the bytes of a SQLite file" * 100)
    with pytest.raises(autorr.RecordingCorrupt, match="memory:///junk/notes.db: not an autorr recording"):
        autorr.download_recording(None, "memory://junk/notes.db", recordings)
    plain = recordings.parent / "plain.db"
    sqlite3.connect(plain).execute("CREATE TABLE t (x)").connection.commit()
    fs.put_file(str(plain), "/junk/plain.db")
    with pytest.raises(autorr.RecordingCorrupt, match="no schema"):
        autorr.download_recording(None, "memory://junk/plain.db", recordings)
    assert list(recordings.iterdir()) == []


def test_upload_of_a_missing_recording_and_bad_urls(recordings):
    with pytest.raises(autorr.RecordingNotFound, match="'nope' not found"):
        autorr.upload_recording("nope", "memory://x/", directory=recordings)
    with pytest.raises(autorr.ConfigError, match="not a URL fsspec can open"):
        autorr.download_recording("x", "nosuchproto://bucket/x.db", recordings)
    with pytest.raises(autorr.ConfigError, match="is a folder: give the id"):
        autorr.download_recording(None, "memory://runs/", recordings)


@pytest.mark.parametrize("url", ["s3://", "s3:///runs/x.db", "gs://"])
def test_an_object_store_url_without_a_bucket_is_named(recordings, url):
    # boto said "Invalid length for parameter Key, value: 0" from deep inside the upload.
    with autorr.recording(recordings / "run.db"):
        pass
    scheme = url.split(":")[0]
    with pytest.raises(autorr.ConfigError, match=rf"^{re.escape(url)}: no bucket in the URL; use {scheme}://bucket/prefix/$"):
        autorr.upload_recording("run", url, directory=recordings)
    with pytest.raises(autorr.ConfigError, match="no bucket in the URL"):
        autorr.download_recording("run2", url, recordings)
    with pytest.raises(autorr.ConfigError, match=r"recording id='\.\./up' is not valid"):
        autorr.download_recording("../up", "memory://runs/", recordings)


def test_a_bare_bucket_url_is_a_folder(llm_server, recordings, tmp_path, s3):
    # `s3://bucket` was taken for an object with an empty key.
    _record_run(llm_server, recordings)
    assert autorr.upload_recording("run1", f"s3://{BUCKET}", directory=recordings) == f"s3://{BUCKET}/run1.db"
    path = autorr.download_recording("run1", f"s3://{BUCKET}", tmp_path / "back")
    assert path == tmp_path / "back" / "run1.db"


def test_missing_fsspec_says_what_to_install(recordings, monkeypatch):
    real_import = builtins.__import__

    def no_fsspec(name, *args, **kwargs):
        if name == "fsspec" or name.startswith("fsspec."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_fsspec)
    with pytest.raises(autorr.ConfigError, match=r"pip install 'autorr\[s3\]'"):
        autorr.download_recording("run", "s3://bucket/runs/", recordings)


def test_import_autorr_does_not_import_fsspec():
    code = "import sys, autorr; print('fsspec' in sys.modules, 's3fs' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
