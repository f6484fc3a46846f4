"""Request fingerprints: a hash of the canonical request (DESIGN.md §6).

Method, host, path, sorted query and the canonical JSON body go in; headers never do
(auth, ``x-stainless-*``, idempotency keys, trace ids and user agents change from
run to run), nor do query parameters that carry credentials.

Two keys per request. The fingerprint hashes the canonical body (parsed, keys
sorted): what matching means. The exact key hashes the body bytes as sent: an SDK
serialises the same request to the same bytes, so replay looks the exact key up
first and only parses and canonicalises a request it has not seen byte for byte
(a 200 KB history: a few µs against a few hundred).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

import xxhash

if TYPE_CHECKING:
    from .._events import CallRequest

__all__ = ["FINGERPRINT_V1", "FINGERPRINT_V2", "SECRET_QUERY_PARAMS", "canonical_fingerprint", "canonical_json",
           "exact_key", "fingerprint", "parse_body", "request_fingerprint"]

# Schema 1 files hashed with blake2b; xxh3 is ~50x faster on a long history.
FINGERPRINT_V1, FINGERPRINT_V2 = "blake2b-96", "xxh3-128"

# Query parameters that carry credentials (Gemini's ?key=, presigned URLs...).
SECRET_QUERY_PARAMS = frozenset(
    {
        "key", "api_key", "apikey", "api-key", "access_token", "token", "auth", "sig",
        "signature", "x-amz-signature", "x-amz-credential", "x-amz-security-token",
        "x-goog-signature", "x-goog-credential", "code", "client_secret", "password",
    }
)

_BOUNDARY = re.compile(rb"boundary=\"?([^\";,\s]+)")

try:  # orjson is ~10x faster on large growing histories; stdlib json is the fallback
    import orjson as _orjson

    def canonical_json(value: Any) -> bytes:
        return _orjson.dumps(value, option=_orjson.OPT_SORT_KEYS)

    _loads = _orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    def canonical_json(value: Any) -> bytes:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    _loads = json.loads


def parse_body(body: bytes, content_type: str) -> Any:
    """The body as JSON, or None when it is not JSON."""
    if not body or body[:1] not in b"{[" or "json" not in content_type and content_type:
        return None
    try:
        return _loads(body)
    except ValueError:
        return None


def _canonical_bytes(body: bytes, content_type: str) -> bytes:
    # Multipart boundaries are random per request; replace them with a constant.
    if content_type.startswith("multipart/"):
        found = _BOUNDARY.search(content_type.encode())
        if found:
            return body.replace(found.group(1), b"autorr-boundary")
    return body


def _hasher(version: str) -> Any:
    if version == FINGERPRINT_V1:
        return hashlib.blake2b(digest_size=12)
    return xxhash.xxh3_128()


@functools.lru_cache(maxsize=1024)  # an agent calls few endpoints
def _head(method: str, host: str, path: str, query: tuple[tuple[str, str], ...]) -> bytes:
    """What both keys hash before the body."""
    parts = [method.upper().encode(), b"\0", host.lower().encode(), b"\0", path.encode(), b"\0"]
    parts += [f"{name}={value}&".encode() for name, value in sorted(query) if name.lower() not in SECRET_QUERY_PARAMS]
    parts.append(b"\0")
    return b"".join(parts)


def _digest(method: str, host: str, path: str, query: list[tuple[str, str]], canonical: bytes, version: str) -> str:
    h = _hasher(version)
    h.update(_head(method, host, path, tuple(query)))
    h.update(canonical)
    return h.hexdigest()


def fingerprint(method: str, host: str, path: str, query: list[tuple[str, str]], body: bytes,
                parsed: Any, content_type: str, version: str = FINGERPRINT_V2) -> str:
    canonical = canonical_json(parsed) if parsed is not None else _canonical_bytes(body, content_type)
    return _digest(method, host, path, query, canonical, version)


def canonical_fingerprint(request: "CallRequest", canonical: bytes, version: str = FINGERPRINT_V2) -> str:
    """`request_fingerprint` when the body's canonical JSON is known already."""
    return _digest(request.method, request.host, request.path, request.query, canonical, version)


def request_fingerprint(request: "CallRequest", version: str = FINGERPRINT_V2) -> str:
    return fingerprint(request.method, request.host, request.path, request.query, request.body, request.json,
                       request.content_type, version)


@functools.lru_cache(maxsize=1024)
def _head_hashed(method: str, host: str, path: str, query: tuple[tuple[str, str], ...]) -> Any:
    """A hasher that has taken `_head`: copied, it spares making and feeding one per call."""
    return xxhash.xxh3_128(_head(method, host, path, query))


def exact_key(request: "CallRequest") -> str:
    """Hash of the request as sent (credentials in the query left out): equal keys, equal fingerprints."""
    h = _head_hashed(request.method, request.host, request.path, tuple(request.query)).copy()
    body = request.body or b""
    # Only a multipart body (it starts with its boundary) needs the content type.
    h.update(_canonical_bytes(body, request.content_type) if body[:2] == b"--" else body)
    return h.hexdigest()
