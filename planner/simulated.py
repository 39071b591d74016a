"""`plan --simulate`: size the chosen deployment with the simulator's p99-SLO capacity.

The mean-value search picks the configuration; the simulator then finds the highest Poisson rate
(at the workload's length distributions) one replica sustains with p99 TTFT and TPOT within the
SLOs and at most 1 % of the requests refused (planner.simulate.find_slo_capacity), and replicas are
recounted from that rate as it is. No utilisation cap is applied on top: the mean-value model's
MAX_UTILISATION (0.8, planner.capacity) is headroom for the queueing it does not model, and the
simulated p99s already include that queueing, so derating again would count it twice. The
utilisation shown is mean load / (replicas × simulated capacity).

The deployment's ``batch`` is the mean running batch simulated at that capacity
(``SloCapacity.running_mean``, :func:`simulated_batch`): what the replica actually batches, not the
engine's ``max_num_seqs`` ceiling, which ``Plan.simulated`` keeps beside it and the vLLM launch line
passes as ``--max-num-seqs`` (the limit the simulator ran with).

``Plan.simulated`` holds the capacity edge (``rate_per_replica_rps`` and its p99s, what limits it,
the refused share, the mean running batch there and the engine limits), the operating point
``at_peak`` (the p99s, goodput and queue simulated at the plan's per-replica peak load: peak
requests/s / replicas), the mean-value model's uncapped rate, and whether the cache answered.

Capacities and operating points are cached (planner.simulate.shared_cache: in memory for the
process, and $INFERPLAN_HOME/sim_capacity.json across runs) under a key of the model, GPU, quant,
KV dtype and TP, the whole deployment spec incl. its efficiency, the step model (the roofline's
parameters or a hash of the profile table), the workload shape (length distributions, arrival
kind), the SLOs, the engine limits and the search settings incl. the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from planner import engines
from planner import simulate as sim
from planner.capacity import CHUNK_TOKENS, MAX_NUM_SEQS_CAP, MAX_UTILISATION, Capacity, launch_max_model_len
from planner.errors import InfeasibleError, PlannerError
from planner.plan import Plan
from planner.resize import candidate_keys, dep_key, resize, row_key, same_row
from planner.simulate_api import KeyedStep, cache_labels, keyed_step
from planner.step_model import Deployment
from planner.workload import Workload

# 2,000 requests per probe: the p99 rests on the ~18 slowest of the ~1,800 measured after warm-up,
# and a whole search stays around a second (benchmarks/sim_speed.py times the 4,000-request default).
SEARCH = sim.CapacitySearch(n_requests=2000)
# Deployments the simulator sizes per plan: the mean-value choice and the next cheapest feasible ones (each one
# capacity search, ~1-3 s cold on 2 cores, cached after). Design choice: enough that a choice the simulator
# rejects has cheap successors, few enough that a cold `plan --simulate` stays well under 30 s.
SIM_CANDIDATES = 4


def workload_shape(workload: Workload) -> sim.WorkloadShape:
    """Poisson arrivals (rate rescaled by the search) with the workload's length distributions."""
    def lengths(dist, mean: float):
        if dist.kind == "lognormal" and dist.sigma > 0:
            return sim.LogNormal(mean=mean, sigma=dist.sigma, max_tokens=dist.max_tokens)
        return sim.Fixed(max(1, int(round(mean))))

    return sim.WorkloadShape(sim.Poisson(1.0), lengths(workload.input_dist, workload.mean_input_tokens),
                             lengths(workload.output_dist, workload.mean_output_tokens))


@dataclass(frozen=True, eq=False)
class _Found:
    capacity: sim.SloCapacity
    step: KeyedStep
    config: sim.EngineConfig
    cached: bool


def simulated_capacity(workload: Workload, found: dict, cache: sim.CapacityCache,
                       profile: pd.DataFrame | None = None, engine: str = "vllm"):
    """``capacity_fn(dep, step) -> Capacity`` for planner.plan.make_plan; fills ``found[dep]``. `engine`: the
    scheduler simulated (planner.engines: vLLM V1, TensorRT-LLM's default capacity policy, SGLang)."""
    shape = workload_shape(workload)
    slo = sim.SloTargets(ttft_p99_s=workload.ttft_p99_s, tpot_p99_s=workload.tpot_p99_s)

    def capacity(dep: Deployment, step) -> Capacity:
        st = keyed_step(dep, step, profile)
        # the engine the plan launches (planner.launch): its --max-model-len, --max-num-batched-tokens
        # (CHUNK_TOKENS) and --max-num-seqs (the analytic model's ceiling, MAX_NUM_SEQS_CAP), so the launch line
        # is the one simulated, whatever the engine's own defaults on this GPU would be
        mml = launch_max_model_len(workload.longest_request_tokens, dep.model.max_context,
                                   st.kv_capacity_tokens())
        config = engines.engine_config(dep, st, engines.EngineKnobs(
            engine=engine, max_num_seqs=MAX_NUM_SEQS_CAP, max_num_batched_tokens=CHUNK_TOKENS, max_model_len=mml))
        key = sim.capacity_key(shape, config, st, slo, SEARCH, cache_labels(dep))
        cached = isinstance(cache.get(key), sim.SloCapacity)
        res = sim.find_slo_capacity(shape, config, st, slo, search=SEARCH, cache=cache, labels=cache_labels(dep))
        found.setdefault(dep, _Found(res, st, config, cached))  # the first call says whether the cache answered
        if res.rate_per_s <= 0:
            return Capacity(False, limited_by=f"simulated {res.limited_by}", reason=_why_zero(res, config))
        return Capacity(True, batch=simulated_batch(res), tpot_s=res.tpot_p99_s, ttft_s=res.ttft_p99_s,
                        requests_per_s=res.rate_per_s, tokens_out_per_s=res.rate_per_s * workload.mean_output_tokens,
                        kv_capacity_tokens=config.kv_tokens, limited_by=f"simulated {res.limited_by}",
                        headroom=1.0,  # the simulated p99-SLO rate already includes queueing
                        max_num_seqs=config.max_num_seqs)

    return capacity


