"""The crossover and the cost curve re-plan at every volume: they do not depend on the volume planned at."""

import pytest

from planner.api import PlanRequest, plan
from planner.workload import DEFAULT_WORKLOAD


def _crossover(p, model: str) -> float:
    return float(p.api.loc[p.api["model"] == model, "crossover_tokens_per_day"].iloc[0])


def test_the_crossover_does_not_depend_on_the_volume_planned_at(seed_plan, plan_600m):
    pick = [(p.deployment["gpu"], p.deployment["quant"], p.deployment["tp"]) for p in (seed_plan, plan_600m)]
    assert pick[0] != pick[1]  # the plan at 600M tokens/day chose another configuration
    for api in ("gpt-4o", "claude-3-5-sonnet-20241022", "claude-opus-4-1-20250805"):
        a, b = _crossover(seed_plan, api), _crossover(plan_600m, api)
        assert a == pytest.approx(b, rel=2e-3), api  # the bisection's tolerance is 1e-3
    # GPT-4o: $2.50 x 5/6 + $10 x 1/6 = $3.75 per M tokens -> $0.1125/month per token/day; the seed bill of
    # ~$9,600/month breaks even at ~85M tokens/day unless a replica step intervenes first
    gpt4o = _crossover(seed_plan, "gpt-4o")
    assert seed_plan.monthly_total_cost / (3.75 * 30 / 1e6) <= gpt4o < 120e6


@pytest.mark.parametrize("which", ["seed_plan", "plan_600m"])
def test_the_cost_curve_never_falls_as_volume_rises(which, request):
    c = request.getfixturevalue(which).curve
    assert c["tokens_per_day"].is_monotonic_increasing
    assert (c["self_host_monthly"].diff().dropna() >= -1e-6).all()


def test_at_the_crossover_a_plan_made_afresh_costs_what_the_api_does(seed_plan):
    # GPT-4o's slope: $3.75 per M tokens x 30 days = $1.125e-4 per month per token/day (5:1 input:output mix)
    slope = (2.50 * 5 / 6 + 10.0 / 6) * 30 / 1e6
    v = _crossover(seed_plan, "gpt-4o")
    at = plan(PlanRequest(workload=DEFAULT_WORKLOAD.scaled_to(v)))
    assert slope * v >= at.monthly_total_cost  # self-hosting costs no more than GPT-4o there...
    below = v * (1 - 2e-3)  # ...and more just below it (the bisection stops within 0.1%)
    assert slope * below < plan(PlanRequest(workload=DEFAULT_WORKLOAD.scaled_to(below))).monthly_total_cost
