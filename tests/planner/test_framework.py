"""Issue 19: the seed's five steps with their numbers, capability needs, the middle ground and the usage log.

Each driver flips or qualifies the verdict as the framework says (seed_cost_model.md §4 and §3)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from planner.needs import NeedResult, capability_verdict, check_needs, load_needs, parse_needs
from planner.verdict import Verdict
from planner.workload import DEFAULT_WORKLOAD
from profiler.errors import InvalidValueError
from tests.helpers import cli_error, cli_json


@pytest.fixture(scope="module")
def cost_plan(tmp_path_factory):
    """The default plan before the framework's drivers (the cost verdict alone)."""
    from planner.api import PlanRequest, plan

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INFERPLAN_HOME", str(tmp_path_factory.mktemp("home-fw")))
        return plan(PlanRequest(framework=False))


def _with(plan, **workload):
    from planner.decision import with_framework

    return with_framework(replace(plan, workload=replace(plan.workload, **workload)))


# ---- capability needs -------------------------------------------------------------------------------------------

def _verdict(decision="use-api"):
    return Verdict(decision, ("Use an API: ...", "The reference API ..."), "x / y", 0.01, ("x / y",))


def test_a_need_no_api_meets_flips_the_verdict_and_says_what_it_costs_over_the_api():
    need = NeedResult("air-gapped", "no", "run offline", "every API is reached over a network")
    v = capability_verdict(_verdict(), [need], self_host_monthly=12_000.0, api_monthly=2_000.0)
    assert v.decision == "self-host-for-capability"
    assert "'air-gapped'" in v.reasons[0] and "$10,000/month more than x / y ($2,000/month; 6× as much)" in v.reasons[0]
    assert "On cost alone the verdict would be use-api" in v.reasons[0]
    assert v.reasons[-2:] == _verdict().reasons  # the cost reasons are kept after the capability ones


def test_a_need_met_in_part_qualifies_the_verdict_without_changing_it():
    need = NeedResult("compliance", "partly", "a BAA", "some providers sign one", ("openai: BAA (src; read d)",))
    v = capability_verdict(_verdict("use-api"), [need], 12_000.0, 2_000.0)
    assert v.decision == "use-api"
    assert any("met in part by hosted offers: openai: BAA" in r for r in v.reasons)


def test_fine_tuning_is_met_in_part_only_where_a_hosted_option_serves_the_model(catalogues):
    api = catalogues.api_prices
    by_model = {m: check_needs(["fine-tuning"], m, api)[0] for m in ("llama-3.1-8b", "llama-3.3-70b", "phi-3-mini-4k")}
    assert by_model["llama-3.1-8b"].api_can_meet == "partly"  # Together's serverless LoRA list names it
    assert any(o.startswith("together:") for o in by_model["llama-3.1-8b"].options)
    assert by_model["llama-3.3-70b"].api_can_meet == "partly"  # Fireworks hosts it: LoRA on a dedicated deployment
    assert [o.split(":")[0] for o in by_model["llama-3.3-70b"].options] == ["fireworks"]
    assert by_model["phi-3-mini-4k"].api_can_meet == "no"  # only Azure hosts it, and Azure is not listed
    assert check_needs(["fine-tuning"], "my-private-finetune", api)[0].api_can_meet == "no"


def test_the_needs_catalogue_is_sourced_and_names_the_issue_needs():
    cat = load_needs()
    assert set(cat) == {"fine-tuning", "air-gapped", "compliance", "full-stack-control"}
    assert cat["air-gapped"]["api_can_meet"] == "no" and cat["full-stack-control"]["api_can_meet"] == "no"
    for need in cat.values():
        for o in need["hosted_options"]:
            assert o["source"] and o["as_of"]


def test_an_unknown_need_is_one_clear_line_with_the_close_name():
    with pytest.raises(InvalidValueError, match="did you mean 'air-gapped'"):
        parse_needs("airgapped")
    out = cli_error("plan", "--needs", "fine-tunning")
    assert "unknown need 'fine-tunning'" in out and "fine-tuning" in out


def test_air_gapped_turns_the_default_plan_into_self_host_for_capability(cost_plan):
    assert cost_plan.verdict.decision == "use-api"
    p = _with(cost_plan, needs=("air-gapped",))
    assert p.verdict.decision == "self-host-for-capability"
    over = p.monthly_total_cost - p.verdict.api_to_tco_ratio * p.monthly_total_cost
    assert f"${over:,.0f}/month more than" in p.verdict.reasons[0]
    assert [n.need for n in p.framework.needs] == ["air-gapped"]


def test_compliance_alone_keeps_use_api_and_names_the_hosted_options(cost_plan):
    p = _with(cost_plan, needs=("compliance",))
    assert p.verdict.decision == "use-api"
    assert any("Need 'compliance'" in r and "openai:" in r for r in p.verdict.reasons)


# ---- the five steps ---------------------------------------------------------------------------------------------

