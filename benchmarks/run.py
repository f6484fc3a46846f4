"""autorr's speed and size on this machine. Run on demand, never from the test suite:

    python benchmarks/run.py            # N = 50, 200, 1000; 3 repetitions
    python benchmarks/run.py --quick    # N = 50 only
    python benchmarks/run.py --peers    # also vcrpy, cassetter, tracefork (benchmarks/peers/setup.sh first)

Phases, each in a fresh process: live (fake server over loopback, no autorr), record,
replay (server stopped), floor (the same SDK with an in-process transport: no socket,
no recorder), callthrough (live through a wrapper at Client.send that only calls on:
the least own time a tool intercepting there can show). Also: time to first chunk while
recording vs live (25 ms between chunks), preserve-timing gap error, and what the
start-up hook costs when off.
Results go to benchmarks/results/latest.{md,json}; with --peers, the peers' record and
replay phases (openai SDK), time to first chunk while recording and the changed-prompt
check, with ratios to autorr, go to benchmarks/results/peers.{md,json}.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
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

import peers  # noqa: E402
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
        samples: dict[str, list[dict]] = {p: [] for p in ("live", "record", "replay", "floor", "callthrough")}
        for rep in range(reps):
            work = Path(tempfile.mkdtemp(prefix="autorr-bench-"))
            rec_id = f"bench-{sdk}-{n}-{rep}"
            # One server per phase: a server keeps every request it answered, and at N=1000 the
            # live phase's would weigh on the record phase (a larger heap, longer collections).
            # Live and record run back to back, in turn first: a machine that drifts slower
            # (or faster) favours neither, and each repetition gives one ratio.
            for name in ("live", "record") if rep % 2 == 0 else ("record", "live"):
                with FakeLLMServer() as server:
                    samples[name].append(phase(name, n, sdk, server.url, work, rec_id))
            # the closed file (WAL checkpointed), as a user would copy it
            samples["record"][-1]["file_bytes"] = sum(p.stat().st_size for p in work.glob(f"{rec_id}.db*"))
            samples["replay"].append(phase("replay", n, sdk, server.url, work, rec_id))  # server stopped
            samples["floor"].append(phase("floor", n, sdk, server.url, work, rec_id))
            with FakeLLMServer() as server:
                samples["callthrough"].append(phase("callthrough", n, sdk, server.url, work, rec_id))
            shutil.rmtree(work, ignore_errors=True)
        row = {"sdk": sdk, "n": n}
        for name, results in samples.items():
            walls = [r["wall_total_s"] / n * 1e6 for r in results]
            row[f"{name}_wall_us"] = statistics.median(walls)
            row[f"{name}_wall_spread"] = (max(walls) - min(walls)) / statistics.median(walls)
            if results[0].get("own_us") is not None:
                row[f"{name}_own_us"] = statistics.median(r["own_us"] for r in results)
        row["file_mb"] = statistics.median(r["file_bytes"] for r in samples["record"]) / 1e6
        # CPU of all threads per call: steadier than wall time on a shared machine.
        for name, results in samples.items():
            row[f"{name}_cpu_us"] = statistics.median(r["cpu_total_s"] / n * 1e6 for r in results)
        # The median of each repetition's ratio (its two phases ran back to back), not the
        # ratio of the medians: drift between repetitions cancels out.
        for key, field in (("record_vs_live", "wall_total_s"), ("record_cpu_vs_live", "cpu_total_s")):
            row[key] = statistics.median(r[field] / l[field] - 1 for r, l in zip(samples["record"], samples["live"]))
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


def tool_phase(tool: str, name: str, n: int, url: str, workdir: Path, *extra: str, check: bool = False) -> dict:
    """One workload phase through autorr (set up from the environment, as phase() does) or a peer."""
    if tool == "autorr":
        env = _env(AUTORR_DIR=str(workdir), AUTORR_RECORDING_ID="check",
                   **({"AUTORR_MODE": name} if name in ("record", "replay") else {}),
                   **({"AUTORR_RECORDING": "check"} if name in ("replay", "boot") else {}))
        cmd = [sys.executable, str(WORKLOAD)]
    else:
        env = _env()
        cmd = [str(peers.python(tool)), str(WORKLOAD), "--tool", tool, "--path", str(workdir / tool)]
    out = subprocess.run(cmd + ["--phase", name, "--n", str(n), "--sdk", "openai", "--url", url, *extra],
                         env=env, capture_output=True, text=True, timeout=3600, cwd=workdir)
    lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
    raised = [i for i, line in enumerate(lines) if re.match(r"[A-Za-z_][\w.]*(Error|Exception|Exit)\w*: ", line)]
    if raised:  # the exception's message, which may span lines, rather than the end of it
        lines = lines[raised[-1]:raised[-1] + 4]
    if out.returncode != 0 and check and out.stdout.strip():  # autorr strict replay also fails the process
        return {**json.loads(out.stdout.strip().splitlines()[-1]), "exit": out.returncode, "stderr": lines[-1:]}
    if out.returncode != 0:
        raise RuntimeError(f"{tool} {name} N={n} failed: " + " | ".join(lines[-4:])[:1500])
    return json.loads(out.stdout.strip().splitlines()[-1])


def files_bytes(tool: str, workdir: Path) -> int:
    """Everything the tool wrote for its recording, after its process has ended."""
    files = workdir.glob("check.db*") if tool == "autorr" else (workdir / tool).rglob("*")
    return sum(p.stat().st_size for p in files if p.is_file())


def autorr_state() -> str:
    """The commit, and a hash of any uncommitted change to autorr/ on top of it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=HERE.parent, capture_output=True, text=True).stdout

    diff = git("diff", "HEAD", "--", "autorr")
    return git("rev-parse", "--short", "HEAD").strip() + (f"+diff {hashlib.sha1(diff.encode()).hexdigest()[:7]}"
                                                           if diff else "")


