"""The long fuzz profile (issue 12): the fuzzing report replayed, then >= 2,000 seeded bad inputs over every command.

    python benchmarks/fuzz_cli.py [--cases 2000] [--seed 7] [--bound 30] [--show 20]

Each input runs through the real CLI in a worker process under a 4 GiB address-space limit (tests/fuzz/runner.py);
the judge asks for exit code 0, 1 or 2, no traceback, one stderr line for exit 1, no warning shown, and the time
bound kept. Prints the machine, the counts by outcome and by command, the slowest inputs and every failure
(first --show). The suite runs the report and 600 seeded inputs (tests/test_fuzz_cli.py); this is the long run.
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fuzz import generate  # noqa: E402
from tests.fuzz.runner import judge, load_report, run_cases  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=2000, help="seeded inputs after the report (default 2000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bound", type=float, default=30.0, help="seconds one input may take (default 30)")
    ap.add_argument("--show", type=int, default=20, help="failures to print in full")
    args = ap.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{platform.platform()}")
    report = load_report()
    seeded = generate.cases(args.cases, seed=args.seed)
    failures, seconds, by_code, by_command = [], [], collections.Counter(), collections.Counter()
    start = time.perf_counter()
    for source, cases in (("report", report), (f"seeded (seed {args.seed})", seeded)):
        t0, bad = time.perf_counter(), 0
        for case, result in run_cases(cases, args.bound):
            verdict = judge(case, result, args.bound)
            seconds.append((result.get("seconds", args.bound), " ".join(case["args"])[:100]))
            code = ("hang" if result.get("timed_out") else "crash" if result.get("crashed")
                    else f"exit {result.get('exit_code')}")
            by_code[code] += 1
            by_command[(case["args"][0], "ok" if verdict.ok else "FAIL")] += 1
            if not verdict.ok:
                bad += 1
                failures.append(verdict)
        print(f"{source}: {len(cases)} inputs, {bad} broke the promise, {time.perf_counter() - t0:.0f} s")
    total = time.perf_counter() - start
    times = sorted(s for s, _ in seconds)
    print(f"all: {len(times)} inputs in {total:.0f} s; per input median {statistics.median(times) * 1e3:.0f} ms, "
          f"p99 {times[int(0.99 * (len(times) - 1))]:.2f} s, max {times[-1]:.2f} s")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(by_code.items())))
    commands = sorted({c for c, _ in by_command})
    print("by command (ok/failed): " + ", ".join(f"{c} {by_command[(c, 'ok')]}/{by_command[(c, 'FAIL')]}"
                                                 for c in commands))
    print("slowest: " + "; ".join(f"{s:.1f} s {a}" for s, a in sorted(seconds, reverse=True)[:5]))
    for v in failures[:args.show]:
        print("\nFAIL " + v.describe())
    print(f"\n{len(failures)} of {len(times)} inputs broke the promise")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
