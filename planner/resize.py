"""Size a mean-value plan's cheapest candidates with a finer capacity model (the p99 tail model, planner.plan's
default; the event simulator under `--simulate`).

A finer model costs 0.1-3 s per deployment, too much for the few hundred (GPU, quant, KV dtype, TP) the search
visits, so the mean-value search ranks them and the finer model sizes the cheapest few: :func:`candidate_keys`
picks them from a plan, :func:`only` restricts a capacity function to them (the rest are infeasible, "not
sized"), :func:`narrowed` cuts the search space down to them, and :func:`resize` re-runs the plan over them, so
the deployment, the bill and the verdict read the finer capacities.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from planner.capacity import Capacity
from planner.step_model import Deployment

if TYPE_CHECKING:
    from planner.plan import Plan

Key = tuple[str, str, str, int]  # gpu, quant, KV dtype, TP


def row_key(row) -> Key:
    return row["gpu"], row["quant"], row["kv_dtype"], int(row["tp"])


def dep_key(dep: Deployment) -> Key:
    return dep.gpu.id, dep.quant.id, dep.kv_dtype.value, dep.tp


def candidate_keys(result: Plan, n: int) -> list[Key]:
    """The plan's choice and the next cheapest feasible (gpu, quant, KV dtype, TP) of its alternatives, `n` in all."""
    keys = [row_key(result.deployment)]
    alt = result.alternatives
    for _, row in alt[alt["feasible"]].iterrows():
        if len(keys) >= n:
            break
        if row_key(row) not in keys:
            keys.append(row_key(row))
    return keys


def narrowed(space, keys: list[Key]):
    """The search space cut down to the GPUs, quants and TP degrees of `keys` (`only` drops the other mixes)."""
    return replace(space, gpus=tuple(dict.fromkeys(k[0] for k in keys)),
                   quants=tuple(dict.fromkeys(k[1] for k in keys)), tps=tuple(dict.fromkeys(k[3] for k in keys)))


def only(keys: list[Key], capacity_fn, what: str):
    """`capacity_fn` for the deployments in `keys`, infeasible (not sized by `what`) for the rest of the space."""
    def capacity(dep: Deployment, step) -> Capacity:
        if dep_key(dep) not in keys:
            return Capacity(False, limited_by="not sized", reason=f"not among the {len(keys)} cheapest "
                            f"mean-value candidates the {what} sizes")
        return capacity_fn(dep, step)

    return capacity


def resize(result: Plan, model, workload, space, cat, profile, keys: list[Key], capacity_fn, what: str,
           top_n: int = 10, engine: str = "vllm") -> Plan:
    """The plan again over the deployments in `keys` only, each sized by `capacity_fn(dep, step)`."""
    from planner.plan import make_plan

    return make_plan(model, workload, narrowed(space, keys), cat, profile, top_n=top_n,
                     capacity_fn=only(keys, capacity_fn, what), engine=engine)


def same_row(alternatives, chosen: dict) -> dict | None:
    """The feasible row of `alternatives` for the deployment and pricing of `chosen`, if there is one."""
    ok = alternatives[alternatives["feasible"]]
    hit = ok[[row_key(r) == row_key(chosen) and r["pricing"] == chosen["pricing"] for _, r in ok.iterrows()]]
    return hit.iloc[0].to_dict() if len(hit) else None