def test_the_five_steps_carry_their_numbers(cost_plan):
    p = _with(cost_plan)
    steps = {s.number: s for s in p.framework.steps}
    assert sorted(steps) == [1, 2, 3, 4, 5]
    assert steps[1].numbers["source"].startswith("the built-in default scenario") and not steps[1].numbers["measured"]
    assert steps[1].numbers["tokens_per_month"] == pytest.approx(6e6 * 730 / 24)
    assert len(steps[2].numbers["apis"]) >= 3 and steps[2].numbers["same_weights_hosted"] and steps[2].outcome == "pass"
    assert steps[3].numbers["rule_multiplier"] == 3.0  # no existing ML infrastructure
    assert steps[3].numbers["rule_tco_monthly_usd"] == pytest.approx(p.monthly_gpu_cost * 3)
    assert steps[3].numbers["gap_monthly_usd"] == pytest.approx(p.monthly_total_cost - p.monthly_gpu_cost * 3)
    assert steps[4].outcome == "fail" and steps[4].numbers["required_api_monthly_usd"] == pytest.approx(
        2 * p.monthly_total_cost)
    assert steps[5].outcome == "skipped"


def test_existing_infrastructure_uses_the_2_5x_rule(cost_plan):
    p = _with(cost_plan, existing_infra=True)
    step = p.framework.steps[2]
    assert step.numbers["rule_multiplier"] == 2.5
    assert step.numbers["rule_tco_monthly_usd"] == pytest.approx(p.monthly_gpu_cost * 2.5)


def test_plan_json_carries_the_framework():
    d = cli_json("plan", "--needs", "full-stack-control")
    assert d["verdict"] == "self-host-for-capability"
    fw = d["framework"]
    assert [s["step"] for s in fw["steps"]] == [1, 2, 3, 4, 5]
    assert fw["steps"][3]["outcome"] == "fail" and fw["steps"][3]["margin"] == 2.0
    assert fw["needs"][0]["need"] == "full-stack-control" and fw["needs"][0]["api_can_meet"] == "no"
    assert fw["steps"][0]["source"].startswith("the built-in default scenario")


# ---- middle ground ----------------------------------------------------------------------------------------------

def test_moderate_volume_without_infrastructure_is_the_middle_ground(cost_plan):
    from planner.framework import middle_ground

    at_70m = replace(cost_plan, workload=cost_plan.workload.scaled_to(70e6))
    text = middle_ground(at_70m)
    assert text.startswith("Middle ground: 70M tokens/day") and "worst outcome" in text
    assert middle_ground(replace(at_70m, workload=replace(at_70m.workload, existing_infra=True))) == ""
    assert middle_ground(cost_plan) == ""  # 6M tokens/day, the API 0.0025x the TCO: clearly the API's


def test_near_parity_is_the_middle_ground_at_any_volume(cost_plan):
    from planner.framework import middle_ground

    near = replace(cost_plan, verdict=replace(cost_plan.verdict, api_to_tco_ratio=1.2))
    assert "1.2× more, within 2× of each other" in middle_ground(near)  # API / self-host = 1.2
    assert middle_ground(replace(near, verdict=replace(near.verdict, api_to_tco_ratio=2.0))) == ""


# ---- step 1: the measured volume ---------------------------------------------------------------------------------

def test_a_usage_log_sets_the_measured_volume_peak_and_spread(write_file):
    from planner.usage_log import workload_from_usage_log

    # 2 days; 24 requests at 1 per hour for 47 hours, plus 23 extra in hour 10 of day 1 (1,000 in / 200 out each)
    times = [h * 3600.0 for h in range(48)] + [10 * 3600.0 + 60 * i for i in range(1, 24)]
    rows = "\n".join(f"{t},1000,200" for t in sorted(times))
    path = write_file("log.csv", "timestamp,input_tokens,output_tokens\n" + rows + "\n")
    w = workload_from_usage_log(path, DEFAULT_WORKLOAD)
    days = 47 * 3600 / 86400  # first to last arrival
    assert w.requests_per_day == pytest.approx(71 / days)
    assert w.tokens_in_per_day == pytest.approx(71_000 / days) and w.tokens_out_per_day == pytest.approx(14_200 / days)
    assert w.peak_to_average == pytest.approx(24 / (71 / 47))  # busiest hour 24 requests, 71 over 47 whole hours
    assert w.input_dist.sigma == pytest.approx(0.0, abs=1e-12)  # every prompt 1,000 tokens
    assert w.volume_source.startswith(f"usage log {path}: 71 requests")
    assert "measured" in w.volume_source


def test_a_usage_log_lognormal_spread_is_the_std_of_log_lengths(write_file):
    import math

    from planner.usage_log import workload_from_usage_log

    path = write_file("log.csv", "timestamp,input_tokens,output_tokens\n0,100,10\n60,10000,10\n")
    w = workload_from_usage_log(path, DEFAULT_WORKLOAD)
    assert w.input_dist.sigma == pytest.approx(math.log(100) / 2)  # ln 100 and ln 10,000: std = ln(10,000/100) / 2
    assert w.requests_per_day == 2 and "taken as one day's traffic" in w.volume_source  # a 1-minute log: one day


