"""Recordings to and from object storage: ``s3://`` and any other fsspec URL.

A recording is one SQLite file in WAL mode, and a running writer keeps committed
events in the ``-wal`` file until a checkpoint: copying the ``.db`` alone would lose
them. Uploads send a snapshot taken with SQLite's backup API, one self-contained file.
Downloads land under a temporary name and become ``<id>.db`` only once they open as
a recording, so a half-transferred or foreign file never shadows a good one.

A rotated recording travels as all its segments, ``<name>``, ``<name>.1``, ...; the
uploaded segment 0 says how many there are (meta ``segments``), so a download fetches
exactly those and never a stale ``.N`` an older upload left beside the same name.

A download killed midway leaves its ``.<id>.*.part`` file behind; the next download into
that folder removes the ones no running download holds (see `_remove_stale_parts`).

fsspec (and s3fs for ``s3://``) are optional and imported only here, on first use.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

from .. import _session
from .._errors import AutorrError, ConfigError, RecordingCorrupt, RecordingNotFound
from ._reader import SUFFIX, resolve
from ._schema import connect
from ._segments import segment_path, segment_paths

__all__ = ["download_recording", "upload_recording"]

_INSTALL = "pip install 'autorr[s3]'"

try:
    import fcntl
except ImportError:  # Windows: stale part files are known by their age alone
    fcntl = None  # type: ignore[assignment]

# A part file no download holds (its process died: the kernel dropped its lock) is
# removed once untouched this long; the wait spares a download that writes its file
# under a new inode, or runs an autorr that took no lock.
STALE_PART_SECONDS = 60.0
# Where locks cannot tell (no fcntl, a filesystem without them): removed after this.
ABANDONED_PART_SECONDS = 3600.0


# Object stores whose URL starts with a bucket (container): without one, boto and its
# peers fail deep inside with "Invalid length for parameter Key".
_BUCKETED = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "r2"})


def _bucketed(url: str) -> tuple[str, str, str] | None:
    """(scheme, bucket, key) of an object store's URL; None for any other URL."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in _BUCKETED:
        return None
    bucket, _, key = rest.partition("/")
    return scheme, bucket, key


def _is_folder(url: str) -> bool:
    """A URL ending in "/", or ``s3://bucket`` alone (the bucket's top): never an object."""
    parts = _bucketed(url)
    return url.endswith("/") or (parts is not None and not parts[2].strip("/"))


def _filesystem(url: str, storage_options: Mapping[str, Any] | None) -> tuple[Any, str]:
    if not isinstance(url, str) or not url:
        raise ConfigError(f"url must be a non-empty string such as 's3://bucket/prefix/', not {url!r}")
    parts = _bucketed(url)
    if parts is not None and not parts[1]:
        raise ConfigError(f"{url}: no bucket in the URL; use {parts[0]}://bucket/prefix/")
    try:
        import fsspec
    except ImportError:
        raise ConfigError(f"{url}: remote recordings need fsspec (and s3fs for s3://): {_INSTALL}") from None
    try:
        return fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    except ImportError as exc:  # fsspec knows the protocol but its backend (s3fs, gcsfs...) is missing
        raise ConfigError(f"{url}: {exc} ({_INSTALL} for s3://)") from None
    except ValueError as exc:
        raise ConfigError(f"{url}: not a URL fsspec can open ({exc})") from None


@contextlib.contextmanager
def _unrecorded() -> Iterator[None]:
    # The transfer's own HTTP calls (s3fs rides on aiohttp) and file reads are autorr's
    # work, not the agent's; fsspec's loop thread inherits this context with each call.
    token = _session.suspend()
    try:
        yield
    finally:
        _session.deactivate(token)


def _is_local(fs: Any) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    return "file" in protocols or "local" in protocols


def _snapshot(source: Path, target: Path, segments: int = 0) -> None:
    """A consistent single-file copy of a (possibly live) recording file, WAL content
    included; ``segments``: the number to record in a segment 0's meta."""
    src = connect(source)  # raises RecordingCorrupt for a file that is not a recording
    try:
        dst = sqlite3.connect(str(target))
        try:
            # One step: the copy is a single read transaction, so a writer committing
            # meanwhile cannot leave it half old, half new.
            src.backup(dst)
            # Rollback-journal mode: the uploaded file needs no -wal/-shm beside it.
            dst.execute("PRAGMA journal_mode = DELETE")
            if segments > 1:  # what was uploaded, whatever the writer had noted so far
                with dst:
                    dst.execute("INSERT INTO meta (key, value) VALUES ('segments', ?) ON CONFLICT(key)"
                                " DO UPDATE SET value = excluded.value", (str(segments),))
        finally:
            dst.close()
    finally:
        src.close()


