"""The shared core of function-like calls (custom tools, subprocesses, files).

A call is described as a `CallRequest` with a JSON payload, so fingerprints,
matching, diffs and storage work as for HTTP. Its result is stored as JSON when it
is plain data and pickled otherwise (a recording is the user's own data).

Bytes (and pickles) are stored as JSON text, never base64: the writer scrubs every
stored byte for secrets, and a secret inside base64 is one it cannot see.
"""

from __future__ import annotations

import base64
import copyreg
import io
import logging
import pickle
import re
from typing import Any, Awaitable, Callable, Iterable, TypeVar

import orjson

from .._events import CallRequest, Kind, Status
from .._exc_record import qualname
from .._session import Serve, active
from ..replay._fingerprint import canonical_json

__all__ = ["arun", "call_request", "decide", "decode_bytes", "decode_value", "encode_bytes", "encode_value", "plain",
           "record_items", "recorded_items", "run"]

T = TypeVar("T")
log = logging.getLogger("autorr")


def plain(value: Any, depth: int = 0) -> bool:
    """JSON round-trips it exactly (so no pickle is needed)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if depth > 20:
        return False
    if type(value) is list:
        return all(plain(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and plain(v, depth + 1) for k, v in value.items())
    return False


def encode_bytes(data: bytes) -> dict[str, str]:
    """Bytes as JSON text the writer can scrub: UTF-8 as it reads, anything else byte for
    character (latin-1: ASCII secrets stay ASCII in it, and a mask is ASCII too)."""
    try:
        return {"utf8": data.decode()}
    except UnicodeDecodeError:
        return {"latin1": data.decode("latin-1")}


def decode_bytes(data: dict[str, str] | str) -> bytes:
    if isinstance(data, str):  # recorded before: base64
        return base64.b64decode(data)
    if "utf8" in data:
        return data["utf8"].encode()
    if "latin1" in data:
        return data["latin1"].encode("latin-1", "replace")
    return base64.b64decode(data["b64"])


def encode_value(value: Any, scrub: Callable[[bytes], bytes] | None = None) -> dict[str, Any]:
    """``value`` as stored. ``scrub`` (the recording's redactor) cleans what a pickle holds."""
    if plain(value):
        return {"json": value}
    if isinstance(value, bytes):
        return {"bytes": encode_bytes(value)}
    try:
        data = _pickle(value, scrub)
    except Exception:
        data = None
    shown = _shown(value, scrub)
    if data is None:
        return {"repr": shown, "unpicklable": True}
    return {"pickle": encode_bytes(data), "repr": shown}


def _shown(value: Any, scrub: Callable[[bytes], bytes] | None, limit: int = 500) -> str:
    """The value's repr as stored: scrubbed before it is cut, or a key cut in two at the
    limit would escape its pattern."""
    try:
        text = repr(value)
    except Exception as exc:  # a __repr__ that fails: say so rather than lose the call
        return f"<unrepresentable {type(value).__qualname__}: {exc}>"
    if scrub is not None and len(text) > limit:
        text = scrub(text.encode("utf-8", "replace")).decode("utf-8", "replace")
    return text[:limit]


def decode_value(data: dict[str, Any]) -> Any:
    if "json" in data:
        return data["json"]
    if "bytes" in data:
        return decode_bytes(data["bytes"])
    if "pickle" in data:
        try:
            return pickle.loads(decode_bytes(data["pickle"]))  # noqa: S301 - the user's own recording
        except Exception as exc:
            # The writer masked a secret it learned after this value was pickled: the
            # lengths in the pickle no longer fit. The secret stayed off the disk, and so did the value.
            raise ValueError(f"the recorded value was redacted and cannot be restored: {data.get('repr')}") from exc
    raise ValueError(f"the recorded value could not be stored: {data.get('repr')}")


class _ScrubbingUnpickler(pickle._Unpickler):  # type: ignore[name-defined]  # the Python one: its opcodes can be wrapped
    """Loads a pickle with every str and bytes in it scrubbed."""

    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def __init__(self, data: bytes, scrub: Callable[[bytes], bytes]) -> None:
        super().__init__(io.BytesIO(data))
        self.scrub = scrub


def _scrubbing(load: Callable[[Any], None]) -> Callable[[Any], None]:
    def wrapper(self: _ScrubbingUnpickler) -> None:
        load(self)
        value = self.stack[-1]
        if isinstance(value, str):
            self.stack[-1] = self.scrub(value.encode("utf-8", "surrogatepass")).decode("utf-8", "surrogatepass")
        elif isinstance(value, (bytes, bytearray)):
            self.stack[-1] = type(value)(self.scrub(bytes(value)))
    return wrapper


for _op in (pickle.UNICODE, pickle.BINUNICODE, pickle.SHORT_BINUNICODE, pickle.BINUNICODE8, pickle.STRING,
            pickle.BINSTRING, pickle.SHORT_BINSTRING, pickle.BINBYTES, pickle.SHORT_BINBYTES, pickle.BINBYTES8,
            pickle.BYTEARRAY8):
    _ScrubbingUnpickler.dispatch[_op[0]] = _scrubbing(_ScrubbingUnpickler.dispatch[_op[0]])


def _rebuild_exception(cls: type, args: tuple, state: dict | None) -> BaseException:
    # Without calling __init__: `MyError(code, msg)` that passes only `msg` to its base
    # keeps args=(msg,), and `cls(*args)`, pickle's way, raises TypeError at replay.
    exc = cls.__new__(cls, *args)
    exc.args = args
    if state:
        exc.__dict__.update(state)
    return exc


def _reduce_exception(exc: BaseException) -> tuple:
    return _rebuild_exception, (type(exc), exc.args, getattr(exc, "__dict__", None) or None)


def _dumps(value: Any) -> bytes:
    cls = type(value)
    if not (isinstance(value, BaseException) and cls.__reduce_ex__ is BaseException.__reduce_ex__
            and cls.__reduce__ is BaseException.__reduce__):
        return pickle.dumps(value)
    # A raised exception (the top-level value): a per-type entry, so other values pay nothing.
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer)
    pickler.dispatch_table = {**copyreg.dispatch_table, cls: _reduce_exception}
    pickler.dump(value)
    return buffer.getvalue()


