"""What the start-up hook (``autorr.pth`` / ``sitecustomize``) runs in every process.

Python swallows exceptions raised in a ``.pth`` line and carries on, so a bad
setting here prints one line and exits with status 2 itself: an agent must never
run silently unrecorded because of a typo in ``AUTORR_MODE``.
"""

from __future__ import annotations

import atexit
import os
import sys

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
    try:
        start_from_config(load_config())
    except AutorrError as exc:
        sys.stderr.write(f"autorr: error: {exc}\n")
        sys.stderr.flush()
        os._exit(2)


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
