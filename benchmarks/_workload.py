"""One benchmark phase in a fresh process: an N-turn agent whose history grows every turn.

About 2 KB of system prompt, 40-word replies, every other turn streamed (8 chunks),
against the fake server (live / record / replay) or an in-process transport (floor).
Prints one JSON line: wall and autorr's own time per call, first-chunk times, file size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import httpx2
import wrapt

SYSTEM = ("You are a careful research agent. Follow the plan, cite sources, keep answers short. " * 24)[:2048]


def floor_client(sdk: str):
    """The SDK with an in-process transport that answers like the fake server: no socket, no recorder."""
    from autorr.testing._anthropic import messages
    from autorr.testing._openai import chat
    from autorr.testing._replies import Replies

    class Server:
        nonce, reply_words, reply_prefix = True, 40, ""

    replies = Replies(Server())

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        kind, data = (messages if sdk == "anthropic" else chat)(replies, body)
        if kind == "json":
            return httpx2.Response(200, json=data)
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=b"".join(data))

    return httpx2.Client(transport=httpx2.MockTransport(handler))


class OwnTime:
    """autorr's own time: time inside the patched send minus the real transport work under it."""

    def __init__(self) -> None:
        self.outer = 0.0
        self.inner = 0.0

    def _timer(self, total: str):
        def wrapper(wrapped, instance, args, kwargs):
            start = time.perf_counter()
            try:
                return wrapped(*args, **kwargs)
            finally:
                setattr(self, total, getattr(self, total) + time.perf_counter() - start)

        return wrapper

    def install(self) -> None:
        wrapt.wrap_function_wrapper(httpx2, "Client.send", self._timer("outer"))  # on top of autorr's wrapper
        wrapt.wrap_function_wrapper(httpx2, "Client._send_handling_auth", self._timer("inner"))


def run(args: argparse.Namespace) -> dict:
    own = OwnTime()
    if args.phase in ("record", "replay"):
        import autorr  # noqa: F401 - the patches are installed by AUTORR_MODE at start-up
        own.install()
    if args.sdk == "anthropic":
        import anthropic

        client = anthropic.Anthropic(base_url=args.url, api_key="bench-key-000000000",
                                     http_client=floor_client("anthropic") if args.phase == "floor" else None)
    else:
        import openai

        client = openai.OpenAI(base_url=args.url + "/v1", api_key="bench-key-000000000",
                               http_client=floor_client("openai") if args.phase == "floor" else None)
    history: list[dict] = []
    walls, firsts = [], []
    for turn in range(args.n):
        history.append({"role": "user", "content": f"Turn {turn}: what should the agent do next about item {turn}?"})
        stream = turn % 2 == 1
        start = time.perf_counter()
        if args.sdk == "anthropic":
            kwargs = dict(model="claude-3-5-haiku-latest", max_tokens=256, system=SYSTEM, messages=history)
            if stream:
                parts = []
                for event in client.messages.create(stream=True, **kwargs):
                    if event.type == "content_block_delta":
                        if not parts:
                            firsts.append(time.perf_counter() - start)
                        parts.append(event.delta.text)
                text = "".join(parts)
            else:
                text = client.messages.create(**kwargs).content[0].text
        else:
            messages = [{"role": "system", "content": SYSTEM}] + history
            if stream:
                parts = []
                for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True):
                    if chunk.choices and chunk.choices[0].delta.content:
                        if not parts:
                            firsts.append(time.perf_counter() - start)
                        parts.append(chunk.choices[0].delta.content)
                text = "".join(parts)
            else:
                text = client.chat.completions.create(model="gpt-4o-mini", messages=messages).choices[0].message.content
        walls.append(time.perf_counter() - start)
        history.append({"role": "assistant", "content": text})
    own_us = max(0.0, own.outer - own.inner) / args.n * 1e6 if args.phase in ("record", "replay") else None
    return {"phase": args.phase, "sdk": args.sdk, "n": args.n, "wall_us": statistics.median(walls) * 1e6,
            "wall_total_s": sum(walls), "own_us": own_us, "first_chunk_ms": [f * 1000 for f in firsts]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--phase", choices=["live", "record", "replay", "floor"], required=True)
    parser.add_argument("--sdk", choices=["openai", "anthropic"], default="openai")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--url", default="http://127.0.0.1:9")
    args = parser.parse_args()
    result = run(args)
    if args.phase == "record":
        import autorr._session as session

        recorder = session.get_default()
        manifest = recorder.stop()
        result["file_bytes"] = manifest.size_bytes
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
