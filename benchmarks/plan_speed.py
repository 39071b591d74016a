"""Wall time of the planner's full search and of the whole plan for the default scenario.

    python benchmarks/plan_speed.py

Full search = planner.search.search over every catalogue GPU x the default quants x TP 1/2/4/8 x the
default pricing model for llama-3.3-70b at 5M + 1M tokens/day (the seed scenario). Whole plan = the
search plus redundancy, the line-item bill, API table, crossover volumes and the cost-vs-volume curve.
Target: full search < 1 s on a 2-core machine. Prints the median of several runs and the core count.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    from planner.api import PlanRequest, plan, policy_for
    from planner.plan import load_catalogues
    from planner.search import SearchSpace, search
    from planner.workload import DEFAULT_WORKLOAD
    from profiler import catalogue

    t0 = time.perf_counter()
    model = catalogue.get_model("llama-3.3-70b")
    cat = load_catalogues()
    load_s = time.perf_counter() - t0
    space = SearchSpace(redundancy=policy_for(PlanRequest()))
    n = len(search(model, DEFAULT_WORKLOAD, space, cat.gpus, cat.quants, cat.gpu_prices, cat.tco_defaults))
    search_s = _median_time(lambda: search(model, DEFAULT_WORKLOAD, space, cat.gpus, cat.quants, cat.gpu_prices,
                                           cat.tco_defaults), runs=5)
    plan_s = _median_time(lambda: plan(PlanRequest()), runs=3)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"catalogue load: {load_s:.3f} s")
    print(f"full search ({n} candidate rows): {search_s:.3f} s median of 5 (target < 1 s)")
    print(f"whole plan incl. crossover and cost curve: {plan_s:.3f} s median of 3")


if __name__ == "__main__":
    main()