def simulated_batch(res: sim.SloCapacity) -> int:
    """The batch one replica actually runs at its SLO capacity: the time-weighted mean of the running
    batch simulated at that rate (``running_mean``), rounded, at least 1. Not ``max_num_seqs``, the
    engine's ceiling, which the batch at a p99-SLO rate seldom reaches."""
    return max(1, round(res.running_mean))


def _why_zero(res: sim.SloCapacity, config: sim.EngineConfig) -> str:
    if res.limited_by == "rejections":
        limit = f"the {config.kv_tokens:,}-token KV cache" + (
            f" or max_model_len {config.max_model_len:,}" if config.max_model_len else "")
        return (f"the engine would refuse {res.rejected_fraction:.1%} of requests (prompt + output larger than "
                f"{limit}), more than the 1% a p99 SLO allows; use more TP, a smaller quant or fp8 KV, or cap "
                "the lengths (max_tokens)")
    return f"simulated p99s miss the SLOs even near idle ({res.limited_by})"


def _chosen(found: dict[Deployment, _Found], d: dict) -> tuple[Deployment, _Found]:
    for dep, hit in found.items():
        if dep_key(dep) == row_key(d):
            return dep, hit
    raise PlannerError(f"the simulator did not size {d['gpu']}/{d['quant']}/TP{d['tp']}; please report this")


def attach_simulation(result: Plan, model, workload: Workload, space, cat, profile, engine: str = "vllm") -> Plan:
    """Re-size with the simulator: the mean-value plan's choice and the next cheapest candidates
    (SIM_CANDIDATES in all), so a deployment that only meets the p99s at a vanishing rate (a TTFT that the
    mean-value model, which does not queue, puts just under the target) loses to one that meets them at load."""
    keys = candidate_keys(result, SIM_CANDIDATES)
    found: dict[Deployment, _Found] = {}
    cache = sim.shared_cache()
    try:
        sim_plan = resize(result, model, workload, space, cat, profile, keys,
                          simulated_capacity(workload, found, cache, profile, engine), "simulator", engine=engine)
    except InfeasibleError as exc:
        names = ", ".join(f"{g}/{q}/TP{t}" for g, q, _, t in keys)
        raise InfeasibleError(f"the simulator finds none of the cheapest candidates ({names}) meets "
                              f"the p99 SLOs: {exc}") from exc
    d2 = sim_plan.deployment
    d = same_row(result.alternatives, d2) or result.deployment  # the analytic row of the deployment chosen
    dep, hit = _chosen(found, d2)
    cap, replicas = hit.capacity, int(d2["replicas"])
    per_replica_peak = workload.requests_per_s_peak / replicas
    point = sim.simulate_point(workload_shape(workload), per_replica_peak, hit.config, hit.step,
                               sim.SloTargets(workload.ttft_p99_s, workload.tpot_p99_s), search=SEARCH, cache=cache,
                               labels=cache_labels(dep))
    simulated = {
        "rate_per_replica_rps": cap.rate_per_s, "ttft_p99_s": cap.ttft_p99_s, "tpot_p99_s": cap.tpot_p99_s,
        "running_mean_at_capacity": cap.running_mean, "max_num_seqs": hit.config.max_num_seqs,
        "max_num_batched_tokens": hit.config.max_num_batched_tokens, "engine": engine, "policy": hit.config.policy,
        "limited_by": cap.limited_by, "rejected_fraction": cap.rejected_fraction,
        "analytic_rate_per_replica_rps": analytic_rate(result, d), "probes": cap.probes,
        # the analytic model's replica count for the same deployment (p99 sizing, or mean-value under
        # --sizing mean-value), and whether the two differ by more than one replica (say so)
        "analytic_replicas": int(d["replicas"]), "replicas_differ": abs(int(d["replicas"]) - replicas) > 1,
        "at_peak": point.to_dict(), "cache": "hit" if hit.cached else "miss", "cache_file": str(cache.path),
        "cache_error": cache.disk_error, "step_model": hit.step.identity,
    }
    deployment = {**d2, "utilisation": workload.requests_per_s_mean / (cap.rate_per_s * replicas)}
    warnings = sim_plan.warnings
    if workload.cached_input_fraction > 0:
        warnings += (f"the simulator prefills every prompt token: it does not model the prefix cache that the "
                     f"analytic sizing credits with {workload.cached_input_fraction:.0%} of the input, so the "
                     "simulated replicas are an upper bound",)
    return replace(sim_plan, deployment=deployment, alternatives=result.alternatives, simulated=simulated,
                   p99=result.p99, warnings=warnings)


def analytic_rate(result: Plan, row: dict) -> float:
    """The analytic model's full rate per replica for `row`: its p99 rate, or the mean-value rate before the
    MAX_UTILISATION headroom."""
    if result.p99 is not None:
        return float(row["replica_rps"])
    return float(row["replica_rps"]) / MAX_UTILISATION
