"""Costs both sides pay, and what differs beyond the price (issue 11 item 7): compliance lines on the API side too,
the API service tier, the precision each side serves."""

from dataclasses import replace

import pytest

from planner.api import PlanRequest, plan
from planner.workload import DEFAULT_WORKLOAD

TOGETHER = "together / Llama-3.3-70B-Instruct-Turbo"


@pytest.fixture(scope="module")
def with_compliance():
    return plan(PlanRequest(workload=replace(DEFAULT_WORKLOAD, compliance_on_api=True)))


def test_compliance_lines_are_billed_on_the_api_side_too(seed_plan, with_compliance):
    lines = seed_plan.line_items.set_index("id")["monthly_usd"]
    shared = lines[["eval", "logging", "guardrails"]].sum()  # $600 + $150 + the guard model on half an H100
    before = seed_plan.api.set_index("label")["monthly_cost"]
    after = with_compliance.api.set_index("label")
    assert after["compliance_monthly"].to_numpy() == pytest.approx([shared] * len(after))
    assert after["monthly_cost"].to_numpy() == pytest.approx((before[after.index] + shared).to_numpy())
    assert with_compliance.monthly_total_cost == pytest.approx(seed_plan.monthly_total_cost)  # self-hosting as before
    ref = after.loc[with_compliance.reference_api, "monthly_cost"]
    assert with_compliance.verdict.api_to_tco_ratio == pytest.approx(ref / with_compliance.monthly_total_cost)
    assert any("Both sides carry evals" in r for r in with_compliance.verdict.reasons)
    assert any("billed to self-hosting only" in r for r in seed_plan.verdict.reasons)


def test_shared_costs_bring_the_break_even_down(seed_plan, with_compliance):
    # the API's bill grows by what self-hosting also pays (evals, logging and the guard model, which at ~2B
    # tokens/day takes several GPUs), so self-hosting breaks even sooner: ~2.5B -> ~1.7B tokens/day with Together
    a = seed_plan.api.set_index("label").loc[TOGETHER, "crossover_tokens_per_day"]
    b = with_compliance.api.set_index("label").loc[TOGETHER, "crossover_tokens_per_day"]
    assert b < 0.8 * a
    lo, hi = with_compliance.parity_band
    assert lo is None or hi is None or lo <= hi


def test_the_verdict_says_when_the_precisions_may_differ(seed_plan):
    # the seed plan runs llama-3.3-70b at fp8 (checkpoint bf16); DeepInfra does not publish what it serves
    assert seed_plan.deployment["quant"] != "bf16"
    assert any("does not publish the precision" in r for r in seed_plan.verdict.reasons)


def test_the_api_tier_is_named_in_the_verdict():
    p = plan(PlanRequest(workload=replace(DEFAULT_WORKLOAD, api_tier="batch")))
    assert any("APIs priced at the batch tier" in r for r in p.verdict.reasons)
    assert (p.api["service_tier"] != "standard").all()


def test_the_prefix_cache_cuts_the_self_hosted_prefill_too():
    # --cached-input discounted only the API side; vLLM's automatic prefix cache skips the same tokens' prefill
    # (planner.capacity.prefill_share) while they stay in the KV cache, so the same replica serves more
    from planner.capacity import prefill_share, replica_capacity
    from planner.p99_plan import p99_capacity_fn
    from planner.step_model import AnalyticStep, Deployment
    from profiler import catalogue
    from profiler.analytic.efficiency import efficiency_for
    from profiler.specs import KvDtype

    w0 = DEFAULT_WORKLOAD.scaled_to(2e9)
    w5 = replace(w0, cached_input_fraction=0.5)
    assert prefill_share(w5) == 0.5 and prefill_share(w0) == 1.0
    dep = Deployment(catalogue.get_model("llama-3.1-8b"), catalogue.get_gpu("l40s"), catalogue.get_quant("fp8"),
                     KvDtype.BF16, 1, efficiency_for("l40s", "fp8"))
    step = AnalyticStep(dep)
    mean0, mean5 = replica_capacity(step, w0), replica_capacity(step, w5)
    assert mean5.requests_per_s > 1.2 * mean0.requests_per_s and mean5.ttft_s < mean0.ttft_s
    p99_0, p99_5 = (p99_capacity_fn(w, {})(dep, step) for w in (w0, w5))
    assert p99_5.requests_per_s > 1.2 * p99_0.requests_per_s
