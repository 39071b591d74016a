"""Library call behind `inferplan simulate`: resolve names, build the step model, run the simulator."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from planner import simulate as sim
from planner.step_model import Deployment, ProfileStep, roofline_step
from profiler import catalogue
from profiler.analytic.efficiency import efficiency_for
from profiler.analytic.memory import BLOCK_TOKENS
from profiler.errors import InvalidValueError
from profiler.schema import read_profile
from profiler.specs import KvDtype

LOAD_POINTS = (0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1, 1.2)  # offered load / analytic capacity bound, for --plot


@dataclass(frozen=True)
class SimRequest:
    model: str
    gpu: str = "h100-sxm"
    quant: str = "bf16"
    tp: int = 1
    kv_dtype: str = "bf16"
    rate_per_s: float | None = None
    trace: Path | None = None
    duration_s: float = 600.0
    input_tokens: float = 1000
    output_tokens: float = 250
    sigma: float = 0.6
    cv: float = 1.0
    ttft_p99_s: float = 2.0
    tpot_p99_s: float = 0.05
    profile: Path | None = None
    seed: int = 0


@dataclass(frozen=True)
class SimResult:
    request: SimRequest
    metrics: sim.SimMetrics
    engine: dict[str, Any]
    shape: Any = field(repr=False)
    config: sim.EngineConfig = field(repr=False)
    step: Any = field(repr=False)

    def summary(self) -> dict[str, Any]:
        m = self.metrics
        return {**self.engine, "requests_measured": m.requests_measured, "throughput_rps": m.throughput_rps,
                "goodput_fraction": m.goodput_fraction, "kv_util_mean": m.kv_util_mean,
                "preemptions": m.preemptions, "queue_max": m.queue_max, "stable": m.stable}

    def load_sweep(self) -> pd.DataFrame:
        """p50/p90/p99 TTFT and TPOT at offered loads around the analytic capacity bound."""
        bound = sim.rate_upper_bound(self.shape, self.config, self.step)
        rows = []
        for frac in LOAD_POINTS:
            rate = bound * frac
            if isinstance(self.shape, sim.Requests):
                reqs = sim.at_rate(self.shape, rate)
            else:
                shape = sim.WorkloadShape(sim.with_rate(self.shape.arrival, rate), self.shape.input_tokens,
                                          self.shape.output_tokens)
                reqs = sim.make_requests(shape, n_requests=3000, seed=self.request.seed)
            run = sim.simulate(reqs, self.config, self.step)
            m = sim.summarize(run, self.metrics.slo, warmup_s=0.1 * reqs.duration_s)
            rows.append({"offered_rps": rate, "load": frac, "ttft_p50_s": m.ttft.p50, "ttft_p90_s": m.ttft.p90,
                         "ttft_p99_s": m.ttft.p99, "tpot_p50_s": m.tpot.p50, "tpot_p90_s": m.tpot.p90,
                         "tpot_p99_s": m.tpot.p99})
        return pd.DataFrame(rows)


def deployment(model: str, gpu: str, quant: str, tp: int, kv_dtype: str) -> Deployment:
    if kv_dtype not in ("bf16", "fp8"):
        raise InvalidValueError(f"--kv-dtype must be bf16 or fp8, not '{kv_dtype}'")
    g, q = catalogue.get_gpu(gpu), catalogue.get_quant(quant)
    return Deployment(catalogue.get_model(model), g, q, KvDtype(kv_dtype), tp, efficiency_for(g.id, q.id))


def engine_config(dep: Deployment, step) -> sim.EngineConfig:
    """vLLM's defaults for this GPU, with the KV capacity of the memory model (or the profile)."""
    seqs, tokens = sim.vllm_default_limits(dep.gpu.hbm_bytes, dep.gpu.id)
    blocks = step.kv_capacity_tokens() // BLOCK_TOKENS if hasattr(step, "kv_capacity_tokens") else 0
    if blocks < 1:
        raise InvalidValueError(f"{dep.model.name} at {dep.quant.id} leaves no KV cache on {dep.tp}x {dep.gpu.id}; "
                                "try `inferplan profile` to see what fits")
    return sim.EngineConfig(kv_blocks=int(blocks), max_num_seqs=seqs, max_num_batched_tokens=tokens,
                            max_model_len=dep.model.max_context)


def _lengths(mean: float, sigma: float):
    return sim.Fixed(int(round(mean))) if sigma <= 0 else sim.LogNormal(mean=mean, sigma=sigma)


def run_simulation(req: SimRequest) -> SimResult:
    dep = deployment(req.model, req.gpu, req.quant, req.tp, req.kv_dtype)
    if req.profile:
        prof, _ = read_profile(req.profile)
        step = ProfileStep(prof, dep)
    else:
        step = _AnalyticSim(roofline_step(dep), dep)
    config = engine_config(dep, step)
    slo = sim.SloTargets(ttft_p99_s=req.ttft_p99_s, tpot_p99_s=req.tpot_p99_s)
    if req.trace:
        shape = sim.read_trace(req.trace)
        run, metrics = sim.simulate_workload(shape, config, step, slo=slo)
    else:
        arrival = sim.Poisson(req.rate_per_s) if req.cv == 1.0 else sim.Gamma(req.rate_per_s, cv=req.cv)
        lengths = _lengths(req.input_tokens, req.sigma), _lengths(req.output_tokens, req.sigma)
        shape = sim.WorkloadShape(arrival, *lengths)
        run, metrics = sim.simulate_workload(shape, config, step, slo=slo, duration_s=req.duration_s, seed=req.seed)
    engine = {"kv_blocks": config.kv_blocks, "kv_tokens": config.kv_tokens, "max_num_seqs": config.max_num_seqs,
              "max_num_batched_tokens": config.max_num_batched_tokens,
              "step_model": "profile" if req.profile else "analytic roofline"}
    return SimResult(req, metrics, engine, shape, config, step)


class _AnalyticSim:
    """RooflineStepTime plus the memory model's KV capacity (what engine_config needs)."""

    def __init__(self, roofline, dep: Deployment):
        self._r, self._dep = roofline, dep
        self.decode_affine = roofline.decode_affine

    def __call__(self, prefill_tokens: int, decode_seqs: int, context_tokens: int) -> float:
        return self._r(prefill_tokens, decode_seqs, context_tokens)

    def kv_capacity_tokens(self) -> int:
        from planner.step_model import AnalyticStep

        return AnalyticStep(self._dep).kv_capacity_tokens()
