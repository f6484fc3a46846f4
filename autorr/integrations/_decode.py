"""Undo ``Content-Encoding`` chunk by chunk, so recordings hold readable bodies.

Recorded bodies are stored decoded: secrets inside a gzip body can be scrubbed,
identical messages deduplicate, and analysis reads tokens without decompressing.
The replayed response then carries no ``Content-Encoding`` header. httpx bodies are
teed as received and decoded on the writer thread (`decode_recorded`): the agent's
thread neither looks the encoding up nor decompresses.
"""

from __future__ import annotations

import logging
import zlib
from typing import Any, Callable

from .._events import find_header, text_headers

__all__ = ["Decoder", "decode_recorded", "decoded_headers", "decoder_for", "decoder_of"]

log = logging.getLogger("autorr")

# Headers that describe the encoded body: dropped with the encoding.
_DROP_ON_DECODE = ("content-encoding", "content-length")

Decoder = Callable[[bytes], bytes]


def _zlib(wbits: int) -> Decoder:
    obj = zlib.decompressobj(wbits)
    return obj.decompress


def _zstd() -> Decoder:
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj().decompress


def _brotli() -> Decoder:
    import brotli  # type: ignore[import-not-found]

    return brotli.Decompressor().process


_FACTORIES: dict[str, Callable[[], Decoder]] = {
    "gzip": lambda: _zlib(zlib.MAX_WBITS | 16),
    "x-gzip": lambda: _zlib(zlib.MAX_WBITS | 16),
    "deflate": lambda: _zlib(zlib.MAX_WBITS | 32),  # zlib or raw header, auto-detected
    "zstd": _zstd,
    "br": _brotli,
}


def decoder_for(content_encoding: str) -> Decoder | None:
    """A streaming decoder for the header's (single) encoding; None if identity or unknown."""
    name = content_encoding.strip().lower()
    factory = _FACTORIES.get(name)
    if factory is None:
        return None
    try:
        return factory()
    except ImportError:
        return None


def decoder_of(headers: list[tuple[str, str]]) -> tuple[str, Decoder | None]:
    """The body's Content-Encoding, and a streaming decoder for it (None: identity or unknown)."""
    encoding = find_header(headers, "content-encoding") or ""
    return encoding, decoder_for(encoding) if encoding else None


def decoded_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers of the body once decoded: those that describe its encoding left out."""
    return [(k, v) for k, v in headers if k.lower() not in _DROP_ON_DECODE]


def decode_recorded(response: dict[str, Any], parts: list[bytes],
                    chunks: list[tuple[int, int]]) -> tuple[dict[str, Any], list[bytes], list[tuple[int, int]]]:
    """A response teed as received (``response["decode"]``), decoded chunk by chunk with
    each chunk's arrival time kept. A body that does not decode is kept as received,
    with its ``Content-Encoding``: replay serves the bytes the client got.

    ``response["decode"]`` is True, or the encodings the client library undoes itself:
    one it leaves encoded (httpx2 has no zstd without ``backports.zstd``, autorr has
    ``zstandard``) is kept as received too, or replay would hand over text where the
    recorded run got compressed bytes."""
    response = dict(response, headers=text_headers(response.get("headers")))
    undone = response.pop("decode")
    encoding, decode = decoder_of(response["headers"])
    if decode is None or undone is not True and encoding.strip().lower() not in undone:
        return response, parts, chunks
    decoded, timed = [], []
    try:
        for part, (_, offset_us) in zip(parts, chunks):
            data = decode(part)
            if data:
                decoded.append(data)
                timed.append((len(data), offset_us))
    except Exception as exc:  # a truncated or mislabelled body
        log.debug("autorr: %s body kept as received: %s", encoding, exc)
        return response, parts, chunks
    response["headers"] = decoded_headers(response["headers"])
    return response, decoded, timed
