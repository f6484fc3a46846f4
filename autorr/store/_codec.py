"""Payload encoding: content addressing, JSON splitting and zstd.

A chat request re-sends the whole conversation every turn. Storing each request
whole makes a recording grow with the square of its length; instead each top-level
list (the messages) becomes a chain of content-addressed nodes, one per element, and
large top-level values become blobs of their own, so every message is stored once
however often it is sent, and a request row holds a few hashes.
"""

from __future__ import annotations

from typing import Any, Callable

import orjson
import xxhash

__all__ = ["DICT_KEY", "LIST", "REF", "ZSTD", "ZSTD_DICT", "ZSTD_DICT_BARE", "BlobSink", "Dictionary", "decode_blob",
           "encode_blob", "headers_ref", "join_json", "split_json", "zstd_bare_compressor", "zstd_compress", "zstd_dict_compressor"]

REF = "$ref"
LIST = "$list"  # a chain of list nodes, see `_chain`
SPLIT_MIN = 256  # smaller values stay inline: a row of their own costs more
# While recording, only large payloads are compressed: alone, a message of a few hundred
# bytes barely shrinks, and compaction at stop compresses everything with a dictionary.
COMPRESS_MIN = 1024

RAW, ZSTD, ZSTD_DICT = 0, 1, 2  # ZSTD_DICT: with the recording's dictionary (see _compact)
# With the dictionary, as bare frames: no magic number, content size or dictionary id,
# the 6 to 10 bytes that a frame of a few dozen bytes mostly is. What they said is known
# anyway: the codec says it is zstd, the blob's size column its size, and one dictionary
# serves the whole file. Compaction wrote ZSTD_DICT before it wrote these.
ZSTD_DICT_BARE = 3
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
DICT_KEY = "zstd-dict"  # the blob holding that dictionary

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


def zstd_dict_compressor(dictionary: bytes) -> Any:
    """Writes `ZSTD_DICT` frames, as compaction did before `ZSTD_DICT_BARE` (the tests
    make such files with it: they must still read)."""
    import zstandard

    return zstandard.ZstdCompressor(level=12, dict_data=zstandard.ZstdCompressionDict(dictionary))


_BARE_LEVEL = 12


def zstd_bare_compressor(dictionary: bytes) -> Any:
    """Writes `ZSTD_DICT_BARE` frames."""
    import zstandard

    params = zstandard.ZstdCompressionParameters.from_level(
        _BARE_LEVEL, format=zstandard.FORMAT_ZSTD1_MAGICLESS, write_content_size=0, write_dict_id=0)
    return zstandard.ZstdCompressor(compression_params=params, dict_data=zstandard.ZstdCompressionDict(dictionary))


class Dictionary:
    """A compacted segment's dictionary: decodes its blobs and payload columns in either
    of the formats compaction wrote (`ZSTD_DICT` frames, `ZSTD_DICT_BARE` ones)."""

    def __init__(self, dictionary: bytes) -> None:
        import zstandard

        self._dict = zstandard.ZstdCompressionDict(dictionary)
        self._full: Any = None
        self._bare: Any = None

    def decompress(self, data: bytes) -> bytes:
        """A `ZSTD_DICT` frame."""
        if self._full is None:
            import zstandard

            self._full = zstandard.ZstdDecompressor(dict_data=self._dict)
        return self._full.decompress(data)

    def bare(self, data: bytes, size: int | None = None) -> bytes:
        """A `ZSTD_DICT_BARE` frame; ``size``, when known, is its raw size."""
        if self._bare is None:
            import zstandard

            self._bare = zstandard.ZstdDecompressor(dict_data=self._dict, format=zstandard.FORMAT_ZSTD1_MAGICLESS)
        if size is not None:
            return self._bare.decompress(data, max_output_size=max(size, 1))
        return self._bare.decompressobj().decompress(data)

    def column(self, data: bytes) -> bytes:
        """A compressed payload column: a column has no codec of its own, but the format
        tells itself, as a bare frame never starts with the magic number (its first byte
        would set the frame header's reserved bit)."""
        return self.decompress(data) if data[:4] == _ZSTD_MAGIC else self.bare(data)


def blob_hash(data: bytes) -> str:
    # A key, not a security boundary; readers never recompute it (older files hold
    # blake2b keys and read the same).
    return xxhash.xxh3_128_hexdigest(data)


class BlobSink:
    """Collects new blobs for one transaction, skipping those already stored."""

    def __init__(self, known: set[str], compression: bool, scrub: Callable[[bytes], bytes],
                 chains: dict[Any, Any] | None = None) -> None:
        self.known = known
        # (parent node, element bytes) -> node, and RECENT -> the last lists chained;
        # cleared by the writer when a transaction fails (its blobs never landed).
        self.chains = {} if chains is None else chains
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
            codec, stored = encode_blob(data, self.compression)
            self.rows.append((digest, codec, len(data), stored))
            self.raw_bytes += len(data)
            self.stored_bytes += len(stored)
        return digest


def encode_blob(data: bytes, compression: bool) -> tuple[int, bytes]:
    """(codec, bytes stored) of a blob: zstd when asked for, big enough and worth it."""
    if compression and len(data) >= COMPRESS_MIN:
        packed = zstd_compress(data)
        if len(packed) < len(data):
            return ZSTD, packed
    return RAW, data


