"""autorr's start-up hook for interpreters that skip ``.pth`` files.

``autorr run -- cmd`` puts this directory first on ``PYTHONPATH``. Python imports the
first ``sitecustomize`` it finds, so this one boots autorr and then imports the next
``sitecustomize`` on the path (a project's or a distribution's own), as
``opentelemetry-instrument`` and ``ddtrace-run`` do.
"""

import importlib
import os
import sys


def _chain_next_sitecustomize():
    here = os.path.dirname(os.path.abspath(__file__))
    ours = sys.modules.pop("sitecustomize", None)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    try:
        importlib.import_module("sitecustomize")
    except ImportError as exc:
        if exc.name != "sitecustomize":
            raise
    finally:
        if ours is not None:
            sys.modules["sitecustomize"] = ours


def _boot():
    mode = (os.environ.get("AUTORR_MODE") or "off").strip().lower()
    if mode == "off":
        return
    try:
        from autorr._bootstrap import boot_from_environment
    except ImportError as exc:
        # The command `autorr run` was given (it execs it: same pid), or anything in a
        # replay, must not run without autorr: its calls would go live. Another Python the
        # agent starts while recording (a tool's own venv) runs as it would without autorr.
        if mode == "replay" or os.environ.get("_AUTORR_RUN_PID") == str(os.getpid()):
            sys.stderr.write(f"autorr: error: AUTORR_MODE is set but autorr cannot be imported here ({exc})\n")
            sys.stderr.flush()
            os._exit(2)
        sys.stderr.write(f"autorr: warning: {sys.executable} has no autorr ({exc}): it runs unrecorded\n")
        sys.stderr.flush()
        return
    boot_from_environment()


_boot()
_chain_next_sitecustomize()