def peers_throughput(ns: list[int], reps: int, tools: list[str]) -> list[dict]:
    """Record (fake server up) and replay (server stopped) through each peer; a failure is kept as text."""
    rows = []
    for n in ns:
        for tool in tools:
            row: dict = {"tool": tool, "sdk": "openai", "n": n, "reps": reps, "load_avg": os.getloadavg()[0]}
            if tool == "autorr":
                row["autorr_state"] = autorr_state()
            samples: dict[str, list[dict]] = {"record": [], "replay": []}
            for _ in range(reps):
                work = Path(tempfile.mkdtemp(prefix=f"autorr-bench-{tool}-"))
                try:
                    with FakeLLMServer() as server:
                        samples["record"].append(tool_phase(tool, "record", n, server.url, work))
                    samples["record"][-1]["file_bytes"] = files_bytes(tool, work)
                    samples["replay"].append(tool_phase(tool, "replay", n, server.url, work))
                    if tool == "autorr":  # its replay start happens at interpreter start-up: timed apart
                        samples["replay"][-1]["setup_s"] = tool_phase(tool, "boot", n, server.url, work)["setup_s"]
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    row["failure"] = str(exc)
                    break
                finally:
                    shutil.rmtree(work, ignore_errors=True)
            for name, results in samples.items():
                if len(results) < len(samples["record"]) or not results:
                    continue
                row[f"{name}_wall_us"] = statistics.median(r["wall_total_s"] / n * 1e6 for r in results)
                row[f"{name}_own_us"] = statistics.median(r["own_us"] for r in results)
                row["save_s" if name == "record" else "load_s"] = statistics.median(
                    r["finish_s" if name == "record" else "setup_s"] for r in results)
            if samples["record"]:
                row["file_mb"] = statistics.median(r["file_bytes"] for r in samples["record"]) / 1e6
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def peers_checks(tools: list[str]) -> dict:
    """Per tool: time to first chunk while recording (25 ms between chunks), and what replay does
    when the 2nd of 2 recorded prompts is changed."""
    checks: dict = {}
    with FakeLLMServer(chunk_delay=0.025) as server:
        work = Path(tempfile.mkdtemp(prefix="autorr-bench-live-"))
        live = tool_phase("autorr", "live", 10, server.url, work)["first_chunk_ms"]
        shutil.rmtree(work, ignore_errors=True)
        checks["live"] = {"ttft_ms": statistics.median(live)}
    for tool in tools:
        check: dict = {}
        work = Path(tempfile.mkdtemp(prefix=f"autorr-bench-{tool}-"))
        try:
            with FakeLLMServer(chunk_delay=0.025) as server:  # 5 streamed turns of 10
                check["ttft_ms"] = statistics.median(tool_phase(tool, "record", 10, server.url, work)["first_chunk_ms"])
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            with FakeLLMServer() as server:
                recorded = tool_phase(tool, "record", 2, server.url, work)
            replayed = tool_phase(tool, "replay", 2, server.url, work, "--alter-turn", "1", check=True)
            if "error" in replayed:
                check["changed_prompt"], check["changed_prompt_detail"] = "refused", replayed["error"]
            elif replayed["last_reply"] == recorded["last_reply"]:
                check["changed_prompt"] = "old reply served"
            else:
                check["changed_prompt"] = "a different reply served"
                check["changed_prompt_detail"] = replayed["last_reply"][:200]
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            check["failure"] = str(exc)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        checks[tool] = check
        print(tool, json.dumps(check), flush=True)
    return checks


