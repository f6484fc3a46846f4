"""Instructions per call, counted by valgrind: a measure that does not move with the machine.

Wall and CPU time on a shared 2-core VM move 10-30% from one minute to the next; the
number of instructions a call executes does not. This counts them (cachegrind, every
thread of the process) for an httpx2 client on an in-process transport whose requests
re-send a growing history, with autorr off, recording, and replaying, at two lengths;
the difference divided by the calls between them is the cost of one call at that size,
start-up and shutdown left out. Instructions are not time (a cache miss costs hundreds
of cycles, a copy of 100 KB few instructions' worth), but a change that removes work
shows here when the wall clock cannot tell.

    python benchmarks/instructions.py               # N = 100 -> 300, ~2 minutes
    python benchmarks/instructions.py --calls 50,150 --window 20

Needs valgrind on PATH. Results go to benchmarks/results/instructions.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SYSTEM = "You are a careful research agent. Follow the plan, cite sources, keep answers short. " * 24
REPLY = json.dumps({"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "word " * 40}}],
                    "usage": {"prompt_tokens": 500, "completion_tokens": 40}}).encode()


def child(calls: int, window: int, writer: bool) -> None:
    """The agent: ``calls`` chat requests through httpx2, the history growing by two messages a turn."""
    import httpx2

    if os.environ.get("AUTORR_MODE") == "record":
        from autorr import _recorder

        _recorder.Recorder._compact = lambda self: None  # stop's one-off pass grows with N: left out
        if not writer:
            from autorr.store import _writer

            _writer.Writer._write = lambda self, items: None  # the agent's thread alone

    class Body(httpx2.SyncByteStream):
        def __iter__(self):
            yield REPLY

    class Transport(httpx2.BaseTransport):
        def handle_request(self, request):
            return httpx2.Response(200, headers=[("content-type", "application/json"), ("x-request-id", "req-1"),
                                                 ("date", "Tue, 01 Dec 2026 12:00:00 GMT"), ("server", "bench")],
                                   stream=Body())

    client = httpx2.Client(transport=Transport())
    history = [{"role": "system", "content": SYSTEM}]
    for turn in range(calls):
        history.append({"role": "user", "content": f"Turn {turn}: what next about item {turn}?"})
        messages = history if not window else history[:1] + history[-window:]
        client.post("http://127.0.0.1:9/v1/chat/completions", json={"messages": messages, "model": "gpt-4o-mini"})
        history.append({"role": "assistant", "content": "word " * 40})


def count(mode: str, calls: int, window: int, work: Path) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTORR_")}
    env.update(PYTHONHASHSEED="0", AUTORR_DIR=str(work), AUTORR_RECORDING_ID=f"r{calls}",
               AUTORR_RECORDING=f"r{calls}")
    args = [sys.executable, __file__, "--child", str(calls), "--window", str(window)]
    if mode == "replay":  # the recording it replays, made first (uncounted)
        subprocess.run(args, env={**env, "AUTORR_MODE": "record"}, check=True, capture_output=True)
    if mode != "off":
        env["AUTORR_MODE"] = "record" if mode.startswith("record") else "replay"
    if mode == "record, agent thread":
        args.append("--no-writer")
    out = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                          *args], env=env, capture_output=True, text=True, check=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{out.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", default="100,300", help="two run lengths, e.g. 100,300")
    parser.add_argument("--window", type=int, default=0, help="send only the last W messages (0: all)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--no-writer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "instructions.md")
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.window, writer=not args.no_writer)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not on PATH")
    short, long = (int(n) for n in args.calls.split(","))
    rows = {}
    for mode in ("off", "record", "record, agent thread", "replay"):
        with tempfile.TemporaryDirectory(prefix="autorr-instr-") as work:
            before, after = (count(mode, n, args.window, Path(work)) for n in (short, long))
        rows[mode] = (after - before) / (long - short)
        print(f"{mode:22s} {rows[mode]:>12,.0f} instructions per call", flush=True)
    history = f"the last {args.window} messages" if args.window else "the whole growing history"
    lines = [f"# Instructions per call — {datetime.date.today().isoformat()}", "",
             f"httpx2 on an in-process transport, {history} (calls {short + 1} to {long}), counted by "
             "valgrind (cachegrind) in every thread; `python benchmarks/instructions.py`.", "",
             "| autorr | instructions per call | autorr's share |", "|---|---|---|"]
    for mode, value in rows.items():
        extra = "" if mode == "off" else f"{value - rows['off']:+,.0f}"
        lines.append(f"| {mode} | {value:,.0f} | {extra} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
