"""The ``autorr`` command: a thin shell over the Python API.

    autorr run [--mode record|replay] [options] -- python agent.py
    autorr record -- python agent.py        (= run --mode record)
    autorr replay -- python agent.py        (= run --mode replay)
    autorr list | show [ID] | analyze [ID] | demo
    autorr replay-stream [ID] [EVENT_ID] [--fast]
    autorr upload ID URL | download URL [--id ID]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from ._config import Mode, ReplayMode, Timing, load_config
from ._errors import AutorrError

__all__ = ["main", "sitecustomize_dir"]


def sitecustomize_dir() -> Path:
    """Where autorr's ``sitecustomize.py`` lives (in the wheel, or in a source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_sitecustomize", here.parent / "sitecustomize"):
        if (candidate / "sitecustomize.py").is_file():
            return candidate
    raise AutorrError("autorr's sitecustomize directory is missing from this installation")


def _run(args: argparse.Namespace, mode: str | None) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise AutorrError("nothing to run: give a command after '--', e.g. autorr run -- python agent.py")
    env = dict(os.environ)
    settings = {
        "AUTORR_MODE": mode or args.mode, "AUTORR_REPLAY_MODE": args.replay_mode, "AUTORR_DIR": args.dir,
        "AUTORR_RECORDING": getattr(args, "recording", None), "AUTORR_RECORDING_ID": getattr(args, "id", None),
        "AUTORR_TIMING": args.timing, "AUTORR_CHECKPOINT": args.checkpoint, "AUTORR_OVERRIDES": args.overrides,
    }
    env.update({k: v for k, v in settings.items() if v})
    load_config(env)  # a bad value stops here, with the variable named
    paths = [str(sitecustomize_dir())] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["_AUTORR_RUN_PID"] = str(os.getpid())  # exec keeps the pid: the command itself, not its children
    sys.stdout.flush()
    try:
        os.execvpe(command[0], command, env)
    except FileNotFoundError:
        raise AutorrError(f"command not found: {command[0]}") from None


def _show(args: argparse.Namespace) -> int:
    from ._inspect import describe, format_description

    info = describe(args.recording, _directory(args))
    print(json.dumps(info, indent=2, default=str) if args.json else format_description(info))
    return 0


def _list(args: argparse.Namespace) -> int:
    from ._inspect import list_summaries

    rows = list_summaries(_directory(args))
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print(f"no recordings in {_directory(args)}")
    for row in rows:
        parent = f"  (child of {row['parent']})" if row.get("parent") else ""
        labels = "".join(f"  {k}={v}" for k, v in (row.get("labels") or {}).items())
        detail = row.get("error") or f"{row['events']} events, {row['chunks']} chunks, {row['size_bytes'] / 1024:.1f} KiB"
        print(f"{row['recording_id']:<40} {detail}{labels}{parent}")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from ._performance import analyze_performance, format_performance

    report = analyze_performance(args.recording, _directory(args))
    print(json.dumps(report, indent=2) if args.json else format_performance(report))
    return 0


def _upload(args: argparse.Namespace) -> int:
    from .store._remote import upload_recording

    print(upload_recording(args.recording, args.url, directory=_directory(args)))
    return 0


def _download(args: argparse.Namespace) -> int:
    from .store._remote import download_recording

    path = download_recording(args.id, args.url, _directory(args), overwrite=args.force)
    print(f"{path}  (replay: AUTORR_MODE=replay AUTORR_RECORDING={path.stem})")
    return 0


def _replay_stream(args: argparse.Namespace) -> int:
    from ._stream_replay import replay_streaming_call

    chunks = replay_streaming_call(args.recording, args.event_id, preserve_timing=not args.fast,
                                   directory=_directory(args))
    out = sys.stdout.buffer
    for chunk in chunks:  # each chunk as it falls due, as the server sent it
        out.write(chunk.data)
        out.flush()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from ._demo import demo

    return demo(directory=args.dir, chunk_delay=args.chunk_delay)


def _directory(args: argparse.Namespace) -> Path:
    return Path(args.dir) if args.dir else load_config().output_dir


