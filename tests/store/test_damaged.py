"""Recordings damaged inside their rows: a payload that does not decode is named with its
file and event, never reported as a bare orjson / zstandard / KeyError, and never changed."""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3

import httpx2
import pytest

import autorr
from autorr.cli import main
from autorr.store import Reader


def _post(client: httpx2.Client, url: str, n: int) -> dict:
    body = b'{"q": %d, "pad": "%s"}' % (n, b"words and more words " * 100)
    return client.post(url, content=body, headers={"content-type": "application/json"}).json()


def _record(url: str, path, compression: bool = False, calls: int = 3) -> list[dict]:
    config = dataclasses.replace(autorr.load_config(), compression=compression)
    with httpx2.Client() as client, autorr.Recorder(path.stem, directory=path.parent, config=config):
        return [_post(client, url + f"/n{i}", i) for i in range(calls)]


def _damage(path, sql: str) -> str:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(sql)
    finally:
        conn.close()
    return hashlib.sha256(path.read_bytes()).hexdigest()


_SECOND = "(SELECT body FROM events WHERE summary LIKE '%/n1')"


@pytest.mark.parametrize("sql, named", [
    (f"DELETE FROM blobs WHERE hash = {_SECOND}", r"blob \w+ is missing"),
    (f"UPDATE blobs SET codec = 1, data = x'28b52ffd00' WHERE hash = {_SECOND}", "ZstdError"),
    (f"UPDATE blobs SET codec = 7 WHERE hash = {_SECOND}", "unknown codec 7"),
    ("UPDATE events SET response = '{broken' WHERE summary LIKE '%/n1'", "JSONDecodeError"),
])
def test_a_damaged_answer_fails_its_call_naming_file_and_event(echo_server, tmp_path, sql, named):
    path = tmp_path / "r.db"
    recorded = _record(echo_server[0], path)
    digest = _damage(path, sql)
    with httpx2.Client() as client, autorr.replaying(path):
        assert _post(client, echo_server[0] + "/n0", 0) == recorded[0]
        # Was a KeyError, a zstandard error, garbage bytes handed to the agent, or an orjson error.
        with pytest.raises(autorr.RecordingCorrupt, match=rf"^{path}: .*event \d+ cannot be read \(.*{named}"):
            _post(client, echo_server[0] + "/n1", 1)
        assert _post(client, echo_server[0] + "/n2", 2) == recorded[2]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("command", ["show", "analyze"])
def test_show_and_analyze_name_the_damaged_event_in_one_line(echo_server, tmp_path, capsys, command):
    path = tmp_path / "r.db"
    _record(echo_server[0], path)
    _damage(path, "UPDATE events SET meta = '[1,' WHERE summary LIKE '%/n1'")
    assert main([command, str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"autorr: error: {path}: event ") and "cannot be read (JSONDecodeError" in err
    assert len(err.splitlines()) == 1


def test_a_damaged_dictionary_stops_the_replay_before_any_call(echo_server, tmp_path):
    path = tmp_path / "r.db"
    _record(echo_server[0], path, compression=True, calls=12)  # enough payloads to train a dictionary on
    with Reader(path) as reader:
        assert reader._query("SELECT 1 FROM blobs WHERE hash = 'zstd-dict'")
    digest = _damage(path, "UPDATE blobs SET codec = 1, data = x'28b52ffd0000' WHERE hash = 'zstd-dict'")
    with pytest.raises(autorr.RecordingCorrupt, match=rf"^{path}: its zstd dictionary cannot be read"):
        autorr.Player(path).start()
    assert main(["show", str(path)]) == 2
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_a_damaged_checkpoint_state_names_the_file(echo_server, tmp_path):
    path = tmp_path / "r.db"
    config = dataclasses.replace(autorr.load_config(), compression=False)
    with autorr.Recorder("r", directory=tmp_path, config=config):
        autorr.checkpoint("half", {"step": 1})
    _damage(path, "UPDATE checkpoints SET state = '{step'")
    with pytest.raises(autorr.RecordingCorrupt, match=rf"^{path}: the state of a checkpoint cannot be read"):
        autorr.list_checkpoints(path)
