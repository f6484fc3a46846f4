"""A fake LLM server for demos and tests: OpenAI chat completions (JSON, SSE, tool calls),
the Responses API, embeddings and Anthropic messages, on a real loopback socket.

    with FakeLLMServer(chunk_delay=0.025) as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="x")
"""

from ._server import FakeLLMServer, ReceivedRequest

__all__ = ["FakeLLMServer", "ReceivedRequest"]
