"""pytest plugin: record a test's calls once, replay them on every later run.

    @pytest.mark.autorr
    def test_agent():
        assert run_agent() == "4"

The first run goes live and writes ``recordings/<module>/<test>.db`` next to the test
module; later runs replay it (no network, no key, same answers). As with
pytest-recording, the run-wide choice is an option:

    --autorr-mode=auto      replay a test's recording if it exists, else record it (default)
    --autorr-mode=record    re-record every marked test, replacing its recording
    --autorr-mode=replay    replay only; a missing recording fails the test (for CI)
    --autorr-mode=off       marked tests run live and record nothing
    --autorr-replay-mode=strict|warn|hybrid   (default strict)
    --autorr-dir=DIR        recordings under DIR/<module>/ instead

Each also has an ini key (``autorr_mode``, ``autorr_replay_mode``, ``autorr_dir``).
The marker takes ``mode`` (the replay mode), ``recording`` (the file name) and
``timing`` (``fast``/``preserve``); the ``autorr_recording`` fixture does the same
for a test that wants the `Recorder` / `Player` itself. Unmarked tests are untouched.
When ``AUTORR_MODE`` is set for the whole process, that session wins and the plugin
stands aside.

This module is imported by every pytest run where autorr is installed: it imports
nothing of autorr's at load time, only when a marked test starts.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest

__all__ = ["autorr_recording"]

_MODES = ("auto", "record", "replay", "off")
_REPLAY_MODES = ("strict", "warn", "hybrid")
_TIMINGS = ("fast", "preserve")
_MARKER_ARGS = ("mode", "recording", "timing")

_settings_key = pytest.StashKey[dict]()
_session_key = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("autorr", "record and replay with autorr (@pytest.mark.autorr)")
    group.addoption("--autorr-mode", choices=_MODES, default=None,
                    help="auto: replay a test's recording if it exists, else record it (default); "
                         "record: re-record; replay: replay only, a missing recording fails; off: live")
    group.addoption("--autorr-replay-mode", choices=_REPLAY_MODES, default=None,
                    help="a call with no recorded answer: strict fails the test (default), warn serves "
                         "the nearest answer, hybrid goes live")
    group.addoption("--autorr-dir", default=None, metavar="DIR",
                    help="recordings under DIR/<module>/ (default: recordings/<module>/ next to each test module)")
    parser.addini("autorr_mode", "default --autorr-mode", default="auto")
    parser.addini("autorr_replay_mode", "default --autorr-replay-mode", default="strict")
    parser.addini("autorr_dir", "default --autorr-dir, relative to the ini file", default="")


def _choice(config: pytest.Config, option: str, ini: str, allowed: tuple[str, ...]) -> str:
    value = config.getoption(option)
    if value is None:
        value = str(config.getini(ini)).strip().lower()
        if value not in allowed:
            raise pytest.UsageError(f"autorr: ini {ini}={value!r} is not valid; use one of: {', '.join(allowed)}")
    return value


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "autorr(mode=None, recording=None, timing=None): record this test's calls on the first run, "
                   "replay them later (mode: strict|warn|hybrid replay; recording: file name)")
    directory = config.getoption("autorr_dir")
    if directory:
        directory = config.invocation_params.dir / directory
    elif config.getini("autorr_dir"):
        base = config.inipath.parent if config.inipath else config.rootpath
        directory = base / str(config.getini("autorr_dir"))
    process_mode = (os.environ.get("AUTORR_MODE") or "off").strip().lower()
    config.stash[_settings_key] = {
        "mode": _choice(config, "autorr_mode", "autorr_mode", _MODES),
        "replay_mode": _choice(config, "autorr_replay_mode", "autorr_replay_mode", _REPLAY_MODES),
        "dir": Path(directory) if directory else None,
        "process_mode": None if process_mode == "off" else process_mode,
    }


def pytest_report_header(config: pytest.Config) -> str | None:
    mode = config.stash[_settings_key]["process_mode"]
    if mode:
        return (f"autorr: AUTORR_MODE={mode} is set for the whole process; "
                f"@pytest.mark.autorr tests use that session, not recordings of their own")
    return None


def _recording_name(item: pytest.Item) -> str:
    """A file-safe name from the test's name (with its class and parameters)."""
    cls = getattr(item, "cls", None)
    name = f"{cls.__name__}.{item.name}" if cls is not None else item.name
    safe = re.sub(r"[^\w.\[\]-]+", "_", name).strip("._") or "test"
    return safe[:150]


def _recording_path(item: pytest.Item, settings: dict, name: str | None) -> Path:
    module = Path(str(item.path))
    base = settings["dir"] if settings["dir"] is not None else module.parent / "recordings"
    name = name or _recording_name(item)
    return base / module.stem / (name if name.endswith(".db") else f"{name}.db")


def _marker_options(item: pytest.Item) -> dict[str, Any]:
    marker = item.get_closest_marker("autorr")
    if marker is None:
        return {}
    where = f"@pytest.mark.autorr on {item.nodeid}"
    if marker.args:
        pytest.fail(f"{where}: takes keyword arguments only ({', '.join(_MARKER_ARGS)}), got {marker.args!r}",
                    pytrace=False)
    for key, value in marker.kwargs.items():
        if key not in _MARKER_ARGS:
            pytest.fail(f"{where}: unknown argument {key!r}; use: {', '.join(_MARKER_ARGS)}", pytrace=False)
        allowed = {"mode": _REPLAY_MODES, "timing": _TIMINGS}.get(key)
        if allowed and value not in allowed:
            pytest.fail(f"{where}: {key}={value!r} is not valid; use one of: {', '.join(allowed)}", pytrace=False)
        if key == "recording" and (not isinstance(value, str) or not value or "/" in value or os.sep in value):
            pytest.fail(f"{where}: recording={value!r} must be a plain file name (no directories)", pytrace=False)
    return dict(marker.kwargs)


