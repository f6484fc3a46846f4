"""The shared core of function-like calls (custom tools, subprocesses, files).

A call is described as a `CallRequest` with a JSON payload, so fingerprints,
matching, diffs and storage work as for HTTP. Its result is stored as JSON when it
is plain data and pickled otherwise (a recording is the user's own data).
"""

from __future__ import annotations

import base64
import pickle
from typing import Any, Awaitable, Callable, TypeVar

import orjson

from .._events import CallRequest, Kind, Status
from .._session import Serve, active
from ..replay._fingerprint import canonical_json

__all__ = ["arun", "call_request", "decode_value", "encode_value", "plain", "run"]

T = TypeVar("T")


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


def encode_value(value: Any) -> dict[str, Any]:
    if plain(value):
        return {"json": value}
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode()}
    try:
        return {"pickle": base64.b64encode(pickle.dumps(value)).decode(), "repr": repr(value)[:500]}
    except Exception:
        return {"repr": repr(value)[:500], "unpicklable": True}


def decode_value(data: dict[str, Any]) -> Any:
    if "json" in data:
        return data["json"]
    if "bytes" in data:
        return base64.b64decode(data["bytes"])
    if "pickle" in data:
        return pickle.loads(base64.b64decode(data["pickle"]))  # noqa: S301 - the user's own recording
    raise ValueError(f"the recorded value could not be stored: {data.get('repr')}")


def fingerprintable(value: Any) -> Any:
    """A stable JSON view of arguments: plain data as is, anything else by its repr."""
    if plain(value):
        return value
    if isinstance(value, (list, tuple)):
        return [fingerprintable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): fingerprintable(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode()}
    return {"repr": repr(value)}


def call_request(kind: Kind, target: str, payload: dict[str, Any]) -> CallRequest:
    body = canonical_json(payload)
    return CallRequest(method=kind.value.upper(), url=f"{kind.value}:{target}", host="", path=target,
                       query=[], headers=[], body=body, content_type="application/json")


def record_result(handle: Any, result: dict[str, Any]) -> None:
    handle.set_response({"status": 0})
    handle.chunk(orjson.dumps(result))
    handle.finish(Status.OK)


def record_error(handle: Any, exc: BaseException) -> None:
    handle.set_response({"status": 1})
    handle.chunk(orjson.dumps({"raised": encode_value(exc), "type": type(exc).__qualname__, "message": str(exc)}))
    handle.finish(Status.OK)


def recorded_result(event: Any) -> Any:
    """The recorded return value, or raise the recorded exception."""
    data = orjson.loads(event.body or b"{}")
    if "raised" in data:
        try:
            exc = decode_value(data["raised"])
        except Exception:
            exc = RuntimeError(f"{data.get('type')}: {data.get('message')} (recorded)")
        raise exc
    return decode_value(data.get("value", {"json": None}))


def _decide(kind: Kind, target: str, payload: dict[str, Any]) -> Any:
    session = active()
    if session is None:
        return None
    request = call_request(kind, target, payload)
    return session.decide(kind, request)


def run(kind: Kind, target: str, payload: dict[str, Any], live: Callable[[], T]) -> T:
    decision = _decide(kind, target, payload)
    if isinstance(decision, Serve):
        return recorded_result(decision.event)
    if decision is None:
        return live()
    try:
        value = live()
    except Exception as exc:
        record_error(decision.handle, exc)
        raise
    record_result(decision.handle, {"value": encode_value(value)})
    return value


async def arun(kind: Kind, target: str, payload: dict[str, Any], live: Callable[[], Awaitable[T]]) -> T:
    decision = _decide(kind, target, payload)
    if isinstance(decision, Serve):
        return recorded_result(decision.event)
    if decision is None:
        return await live()
    try:
        value = await live()
    except Exception as exc:
        record_error(decision.handle, exc)
        raise
    record_result(decision.handle, {"value": encode_value(value)})
    return value
