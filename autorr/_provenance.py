"""Where a recording came from: code version, config, interpreter, packages, host."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from typing import Any

import orjson

from ._config import Config

__all__ = ["provenance"]

PACKAGES = ("autorr", "openai", "anthropic", "httpx", "httpx2", "requests", "aiohttp", "langchain",
            "langchain-core", "langgraph", "llama-index-core", "crewai", "pydantic-ai", "litellm")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(("git", *args), capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def provenance(config: Config) -> dict[str, Any]:
    commit = _git("rev-parse", "HEAD")
    config_json = orjson.dumps(config.as_dict(), option=orjson.OPT_SORT_KEYS)
    return {
        "git": {
            "commit": commit,
            "branch": _git("rev-parse", "--abbrev-ref", "HEAD") if commit else None,
            "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")) if commit else None,
        },
        "config_hash": hashlib.sha256(config_json).hexdigest()[:16],
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "argv": sys.argv[:8],
        "packages": _versions(),
    }
