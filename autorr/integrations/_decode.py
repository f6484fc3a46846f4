"""Undo ``Content-Encoding`` chunk by chunk, so recordings hold readable bodies.

Recorded bodies are stored decoded: secrets inside a gzip body can be scrubbed,
identical messages deduplicate, and analysis reads tokens without decompressing.
The replayed response then carries no ``Content-Encoding`` header.
"""

from __future__ import annotations

import zlib
from typing import Callable

__all__ = ["Decoder", "decoder_for"]

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