@pytest.fixture(autouse=True)
def _autorr_marker(request: pytest.FixtureRequest) -> None:
    # Autouse (as pytest-django's django_db marker is), so the marker alone is enough;
    # for unmarked tests it does nothing at all.
    if request.node.get_closest_marker("autorr") is not None:
        request.getfixturevalue("autorr_recording")


@pytest.fixture
def autorr_recording(request: pytest.FixtureRequest) -> Iterator[Any]:
    """This test's `Recorder` (first run) or `Player` (later runs); None with --autorr-mode=off."""
    settings = request.config.stash[_settings_key]
    options = _marker_options(request.node)
    if settings["process_mode"]:
        from . import _session

        yield _session.get_default()
        return
    if settings["mode"] == "off":
        yield None
        return
    path = _recording_path(request.node, settings, options.get("recording"))
    mode = settings["mode"]
    if mode == "replay" and not path.is_file():
        pytest.fail(f"autorr: no recording for {request.node.nodeid} at {path}; "
                    f"run once with --autorr-mode=auto (or record) to create it", pytrace=False)
    if mode == "record" or (mode == "auto" and not path.is_file()):
        yield from _record(request, path)
    else:
        yield from _replay(request, path, options.get("mode") or settings["replay_mode"], options.get("timing"))


def _run_scoped(item: pytest.Item, session: Any) -> Iterator[Any]:
    from . import _api, _patching, _session

    patched_before = bool(_patching.installed())
    item.stash[_session_key] = session
    try:
        # _scoped also makes it the process default, so threads the test starts are covered.
        with _api._scoped(session):
            yield session
    finally:
        if not patched_before and _session.get_default() is None:
            _patching.uninstall()  # unmarked tests that follow run exactly as without autorr


def _record(request: pytest.FixtureRequest, path: Path) -> Iterator[Any]:
    from . import _api
    from ._recorder import Recorder

    path.parent.mkdir(parents=True, exist_ok=True)
    # Recorded beside its final place and moved there at the end: an interrupted run
    # never leaves half a recording that the next run would replay.
    scratch = Path(tempfile.mkdtemp(prefix=".autorr-partial-", dir=path.parent))
    recorder = Recorder(path.stem, directory=scratch, config=_api._config(), task_id=request.node.nodeid)
    try:
        yield from _run_scoped(request.node, recorder)
        _clear(path)
        for part in scratch.iterdir():  # the .db, and a -wal / -shm SQLite may have left
            os.replace(part, path.parent / part.name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _clear(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _replay(request: pytest.FixtureRequest, path: Path, replay_mode: str, timing: str | None) -> Iterator[Any]:
    from . import _api
    from .replay import Player

    player = Player(str(path), mode=replay_mode, timing=timing, directory=path.parent, config=_api._config())
    # SDK clients made inside the test refuse to start without a key; matched calls send none.
    added = [var for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY") if var not in os.environ]
    os.environ.update({var: "autorr-replay-no-key" for var in added})
    try:
        yield from _run_scoped(request.node, player)
    finally:
        for var in added:
            os.environ.pop(var, None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    session = item.stash.get(_session_key, None)
    if session is None:
        return
    report = outcome.get_result()
    from ._errors import StrictReplayMismatch
    from .replay import Player

    excinfo = call.excinfo
    if excinfo is not None and isinstance(excinfo.value, StrictReplayMismatch):
        report.longrepr = _short_repr(item, excinfo)
        report.sections.append(("autorr", f"recording: {getattr(session, 'path', '')}\nre-record it with "
                                          "--autorr-mode=record, or replay with --autorr-replay-mode=warn|hybrid"))
        return
    if not isinstance(session, Player) or call.when != "call":
        return
    mismatches = session.mismatches()
    raised = [m for m in mismatches if m.get("action") == "raised"]
    if raised and report.passed:
        # Something under test caught the BaseException; the replay still failed.
        report.outcome = "failed"
        report.longrepr = ("autorr: strict replay mismatch raised inside the test and caught by the code under "
                           f"test\n{Player._message(raised[0])}")
    elif mismatches:
        lines = [f"{m.get('action')}: {m.get('call')}: {'; '.join(m.get('diff') or [])}" for m in mismatches]
        report.sections.append(("autorr replay mismatches", "\n".join(lines)))


def _short_repr(item: pytest.Item, excinfo: Any) -> Any:
    """The failure shown at the test's own lines: the frames under them (SDK, httpx,
    autorr) say nothing the mismatch message does not."""
    here = str(item.path)
    own = excinfo.traceback.filter(lambda entry: str(entry.path) == here)
    style = item.config.getoption("tbstyle", "auto")
    if not len(own) or item.config.getoption("fulltrace", False) or style == "native":
        return item.repr_failure(excinfo)
    try:
        return excinfo.getrepr(funcargs=True, style="long" if style == "auto" else style, tbfilter=lambda _: own,
                               showlocals=item.config.getoption("showlocals", False))
    except TypeError:  # pytest < 8 takes no callable tbfilter
        return item.repr_failure(excinfo)
