"""Recordings on disk: one SQLite file each, payloads zstd-compressed and content-addressed.

The store knows nothing of integrations or SDKs: it takes `Event` objects in and gives
them back.
"""

from ._compact import compact
from ._reader import SUFFIX, Reader, list_recordings, resolve
from ._schema import SCHEMA_VERSION, connect
from ._writer import Checkpoint, Writer

__all__ = ["SCHEMA_VERSION", "SUFFIX", "Checkpoint", "Reader", "Writer", "compact", "connect", "list_recordings", "resolve"]
