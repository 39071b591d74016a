"""inferplan's planner: from a profile and a token volume to GPUs, redundancy, a monthly bill, APIs and a verdict.

Public API (never imports torch)::

    plan(PlanRequest) -> Plan                      the main job (planner.api)
    Workload, load_workload, build_workload        what is served (planner.workload)
    load_gpu_prices, load_api_prices               dated price tables (planner.prices)
    search, SearchSpace                            cheapest SLO-meeting configurations (planner.search)
"""

from planner.api import PlanRequest, plan
from planner.plan import Plan
from planner.prices import load_api_prices, load_gpu_prices
from planner.search import SearchSpace, search
from planner.workload import DEFAULT_WORKLOAD, Workload, build_workload, load_workload

__all__ = ["DEFAULT_WORKLOAD", "Plan", "PlanRequest", "SearchSpace", "Workload", "build_workload",
           "load_api_prices", "load_gpu_prices", "load_workload", "plan", "search"]
