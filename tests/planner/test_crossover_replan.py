"""The crossover and the cost curve re-plan at every volume: they do not depend on the volume planned at."""

import pytest

from planner.api import PlanRequest, plan
from planner.workload import DEFAULT_WORKLOAD


def _crossover(p, label: str) -> float:
    return float(p.api.loc[p.api["label"] == label, "crossover_tokens_per_day"].iloc[0])


# Same-weights Llama 3.3 70B rows the plan compares with (like for like): their crossovers are computed
TOGETHER = "together / Llama-3.3-70B-Instruct-Turbo"  # $0.88 in and out
SAME_WEIGHTS = (TOGETHER, "fireworks / llama-v3p3-70b-instruct", "groq / llama-3.3-70b-versatile")


def test_the_crossover_does_not_depend_on_the_volume_planned_at(seed_plan, plan_600m):
    pick = [(p.deployment["gpu"], p.deployment["quant"], p.deployment["tp"]) for p in (seed_plan, plan_600m)]
    assert pick[0] != pick[1]  # the plan at 600M tokens/day chose another configuration
    for api in SAME_WEIGHTS:
        a, b = _crossover(seed_plan, api), _crossover(plan_600m, api)
        assert a == pytest.approx(b, rel=2e-3), api  # the bisection's tolerance is 1e-3
    # Together: $0.88 per M tokens x 30.42 days = $2.677e-5/month per token/day; self-hosting never costs less
    # than the seed bill, so it breaks even no lower than 12,588 / 2.677e-5 = 470M tokens/day
    together = _crossover(seed_plan, TOGETHER)
    assert seed_plan.monthly_total_cost / (0.88 * 730 / 24 / 1e6) <= together < 1e10


@pytest.mark.parametrize("which", ["seed_plan", "plan_600m"])
def test_the_cost_curve_never_falls_as_volume_rises(which, request):
    c = request.getfixturevalue(which).curve
    assert c["tokens_per_day"].is_monotonic_increasing
    assert (c["self_host_monthly"].diff().dropna() >= -1e-6).all()


def test_at_the_crossover_a_plan_made_afresh_costs_what_the_api_does(seed_plan):
    # Together's slope: $0.88 per M tokens (in and out) x 30.42 days per month per token/day
    slope = 0.88 * 730 / 24 / 1e6
    v = _crossover(seed_plan, TOGETHER)
    at = plan(PlanRequest(workload=DEFAULT_WORKLOAD.scaled_to(v)))
    assert slope * v >= at.monthly_total_cost  # self-hosting costs no more than GPT-4o there...
    below = v * (1 - 2e-3)  # ...and more just below it (the bisection stops within 0.1%)
    assert slope * below < plan(PlanRequest(workload=DEFAULT_WORKLOAD.scaled_to(below))).monthly_total_cost
