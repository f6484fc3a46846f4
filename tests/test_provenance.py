"""Where a recording came from: the git state in one `git status`, versions from the
installed distributions' directory names."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import metadata

import pytest

from autorr._config import Config
from autorr._provenance import PACKAGES, _versions, provenance

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(cwd, *args):
    return subprocess.run(("git", *args), cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@needs_git
def test_git_commit_branch_and_dirty(tmp_path, monkeypatch):
    _git(tmp_path, "init", "-q", "-b", "work")
    monkeypatch.chdir(tmp_path)
    assert provenance(Config())["git"] == {"commit": None, "branch": None, "dirty": None}  # no commit yet
    (tmp_path / "agent.py").write_text("print(1)\n")
    _git(tmp_path, "add", "agent.py")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    head = _git(tmp_path, "rev-parse", "HEAD")
    assert provenance(Config())["git"] == {"commit": head, "branch": "work", "dirty": False}
    (tmp_path / "agent.py").write_text("print(2)\n")
    (tmp_path / "notes.txt").write_text("untracked files do not count\n")
    assert provenance(Config())["git"] == {"commit": head, "branch": "work", "dirty": True}
    _git(tmp_path, "checkout", "-q", "--detach")
    assert provenance(Config())["git"]["branch"] == "HEAD"


def test_outside_a_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert provenance(Config())["git"] == {"commit": None, "branch": None, "dirty": None}


def test_versions_are_those_importlib_metadata_reports():
    found = _versions()
    assert {"autorr", "openai", "httpx2"} <= set(found)
    assert found == {name: metadata.version(name) for name in found}
    assert list(found) == [name for name in PACKAGES if name in found]  # the order `autorr show` lists them in


def test_a_legacy_egg_info_is_asked_the_slow_way(tmp_path, monkeypatch):
    (tmp_path / "litellm.egg-info").mkdir()
    (tmp_path / "litellm.egg-info" / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: litellm\nVersion: 9.8.7\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path)] + sys.path)
    assert _versions()["litellm"] == "9.8.7"
