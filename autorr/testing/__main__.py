"""``python -m autorr.testing [--port 0] [--chunk-delay 0.025]``: serve until interrupted."""

import argparse
import signal
import threading

from ._server import FakeLLMServer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m autorr.testing", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between streamed events")
    args = parser.parse_args()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with FakeLLMServer(port=args.port, chunk_delay=args.chunk_delay) as server:
        print(server.url, flush=True)
        try:
            done.wait()
        except KeyboardInterrupt:
            pass


main()
