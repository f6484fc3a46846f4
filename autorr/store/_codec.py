"""Payload encoding: content addressing, JSON splitting and zstd.

A chat request re-sends the whole conversation every turn. Storing each request
whole makes a recording grow with the square of its length; instead the top-level
JSON values (and each element of top-level lists, i.e. each message) that are large
enough become blobs of their own, keyed by their hash, so every message is stored
once however often it is sent.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

import orjson

__all__ = ["REF", "BlobSink", "decode_blob", "join_json", "split_json", "zstd_compress"]

REF = "$ref"
SPLIT_MIN = 256  # smaller values stay inline: a row of their own costs more
COMPRESS_MIN = 96

RAW, ZSTD = 0, 1

_zc = None
_zd = None


def zstd_compress(data: bytes) -> bytes:
    global _zc
    if _zc is None:
        import zstandard

        _zc = zstandard.ZstdCompressor(level=3)
    return _zc.compress(data)


def _zstd_decompress(data: bytes) -> bytes:
    global _zd
    if _zd is None:
        import zstandard

        _zd = zstandard.ZstdDecompressor()
    return _zd.decompress(data)


def blob_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class BlobSink:
    """Collects new blobs for one transaction, skipping those already stored."""

    def __init__(self, known: set[str], compression: bool, scrub: Callable[[bytes], bytes]) -> None:
        self.known = known
        self.compression = compression
        self.scrub = scrub
        self.rows: list[tuple[str, int, int, bytes]] = []
        self.raw_bytes = 0
        self.stored_bytes = 0

    def put(self, data: bytes, scrub: bool = True) -> str:
        # Keyed by the bytes as sent, so a message re-sent every turn is neither
        # scrubbed nor compressed again (the key is a hash: it reveals nothing).
        digest = blob_hash(data)
        if digest not in self.known:
            self.known.add(digest)
            if scrub:
                data = self.scrub(data)
            codec, stored = RAW, data
            if self.compression and len(data) >= COMPRESS_MIN:
                packed = zstd_compress(data)
                if len(packed) < len(data):
                    codec, stored = ZSTD, packed
            self.rows.append((digest, codec, len(data), stored))
            self.raw_bytes += len(data)
            self.stored_bytes += len(stored)
        return digest


def decode_blob(codec: int, data: bytes) -> bytes:
    return _zstd_decompress(data) if codec == ZSTD else bytes(data)


def _maybe_ref(value: Any, sink: BlobSink) -> Any:
    if isinstance(value, (dict, list, str)):
        encoded = orjson.dumps(value)
        if len(encoded) >= SPLIT_MIN:
            return {REF: sink.put(encoded)}
    return value


def split_json(value: Any, sink: BlobSink) -> Any:
    """Replace large top-level values / list elements with blob references."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(item, list):
                out[key] = [_maybe_ref(element, sink) for element in item]
            else:
                out[key] = _maybe_ref(item, sink)
        return out
    if isinstance(value, list):
        return [_maybe_ref(element, sink) for element in value]
    return value


def _is_ref(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and REF in value


def join_json(value: Any, load: Callable[[str], bytes]) -> Any:
    """Inverse of `split_json`."""
    def resolve(item: Any) -> Any:
        return orjson.loads(load(item[REF])) if _is_ref(item) else item

    if isinstance(value, dict):
        return {
            key: [resolve(e) for e in item] if isinstance(item, list) else resolve(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [resolve(e) for e in value]
    return value
