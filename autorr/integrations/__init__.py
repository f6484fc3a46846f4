"""One module per intercepted library; each declares its `PATCHES` as data.

Importing an integration module does not import the library it patches: targets
are wrapped when (and if) the agent imports that library.
"""

from __future__ import annotations

import importlib

from .._patching import Patch, install

__all__ = ["MODULES", "all_patches", "install_all"]

MODULES = ("aiohttp", "asyncio_subprocess", "exits", "files", "httpx", "requests", "subprocess", "threads", "urllib",
           "urllib3")


def all_patches() -> tuple[Patch, ...]:
    patches: list[Patch] = []
    for name in MODULES:
        patches.extend(importlib.import_module(f"{__name__}.{name}").PATCHES)
    return tuple(patches)


def install_all() -> None:
    """Wrap every integration's targets (idempotent; cheap after the first call)."""
    install(all_patches())