def decode_blob(codec: int, data: bytes, dictionary: Any = None, size: int | None = None) -> bytes:
    """A stored blob's bytes; ``dictionary`` is its segment's `Dictionary`, ``size`` the
    blob's raw size, which ZSTD_DICT_BARE needs."""
    if codec == ZSTD:
        return _zstd_decompress(data)
    if codec in (ZSTD_DICT, ZSTD_DICT_BARE):
        if dictionary is None:
            raise ValueError("blob compressed with a dictionary the recording does not hold")
        return dictionary.decompress(data) if codec == ZSTD_DICT else dictionary.bare(data, size)
    if codec != RAW:  # served as it is, the bytes would reach the agent as its answer
        raise ValueError(f"unknown codec {codec!r}")
    return bytes(data)


def _maybe_ref(value: Any, sink: BlobSink) -> Any:
    if isinstance(value, (dict, list, str)):
        encoded = orjson.dumps(value)
        if len(encoded) >= SPLIT_MIN:
            return {REF: sink.put(encoded)}
    return value


NODES = "nodes"  # key in `BlobSink.chains`, with a `Growth` token: the nodes of that request's list
RECENT = "recent"  # key in `BlobSink.chains`: [(a list as encoded, its nodes)], newest last
_RECENT_LISTS = 8  # conversations interleaved by several agents in one process


def _shared_prefix(encoded: bytes, sink: BlobSink) -> list[str]:
    """The nodes of the longest list chained before that ``encoded`` (a list, as orjson
    writes it) starts with, element for element.

    Turn n+1 of a conversation re-sends turn n's list plus a message or two: comparing
    bytes finds that without serialising every message again, and unlike ``==`` on
    parsed values it tells ``true`` from ``1`` and ``1`` from ``1.0``.
    """
    for old, nodes in reversed(sink.chains.get(RECENT, ())):  # newest (longest) first
        head = old[:-1]  # "[e0,...,ek" without the closing bracket
        if encoded.startswith(head) and encoded[len(head):len(head) + 1] in (b",", b"]"):
            return nodes
    return []


def _chain(items: list[Any], sink: BlobSink, grown: Any = None) -> str | None:
    """Store a list as a chain of nodes ``[parent, element]``; returns the last node's hash.

    A node's hash covers its whole prefix, so a conversation that grows by one
    message per turn adds one node per turn: storage stays linear in its length.
    ``grown`` (a `_growth.Growth` for this list) says how many leading elements the
    previous turn had: their nodes are that turn's, and nothing is encoded again.
    """
    chains = sink.chains
    known = chains.pop((NODES, grown.previous), None) if grown is not None and grown.previous else None
    encoded = None
    if known is not None and len(known) == grown.shared:
        nodes = list(known)
    else:
        encoded = orjson.dumps(items)
        nodes = list(_shared_prefix(encoded, sink))
    parent = nodes[-1] if nodes else None
    for element in items[len(nodes):]:
        key = (parent, orjson.dumps(element))
        node = chains.get(key)
        if node is None:
            node = chains[key] = sink.put(orjson.dumps([parent, _maybe_ref(element, sink)]))
        nodes.append(node)
        parent = node
    if grown is not None:
        chains[(NODES, grown.token)] = nodes
    if encoded is not None:
        recent = chains.setdefault(RECENT, [])
        recent.append((encoded, nodes))
        del recent[:-_RECENT_LISTS]
    return parent


def split_json(value: Any, sink: BlobSink, grown: Any = None) -> Any:
    """Replace top-level lists with chains and large top-level values with blob references.
    ``grown``: how ``value`` extends an earlier request (see `_chain`)."""
    if isinstance(value, dict):
        return {key: {LIST: _chain(item, sink, grown if grown is not None and key == grown.key else None)}
                if isinstance(item, list) and item else _maybe_ref(item, sink)
                for key, item in value.items()}
    if isinstance(value, list) and value:
        return {LIST: _chain(value, sink)}
    return value


def headers_ref(headers: list[tuple[str, str]], sink: BlobSink,
                mask: Callable[[tuple[tuple[str, str], ...]], Any]) -> Any:
    """A request's headers as stored: a client sends the same ones with every call, so
    they are masked (``mask`` also learns the credentials, for `scrub` to remove
    wherever else they appear) and stored once, as a blob. Content-Length is left out:
    the body says it, and it changes with every body."""
    key = ("headers", tuple((k, v) for k, v in headers if k.lower() != "content-length"))
    ref = sink.chains.get(key)
    if ref is None:
        masked = orjson.dumps(mask(key[1]))
        ref = sink.chains[key] = {REF: sink.put(masked)} if len(masked) >= SPLIT_MIN else orjson.loads(masked)
    return ref


def _is(value: Any, marker: str) -> bool:
    return isinstance(value, dict) and len(value) == 1 and marker in value


def join_json(value: Any, load: Callable[[str], bytes]) -> Any:
    """Inverse of `split_json`."""
    def resolve(item: Any) -> Any:
        if _is(item, REF):
            return orjson.loads(load(item[REF]))
        if _is(item, LIST):
            out, node = [], item[LIST]
            while node is not None:
                node, element = orjson.loads(load(node))
                out.append(resolve(element))
            out.reverse()
            return out
        return item

    if isinstance(value, dict) and not _is(value, LIST):
        return {key: resolve(item) for key, item in value.items()}
    return resolve(value)
