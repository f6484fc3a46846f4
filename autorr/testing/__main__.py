"""``python -m autorr.testing [--port 0] [--chunk-delay 0.025]``: print the base URL, serve until
SIGINT or SIGTERM (exit 0 either way)."""

from __future__ import annotations

import argparse
import signal
import threading

from ._server import FakeLLMServer

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autorr.testing", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between streamed events")
    parser.add_argument("--reply-words", type=int, default=40)
    parser.add_argument("--reply-prefix", default="")
    parser.add_argument("--no-nonce", dest="nonce", action="store_false",
                        help="deterministic ids and timestamps instead of fresh ones per response")
    args = parser.parse_args(argv)
    done = threading.Event()
    # A supervisor's SIGTERM is a normal way to stop a fixture: stop cleanly, exit 0.
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    server = FakeLLMServer(port=args.port, chunk_delay=args.chunk_delay, reply_words=args.reply_words,
                           reply_prefix=args.reply_prefix, nonce=args.nonce)
    with server:
        print(server.url, flush=True)  # one line: a parent process reads it to learn the port
        try:
            done.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
