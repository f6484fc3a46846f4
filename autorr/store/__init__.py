"""Recordings on disk: one SQLite file each (or numbered segments once rotated), payloads
zstd-compressed and content-addressed.

The store knows nothing of integrations or SDKs: it takes `Event` objects in and gives
them back.
"""

from ._compact import compact
from ._reader import SUFFIX, Reader, check_directory, list_recordings, resolve, stored_labels
from ._schema import SCHEMA_VERSION, connect
from ._segments import recording_size, segment_path, segment_paths
from ._writer import Checkpoint, Writer

__all__ = ["SCHEMA_VERSION", "SUFFIX", "Checkpoint", "Reader", "Writer", "check_directory", "compact", "connect",
           "list_recordings",
           "recording_size", "resolve", "segment_path", "segment_paths", "stored_labels"]
