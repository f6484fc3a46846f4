"""A/B overrides for live LLM calls: another model, optionally at another provider's
OpenAI-compatible endpoint with its own key."""

from __future__ import annotations

import os
from typing import Any

from .._errors import OverrideError

__all__ = ["llm_rewrite", "provider_of_model"]

_MODEL_PREFIXES = (("claude", "anthropic"), ("gpt-", "openai"), ("o1", "openai"), ("o3", "openai"),
                   ("o4", "openai"), ("chatgpt", "openai"), ("text-embedding", "openai"), ("gemini", "google"),
                   ("mistral", "mistral"), ("command", "cohere"))


def provider_of_model(model: str) -> str | None:
    name = model.lower().rsplit("/", 1)[-1]
    return next((provider for prefix, provider in _MODEL_PREFIXES if name.startswith(prefix)), None)


def llm_rewrite(override: dict[str, Any], call_provider: str | None, summary: str) -> dict[str, Any] | None:
    """What to change in a live LLM request, or None; raises when it cannot apply."""
    model = override.get("model")
    if not model:
        return None
    target = provider_of_model(model)
    if target and call_provider and target != call_provider and not override.get("base_url"):
        raise OverrideError(
            f"autorr: override model {model!r} is a {target} model, but {summary} is a {call_provider} API call; "
            f"map it with {{\"llm_calls\": {{\"model\": {model!r}, \"base_url\": \"<{target}'s OpenAI-compatible "
            f"endpoint>\", \"api_key_env\": \"<variable holding its key>\"}}}}",
            {"type": "override", "call": summary, "model": model})
    rewrite: dict[str, Any] = {"model": model}
    if override.get("base_url"):
        rewrite["base_url"] = override["base_url"]
    if override.get("api_key_env"):
        key = os.environ.get(override["api_key_env"])
        if not key:
            raise OverrideError(f"autorr: override api_key_env={override['api_key_env']!r} is not set",
                                {"type": "override", "call": summary})
        rewrite["api_key"] = key
    return rewrite
