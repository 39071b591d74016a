"""The plan's chosen configuration, re-costed at other replica counts and volumes (the budget views' one pricing
rule: planner.hybrid, planner.growth, planner.owned).

A :class:`Fleet` holds what the plan chose (GPU, quant, TP, the offer and its $/GPU-hour, each replica's p99-SLO
request rate) and prices that configuration the way the plan priced it: ``n`` replicas serving a workload get the
spares the plan's redundancy policy gives ``n`` (planner.redundancy.spare_replicas), and the full monthly bill
(planner.search.bill_total: GPU lines in whole rented instances, people, monitoring, guard, volume lines at the
workload's volume). ``monthly_cost(0, w)`` is 0: no replica, no self-hosted bill at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from planner import redundancy as red_mod
from planner.search import bill, bill_total
from planner.step_model import Deployment
from planner.units import HOURS_PER_MONTH
from planner.workload import Workload


@dataclass(frozen=True)
class Fleet:
    """The planned configuration (module docstring). Money in USD/month; rates in requests/s."""

    dep: Deployment
    replica_rps: float  # one replica's sustainable request rate at the SLOs (the plan's deployment["replica_rps"])
    usd_per_gpu_hour: float
    offer: pd.Series | None  # the chosen offer row (whole-instance renting, capex columns when bought)
    workload: Workload  # the planned workload
    policy: red_mod.RedundancyPolicy
    tco_defaults: object
    existing_infra: bool

    def replicas_for(self, peak_rps: float) -> int:
        """Replicas serving `peak_rps` requests/s at the SLOs (0 for no traffic)."""
        return 0 if peak_rps <= 0 else max(1, math.ceil(peak_rps / self.replica_rps - 1e-12))

    def spares(self, replicas: int) -> int:
        """Spare replicas the plan's redundancy policy gives `replicas` at peak (0 for none)."""
        if replicas <= 0:
            return 0
        return red_mod.spare_replicas(replicas, self.workload.availability, self.policy,
                                      gpus_per_replica=self.dep.tp, gpus_per_node=self.dep.gpu.gpus_per_node)

    def gpus(self, replicas: int) -> int:
        """GPUs in use for `replicas` + their spares."""
        return (replicas + self.spares(replicas)) * self.dep.tp

    def monthly_cost(self, replicas: int, workload: Workload | None = None) -> float:
        """The full monthly bill of `replicas` + spares serving `workload` (default: the planned one) [USD/month]."""
        if replicas <= 0:
            return 0.0
        return bill_total(replicas, self.spares(replicas), self.dep.tp, self.usd_per_gpu_hour,
                          workload or self.workload, self.tco_defaults, self.existing_infra, self.offer, self.dep.gpu)

    def gpu_cost(self, replicas: int) -> float:
        """The GPU lines alone (primary + spares, whole instances not counted) [USD/month]."""
        return self.gpus(replicas) * self.usd_per_gpu_hour * HOURS_PER_MONTH

    def line_items(self, replicas: int, workload: Workload | None = None) -> pd.DataFrame:
        """The bill's line items (planner.tco LineItems) of `replicas` + spares serving `workload`."""
        from planner.search import Sized

        w = workload or self.workload
        red = red_mod.plan_redundancy(replicas, w.availability, self.policy, gpus_per_replica=self.dep.tp,
                                      gpus_per_node=self.dep.gpu.gpus_per_node)
        sized = Sized(self.dep, None, replicas, red, math.nan)
        return bill(sized, self.usd_per_gpu_hour, w, self.tco_defaults, self.existing_infra, self.offer)[0]


def fleet_of(plan, model, cat, space) -> Fleet:
    """The Fleet of `plan`, made by planner.plan.make_plan for `model` (ModelSpec) with catalogues `cat` and search
    space `space` (planner.api.plan holds all three)."""
    from planner.errors import PlannerError
    from planner.plan import _deployment
    from planner.search import offer_for

    d = plan.deployment
    dep = _deployment(model, pd.Series(d), cat)
    offer = offer_for(cat.gpu_prices, dep.gpu.id, d["pricing"], space.provider, int(d["gpus_total"]), {},
                      space.region)
    return Fleet(dep, float(d["replica_rps"]), float(d["usd_per_gpu_hour"]),
                 None if isinstance(offer, PlannerError) else offer, plan.workload, space.redundancy,
                 cat.tco_defaults, space.existing_infra)


__all__ = ["Fleet", "fleet_of"]
