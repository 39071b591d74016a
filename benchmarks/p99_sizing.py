"""Analytic vs simulated replica sizing (issue 10's target: equal within one replica on a grid of >= 50 workloads).

For each workload of a grid (5 deployments x 4 prompt/output lengths x 3 latency SLOs = 60), it computes one
replica's capacity three ways:

- **analytic p99** (what `inferplan plan` uses by default): planner.p99_plan.p99_capacity, the highest Poisson
  rate whose p99 TTFT and TPOT, as the tail model (planner.tail) predicts them, meet the SLOs;
- **mean-value** (`plan --sizing mean-value`): planner.capacity.replica_capacity, the largest batch whose mean
  steady step meets the TPOT target and whose unqueued p99-prompt TTFT meets the TTFT target, its Little's-law
  rate, loaded to MAX_UTILISATION (0.8);
- **simulated** (`plan --simulate`): planner.simulated, the highest Poisson rate whose simulated p99 TTFT and TPOT
  meet the SLOs (vLLM V1 scheduling, lognormal lengths, the plan's engine limits).

and the replicas each would buy for a fleet the simulator sizes at 10 replicas (peak = 10 x the simulated rate):
replicas = ceil(10 x simulated / analytic rate). Prints one line per workload and, for both analytic models, the
share within one replica. About 2-3 minutes on 2 cores (the simulations; cached under $INFERPLAN_HOME
afterwards)::

    python benchmarks/p99_sizing.py
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner import simulate as sim  # noqa: E402
from planner.capacity import replica_capacity  # noqa: E402
from planner.p99_plan import p99_capacity  # noqa: E402
from planner.simulate_api import deployment  # noqa: E402
from planner.simulated import simulated_capacity  # noqa: E402
from planner.step_model import AnalyticStep  # noqa: E402
from planner.workload import Workload  # noqa: E402

DEPLOYMENTS = (("llama-3.1-8b", "h100-sxm", "fp8", 1), ("llama-3.1-8b", "l40s", "fp8", 1),
               ("llama-3.3-70b", "h100-sxm", "fp8", 2), ("qwen3-30b-a3b", "h100-sxm", "bf16", 1),
               ("mistral-7b-v0.3", "a100-80gb", "bf16", 1))
LENGTHS = ((200, 200), (1000, 250), (3000, 500), (8000, 300))  # mean prompt / output tokens (lognormal)
SLOS = ((2.0, 0.050), (1.0, 0.030), (5.0, 0.100))  # TTFT p99 s, TPOT p99 s
FLEET = 10  # replicas the simulator sizes; the analytic count is compared with it


def _replicas(analytic: float, simulated: float) -> int | None:
    return math.ceil(FLEET * simulated / analytic - 1e-9) if analytic > 0 and simulated > 0 else None


def _summary(name: str, counts: list, feasibility: list[bool]) -> str:
    sized = [n for n in counts if n is not None]
    within = sum(abs(n - FLEET) <= 1 for n in sized)
    short, extra = sum(n < FLEET - 1 for n in sized), sum(n > FLEET + 1 for n in sized)
    share = within / max(len(sized), 1)
    return (f"{name}: within one replica of the simulator in {within} of {len(sized)} ({share:.0%})"
            f"; short by 2+ (too few replicas) in {short}, over by 2+ in {extra}; feasibility differs in "
            f"{sum(not f for f in feasibility)}")


def main() -> int:
    cache, t0 = sim.shared_cache(), time.time()
    p99_counts, mv_counts, p99_same, mv_same = [], [], [], []
    for (model, gpu, quant, tp), (l_in, l_out), (ttft, tpot) in itertools.product(DEPLOYMENTS, LENGTHS, SLOS):
        dep = deployment(model, gpu, quant, tp, "bf16")
        step = AnalyticStep(dep)
        w = Workload(tokens_in_per_day=l_in * 1e5, tokens_out_per_day=l_out * 1e5, requests_per_day=1e5,
                     ttft_p99_s=ttft, tpot_p99_s=tpot)
        a, m = p99_capacity(step, w)[0], replica_capacity(step, w)
        s = simulated_capacity(w, {}, cache)(dep, step)
        ra, rm, rs = (c.requests_per_s if c.feasible else 0.0 for c in (a, m, s))
        n_a, n_m = _replicas(ra, rs), _replicas(rm, rs)
        p99_counts.append(n_a)
        mv_counts.append(n_m)
        p99_same.append((ra > 0) == (rs > 0))
        mv_same.append((rm > 0) == (rs > 0))
        print(f"{model:15s} {gpu:9s} TP{tp} {l_in:5d}/{l_out:4d} {ttft:3.1f}s/{tpot * 1e3:3.0f}ms  simulated "
              f"{rs:8.3f} req/s ({s.limited_by or '-':18s})  p99 {ra:8.3f} ({a.limited_by or '-':10s}) replicas "
              f"{n_a if n_a is not None else '-':>4}  mean-value {rm:8.3f} replicas "
              f"{n_m if n_m is not None else '-':>4}"
              f"  (vs {FLEET})", flush=True)
    print(f"\n{len(p99_counts)} workloads, {time.time() - t0:.0f} s")
    print(_summary("analytic p99 (plan's default)", p99_counts, p99_same))
    print(_summary("mean-value (--sizing mean-value)", mv_counts, mv_same))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