def test_usage_log_and_volume_flags_together_are_refused(write_file):
    path = write_file("log.csv", "timestamp,input_tokens,output_tokens\n0,10,10\n")
    out = cli_error("plan", "--usage-log", path, "--tokens-per-day-in", "5M")
    assert "--usage (--usage-log) measures the volume; drop --tokens-per-day-in" in out


def test_step_one_names_flags_and_files():
    d = cli_json("plan", "llama-3.1-8b", "--tokens-per-day-in", "20M", "--gpu", "l40s")
    assert d["framework"]["steps"][0]["source"] == "flags (--tokens-per-day-in)"


def test_framework_dict_is_plain_data(cost_plan):
    from planner.framework import framework_dict
    from planner.render import dumps

    d = framework_dict(_with(cost_plan).framework)
    assert isinstance(dumps(d), str)
    assert isinstance(d["risks"], (pd.DataFrame, type(None)))


# ---- latency, price trends, risks --------------------------------------------------------------------------------

def test_a_co_located_sub_100ms_requirement_no_api_meets_flips_the_verdict():
    d = cli_json("plan", "llama-3.1-8b", "--co-located", "--ttft-p99", "80ms", "--tpot-p99", "20ms",
                 "--tokens-per-day-in", "50M", "--tokens-per-day-out", "10M")
    assert d["verdict"] == "self-host-for-capability"
    lat = d["framework"]["latency"]
    assert lat["required"] and lat["any_api_meets"] is False
    assert all(r["meets"] == "no" for r in lat["table"] if r["metric"] == "ttft")
    assert "p99 TTFT" in lat["self_host"]  # what the self-hosted deployment delivers at its peak
    assert "'co-located latency'" in d["verdict_reasons"][0]


def test_co_location_with_a_loose_target_qualifies_without_flipping(cost_plan):
    p = _with(cost_plan, co_located=True)  # TTFT p99 2 s: published 2023 p99s are within it
    assert p.verdict.decision == "use-api"
    assert p.framework.latency["any_api_meets"] is True
    assert any(r.startswith("Latency is a requirement and a published API p99 is within it") for r in p.verdict.reasons)


def test_latency_alone_is_not_a_driver_at_the_default_slos(cost_plan):
    p = _with(cost_plan)
    assert p.framework.latency["required"] is False
    assert not any(r.startswith("Latency is a requirement") for r in p.verdict.reasons)


def test_price_trends_project_the_break_even_at_each_horizon(plan_600m):
    fw = plan_600m.framework
    t = fw.trends
    assert list(t["months"]) == [0, 12, 24, 36]
    assert t["api_price_factor"].iloc[0] == 1 and t["gpu_price_factor"].iloc[0] == 1
    assert t["api_price_factor"].iloc[1] == pytest.approx(0.1)  # api_tokens: 10x a year (a16z, 2024-11-12)
    assert t["gpu_price_factor"].iloc[1] == pytest.approx(0.7)  # gpu_hour: 30% a year (Epoch AI)
    today = t["crossover_tokens_per_day"].iloc[0]
    ref = plan_600m.crossover_tokens_per_day
    assert (pd.isna(today) and ref is None) or today == pytest.approx(ref, rel=1e-3)
    assert "Rates: API tokens -90%/yr" in fw.trend_text


def test_talent_region_rebills_the_people_lines_and_the_risk_row_agrees():
    us = cli_json("plan")
    uk = cli_json("plan", "--talent-region", "uk-london")
    mlops = {x["name"]: x["monthly_cost"] for x in us["line_items"]}
    mlops_uk = {x["name"]: x["monthly_cost"] for x in uk["line_items"]}
    name = "MLOps engineer time (fractional)"
    assert mlops_uk[name] == pytest.approx(mlops[name] * 155_500 / 192_000)  # the London mid-point over $192,000
    talent = next(r for r in uk["framework"]["risks"] if r["id"] == "talent")
    assert "$155,500/yr" in talent["what_it_means"]


def test_opportunity_hours_add_the_optional_row_only_when_given(cost_plan):
    from planner.decision import with_framework

    rows = with_framework(cost_plan, opportunity_hours=40).framework.risks
    opp = rows[rows["id"] == "opportunity"].iloc[0]
    assert opp["value"] == pytest.approx(40 * 192_000 / 2_080)  # hours x the bill's engineer cost / 2,080 h
    assert "opportunity" not in set(with_framework(cost_plan).framework.risks["id"])
    assert cli_error("plan", "--opportunity-hours", "-3").startswith("error: --opportunity-hours")


def test_step_five_prices_dedicated_offers_under_residency():
    d = cli_json("plan", "--residency")
    step = d["framework"]["steps"][4]
    assert d["verdict"] == "dedicated-api-first" and step["outcome"] == "fail"
    assert step["cheapest"] == d["crossover_reference_api"] and len(step["offers"]) >= 3
    assert step["cheapest_monthly_usd"] == pytest.approx(2 * 3.99 * 730)  # Together's H100 at $3.99/h, the plan's 2
    assert "Bedrock" in step["text"] and "--dedicated-prices" in step["text"]
