"""autorr's speed and size on this machine. Run on demand, never from the test suite:

    python benchmarks/run.py            # N = 50, 200, 1000; 3 repetitions
    python benchmarks/run.py --quick    # N = 50 only

Phases, each in a fresh process: live (fake server over loopback, no autorr), record,
replay (server stopped), floor (the same SDK with an in-process transport: no socket,
no recorder). Also: time to first chunk while recording vs live (25 ms between
chunks), preserve-timing gap error, and what the start-up hook costs when off.
Results go to benchmarks/results/latest.{md,json}.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from autorr.testing import FakeLLMServer  # noqa: E402

WORKLOAD = HERE / "_workload.py"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTORR_", "_AUTORR_", "OPENAI_", "ANTHROPIC_"))}
    env.update(extra)
    return env


def phase(name: str, n: int, sdk: str, url: str, workdir: Path, rec_id: str) -> dict:
    extra = {"AUTORR_DIR": str(workdir)}
    if name in ("record", "replay"):
        extra.update(AUTORR_MODE=name, AUTORR_RECORDING_ID=rec_id, AUTORR_RECORDING=rec_id)
        if name == "record":
            extra.pop("AUTORR_RECORDING")
    out = subprocess.run([sys.executable, str(WORKLOAD), "--phase", name, "--n", str(n), "--sdk", sdk, "--url", url],
                         env=_env(**extra), capture_output=True, text=True, timeout=3600, cwd=workdir)
    if out.returncode != 0:
        raise RuntimeError(f"{name} N={n} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def throughput(ns: list[int], reps: int, sdk: str) -> list[dict]:
    rows = []
    for n in ns:
        samples: dict[str, list[dict]] = {p: [] for p in ("live", "record", "replay", "floor")}
        for rep in range(reps):
            work = Path(tempfile.mkdtemp(prefix="autorr-bench-"))
            rec_id = f"bench-{sdk}-{n}-{rep}"
            with FakeLLMServer() as server:
                samples["live"].append(phase("live", n, sdk, server.url, work, rec_id))
                samples["record"].append(phase("record", n, sdk, server.url, work, rec_id))
            # the closed file (WAL checkpointed), as a user would copy it
            samples["record"][-1]["file_bytes"] = sum(p.stat().st_size for p in work.glob(f"{rec_id}.db*"))
            samples["replay"].append(phase("replay", n, sdk, server.url, work, rec_id))  # server stopped
            samples["floor"].append(phase("floor", n, sdk, server.url, work, rec_id))
            shutil.rmtree(work, ignore_errors=True)
        row = {"sdk": sdk, "n": n}
        for name, results in samples.items():
            walls = [r["wall_total_s"] / n * 1e6 for r in results]
            row[f"{name}_wall_us"] = statistics.median(walls)
            row[f"{name}_wall_spread"] = (max(walls) - min(walls)) / statistics.median(walls)
            if results[0].get("own_us") is not None:
                row[f"{name}_own_us"] = statistics.median(r["own_us"] for r in results)
        row["file_mb"] = statistics.median(r["file_bytes"] for r in samples["record"]) / 1e6
        row["record_vs_live"] = row["record_wall_us"] / row["live_wall_us"] - 1
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def first_chunk_and_gaps() -> dict:
    """TTFT live vs recording, and preserve-timing gap error, with 25 ms between chunks."""
    import openai

    import autorr
    from autorr.store import Reader

    work = Path(tempfile.mkdtemp(prefix="autorr-bench-"))
    with FakeLLMServer(chunk_delay=0.025) as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="bench-key-000000000")

        def timed():
            start = time.perf_counter()
            times = []
            for chunk in client.chat.completions.create(model="m", stream=True,
                                                        messages=[{"role": "user", "content": "gaps"}]):
                if chunk.choices and chunk.choices[0].delta.content:
                    times.append(time.perf_counter() - start)
            return times

        live = [timed()[0] for _ in range(15)]
        with autorr.recording(work / "ttft.db"):
            recorded = [timed()[0] for _ in range(15)]
    with Reader(work / "ttft.db") as reader:
        offsets = [[o / 1e6 for _, o in e.chunks] for e in reader.events()]
    errors = []
    for _ in range(3):
        with autorr.replaying(work / "ttft.db", timing="preserve"):
            for recorded_offsets in offsets[:5]:
                replayed = timed()
                rec_gaps = [b - a for a, b in zip(recorded_offsets[2:], recorded_offsets[3:])]
                rep_gaps = [b - a for a, b in zip(replayed, replayed[1:])]
                errors += [abs(a - b) for a, b in zip(rec_gaps, rep_gaps)]
    shutil.rmtree(work, ignore_errors=True)
    return {"ttft_live_ms": statistics.median(live) * 1000, "ttft_record_ms": statistics.median(recorded) * 1000,
            "gap_error_median_ms": statistics.median(errors) * 1000, "gap_error_max_ms": max(errors) * 1000}


def hook_cost() -> dict:
    """What the .pth line costs when AUTORR_MODE is unset: executing it, and `python -c pass`."""
    pth = HERE.parent / "src_hooks" / "autorr.pth"
    code = ("import os, time; line = open(%r).read(); t = time.perf_counter_ns()\n"
            "for _ in range(10000): exec(line)\nprint((time.perf_counter_ns() - t) / 10000 / 1000)") % str(pth)
    per_exec_us = float(subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True,
                                       check=True).stdout)
    starts = []
    for _ in range(30):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=_env(), check=True)
        starts.append(time.perf_counter() - t)
    return {"pth_line_us": per_exec_us, "python_c_pass_ms": statistics.median(starts) * 1000}


def markdown(result: dict) -> str:
    lines = [f"# autorr benchmarks — {result['date']}", "",
             f"Machine: {result['machine']}; Python {result['python']}; "
             + ", ".join(f"{k} {v}" for k, v in result["versions"].items()), "",
             "Per call, medians of the repetitions (µs). own = time inside autorr's `send` wrapper minus the",
             "transport work under it (an upper bound: it includes reading the body and building the Response,",
             "which the floor pays too); record vs live = wall-time difference, which also holds the writer",
             "thread's share of the GIL.", "",
             "| SDK | N | live | record | record own | record vs live | replay | replay own | floor | file MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["throughput"]:
        lines.append(f"| {r['sdk']} | {r['n']} | {r['live_wall_us']:,.0f} | {r['record_wall_us']:,.0f} | "
                     f"{r['record_own_us']:,.0f} | {r['record_vs_live']:+.1%} | {r['replay_wall_us']:,.0f} | "
                     f"{r['replay_own_us']:,.0f} | {r['floor_wall_us']:,.0f} | {r['file_mb']:.2f} |")
    t = result["timing"]
    h = result["hook"]
    lines += ["", f"Time to first chunk (25 ms between chunks): live {t['ttft_live_ms']:.2f} ms, "
              f"recording {t['ttft_record_ms']:.2f} ms.",
              f"Preserve-timing replay, gap error: median {t['gap_error_median_ms']:.2f} ms, "
              f"max {t['gap_error_max_ms']:.2f} ms.",
              f"Start-up hook with AUTORR_MODE unset: {h['pth_line_us']:.2f} µs to run the .pth line; "
              f"`python -c pass` takes {h['python_c_pass_ms']:.1f} ms in all."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N = 50 only")
    parser.add_argument("--ns", default="50,200,1000", help="comma-separated turn counts")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--sdk", choices=["openai", "anthropic", "both"], default="both")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    ns = [50] if args.quick else [int(n) for n in args.ns.split(",")]
    sdks = ["openai", "anthropic"] if args.sdk == "both" else [args.sdk]
    rows = [row for sdk in sdks for row in throughput(ns, args.reps, sdk)]
    result = {"date": datetime.date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "python": platform.python_version(),
              "versions": {p: metadata.version(p) for p in ("autorr", "openai", "anthropic", "httpx2")},
              "throughput": rows, "timing": first_chunk_and_gaps(), "hook": hook_cost()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(result, indent=2))
    (args.out / "latest.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
