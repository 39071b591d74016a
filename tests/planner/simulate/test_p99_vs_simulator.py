"""Property: the analytic p99 sizing (what `plan` uses) buys the replicas the simulator's p99s would (±1).

Workloads are drawn at random (seed fixed before the first run) from a space of deployments, prompt and output
lengths (log-uniform 300-6,000 and 100-800 tokens, lognormal spread) and SLOs (TTFT p99 1-5 s, TPOT p99 30-100 ms).
For each, the fleet the simulator sizes at 10 replicas (peak = 10 x its p99-SLO rate) is re-counted with the
analytic p99 rate: ceil(10 x simulated / analytic) must be 9, 10 or 11. benchmarks/p99_sizing.py runs the same
comparison on a 60-workload grid with harder corners (8,000-token prompts, 1 s / 30 ms SLOs) and prints the share.
"""

from __future__ import annotations

import math
import random

import pytest

from planner import simulate as sim
from planner.p99_plan import p99_capacity
from planner.simulate_api import deployment
from planner.simulated import simulated_capacity
from planner.step_model import AnalyticStep
from planner.workload import Workload

DEPLOYMENTS = (("llama-3.1-8b", "h100-sxm", "fp8", 1), ("mistral-7b-v0.3", "a100-80gb", "bf16", 1),
               ("qwen3-30b-a3b", "h100-sxm", "bf16", 1), ("llama-3.1-8b", "l40s", "fp8", 1),
               ("llama-3.3-70b", "h100-sxm", "fp8", 2))
FLEET = 10


def _workloads(seed: int = 11, n: int = 6):
    rng = random.Random(seed)
    for _ in range(n):
        dep = rng.choice(DEPLOYMENTS)
        l_in = round(math.exp(rng.uniform(math.log(300), math.log(6000))))
        l_out = round(math.exp(rng.uniform(math.log(100), math.log(800))))
        ttft, tpot = round(rng.uniform(1.0, 5.0), 1), round(rng.uniform(0.03, 0.1), 3)
        yield dep, Workload(tokens_in_per_day=l_in * 1e5, tokens_out_per_day=l_out * 1e5, requests_per_day=1e5,
                            ttft_p99_s=ttft, tpot_p99_s=tpot)


@pytest.mark.parametrize("dep_workload", list(_workloads()), ids=lambda d: f"{d[0][0]}-{d[0][1]}-"
                         f"{d[1].mean_input_tokens:.0f}-{d[1].mean_output_tokens:.0f}")
def test_analytic_p99_replicas_match_the_simulator_within_one(dep_workload):
    (model, gpu, quant, tp), w = dep_workload
    dep = deployment(model, gpu, quant, tp, "bf16")
    step = AnalyticStep(dep)
    analytic = p99_capacity(step, w)[0]
    simulated = simulated_capacity(w, {}, sim.CapacityCache(None))(dep, step)
    assert analytic.feasible and simulated.feasible
    replicas = math.ceil(FLEET * simulated.requests_per_s / analytic.requests_per_s - 1e-9)
    assert abs(replicas - FLEET) <= 1, (analytic, simulated)
