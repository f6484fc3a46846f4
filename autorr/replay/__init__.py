"""Replay: fingerprints, matchers and the engine that serves recorded answers.

The engine never imports an SDK or an integration: it matches `CallRequest`s and
hands back recorded `Event`s.
"""

from ._engine import Player, category_of
from ._fingerprint import request_fingerprint

__all__ = ["Player", "category_of", "request_fingerprint"]