def upload_recording(id_or_path: str | os.PathLike[str] | None, url: str, *,
                     directory: str | os.PathLike[str] | None = None,
                     storage_options: Mapping[str, Any] | None = None) -> str:
    """Upload a recording (id or path; None: the latest) to ``url``; returns where it went.

    ``url`` ending in ``/`` is a folder (the file becomes ``<url><id>.db``), otherwise
    the object itself: ``s3://bucket/runs/`` or ``s3://bucket/runs/today.db``, or any
    fsspec URL (``file://``, ``gs://``, ``memory://`` ...). A rotated recording uploads
    every segment beside the first (``<id>.db.1``, ...); the URL returned is segment 0's.
    A recording still being written is snapshotted consistently, segment by segment.
    ``storage_options`` go to the filesystem
    (for S3: ``{"client_kwargs": {"endpoint_url": ...}}``, ``profile``, ``key``...).
    """
    from .._config import load_config

    folder = Path(directory) if directory is not None else load_config().output_dir
    source = resolve(os.fspath(id_or_path) if id_or_path is not None else None, folder)
    fs, remote = _filesystem(url, storage_options)
    if _is_folder(url):
        remote = remote.rstrip("/") + "/" + source.name
    files = segment_paths(source)
    with _unrecorded(), tempfile.TemporaryDirectory(prefix="autorr-upload-") as tmp:
        snapshots = []
        for number, file in enumerate(files):
            snapshots.append(Path(tmp) / file.name)
            _snapshot(file, snapshots[-1], len(files) if number == 0 else 0)
        try:
            if _is_local(fs):
                fs.makedirs(os.path.dirname(remote) or ".", exist_ok=True)
            # Segment 0 last: it announces the others, which must be there by then.
            for number in reversed(range(len(files))):
                fs.put_file(str(snapshots[number]), _remote_segment(remote, number))
        except Exception as exc:  # boto, network, permissions: one error type, naming the URL
            raise AutorrError(f"could not upload {source} to {url}: {type(exc).__name__}: {exc}") from exc
    return fs.unstrip_protocol(remote)


def _remote_segment(remote: str, number: int) -> str:
    return remote if number == 0 else f"{remote}.{number}"


def _local_name(recording_id: str | None, remote: str, url: str) -> str:
    name = recording_id or remote.rstrip("/").rsplit("/", 1)[-1]
    if name.endswith(SUFFIX):
        name = name[: -len(SUFFIX)]
    if not name or "/" in name or os.sep in name or name in (".", ".."):
        raise ConfigError(f"cannot name a local recording after {url!r}; pass the recording id")
    return name


