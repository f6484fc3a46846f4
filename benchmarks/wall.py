"""Record against live wall time, with a confidence interval. Run on demand:

    python benchmarks/wall.py                    # openai, N = 50 and 200, 20 pairs each
    python benchmarks/wall.py --ns 50 --pairs 40 --sdk anthropic

Phases of one process's length spread by 10-50% on a shared 2-core VM, so one ratio says
little about a 2% target. This runs K pairs of a live and a record phase back to back
(in turn first, each in a fresh process against a fresh server, as `run.py` does) and
reports the median of the pairs' ratios with a distribution-free 95% confidence interval
(order statistics: no assumption about how the noise is spread). Results go to
benchmarks/results/wall.{md,json}.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import statistics
import tempfile
from pathlib import Path

from run import HERE, FakeLLMServer, phase


def median_ci(values: list[float], level: float = 0.95) -> tuple[float, float]:
    """The interval between order statistics j and n+1-j that holds the median with at
    least ``level`` probability (the sign test's interval)."""
    ordered, n = sorted(values), len(values)
    j = 0
    # The largest j with P(Binomial(n, 1/2) < j) <= (1 - level) / 2.
    while j < n // 2 and sum(math.comb(n, i) for i in range(j + 1)) / 2 ** n <= (1 - level) / 2:
        j += 1
    if j == 0:  # too few pairs for this level: the whole range
        return ordered[0], ordered[-1]
    return ordered[j - 1], ordered[n - j]


def pairs(n: int, count: int, sdk: str) -> dict:
    ratios, cpu_ratios, walls = [], [], {"live": [], "record": []}
    for i in range(count):
        work = Path(tempfile.mkdtemp(prefix="autorr-wall-"))
        got = {}
        for name in ("live", "record") if i % 2 == 0 else ("record", "live"):
            with FakeLLMServer() as server:
                got[name] = phase(name, n, sdk, server.url, work, f"wall-{sdk}-{n}-{i}")
        shutil.rmtree(work, ignore_errors=True)
        ratios.append(got["record"]["wall_total_s"] / got["live"]["wall_total_s"] - 1)
        cpu_ratios.append(got["record"]["cpu_total_s"] / got["live"]["cpu_total_s"] - 1)
        for name in walls:
            walls[name].append(got[name]["wall_total_s"] / n * 1e6)
        print(f"{sdk} N={n} pair {i + 1}/{count}: {ratios[-1]:+.1%}", flush=True)
    lo, hi = median_ci(ratios)
    clo, chi = median_ci(cpu_ratios)
    return {"sdk": sdk, "n": n, "pairs": count, "wall": statistics.median(ratios), "wall_ci": [lo, hi],
            "cpu": statistics.median(cpu_ratios), "cpu_ci": [clo, chi], "ratios": ratios,
            "live_us": statistics.median(walls["live"]), "record_us": statistics.median(walls["record"]),
            "spread": (max(walls["live"]) - min(walls["live"])) / statistics.median(walls["live"])}


def markdown(result: dict) -> str:
    lines = [f"# Record against live wall time — {result['date']}", "",
             f"Machine: {result['machine']}. `python benchmarks/wall.py`: pairs of a live and a record "
             "phase run back to back (in turn first); the median of the pairs' ratios, with a "
             "distribution-free 95% confidence interval (sign test). CPU is every thread of the process.", "",
             "| SDK | N | pairs | live µs/call | record µs/call | record vs live, wall (95% CI) "
             "| CPU (95% CI) | live phases spread |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['sdk']} | {r['n']} | {r['pairs']} | {r['live_us']:,.0f} | {r['record_us']:,.0f} | "
                     f"{r['wall']:+.1%} ({r['wall_ci'][0]:+.1%} to {r['wall_ci'][1]:+.1%}) | "
                     f"{r['cpu']:+.1%} ({r['cpu_ci'][0]:+.1%} to {r['cpu_ci'][1]:+.1%}) | {r['spread']:.0%} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ns", default="50,200", help="comma-separated turn counts")
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--sdk", choices=["openai", "anthropic"], default="openai")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    rows = [pairs(int(n), args.pairs, args.sdk) for n in args.ns.split(",")]
    result = {"date": datetime.date.today().isoformat(),
              "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, "
                         f"Python {platform.python_version()}",
              "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "wall.json").write_text(json.dumps(result, indent=2))
    (args.out / "wall.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
