"""One benchmark phase in a fresh process: an N-turn agent whose history grows every turn.

About 2 KB of system prompt, 40-word replies, every other turn streamed (8 chunks),
against the fake server (live / record / replay) or an in-process transport (floor).
callthrough: live, through a wrapper at Client.send that only calls on, timed as autorr
is: the least own time any tool intercepting there can show.
Prints one JSON line: wall and autorr's own time per call, first-chunk times, file size.
With --tool <peer> (run from that peer's venv, see peers/), record and replay go through
the peer instead of autorr and own time is measured around the peer's interception.
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


class TimedStream(httpx2.SyncByteStream):
    """A real response body, whose reads from the socket count as real transport work."""

    def __init__(self, stream, own: "OwnTime") -> None:
        self._stream, self._own = stream, own

    def __iter__(self):
        chunks = iter(self._stream)
        while True:
            start = time.perf_counter()
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            finally:
                self._own.inner += time.perf_counter() - start
            yield chunk

    def close(self) -> None:
        start = time.perf_counter()
        try:
            self._stream.close()
        finally:
            self._own.inner += time.perf_counter() - start


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

    timer = _timer

    def install(self) -> None:
        """autorr: outer = its Client.send wrapper; inner = the same work the peers' timers
        leave out: httpx's client machinery (the timeout and auth set-up of the real
        Client.send, `_send_handling_auth` with the real transport under it), and httpx
        reading a non-streamed body with its socket reads (for the peers that read
        happens in Client.send, above their transport-level interception).
        autorr's per-chunk tee work therefore counts for neither streamed nor
        non-streamed calls, as the peers' buffering counts for them only inside their
        transport."""
        self.depth = 0
        outer = self._timer("outer")
        inner = self._timer("inner")

        def send(wrapped, instance, args, kwargs):  # on top of autorr's wrapper
            self.depth += 1
            try:
                return outer(wrapped, instance, args, kwargs)
            finally:
                self.depth -= 1

        def only_inside(wrapped, instance, args, kwargs):
            return inner(wrapped, instance, args, kwargs) if self.depth else wrapped(*args, **kwargs)

        wrapt.wrap_function_wrapper(httpx2, "Client.send", send)
        wrapt.wrap_function_wrapper(httpx2, "Client._send_handling_auth", inner)
        for name in ("Client._set_timeout", "Client._build_request_auth", "Response.read"):
            wrapt.wrap_function_wrapper(httpx2, name, only_inside)

    def real_transport(self):
        """For peers, which read the whole body inside their interception: the real
        HTTPTransport.handle_request and the reads of its body are the inner time."""
        timed = self._timer("inner")

        def wrapper(wrapped, instance, args, kwargs):
            response = timed(wrapped, instance, args, kwargs)
            response.stream = TimedStream(response.stream, self)
            return response

        return wrapper


def run(args: argparse.Namespace) -> dict:
    own = OwnTime()
    peer, setup_s = None, 0.0
    if args.tool != "autorr":
        import peers

        start = time.perf_counter()
        peer = peers.install(args.tool, args.phase, Path(args.path), own)  # replay: loads the recording
        setup_s = time.perf_counter() - start
    elif args.phase in ("record", "replay"):
        import autorr  # noqa: F401 - the patches are installed by AUTORR_MODE at start-up
        own.install()
    elif args.phase == "callthrough":  # the floor of own time at Client.send: a wrapper that only calls on
        wrapt.wrap_function_wrapper(httpx2, "Client.send", lambda wrapped, instance, a, kw: wrapped(*a, **kw))
        own.install()
    if args.sdk == "anthropic":
        import anthropic

        client = anthropic.Anthropic(base_url=args.url, api_key="bench-key-000000000",
                                     http_client=floor_client("anthropic") if args.phase == "floor" else None)
    else:
        import openai

        client = openai.OpenAI(base_url=args.url + "/v1", api_key="bench-key-000000000",
                               http_client=floor_client("openai") if args.phase == "floor" else None)
    if peer is not None:
        client = peer.client(client)
    walls: list[float] = []
    firsts: list[float] = []
    result = {"phase": args.phase, "sdk": args.sdk, "n": args.n, "tool": args.tool}
    cpu = time.process_time()  # every thread's CPU: the recorder's writer thread included
    if args.alter_turn >= 0:  # the changed-prompt check: report a refusal instead of failing
        try:
            result["last_reply"] = agent(client, args, walls, firsts)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - autorr's strict mismatch is not an Exception, on purpose
            result["error"] = describe(exc)
    else:
        result["last_reply"] = agent(client, args, walls, firsts)
    if args.tool == "autorr" and args.phase == "record":
        import autorr._session as session

        session.get_default().flush()  # the events still queued are part of the calls' cost
    result["cpu_total_s"] = time.process_time() - cpu
    own_us = max(0.0, own.outer - own.inner) / args.n * 1e6 if args.phase in ("record", "replay", "callthrough") \
        else None
    result.update(wall_us=statistics.median(walls) * 1e6 if walls else None, wall_total_s=sum(walls),
                  own_us=own_us, first_chunk_ms=[f * 1000 for f in firsts], outer_s=own.outer, inner_s=own.inner)
    if peer is not None:
        start = time.perf_counter()
        peer.finish()  # record: writes the cassette / tape
        result.update(setup_s=setup_s, finish_s=time.perf_counter() - start)
    return result


def describe(exc: BaseException) -> str:
    """The exception and the root cause the SDK wrapped it around."""
    text = f"{type(exc).__name__}: {exc}"
    root = exc
    while root.__cause__ is not None or root.__context__ is not None:
        root = root.__cause__ or root.__context__
    if root is not exc:
        text += f" <- {type(root).__name__}: {root}"
    return text[:400]


def agent(client, args: argparse.Namespace, walls: list[float], firsts: list[float]) -> str:
    history: list[dict] = []
    text = ""
    for turn in range(args.n):
        prompt = f"Turn {turn}: what should the agent do next about item {turn}?"
        if turn == args.alter_turn:
            prompt += " Actually, skip it."
        history.append({"role": "user", "content": prompt})
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
    return text


def boot() -> dict:
    """autorr's start-up in replay, timed as the peers' set-up is: importing it, patching,
    and loading the recording (AUTORR_DIR / AUTORR_RECORDING from the caller), which the
    start-up hook does before the agent's first line when AUTORR_MODE is set."""
    start = time.perf_counter()
    os.environ["AUTORR_MODE"] = "replay"
    from autorr._bootstrap import boot_from_environment

    boot_from_environment()
    return {"phase": "boot", "setup_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--phase", choices=["live", "record", "replay", "floor", "callthrough", "boot"],
                        required=True)
    parser.add_argument("--sdk", choices=["openai", "anthropic"], default="openai")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--url", default="http://127.0.0.1:9")
    parser.add_argument("--tool", default="autorr", help="autorr (set up by AUTORR_* variables) or a peer in peers/")
    parser.add_argument("--path", help="a peer's directory for its recording")
    parser.add_argument("--alter-turn", type=int, default=-1, help="change this turn's prompt (replay check)")
    args = parser.parse_args()
    if args.phase == "boot":  # autorr's replay start, the peers' setup_s: see boot()
        print(json.dumps(boot()))
        return
    result = run(args)
    if args.phase == "record" and args.tool == "autorr":
        import autorr._session as session

        start = time.perf_counter()
        manifest = session.get_default().stop()  # what atexit would do: flush, close, compact
        result.update(file_bytes=manifest.size_bytes, finish_s=time.perf_counter() - start)
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