def download_recording(recording_id: str | None, url: str, directory: str | os.PathLike[str] | None = None, *,
                       overwrite: bool = False, storage_options: Mapping[str, Any] | None = None) -> Path:
    """Download a recording from ``url`` into ``directory`` (default: AUTORR_DIR); returns its path.

    ``url`` is the file (``s3://bucket/runs/abc.db``) or, ending in ``/``, the folder
    holding ``<recording_id>.db``. The file is saved as ``<recording_id>.db`` (default:
    the remote file's name), so ``AUTORR_RECORDING=<id>`` replays it; the segments of a
    rotated recording come along (``<id>.db.1``, ...). Each must open as an autorr
    recording (else `RecordingCorrupt`); an existing local recording of that id is kept
    unless ``overwrite``.
    """
    from .._config import check_recording_id, load_config

    if recording_id is not None:  # it names the local file
        check_recording_id(recording_id, "recording id")
    fs, remote = _filesystem(url, storage_options)
    if _is_folder(url):
        if not recording_id:
            raise ConfigError(f"{url} is a folder: give the id of the recording to download from it")
        remote = remote.rstrip("/") + "/" + recording_id + SUFFIX
    name = _local_name(recording_id, remote, url)
    folder = Path(directory) if directory is not None else load_config().output_dir
    target = folder / f"{name}{SUFFIX}"
    if target.exists() and not overwrite:
        raise ConfigError(f"recording {name!r} already exists at {target}; pass overwrite=True (--force) to replace it")
    where = fs.unstrip_protocol(remote)
    folder.mkdir(parents=True, exist_ok=True)
    _remove_stale_parts(folder)
    parts: list[Path] = []
    locks: list[int] = []
    try:
        with _unrecorded():
            parts.append(_fetch(fs, remote, where, folder, name, locks))
            count = _verify(parts[0], where)
            for number in range(1, count):
                segment = _remote_segment(remote, number)
                parts.append(_fetch(fs, segment, fs.unstrip_protocol(segment), folder, name, locks))
                _verify(parts[-1], fs.unstrip_protocol(segment))
        # Whatever this id held before goes: a stale segment would read as part of the new one.
        for old in segment_paths(target):
            for stale in (Path(f"{old}-wal"), Path(f"{old}-shm")):
                stale.unlink(missing_ok=True)
            if old != target:
                old.unlink(missing_ok=True)
        for number in reversed(range(len(parts))):  # segment 0 last: it makes the recording visible
            os.replace(parts[number], segment_path(target, number))
    finally:
        for part in parts:
            for leftover in (part, Path(f"{part}-wal"), Path(f"{part}-shm"), Path(f"{part}-journal")):
                leftover.unlink(missing_ok=True)
        for fd in locks:
            os.close(fd)
    return target


def _fetch(fs: Any, remote: str, where: str, folder: Path, name: str, locks: list[int]) -> Path:
    # Not "*.db": list_recordings() and AUTORR_RECORDING=latest must not see a partial file.
    fd, part_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    locks.append(fd)  # open, and locked, until the download is over (see _remove_stale_parts)
    _lock(fd, fcntl.LOCK_EX if fcntl is not None else 0)
    part = Path(part_name)
    try:
        fs.get_file(remote, str(part))
    except BaseException as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, FileNotFoundError):
            raise RecordingNotFound(f"no recording at {where}") from None
        if isinstance(exc, Exception):  # boto, network, permissions
            raise AutorrError(f"could not download {where}: {type(exc).__name__}: {exc}") from exc
        raise
    return part


def _lock(fd: int, kind: int) -> bool | None:
    """Take a lock on ``fd`` without waiting: True taken, False held by another open file
    (a download under way), None when locks cannot tell."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a filesystem without locks
        return None
    return True


def _remove_stale_parts(folder: Path) -> None:
    """Remove the part files of downloads that are over: a killed download leaves its
    ``.<id>.*.part`` behind for good. A download under way holds a lock on its file,
    which the kernel releases when its process dies."""
    now = time.time()
    for part in folder.glob(".*.part"):
        try:
            age = now - part.stat().st_mtime
            if age < STALE_PART_SECONDS:
                continue
            fd = os.open(part, os.O_RDONLY)
            try:
                free = _lock(fd, fcntl.LOCK_SH if fcntl is not None else 0)
            finally:
                os.close(fd)  # the probe's own lock goes with it
            if free is False or (free is None and age < ABANDONED_PART_SECONDS):
                continue  # a download under way, or no way to know yet
            part.unlink()
        except OSError:  # gone meanwhile, or not ours to remove
            continue


def _verify(path: Path, where: str) -> int:
    """Check a downloaded file; returns how many segments its recording has (segment 0's meta)."""
    try:
        conn = connect(path)
    except RecordingCorrupt as exc:
        detail = str(exc).split(": ", 1)[-1]
        raise RecordingCorrupt(f"{where}: {detail}") from None
    try:
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        conn.execute("SELECT count(*) FROM events").fetchone()
        row = conn.execute("SELECT value FROM meta WHERE key = 'segments'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise RecordingCorrupt(f"{where}: not a readable autorr recording ({exc})") from None
    finally:
        conn.close()
    if check != "ok":
        raise RecordingCorrupt(f"{where}: damaged recording ({check})")
    try:
        return max(1, int(row[0])) if row else 1
    except ValueError:
        raise RecordingCorrupt(f"{where}: meta 'segments' is {row[0]!r}, not a number") from None
