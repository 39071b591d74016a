"""One bill, three ways: the line items the user sees, the fast bill behind every crossover and cost-curve
point (planner.search.bill_total), and a plan made afresh at a curve point's volume."""

import pytest

from planner.api import PlanRequest, plan
from planner.search import bill_total, offer_for
from planner.units import HOURS_PER_MONTH
from planner.workload import DEFAULT_WORKLOAD

PLANS = ("seed_plan", "plan_600m")


@pytest.mark.parametrize("which", PLANS)
def test_the_fast_bill_is_the_bill_shown(which, request, catalogues):
    p = request.getfixturevalue(which)
    d = p.deployment
    shown = float(p.line_items["monthly_usd"].sum())
    assert p.monthly_total_cost == pytest.approx(shown, rel=1e-12)
    offer = offer_for(catalogues.gpu_prices, d["gpu"], d["pricing"], None, int(d["gpus_total"]), {})
    assert offer["provider"] == d["provider"] and float(offer["usd_per_gpu_hour"]) == d["usd_per_gpu_hour"]
    fast = bill_total(int(d["replicas"]), int(d["spare_replicas"]), int(d["tp"]), float(d["usd_per_gpu_hour"]),
                      p.workload, catalogues.tco_defaults, p.workload.existing_infra, offer, catalogues.gpus[d["gpu"]])
    assert fast == pytest.approx(shown, rel=1e-12)


@pytest.mark.parametrize("which", PLANS)
def test_the_gpu_lines_and_the_multiplier_follow_from_the_deployment(which, request):
    p = request.getfixturevalue(which)
    d = p.deployment
    lines = p.line_items.set_index("id")["monthly_usd"]
    primary, spare = d["replicas"] * d["tp"], d["spare_replicas"] * d["tp"]
    assert d["gpus_total"] == primary + spare
    rate = d["usd_per_gpu_hour"] * HOURS_PER_MONTH  # one GPU for a month
    assert p.monthly_gpu_cost == pytest.approx(primary * rate) and lines["gpu_primary"] == pytest.approx(primary * rate)
    assert lines["gpu_failover"] == pytest.approx(spare * rate)  # hot standby is paid in full
    assert lines.get("gpu_instance_rounding", 0.0) == pytest.approx((d["gpus_billed"] - d["gpus_total"]) * rate)
    assert p.tco_multiplier == pytest.approx(p.monthly_total_cost / p.monthly_gpu_cost)


def test_a_cost_curve_point_is_the_bill_of_a_plan_made_at_that_volume(seed_plan):
    # the curve re-prices the searched candidates at each volume; a fresh plan there re-runs the whole search
    c = seed_plan.curve
    d = seed_plan.deployment
    more = c[c["self_host_replicas"] > d["replicas"] + d["spare_replicas"]].iloc[0]  # the first step up
    far = c.iloc[(c["tokens_per_day"] - 100 * seed_plan.workload.tokens_per_day).abs().argsort().iloc[0]]
    for point in (more, far):
        v = float(point["tokens_per_day"])
        fresh = plan(PlanRequest(workload=DEFAULT_WORKLOAD.scaled_to(v)))
        assert fresh.monthly_total_cost == pytest.approx(float(point["self_host_monthly"]), rel=1e-9), v
        assert fresh.deployment["replicas"] + fresh.deployment["spare_replicas"] == point["self_host_replicas"], v
