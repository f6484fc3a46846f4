"""Where a recording came from: code version, config, interpreter, packages, host."""

from __future__ import annotations

import hashlib
import os
import platform
import re
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


def _git_state() -> dict[str, Any]:
    """Commit, branch and whether tracked files changed, from one `git status` (the
    `--porcelain=v2 --branch` header lines hold the commit and branch)."""
    try:
        out = subprocess.run(("git", "status", "--porcelain=v2", "--branch", "--untracked-files=no"),
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        out = None
    if out is None or out.returncode != 0:
        return {"commit": None, "branch": None, "dirty": None}
    lines = out.stdout.splitlines()
    header = dict(line[2:].split(" ", 1) for line in lines if line.startswith("# ") and " " in line[2:])
    commit = header.get("branch.oid")
    if commit is None or commit == "(initial)":  # a repository without commits
        return {"commit": None, "branch": None, "dirty": None}
    branch = header.get("branch.head")
    return {"commit": commit, "branch": "HEAD" if branch == "(detached)" else branch,
            "dirty": any(not line.startswith("#") for line in lines)}


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _versions() -> dict[str, str]:
    """The versions of PACKAGES, read from the installed distributions' directory names
    (``name-version.dist-info``): one listing per path entry, where
    `importlib.metadata.version` scans them all once per name (~10 ms for fourteen, on
    a thread that shares the GIL with the agent's first calls)."""
    wanted = {_normalised(name): name for name in PACKAGES}
    found: dict[str, str] = {}
    legacy: list[str] = []
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for dirname in names:
            if dirname.endswith(".dist-info"):
                dist, _, version = dirname[:-len(".dist-info")].partition("-")
                name = wanted.get(_normalised(dist))
                if name is not None and name not in found and version:
                    found[name] = version
            elif dirname.endswith(".egg-info"):  # no version in its name: asked the slow way
                name = wanted.get(_normalised(dirname[:-len(".egg-info")].split("-", 1)[0]))
                if name is not None:
                    legacy.append(name)
    for name in legacy:
        if name not in found:
            try:
                found[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
    return {name: found[name] for name in PACKAGES if name in found}  # in PACKAGES' order, as shown


def provenance(config: Config) -> dict[str, Any]:
    config_json = orjson.dumps(config.as_dict(), option=orjson.OPT_SORT_KEYS)
    return {
        "git": _git_state(),
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
