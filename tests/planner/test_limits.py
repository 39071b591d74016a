"""planner.limits: each bound refuses work past it (with the bound in the message) and leaves work below it alone."""

from __future__ import annotations

import math

import pytest

from planner import limits
from planner.api import PlanRequest, policy_for
from planner.crossover import cost_curve
from planner.errors import WorkloadError
from planner.redundancy import RedundancyPolicy
from planner.search import SearchSpace, search
from planner.workload import DEFAULT_WORKLOAD, Workload, build_workload
from profiler import catalogue
from profiler.errors import InvalidValueError


def test_the_volume_bound_is_inclusive_and_survives_rescaling_rounding():
    w = DEFAULT_WORKLOAD.scaled_to(limits.MAX_TOKENS_PER_DAY)  # 5:1 mix: the parts do not sum exactly in floats
    assert w.tokens_per_day == pytest.approx(limits.MAX_TOKENS_PER_DAY, rel=1e-12)
    with pytest.raises(WorkloadError, match=r"more than the 1e\+12 tokens/day inferplan plans for"):
        DEFAULT_WORKLOAD.scaled_to(limits.MAX_TOKENS_PER_DAY * 1.001)


def test_mean_lengths_and_peak_are_bounded():
    with pytest.raises(WorkloadError, match=r"mean_output_tokens = 2e\+08 tokens per request"):
        Workload(tokens_out_per_day=2e8 * 10, requests_per_day=10)
    Workload(tokens_out_per_day=1e8 * 10, requests_per_day=10)  # the bound itself is allowed
    with pytest.raises(WorkloadError, match="peak_to_average 101 is more than 100"):
        build_workload({"peak_to_average": "101"})
    assert build_workload({"peak_to_average": "100"}).peak_to_average == 100


def test_zones_and_spares_are_bounded():
    assert RedundancyPolicy(zones=limits.MAX_ZONES).zones == 64
    with pytest.raises(InvalidValueError, match="zones must be an integer from 1 to 64"):
        RedundancyPolicy(zones=limits.MAX_ZONES + 1)
    with pytest.raises(InvalidValueError, match=r"at most 100,000"):
        RedundancyPolicy(spares=limits.MAX_REPLICAS + 1)


def test_a_candidate_past_the_replica_bound_is_infeasible_with_its_count(catalogues, monkeypatch):
    model = catalogue.get_model("llama-3.1-8b")
    space = SearchSpace(gpus=("h100-sxm",), quants=("bf16",), tps=(1,), redundancy=policy_for(PlanRequest()))
    w = DEFAULT_WORKLOAD.scaled_to(20e9)
    args = (model, w, space, catalogues.gpus, catalogues.quants, catalogues.gpu_prices, catalogues.tco_defaults)
    free = search(*args)
    needed = int(free.loc[free["feasible"], "replicas"].iloc[0])
    assert needed > 2
    monkeypatch.setattr(limits, "MAX_REPLICAS", needed - 1)
    capped = search(*args)
    assert not capped["feasible"].any()
    assert capped["reason"].str.contains(f"needs {needed:,} replicas at peak, more than the {needed - 1:,} "
                                         "inferplan sizes").all()


def test_the_cost_curve_grid_stops_at_the_volume_bound(catalogues):
    seen = []

    def cost(v):
        seen.append(v)
        return 1e5, 1

    table = cost_curve(cost, DEFAULT_WORKLOAD.scaled_to(5e11), catalogues.api_prices)
    assert max(table["tokens_per_day"]) <= limits.MAX_TOKENS_PER_DAY * (1 + 1e-12)
    assert max(seen) <= limits.MAX_TOKENS_PER_DAY * (1 + 1e-12)
    assert math.isclose(max(table["tokens_per_day"]), limits.MAX_TOKENS_PER_DAY, rel_tol=1e-9)
