"""Analytic vs simulated replica sizing (issue 10's target: equal within one replica on a grid of >= 50 workloads).

For each workload of a grid (5 deployments x 4 prompt/output lengths x 3 latency SLOs = 60), it computes one
replica's capacity two ways:

- **analytic** (what `inferplan plan` uses by default): planner.capacity.replica_capacity, the largest batch whose
  mean steady step meets the TPOT target and whose unqueued p99-prompt TTFT meets the TTFT target, its Little's-law
  rate, loaded to MAX_UTILISATION (0.8);
- **simulated** (`plan --simulate`): planner.simulated, the highest Poisson rate whose simulated p99 TTFT and TPOT
  meet the SLOs (vLLM V1 scheduling, lognormal lengths, the plan's engine limits).

and the replicas each would buy for a fleet the simulator sizes at 10 replicas (peak = 10 x the simulated rate):
analytic replicas = ceil(10 x simulated / analytic rate). Prints one line per workload and the share within one
replica. About 2-3 minutes on 2 cores (the simulations; cached under $INFERPLAN_HOME afterwards)::

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


def main() -> int:
    cache, t0, rows = sim.shared_cache(), time.time(), []
    for (model, gpu, quant, tp), (l_in, l_out), (ttft, tpot) in itertools.product(DEPLOYMENTS, LENGTHS, SLOS):
        dep = deployment(model, gpu, quant, tp, "bf16")
        step = AnalyticStep(dep)
        w = Workload(tokens_in_per_day=l_in * 1e5, tokens_out_per_day=l_out * 1e5, requests_per_day=1e5,
                     ttft_p99_s=ttft, tpot_p99_s=tpot)
        a = replica_capacity(step, w)
        s = simulated_capacity(w, {}, cache)(dep, step)
        ra, rs = (a.requests_per_s if a.feasible else 0.0), (s.requests_per_s if s.feasible else 0.0)
        if ra > 0 and rs > 0:
            n_a, verdict = math.ceil(FLEET * rs / ra - 1e-9), ""
        else:
            n_a, verdict = None, "both infeasible" if ra == rs == 0 else "feasibility differs"
        rows.append((n_a, verdict))
        print(f"{model:15s} {gpu:9s} TP{tp} {l_in:5d}/{l_out:4d} {ttft:3.1f}s/{tpot * 1e3:3.0f}ms  analytic "
              f"{ra:8.3f} req/s ({a.limited_by or '-':12s})  simulated {rs:8.3f} ({s.limited_by or '-':18s})  "
              f"replicas {n_a if n_a is not None else '-':>4} vs {FLEET} {verdict}", flush=True)
    sized = [n for n, _ in rows if n is not None]
    within = sum(abs(n - FLEET) <= 1 for n in sized)
    short, extra = sum(n < FLEET - 1 for n in sized), sum(n > FLEET + 1 for n in sized)
    print(f"\n{len(rows)} workloads, {len(sized)} feasible both ways: analytic within one replica of the simulator "
          f"in {within} ({within / max(len(sized), 1):.0%}); analytic short by 2+ replicas in {short}, over by 2+ "
          f"in {extra}; "
          f"feasibility differs in {sum(v == 'feasibility differs' for _, v in rows)}; {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
