"""`plan --simulate`: size the chosen deployment with the simulator's p99-SLO capacity.

The mean-value search picks the configuration; the simulator then finds the highest Poisson
rate (at the workload's length distribution) one replica sustains with p99 TTFT and TPOT within
the SLOs (planner.simulate.find_slo_capacity), replicas are recounted from it, and the simulated
p99s are reported beside the plan.
"""

from __future__ import annotations

from dataclasses import replace

from planner import simulate as sim
from planner.capacity import MAX_UTILISATION, Capacity
from planner.errors import InfeasibleError
from planner.plan import Plan, make_plan
from planner.simulate_api import engine_config
from planner.step_model import AnalyticStep, ProfileStep, roofline_step
from planner.workload import Workload


def _lengths(dist, mean: float):
    if dist.kind == "lognormal" and dist.sigma > 0:
        return sim.LogNormal(mean=mean, sigma=dist.sigma, max_tokens=dist.max_tokens)
    return sim.Fixed(max(1, int(round(mean))))


class _Step:
    """Roofline (closed-form decodes) + the memory model's capacity, as engine_config needs."""

    def __init__(self, dep):
        self._r, self._a = roofline_step(dep), AnalyticStep(dep)
        self.decode_affine = self._r.decode_affine

    def __call__(self, p: int, d: int, c: int) -> float:
        return self._r(p, d, c)

    def kv_capacity_tokens(self) -> int:
        return self._a.kv_capacity_tokens()


def simulated_capacity(workload: Workload, results: dict):
    shape_lengths = (_lengths(workload.input_dist, workload.mean_input_tokens),
                     _lengths(workload.output_dist, workload.mean_output_tokens))
    slo = sim.SloTargets(ttft_p99_s=workload.ttft_p99_s, tpot_p99_s=workload.tpot_p99_s)

    def capacity(dep, step) -> Capacity:
        st = step if isinstance(step, ProfileStep) else _Step(dep)
        config = engine_config(dep, st)
        shape = sim.WorkloadShape(sim.Poisson(1.0), *shape_lengths)
        found = sim.find_slo_capacity(shape, config, st, slo, search=sim.CapacitySearch(n_requests=2000))
        results[(dep.gpu.id, dep.quant.id, dep.tp)] = found
        if found.rate_per_s <= 0:
            return Capacity(False, limited_by=found.limited_by,
                            reason=f"simulated p99s miss the SLOs even near idle ({found.limited_by})")
        return Capacity(True, batch=config.max_num_seqs, tpot_s=found.tpot_p99_s, ttft_s=found.ttft_p99_s,
                        requests_per_s=found.rate_per_s * MAX_UTILISATION,
                        tokens_out_per_s=found.rate_per_s * MAX_UTILISATION * workload.mean_output_tokens,
                        kv_capacity_tokens=config.kv_tokens, limited_by=f"simulated {found.limited_by}")

    return capacity


def attach_simulation(result: Plan, model, workload: Workload, space, cat, profile) -> Plan:
    d = result.deployment
    narrowed = replace(space, gpus=(d["gpu"],), quants=(d["quant"],), tps=(int(d["tp"]),),
                       pricing=(d["pricing"],))
    found: dict = {}
    try:
        sim_plan = make_plan(model, workload, narrowed, cat, profile, capacity_fn=simulated_capacity(workload, found))
    except InfeasibleError as exc:
        raise InfeasibleError(f"the simulator finds the chosen {d['gpu']}/{d['quant']}/TP{d['tp']} cannot meet "
                              f"the p99 SLOs: {exc}") from exc
    cap = next(iter(found.values()))
    simulated = {"rate_per_replica_rps": cap.rate_per_s, "ttft_p99_s": cap.ttft_p99_s, "tpot_p99_s": cap.tpot_p99_s,
                 "limited_by": cap.limited_by, "analytic_rate_per_replica_rps": d["replica_rps"] / MAX_UTILISATION,
                 "probes": cap.probes}
    return replace(sim_plan, alternatives=result.alternatives, simulated=simulated)
