"""Observability traffic that is not part of an agent's behaviour.

Trace exporters (the OpenAI Agents SDK, LangSmith, Langfuse...) and product analytics
send random ids and timestamps in every body, so they can never match a recording.
They are not recorded; in replay they get an empty ``200 {}`` without touching the
network, so a background exporter neither fails the run nor leaks a request.
"""

from __future__ import annotations

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


def is_telemetry(host: str, path: str) -> bool:
    host = host.lower()
    return any((host == h or host.endswith("." + h)) and path.startswith(p) for h, p in TELEMETRY)
