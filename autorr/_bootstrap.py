"""What the start-up hook (``autorr.pth`` / ``sitecustomize``) runs in every process.

Python swallows exceptions raised in a ``.pth`` line and carries on, so a bad
setting here prints one line and exits with status 2 itself: an agent must never
run silently unrecorded because of a typo in ``AUTORR_MODE``. Any other failure stops
a replay the same way (the agent's calls would go live); a recording that fails to
start for such a reason warns and lets the program run, unrecorded.
"""

from __future__ import annotations

import atexit
import os
import sys
import traceback
from typing import NoReturn

from ._config import Config, Mode, ReplayMode, load_config
from ._errors import AutorrError

__all__ = ["boot_from_environment", "start_from_config"]

_OWNER = "_AUTORR_OWNER_PID"  # set by the process that created the recording
_booted = False


def boot_from_environment() -> None:
    global _booted
    if _booted:  # the hook may run twice (site processed twice, .pth + sitecustomize)
        return
    _booted = True
    config = None
    try:
        config = load_config()
        start_from_config(config)
    except AutorrError as exc:
        _stop(f"autorr: error: {exc}")
    except Exception as exc:  # a bug of ours, or a damaged file a check missed
        mode = config.mode if config is not None else os.environ.get("AUTORR_MODE", "").strip().lower()
        # One line, as for a bad setting; where it was raised makes a bug report useful.
        frame = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<frozen")][-1]
        cause = f"{type(exc).__name__}: {exc} (at {frame.filename}:{frame.lineno})"
        if mode == Mode.REPLAY:
            # Replay must never run the agent with autorr off: its calls would go live.
            where = f" ({config.recording or 'latest'} in {config.output_dir})" if config is not None else ""
            _stop(f"autorr: error: replay could not start{where}: {cause}")
        _session_off()
        # A recorder that breaks must not break the program it records: it runs, unrecorded.
        from ._log_redact import scrubbed

        sys.stderr.write(scrubbed(
            f"autorr: warning: recording could not start, the program runs unrecorded: {cause}") + "\n")
        sys.stderr.flush()


def _stop(line: str) -> NoReturn:
    from ._log_redact import scrubbed

    sys.stderr.write(scrubbed(line) + "\n")
    sys.stderr.flush()
    os._exit(2)


def _session_off() -> None:
    """Undo what a failed start did, so that the program runs as without autorr."""
    try:
        from . import _patching, _session

        _session.set_default(None)
        _patching.uninstall()
    except Exception:  # pragma: no cover - best effort: with no session the patches only pass calls on
        pass
    # Its child processes inherit AUTORR_MODE: they would each start a recording of their own.
    os.environ["AUTORR_MODE"] = "off"


def start_from_config(config: Config) -> None:
    if config.mode is Mode.OFF or not config.enabled:
        return
    from . import _session
    from .integrations import install_all

    install_all()
    if config.mode is Mode.RECORD:
        from ._recorder import Recorder

        owner = os.environ.get(_OWNER)
        join = bool(owner and owner != str(os.getpid()) and config.recording_id)
        recorder = Recorder(config=config)
        recorder.start(join=join)
        _session.set_default(recorder)
        # Child processes inherit these and write into the same file.
        os.environ["AUTORR_RECORDING_ID"] = recorder.id
        os.environ["AUTORR_DIR"] = str(recorder.directory)
        if not join:
            os.environ[_OWNER] = str(os.getpid())
    else:
        from .replay import Player

        # SDK clients refuse to start without a key; matched calls send nothing, so any will do
        # (a hybrid run that goes live needs the real key, as it would without autorr).
        for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
            os.environ.setdefault(var, "autorr-replay-no-key")
        player = Player(config=config)
        player.start()
        _session.set_default(player)
        os.environ["AUTORR_RECORDING"] = str(player.path.resolve())
        atexit.register(_end_replay, player)


def _end_replay(player: object) -> None:
    player.stop()  # type: ignore[attr-defined]  (its final alert checks run there)
    mismatches = [m for m in player.mismatches() if m.get("action") == "raised"]  # type: ignore[attr-defined]
    if player.mode is ReplayMode.STRICT and mismatches:  # type: ignore[attr-defined]
        # The mismatch was raised but something swallowed it; the run still failed.
        sys.stderr.write(f"autorr: strict replay failed: {len(mismatches)} call(s) had no recorded answer "
                         f"(first: {mismatches[0]['call']})\n")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
