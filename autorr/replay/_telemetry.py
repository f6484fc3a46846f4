"""Observability traffic that is not part of an agent's behaviour.

Trace exporters (the OpenAI Agents SDK, LangSmith, Langfuse...) and product analytics
send random ids and timestamps in every body, so they can never match a recording.
They are not recorded; in replay they get an empty ``200 {}`` without touching the
network, so a background exporter neither fails the run nor leaks a request.
"""

from __future__ import annotations

import functools

__all__ = ["TELEMETRY", "is_telemetry"]

# (host suffix, path prefix); "" matches any path.
TELEMETRY: tuple[tuple[str, str], ...] = (
    ("api.openai.com", "/v1/traces/"),
    ("smith.langchain.com", ""),
    ("api.langchain.com", ""),
    ("langfuse.com", ""),
    ("posthog.com", ""),
    ("api.segment.io", ""),
    ("sentry.io", ""),
    ("telemetry.crewai.com", ""),
    ("api.wandb.ai", ""),
    ("app.agentops.ai", ""),
    ("api.honeycomb.io", ""),
)


@functools.lru_cache(maxsize=256)
def _prefixes(host: str) -> tuple[str, ...]:
    host = host.lower()
    return tuple(p for h, p in TELEMETRY if host == h or host.endswith("." + h))


def is_telemetry(host: str, path: str) -> bool:
    prefixes = _prefixes(host)  # one dict lookup per call: an agent talks to few hosts
    return bool(prefixes) and path.startswith(prefixes)
