"""The one seam where autorr touches other libraries' attributes.

Integrations declare `Patch` targets as data; `install()` wraps each target with
wrapt, at once if its module is imported, or from a post-import hook when it is;
`uninstall()` restores exactly the attributes this module replaced (a proxy that
someone else stacked on top of ours is left alone and reported).
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import wrapt

__all__ = ["Patch", "install", "installed", "uninstall"]

log = logging.getLogger("autorr")

Wrapper = Callable[[Callable[..., Any], Any, tuple, dict], Any]


@dataclass(frozen=True)
class Patch:
    """Wrap ``module.attribute`` (a dotted path such as ``"Client.send"``).

    ``factory(module)`` returns the wrapt wrapper; it receives the patched module so
    one wrapper can serve twin libraries (``httpx`` and its fork ``httpx2``).
    """

    module: str
    attribute: str
    factory: Callable[[Any], Wrapper]

    @property
    def target(self) -> str:
        return f"{self.module}.{self.attribute}"


_lock = threading.RLock()
_wanted: dict[str, Patch] = {}  # target -> patch, while installed
_applied: dict[str, tuple[Any, str, Any]] = {}  # target -> (owner, name, our proxy)
_hooked: set[str] = set()  # modules with a post-import hook registered


def _resolve(module: Any, attribute: str) -> tuple[Any, str]:
    owner = module
    *parents, name = attribute.split(".")
    for part in parents:
        owner = getattr(owner, part)
    return owner, name


def _apply(patch: Patch, module: Any) -> None:
    with _lock:
        if patch.target not in _wanted or patch.target in _applied:
            return
        try:
            owner, name = _resolve(module, patch.attribute)
            original = getattr(owner, name)
        except AttributeError:
            log.debug("autorr: %s not found; not patched", patch.target)
            return
        proxy = wrapt.FunctionWrapper(original, patch.factory(module))
        setattr(owner, name, proxy)
        _applied[patch.target] = (owner, name, proxy)


def _on_import(module: Any) -> None:
    with _lock:
        for patch in list(_wanted.values()):
            if patch.module == module.__name__:
                _apply(patch, module)


def install(patches: Iterable[Patch]) -> None:
    """Wrap every target now or when its module is first imported. Idempotent."""
    with _lock:
        for patch in patches:
            _wanted.setdefault(patch.target, patch)
            module = sys.modules.get(patch.module)
            if module is not None:
                _apply(patch, module)
            elif patch.module not in _hooked:
                _hooked.add(patch.module)
                wrapt.register_post_import_hook(_on_import, patch.module)


def uninstall(patches: Iterable[Patch] | None = None) -> None:
    """Put back the originals of the given (default: all) targets."""
    with _lock:
        targets = [p.target for p in patches] if patches is not None else list(_wanted)
        for target in targets:
            _wanted.pop(target, None)
            applied = _applied.pop(target, None)
            if applied is None:
                continue
            owner, name, proxy = applied
            if owner.__dict__.get(name) is proxy:
                setattr(owner, name, proxy.__wrapped__)
            else:
                log.warning("autorr: %s was re-wrapped by someone else; leaving it in place", target)


def installed() -> list[str]:
    """Targets currently wrapped, for diagnostics and tests."""
    with _lock:
        return sorted(_applied)