def _pickle(value: Any, scrub: Callable[[bytes], bytes] | None) -> bytes | None:
    """``value`` pickled with no secret in it; None when that cannot be done.

    Masking a secret inside the pickle's bytes would break the length in front of it,
    so a pickle that holds one is loaded back with its strings scrubbed and pickled
    again: replay gets the value with "[REDACTED]" where the secret was, as it does for
    JSON. The writer scrubs the stored text again (for secrets it learns later)."""
    data = _dumps(value)
    if scrub is None or scrub(data) == data:
        return data
    clean = _dumps(_ScrubbingUnpickler(data, scrub).load())
    return clean if scrub(clean) == clean else None  # a secret the strings do not hold: keep no pickle


# `<Agent object at 0x7f...>`: the address changes every run, so a method tool's `self`
# (or any object with the default repr) would never match its recording.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def fingerprintable(value: Any) -> Any:
    """A stable JSON view of arguments: plain data as is, anything else by its repr
    (without memory addresses)."""
    if plain(value):
        return value
    if isinstance(value, (list, tuple)):
        return [fingerprintable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): fingerprintable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return {"bytes": encode_bytes(value)}
    return {"repr": _ADDRESS.sub("", repr(value))}


def call_request(kind: Kind, target: str, payload: dict[str, Any]) -> CallRequest:
    body = canonical_json(payload)
    return CallRequest(method=kind.value.upper(), url=f"{kind.value}:{target}", host="", path=target,
                       query=[], headers=[], body=body, content_type="application/json")


def redactor_of(handle: Any) -> Any:
    """The redactor of the recording ``handle`` records into (None if it has none)."""
    return getattr(getattr(handle, "recorder", None), "redactor", None)


def scrubber(handle: Any) -> Callable[[bytes], bytes] | None:
    """The recording's scrubber, for what the writer cannot scrub itself (a pickle)."""
    redactor = redactor_of(handle)
    return None if redactor is None else redactor.scrub


