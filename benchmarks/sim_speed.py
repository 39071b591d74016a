"""How fast the continuous-batching simulator runs (targets from the simulator issue).

Prints simulated requests per second of wall time for a chat-like workload on a Llama-3.1-8B-like
replica on an H100-like GPU (TARGET ≥ 50,000 req/s on a 2-core machine, ≥ 20k requests, Poisson
at ~70 % of capacity), and the wall time to find one replica's SLO capacity (TARGET < 5 s).

    python benchmarks/sim_speed.py [--requests 20000] [--repeats 3]

Capacity here is the saturated throughput: every request queued at t = 0, completions per second
between the 10th and the 90th percentile completion (leaving out ramp-up and drain).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner.simulate import (  # noqa: E402
    CapacitySearch,
    EngineConfig,
    LogNormal,
    Poisson,
    Requests,
    RooflineStepTime,
    SloTargets,
    WorkloadShape,
    find_slo_capacity,
    make_requests,
    simulate,
    vllm_default_limits,
)

GIB = 1024**3
KV_BYTES_PER_TOKEN = 2 * 32 * 8 * 128 * 2  # K and V × 32 layers × 8 KV heads × 128 dims × 2 B bf16 = 128 KiB
# (Llama-3.1-8B config; shared/reference/measurement.md §6.7: "KV: 128 KiB/token")
H100_HBM_BYTES = 80 * GIB  # AIC models the H100 SXM as 80 GiB (shared/reference/hardware_and_prices.md)
GPU_MEMORY_UTILIZATION = 0.9  # vLLM --gpu-memory-utilization default (measurement.md §6.6)
WEIGHTS_RESIDENT_BYTES = 8.03e9 * 2  # 8.03 B params in bf16 (measurement.md §6.7)
# non-torch context + activation peak: an estimate (measurement.md §6.6: 0.4–0.6 GB non-torch, plus
# activations of an 8k-token chunk)
NON_KV_OVERHEAD_BYTES = 1.5e9
KV_BLOCKS = int((H100_HBM_BYTES * GPU_MEMORY_UTILIZATION - WEIGHTS_RESIDENT_BYTES - NON_KV_OVERHEAD_BYTES)
                // (16 * KV_BYTES_PER_TOKEN))

LLAMA_8B_ON_H100 = RooflineStepTime(
    overhead_s=50e-6,  # graph launch + sampling, "tens of µs" (measurement.md §6.3, estimate)
    weight_bytes=15.01e9,  # bytes read per decode step, weights without the embedding table (§6.7)
    kv_bytes_per_token=KV_BYTES_PER_TOKEN,
    flops_per_token=2 * 7.50e9,  # 2 × non-embedding params (8.03 B − 0.525 B embedding, §6.7)
    attn_flops_per_context_token=4 * 32 * 32 * 128,  # 4 · layers · query heads · head dim (§6.3)
    bandwidth_bytes_per_s=3.35e12 * 0.8,  # H100 SXM 3.35 TB/s × 0.8 efficiency (issue brief; §6.5 range)
    flops_per_s=989e12 * 0.6,  # 989 TFLOP/s bf16 dense × 0.6 (§6.5: η_flops 0.55–0.7 for prefill)
)
MAX_SEQS, MAX_TOKENS = vllm_default_limits(H100_HBM_BYTES, "NVIDIA H100 80GB HBM3")
CONFIG = EngineConfig(kv_blocks=KV_BLOCKS, max_num_seqs=MAX_SEQS, max_num_batched_tokens=MAX_TOKENS)
CHAT = WorkloadShape(Poisson(1.0), LogNormal(1000, 1.0), LogNormal(250, 1.0))  # σ = 1: an assumed spread
SLO = SloTargets(ttft_p99_s=2.0, tpot_p99_s=0.05)  # an example interactive-chat objective


def saturated_throughput(n: int) -> float:
    req = make_requests(CHAT, n_requests=n, seed=7)
    run = simulate(Requests(np.zeros(n), req.input_tokens, req.output_tokens), CONFIG, LLAMA_8B_ON_H100)
    t10, t90 = np.percentile(run.finish_s, [10, 90])
    return 0.8 * n / (t90 - t10)


def time_run(rate: float, n: int, repeats: int) -> tuple[float, int, float]:
    """Best wall time of ``repeats`` runs [s], engine steps, simulated span [s]."""
    shape = WorkloadShape(Poisson(rate), CHAT.input_tokens, CHAT.output_tokens)
    req = make_requests(shape, n_requests=n, seed=1)
    best, run = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        run = simulate(req, CONFIG, LLAMA_8B_ON_H100)
        best = min(best, time.perf_counter() - t0)
    return best, run.n_steps, float(np.nanmax(run.finish_s))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"host: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, NumPy {np.__version__}")
    print(f"replica: Llama-3.1-8B-like on H100-like, {KV_BLOCKS} KV blocks ({KV_BLOCKS * 16:,} tokens), "
          f"max_num_seqs {MAX_SEQS}, max_num_batched_tokens {MAX_TOKENS}")
    print("workload: Poisson arrivals, lognormal input mean 1000 / output mean 250 tokens (sigma 1.0)")
    capacity = saturated_throughput(8000)
    print(f"capacity (saturated throughput): {capacity:.2f} req/s\n")
    print(f"{'load':>5} {'rate/s':>7} {'requests':>9} {'steps':>9} {'sim s':>8} {'wall s':>7} "
          f"{'sim req/s':>10}")
    for load in (0.2, 0.7, 0.95):
        wall, steps, span = time_run(load * capacity, args.requests, args.repeats)
        flag = "   <- headline (target >= 50,000)" if load == 0.7 else ""
        print(f"{load:>5.0%} {load * capacity:>7.2f} {args.requests:>9} {steps:>9} {span:>8.0f} {wall:>7.3f} "
              f"{args.requests / wall:>10,.0f}{flag}")
    t0 = time.perf_counter()
    res = find_slo_capacity(CHAT, CONFIG, LLAMA_8B_ON_H100, SLO, search=CapacitySearch())
    wall = time.perf_counter() - t0
    print(f"\nSLO capacity search (p99 TTFT <= {SLO.ttft_p99_s} s, p99 TPOT <= {SLO.tpot_p99_s} s, "
          f"{CapacitySearch().n_requests} requests per probe): {wall:.2f} s wall (target < 5 s), "
          f"{res.probes} probes")
    print(f"  -> {res.rate_per_s:.2f} req/s per replica (p99 TTFT {res.ttft_p99_s:.3f} s, p99 TPOT "
          f"{res.tpot_p99_s * 1000:.1f} ms, limited by {res.limited_by}; analytic bound "
          f"{res.upper_bound_rate_per_s:.1f} req/s)")


if __name__ == "__main__":
    main()
