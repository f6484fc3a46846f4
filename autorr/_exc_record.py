"""What a recording keeps of a call's exception, and the arguments to rebuild it with.

Type, ``str()`` and a few plain attributes were enough to raise "the same" error, but
not one whose constructor takes more than a message: ``IncompleteRead(partial)`` says
how many bytes it read, ``ConnectionRefusedError(111, 'Connection refused')`` puts
``[Errno 111]`` in its text. So the constructor's ``args`` are kept too, when every one
of them is plain JSON (bytes as latin-1 text: one character per byte, so the redaction
that scans the stored JSON sees a secret in them as it does in the message).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["ERROR_ATTRIBUTES", "MAX_ARGS_BYTES", "error_record", "qualname", "recorded_args"]

# Plain attributes an agent reads off an exception (`e.status` of aiohttp's
# ClientResponseError, `e.errno`, `e.expected` of http.client's IncompleteRead): kept,
# so the replayed one has them too.
ERROR_ATTRIBUTES = ("status", "errno", "strerror", "reason", "message", "expected")

MAX_ARGS_BYTES = 64 << 10  # an error's arguments beyond this are not worth a recording's room
_BYTES = "latin1"  # the key of an argument that was bytes: {"latin1": text}
_PLAIN = (str, int, bool, type(None))


def qualname(exc: BaseException) -> str:
    """The module-qualified class name replay rebuilds an exception by."""
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


def _plain_args(args: Any) -> list[Any] | None:
    """``args`` as JSON values, or None when one of them is not plain (an exception
    wrapping another, an object) or they are too large to keep."""
    if not isinstance(args, tuple):
        return None
    out, size = [], 0
    for item in args:
        kind = type(item)  # exact types: a str subclass would come back as a plain str
        if kind is bytes:
            size += len(item)
            item = {_BYTES: item.decode("latin-1")}
        elif kind is float:
            if not math.isfinite(item):  # JSON has no NaN: it would come back as None
                return None
        elif kind in _PLAIN:
            size += len(item) if kind is str else 0
        else:
            return None
        if size > MAX_ARGS_BYTES:
            return None
        out.append(item)
    return out


def error_record(error: BaseException) -> dict[str, Any]:
    """The stored form of ``error``: ``type``, ``message`` (its ``str()``), ``attrs`` and,
    when plain, ``args``. Built on the agent's thread, but only for a call that failed."""
    record: dict[str, Any] = {"type": qualname(error), "message": str(error)}
    attrs = {}
    for name in ERROR_ATTRIBUTES:
        try:
            value = getattr(error, name, None)
        except Exception:  # a property that fails on this instance
            continue
        if isinstance(value, (int, str)) and not isinstance(value, bool):
            attrs[name] = value
    if attrs:
        record["attrs"] = attrs
    try:
        args = _plain_args(error.args)
    except Exception:  # an `args` property that fails: the message is enough
        args = None
    if args is not None:
        record["args"] = args
    return record


def recorded_args(error: dict[str, Any]) -> tuple[Any, ...] | None:
    """The recorded constructor arguments, as they were; None for a recording made
    before they were kept, or when they were not plain."""
    args = error.get("args")
    if not isinstance(args, list):
        return None
    out = []
    for item in args:
        if isinstance(item, dict):
            text = item.get(_BYTES)
            if not isinstance(text, str):
                return None
            try:
                item = text.encode("latin-1")
            except UnicodeEncodeError:  # a redaction mask outside latin-1
                item = text.encode("utf-8")
        out.append(item)
    return tuple(out)
