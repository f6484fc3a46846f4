"""A download killed midway leaves a `.<id>.*.part` file; the next download into the folder removes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import autorr
from autorr.store import _remote

from conftest import _clean_env

pytest.importorskip("fsspec")

# download_recording() whose transfer hangs after its first bytes, as a stalled S3 GET does.
HANGING_DOWNLOAD = """
import sys, time
from fsspec.implementations.local import LocalFileSystem
import autorr

def hang(self, remote, local, **kwargs):
    with open(local, "wb") as f:
        f.write(b"SQLite format 3")
    print("DOWNLOADING", flush=True)
    time.sleep(120)

LocalFileSystem.get_file = hang
autorr.download_recording(sys.argv[1], sys.argv[2], sys.argv[3])
"""


def _hanging_download(tmp_path: Path, recording_id: str, url: str, folder: Path) -> subprocess.Popen[str]:
    script = tmp_path / "download.py"
    script.write_text(HANGING_DOWNLOAD)
    proc = subprocess.Popen([sys.executable, str(script), recording_id, url, str(folder)], env=_clean_env({}),
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("DOWNLOADING")
    return proc


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_the_part_file_of_a_killed_download_goes_at_the_next_download(echo_server, tmp_path):
    import httpx2

    source = tmp_path / "source"
    with autorr.recording(source / "run.db"):
        httpx2.get(echo_server[0] + "/x")
    url = f"file://{tmp_path / 'share'}/"
    autorr.upload_recording("run", url, directory=source)
    folder = tmp_path / "recordings"

    killed = _hanging_download(tmp_path, "run", url, folder)
    killed.send_signal(signal.SIGKILL)
    killed.wait(10)
    (left,) = folder.glob(".run.*.part")
    running = _hanging_download(tmp_path, "run", url, folder)
    try:
        (live,) = set(folder.glob(".run.*.part")) - {left}
        _age(left, 2 * _remote.STALE_PART_SECONDS)
        _age(live, 2 * _remote.STALE_PART_SECONDS)  # a transfer stalled for as long: still its own
        fresh = folder / ".other.abc123.part"  # a download just begun, before it took its lock
        fresh.write_bytes(b"")

        path = autorr.download_recording("run", url, folder)
        assert path == folder / "run.db" and path.exists()
        assert not left.exists()
        assert live.exists() and fresh.exists()
    finally:
        running.kill()
        running.wait(10)
    _age(live, 2 * _remote.STALE_PART_SECONDS)  # its process gone: the next download tidies it away
    autorr.download_recording("run", url, folder, overwrite=True)
    assert not live.exists() and fresh.exists()


def test_without_locks_only_an_hour_old_part_file_goes(tmp_path, monkeypatch):
    monkeypatch.setattr(_remote, "fcntl", None)  # Windows
    recent, old = tmp_path / ".a.1.part", tmp_path / ".a.2.part"
    for part, age in ((recent, 2 * _remote.STALE_PART_SECONDS), (old, 2 * _remote.ABANDONED_PART_SECONDS)):
        part.write_bytes(b"")
        _age(part, age)
    _remote._remove_stale_parts(tmp_path)
    assert recent.exists() and not old.exists()