def _seconds(text: str) -> float:
    # A negative delay reached the fake server's sleep() and broke the demo's stream midway.
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}") from None
    if not 0 <= value <= 60:
        raise argparse.ArgumentTypeError(f"{text!r} is not valid; use seconds from 0 to 60")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autorr", description="Record and replay AI agents, zero code changes.")
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def run_options(p: argparse.ArgumentParser, with_mode: bool) -> None:
        if with_mode:
            p.add_argument("--mode", choices=[m.value for m in Mode], default="record", help="default: record")
        p.add_argument("--replay-mode", choices=[m.value for m in ReplayMode], help="strict | warn | hybrid")
        p.add_argument("--dir", help="recordings directory (AUTORR_DIR)")
        p.add_argument("--recording", help="recording id or path to replay (AUTORR_RECORDING)")
        p.add_argument("--id", help="id for a new recording (AUTORR_RECORDING_ID)")
        p.add_argument("--timing", choices=[t.value for t in Timing], help="replayed streams: fast | preserve")
        p.add_argument("--checkpoint", help="replay up to this checkpoint, then go live (AUTORR_CHECKPOINT)")
        p.add_argument("--overrides", metavar="JSON",
                       help='per category live_mode / model, e.g. \'{"llm_calls": {"model": "gpt-4.1", '
                            '"live_mode": true}}\' (AUTORR_OVERRIDES)')
        p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")

    run = sub.add_parser("run", help="run a command with autorr active (works where .pth files are skipped)")
    run_options(run, True)
    run.set_defaults(func=lambda a: _run(a, None))
    for name in ("record", "replay"):
        p = sub.add_parser(name, help=f"= run --mode {name}")
        run_options(p, False)
        p.set_defaults(func=lambda a, m=name: _run(a, m), mode=name)

    def one_recording(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("recording", nargs="?", help="id or path (default: the latest)")
        parser.add_argument("--dir", help="recordings directory (AUTORR_DIR)")
        parser.add_argument("--json", action="store_true", help="machine-readable output")
        return parser

    one_recording(sub.add_parser("show", help="show a recording: provenance, events, timing, tokens")) \
        .set_defaults(func=_show)

    lst = sub.add_parser("list", help="list recordings, oldest first")
    lst.add_argument("--dir", help="recordings directory (AUTORR_DIR)")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(func=_list)

    one_recording(sub.add_parser("analyze", help="where a recording spent its time: per model, host, program, tool")) \
        .set_defaults(func=_analyze)

    upload = sub.add_parser("upload", help="upload a recording to s3:// or any fsspec URL (needs autorr[s3])")
    upload.add_argument("recording", help="id or path ('latest' for the latest)")
    upload.add_argument("url", help="a folder ending in / (s3://bucket/runs/) or the file to write")
    upload.add_argument("--dir", help="recordings directory (AUTORR_DIR)")
    upload.set_defaults(func=_upload)

    download = sub.add_parser("download", help="download a recording from s3:// or any fsspec URL into AUTORR_DIR")
    download.add_argument("url", help="the recording's file (s3://bucket/runs/ID.db), or its folder with --id")
    download.add_argument("--id", help="recording id: names the local file, and the file in a folder URL")
    download.add_argument("--dir", help="where to put it (default: AUTORR_DIR)")
    download.add_argument("--force", action="store_true", help="replace a local recording with the same id")
    download.set_defaults(func=_download)

    stream = sub.add_parser("replay-stream", aliases=["replay-streaming-call"],
                            help="print one recorded stream's chunks at the recorded pace (or --fast)")
    stream.add_argument("recording", nargs="?", help="id or path (default: the latest)")
    stream.add_argument("event_id", nargs="?", type=int,
                        help="the # column of `autorr show` (default: the first stream)")
    stream.add_argument("--fast", action="store_true", help="all chunks at once, not at the recorded gaps")
    stream.add_argument("--dir", help="recordings directory (AUTORR_DIR)")
    stream.set_defaults(func=_replay_stream)

    demo = sub.add_parser("demo", help="record a demo agent against a local fake LLM server, replay it, show it")
    demo.add_argument("--dir", help="recordings directory (default: AUTORR_DIR or ./recordings)")
    demo.add_argument("--chunk-delay", type=_seconds, default=0.02, help="seconds between streamed chunks")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AutorrError as exc:
        print(f"autorr: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `autorr show x | head`: the reader has what it wanted
        # Python would report the pipe again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
