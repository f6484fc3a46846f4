"""A fake LLM server for demos and tests: OpenAI chat completions (JSON, SSE, tool calls),
the Responses API, embeddings and Anthropic messages, on a real loopback socket.

    with FakeLLMServer(chunk_delay=0.025) as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="x")

From a shell (prints the base URL, serves until SIGINT/SIGTERM):
``python -m autorr.testing --port 0 --chunk-delay 0.025``.
"""

from ._server import FakeLLMServer, ReceivedRequest

__all__ = ["FakeLLMServer", "ReceivedRequest"]