CAVEATS = [
    "Caveats:",
    "- The peers keep the whole recording in memory and write it once at the end (save s); autorr's",
    "  writer thread stores calls while the agent runs. Neither write is in own (autorr's shows in wall).",
    "- The peers read the whole response inside their interception (first chunk above), autorr tees it as the",
    "  SDK reads it: autorr's own holds the body read of non-streamed calls but not its per-chunk tee",
    "  work on streamed ones; the peers' own excludes their socket reads (subtracted) but holds all of",
    "  their buffering.",
    "- autorr is the working tree of the day, which changes between runs: see 'autorr rows measured with'.",
    "- vcrpy and cassetter match on method + URL by default, which is why a changed prompt gets the old",
    "  reply; tracefork hashes the request body, autorr matches the request (strict mode).",
    "- tracefork runs on Python 3.12 (it requires it), the others on the project's 3.11.",
]


def peers_markdown(result: dict) -> str:
    ref = {r["n"]: r for r in result["throughput"] if r["tool"] == "autorr"}
    loads = [r["load_avg"] for r in result["throughput"] if "load_avg" in r] or [float("nan")]

    def ratio(row: dict, key: str, ref_key: str) -> str:
        base = ref.get(row["n"], {}).get(ref_key)
        return f"{row[key] / base:.1f}×" if key in row and base else "–"

    def num(row: dict, key: str, fmt: str = "{:,.0f}") -> str:
        return fmt.format(row[key]) if key in row else "–"

    lines = [f"# autorr and peer record/replay tools — {result['date']}", "",
             f"Machine: {result['machine']}. Same workload as latest.md (openai SDK "
             f"{result['versions']['openai']}, httpx2 {result['versions']['httpx2']}), each tool with its "
             "default settings; peers in their own venvs (benchmarks/peers/setup.sh): "
             + ", ".join(f"{t} {peers.TOOLS[t].version}" for t in result["tools"] if t != "autorr")
             + f". Repetitions: {', '.join(map(str, result['reps']))} (per row in peers.json); 1-minute load average "
             f"as each row started: {min(loads):.1f} to {max(loads):.1f} (2 cores: other work on the machine "
             "shows up in own).", "",
             "own = time inside the tool's interception function minus the real transport call under it",
             "(for peers, which read the whole body inside their interception, also minus reading that body",
             "from the socket); µs per call, median of the repetitions. × = ratio to autorr at the same N,",
             "measured by the same loop. save = writing the recording at the end of recording (autorr: its",
             "stop(), which flushes, closes and compacts); replay start = importing the tool and loading the",
             "recording before the first replayed call (autorr: what its start-up hook does, timed in a",
             "process of its own). Both are outside the per-call figures.", "",
             "| tool | N | record own | × | replay own | × | file MB | × | record wall | replay wall | save s "
             "| replay start s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in result["throughput"]:
        n = row["n"]
        if row["tool"] == "autorr":
            lines.append(f"| autorr | {n} | {num(row, 'record_own_us')} | | {num(row, 'replay_own_us')} | | "
                         f"{num(row, 'file_mb', '{:.2f}')} | | {num(row, 'record_wall_us')} | "
                         f"{num(row, 'replay_wall_us')} | {num(row, 'save_s', '{:.2f}')} | "
                         f"{num(row, 'load_s', '{:.2f}')} |")
        else:
            lines.append(f"| {row['tool']} | {n} | {num(row, 'record_own_us')} | "
                         f"{ratio(row, 'record_own_us', 'record_own_us')} | {num(row, 'replay_own_us')} | "
                         f"{ratio(row, 'replay_own_us', 'replay_own_us')} | {num(row, 'file_mb', '{:.2f}')} | "
                         f"{ratio(row, 'file_mb', 'file_mb')} | {num(row, 'record_wall_us')} | "
                         f"{num(row, 'replay_wall_us')} | {num(row, 'save_s', '{:.2f}')} | "
                         f"{num(row, 'load_s', '{:.2f}')} |")
    states = sorted((r["n"], r.get("autorr_state", "?")) for r in result["throughput"] if r["tool"] == "autorr")
    lines.append("\nautorr rows measured with: " + "; ".join(f"N={n}: {state}" for n, state in states) + ".")
    for row in result["throughput"]:
        if "failure" in row:
            lines.append(f"\n{row['tool']} N={row['n']} failed: `{' '.join(row['failure'].split())}`")
    checks = result["checks"]
    lines += ["", f"Time to first chunk with 25 ms between chunks (live: {checks['live']['ttft_ms']:.1f} ms), "
              "and replay after the 2nd of 2 recorded prompts was changed:", "",
              "| tool | intercepts at | first chunk while recording, ms | changed prompt at replay |", "|---|---|---|---|"]
    for tool in result["tools"]:
        c = checks[tool]
        where = "httpx2.Client.send (patched at start-up)" if tool == "autorr" else peers.TOOLS[tool].intercepts
        ttft = f"{c['ttft_ms']:.1f}" if "ttft_ms" in c else "–"
        said = c.get("changed_prompt", f"check failed: {c.get('failure', '')}")
        if "changed_prompt_detail" in c:
            said += " (`" + " ".join(c["changed_prompt_detail"].replace("|", "/").split())[:160] + "`)"
        lines.append(f"| {tool} | {where} | {ttft} | {said} |")
    return "\n".join(lines + ["", *CAVEATS]) + "\n"


def markdown(result: dict) -> str:
    lines = [f"# autorr benchmarks — {result['date']}", "",
             f"Machine: {result['machine']}; Python {result['python']}; "
             + ", ".join(f"{k} {v}" for k, v in result["versions"].items()), "",
             "Per call, medians of the repetitions (µs). own = time inside autorr's `send` wrapper minus the",
             "work the peers' timers leave out too: httpx's client machinery and transport, and httpx reading",
             "a non-streamed body (see peers.md); call-through = the same own time for a wrapper at",
             "`Client.send` that only calls on (no autorr): the least any tool intercepting there can show.",
             "record vs live: wall time, and CPU of all the process's",
             "threads (the writer thread included, the queue drained), which is steadier on a shared machine;",
             "the median of each repetition's ratio, its live and record phases run back to back, in turn first.",
             "",
             "| SDK | N | reps | live | record | record own | call-through own | record vs live (wall / CPU) "
             "| replay | replay own | floor | file MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["throughput"]:
        cpu = f" / {r['record_cpu_vs_live']:+.1%}" if "record_cpu_vs_live" in r else " / (not measured)"
        lines.append(f"| {r['sdk']} | {r['n']} | {r.get('reps', '?')} | {r['live_wall_us']:,.0f} | "
                     f"{r['record_wall_us']:,.0f} | "
                     f"{r['record_own_us']:,.0f} | "
                     + (f"{r['callthrough_own_us']:,.0f}" if "callthrough_own_us" in r else "–")
                     + f" | {r['record_vs_live']:+.1%}{cpu} | {r['replay_wall_us']:,.0f} | "
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
    parser.add_argument("--peers", action="store_true", help="also the peer tools, into results/peers.*")
    parser.add_argument("--peers-only", action="store_true",
                        help="only the peer tools (and autorr beside them), not latest.*; rows for other N "
                             "are kept from the last peers.json")
    parser.add_argument("--tools", default=",".join(["autorr", *peers.TOOLS]),
                        help="comma-separated: autorr (for the ratios) and peers")
    args = parser.parse_args()
    ns = [50] if args.quick else [int(n) for n in args.ns.split(",")]
    sdks = ["openai", "anthropic"] if args.sdk == "both" else [args.sdk]
    args.out.mkdir(parents=True, exist_ok=True)
    machine = {"date": datetime.date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
               "python": platform.python_version(),
               "versions": {p: metadata.version(p) for p in ("autorr", "openai", "anthropic", "httpx2")}}
    if not args.peers_only:
        rows = [row for sdk in sdks for row in throughput(ns, args.reps, sdk)]
        for row in rows:
            row["reps"] = args.reps
        try:  # rows this run did not measure stay from the last one: N=1000 can be a run of its own
            old = json.loads((args.out / "latest.json").read_text())
            rows += [r for r in old["throughput"] if (r["sdk"], r["n"]) not in {(x["sdk"], x["n"]) for x in rows}]
        except (OSError, ValueError, KeyError):
            pass
        rows.sort(key=lambda r: (r["sdk"] != "openai", r["n"]))
        result = {**machine, "throughput": rows, "timing": first_chunk_and_gaps(), "hook": hook_cost()}
        (args.out / "latest.json").write_text(json.dumps(result, indent=2))
        (args.out / "latest.md").write_text(markdown(result))
        print(markdown(result))
    if args.peers or args.peers_only:
        tools = [t for t in args.tools.split(",") if t]
        missing = [t for t in tools if t != "autorr" and not peers.python(t).exists()]
        if missing:
            sys.exit(f"no venv for {', '.join(missing)}: run benchmarks/peers/setup.sh first")
        rows, checks = peers_throughput(ns, args.reps, tools), peers_checks(tools)
        try:  # what this run did not measure stays from the last one: N=1000 can be a run of its own
            old = json.loads((args.out / "peers.json").read_text())
            rows += [r for r in old["throughput"] if (r["tool"] not in tools or r["n"] not in ns)]
            checks = {**old["checks"], **checks}
        except (OSError, ValueError, KeyError):
            pass
        order = ["autorr", *peers.TOOLS]
        rows.sort(key=lambda r: (r["n"], order.index(r["tool"])))
        result = {**machine, "tools": [t for t in order if t in checks],
                  "reps": sorted({r.get("reps", 1) for r in rows}), "throughput": rows, "checks": checks}
        (args.out / "peers.json").write_text(json.dumps(result, indent=2))
        (args.out / "peers.md").write_text(peers_markdown(result))
        print(peers_markdown(result))


if __name__ == "__main__":
    main()
