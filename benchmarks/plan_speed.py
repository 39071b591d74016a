"""How fast the planner answers (issue 18): whole-process times of the commands people type, and in-process plans.

    python benchmarks/plan_speed.py [--runs 5] [--sweep 100]

Whole process (a new Python each time, median of --runs; the console script next to this Python):

- ``inferplan --help``, ``inferplan plan`` (the default scenario: llama-3.3-70b, the seed's 5M + 1M tokens/day,
  with its crossovers, cost curve and framework) and ``inferplan crossover llama-3.3-70b``;
- each twice: with a fresh, empty ``$INFERPLAN_HOME`` (a first run: no parsed-catalogue cache) and with one
  that a previous run filled (every later run).

In process: the default plan after one warm-up plan (median of --runs), and a sweep of --sweep plans of the same
scenario at volumes from 1M to 10B tokens/day (what sensitivity, scenarios and growth views do).

Targets (2-core machine, whole process): ``--help`` < 0.3 s, ``plan`` < 1.0 s, ``crossover`` < 1.0 s; one
in-process plan after warm-up < 50 ms. Prints the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COMMANDS = {"inferplan --help": ["--help"], "inferplan plan": ["plan"],
            "inferplan crossover llama-3.3-70b": ["crossover", "llama-3.3-70b"]}


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("inferplan")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from planner.cli import main; main()"]


def _run(args: list[str], home: str) -> float:
    env = {**os.environ, "INFERPLAN_HOME": home, "COLUMNS": "120"}
    t0 = time.perf_counter()
    done = subprocess.run(_cli() + args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return wall


def whole_process(runs: int) -> None:
    print(f"whole process, median of {runs} (min-max):")
    for name, args in COMMANDS.items():
        first = []
        for _ in range(runs):
            home = tempfile.mkdtemp(prefix="inferplan-home-")
            try:
                first.append(_run(args, home))
            finally:
                shutil.rmtree(home, ignore_errors=True)
        home = tempfile.mkdtemp(prefix="inferplan-home-")
        try:
            _run(args, home)  # fills the cache
            warm = [_run(args, home) for _ in range(runs)]
        finally:
            shutil.rmtree(home, ignore_errors=True)
        print(f"  {name:<36} first run {_fmt(first)}   cache filled {_fmt(warm)}")


def _fmt(times: list[float]) -> str:
    return f"{statistics.median(times):6.3f} s ({min(times):.3f}-{max(times):.3f})"


def in_process(runs: int, sweep: int) -> None:
    import numpy as np

    from planner.api import PlanRequest, plan

    t0 = time.perf_counter()
    plan(PlanRequest())
    first = time.perf_counter() - t0
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        plan(PlanRequest())
        times.append(time.perf_counter() - t0)
    base = PlanRequest().workload
    volumes = np.geomspace(1e6, 1e10, sweep)
    t0 = time.perf_counter()
    for v in volumes:
        plan(PlanRequest(workload=base.scaled_to(float(v))))
    total = time.perf_counter() - t0
    print("in process (default scenario):")
    print(f"  first plan in this process            {first:6.3f} s (imports done; p99 sizing of each candidate met)")
    print(f"  one plan after warm-up                {_fmt(times)}")
    print(f"  sweep of {sweep} plans, 1M-10B tokens/day  {total:6.3f} s in all, {total / sweep * 1e3:.0f} ms per plan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sweep", type=int, default=100)
    a = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d')}")
    whole_process(a.runs)
    with tempfile.TemporaryDirectory(prefix="inferplan-home-") as home:
        os.environ["INFERPLAN_HOME"] = home
        in_process(a.runs, a.sweep)


if __name__ == "__main__":
    main()
