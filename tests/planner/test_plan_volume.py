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


def test_a_profile_of_another_model_is_refused(tmp_path):
    prof = tmp_path / "p8b.csv"
    assert runner.invoke(app, ["profile", "llama-3.1-8b", "-o", str(prof)]).exit_code == 0
    r = runner.invoke(app, ["plan", "llama-3.3-70b", "--profile", str(prof)])
    assert r.exit_code == 1 and "not llama-3.3-70b" in r.output and "Traceback" not in r.output


def test_residency_json_names_the_verdicts_reference_and_its_crossover():
    import json

    r = runner.invoke(app, ["plan", "--residency", "--format", "json"])
    d = json.loads(r.stdout)
    row = [a for a in d["api"] if f"{a['provider']} / {a['model']}" == d["crossover_reference_api"]][0]
    assert d["crossover_tokens_per_day"] == row["crossover_tokens_per_day"]


def test_bad_price_file_references_are_refused(tmp_path):
    gp = tmp_path / "g.yaml"
    gp.write_text("offers:\n  - {provider: me, gpu: h100, pricing: on-demand, usd_per_gpu_hour: 1.0, as_of: 2026, "
                  "source: quote}\n")
    r = runner.invoke(app, ["plan", "--gpu-prices", str(gp)])
    assert r.exit_code == 1 and "did you mean 'h100-sxm'" in r.output
    ap = tmp_path / "a.yaml"
    ap.write_text("models:\n  - {provider: me, model: m, usd_per_mtok_in: 1, usd_per_mtok_out: 2, as_of: 2026, "
                  "source: quote, tags: [dedicatd-option]}\n")
    r = runner.invoke(app, ["plan", "--api-prices", str(ap)])
    assert r.exit_code == 1 and "did you mean 'dedicated-option'" in r.output


def test_a_price_update_keeps_the_rows_tags(tmp_path):
    from planner.prices import has_tag, load_api_prices

    ap = tmp_path / "a.yaml"
    ap.write_text("models:\n  - {provider: openai, model: gpt-4o, usd_per_mtok_in: 2.0, usd_per_mtok_out: 8.0, "
                  "as_of: 2026-12-01, source: my quote}\n")
    df = load_api_prices(ap)
    row = df[(df["provider"] == "openai") & (df["model"] == "gpt-4o")]
    assert float(row["usd_per_mtok_in"].iloc[0]) == 2.0 and has_tag(row, "seed").all()


def test_plan_csv_ends_with_a_total_row_naming_the_deployment():
    r = runner.invoke(app, ["plan", "--format", "csv"])
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("Total,total,9608") and "h100-sxm" in last and "verdict use-api" in last


def test_plot_needs_an_image_suffix():
    r = runner.invoke(app, ["plan", "--plot", "cost.txt"])
    assert r.exit_code == 1 and ".png" in r.output and "Traceback" not in r.output
