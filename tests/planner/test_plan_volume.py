"""The crossover and cost curve re-plan at each volume; GPUs are rented in whole instances; input errors."""

import pytest
from typer.testing import CliRunner

from planner.api import PlanRequest, plan
from planner.cli import app
from planner.workload import DEFAULT_WORKLOAD

runner = CliRunner()


def _crossover(p, model):
    rows = p.api[p.api["model"] == model]
    return float(rows["crossover_tokens_per_day"].iloc[0])


@pytest.fixture(scope="module")
def plans():
    small = plan(PlanRequest())
    big = plan(PlanRequest(workload=DEFAULT_WORKLOAD.scaled_to(600e6)))
    return small, big


def test_crossover_does_not_depend_on_the_volume_planned_at(plans):
    small, big = plans
    pick = [(p.deployment["quant"], p.deployment["batch"]) for p in plans]
    assert pick[0] != pick[1]  # the plan at 600M tokens/day chose another configuration
    for api in ("gpt-4o", "claude-3-5-sonnet-20241022", "claude-opus-4-1-20250805"):
        a, b = _crossover(small, api), _crossover(big, api)
        assert a == pytest.approx(b, rel=2e-3), api
    # the GPT-4o crossover exists (~88M tokens/day), found from the small plan too
    assert _crossover(small, "gpt-4o") < 120e6


def test_cost_curve_at_the_planned_volume_is_the_plans_bill(plans):
    for p in plans:
        c = p.curve
        at = c.iloc[(c["tokens_per_day"] - p.workload.tokens_per_day).abs().argsort()[:1]]
        v = float(at["tokens_per_day"].iloc[0])
        if abs(v / p.workload.tokens_per_day - 1) < 1e-9:
            assert float(at["self_host_monthly"].iloc[0]) == pytest.approx(p.monthly_total_cost, rel=1e-9)
    big = plans[1]
    # curve is re-planned: never above the bill of the plan made at each volume it passes
    assert (big.curve["self_host_monthly"].diff().dropna() >= -1e-6).all()


def test_gpus_are_billed_in_whole_instances():
    p = plan(PlanRequest(gpus=("h100-sxm",), provider="aws", pricing=("on-demand",)))
    d = p.deployment
    assert d["gpus_billed"] % 8 == 0 and d["gpus_billed"] >= d["gpus_total"]
    idle = p.line_items[p.line_items["id"] == "gpu_instance_rounding"]
    if d["gpus_billed"] > d["gpus_total"]:
        assert len(idle) == 1
        assert float(idle["monthly_usd"].iloc[0]) == pytest.approx(
            (d["gpus_billed"] - d["gpus_total"]) * d["usd_per_gpu_hour"] * 730)
    assert p.line_items["monthly_usd"].sum() == pytest.approx(p.monthly_total_cost)


@pytest.mark.parametrize("args, says", [
    (("--tp", "two"), "comma-separated integers"),
    (("--pricing", "reserved1y"), "did you mean 'reserved-1y'"),
    (("--provider", "nosuch"), "no GPU offers from provider"),
])
def test_bad_plan_options_are_one_line(args, says):
    r = runner.invoke(app, ["plan", *args])
    assert r.exit_code == 1 and says in r.output and "Traceback" not in r.output


def test_unknown_format_is_a_usage_error():
    r = runner.invoke(app, ["plan", "--format", "yaml"])
    assert r.exit_code == 2 and "table, json, csv" in r.output


def test_cost_plot_is_written(tmp_path):
    out = tmp_path / "cost.png"
    r = runner.invoke(app, ["plan", "--plot", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000


def test_a_model_too_large_for_the_searched_gpus_says_what_would_hold_it():
    r = runner.invoke(app, ["plan", "llama-3.1-405b", "--gpu", "l4"])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "does not fit in memory" in r.output and "h200 (" in r.output and "int4 TP=2" in r.output