def record_result(handle: Any, value: Any) -> None:
    handle.set_response({"status": 0})
    handle.chunk(orjson.dumps({"value": encode_value(value, scrubber(handle))}))
    handle.finish(Status.OK)


def record_error(handle: Any, exc: BaseException) -> None:
    handle.set_response({"status": 1})
    raised = encode_value(exc, scrubber(handle))
    handle.chunk(orjson.dumps({"raised": raised, **_described(exc)}))
    handle.finish(Status.OK)


def record_items(handle: Any, items: list, exc: BaseException | None = None) -> None:
    """What a generator tool yielded, and what it raised (after them), if anything."""
    handle.set_response({"status": 0 if exc is None else 1})
    data: dict[str, Any] = {"items": encode_value(items, scrubber(handle))}
    if exc is not None:
        data.update(raised=encode_value(exc, scrubber(handle)), **_described(exc))
    handle.chunk(orjson.dumps(data))
    handle.finish(Status.OK)


def recorded_items(event: Any) -> tuple[list, BaseException | None]:
    data = orjson.loads(event.body or b"{}")
    if "items" not in data:
        raise ValueError("this tool was recorded as a plain function, not a generator: record it again")
    try:
        recorded_result({k: v for k, v in data.items() if k != "items"})
    except BaseException as exc:  # noqa: BLE001 - handed to the caller after the items
        return decode_value(data["items"]), exc
    return decode_value(data["items"]), None


def _described(exc: BaseException) -> dict[str, str]:
    # "type" alone (no module) is what recordings made before "class" hold.
    return {"type": type(exc).__qualname__, "class": qualname(exc), "message": str(exc)}


def _from_description(data: dict[str, Any]) -> BaseException:
    from ._http import exception_class, rebuild_exception

    if data.get("class") and exception_class({"type": data["class"]}) is not None:
        return rebuild_exception({"type": data["class"], "message": data.get("message", "")})
    return RuntimeError(f"{data.get('type')}: {data.get('message')} (recorded)")


def recorded_result(event: Any) -> Any:
    """The recorded return value, or raise the recorded exception (``event``: an event or its decoded body)."""
    data = event if isinstance(event, dict) else orjson.loads(event.body or b"{}")
    if "raised" in data:
        try:
            exc = decode_value(data["raised"])
        except Exception:  # not kept whole (a pickle a later-learned secret broke): its class and text
            exc = _from_description(data)
        raise exc
    return decode_value(data.get("value", {"json": None}))


def decide(kind: Kind, target: str, payload: dict[str, Any], secrets: Iterable[Any] = ()) -> Any:
    """Ask the session; in record mode an autorr failure lets the call run unrecorded
    (as `_http.decide` does for HTTP), in replay it must not run the tool. ``secrets``
    (values of credential arguments) are learned by the recording the call goes to."""
    session = active()
    if session is None:
        return None
    try:
        decision = session.decide(kind, call_request(kind, target, payload))
        redactor = redactor_of(getattr(decision, "handle", None)) if secrets else None
        if redactor is not None:
            redactor.learn(v for v in secrets if isinstance(v, (str, bytes)))
        return decision
    except Exception as exc:
        if not getattr(session, "fail_open", False):
            raise
        log.warning("autorr: not recording %s %s: %s", kind.value, target, exc)
        return None


def run(kind: Kind, target: str, payload: dict[str, Any], live: Callable[[], T], secrets: Iterable[Any] = ()) -> T:
    decision = decide(kind, target, payload, secrets)
    if isinstance(decision, Serve):
        return recorded_result(decision.event)
    if decision is None:
        return live()
    try:
        value = live()
    except Exception as exc:
        record_error(decision.handle, exc)
        raise
    record_result(decision.handle, value)
    return value


async def arun(kind: Kind, target: str, payload: dict[str, Any], live: Callable[[], Awaitable[T]],
               secrets: Iterable[Any] = ()) -> T:
    decision = decide(kind, target, payload, secrets)
    if isinstance(decision, Serve):
        return recorded_result(decision.event)
    if decision is None:
        return await live()
    try:
        value = await live()
    except Exception as exc:
        record_error(decision.handle, exc)
        raise
    record_result(decision.handle, value)
    return value
