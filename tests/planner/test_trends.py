"""Price trends: decline factors, projected break-even volumes against a step cost, the packaged rates, bad files."""

import math

import pytest

from planner.errors import PlannerError
from planner.trends import (
    HORIZONS_MONTHS,
    decline_factor,
    default_rate,
    load_price_trends,
    price_trend_view,
    project_cost_ratio,
    project_crossovers,
    trend_rate,
    trend_sentence,
)
from profiler.errors import CatalogueError


def step_cost(v: float, f: float) -> float:
    """Self-host cost: GPU lines f x $1,000 per replica of 1e8 tokens/day, plus $500 of non-GPU lines."""
    return f * 1000 * math.ceil(v / 1e8) + 500


# ---------------------------------------------------------------- decline_factor

@pytest.mark.parametrize(("d", "months", "expected"), [
    (0.5, 12, 0.5), (0.5, 24, 0.25), (0.5, 6, math.sqrt(0.5)), (0.9, 12, 0.1), (0.9, 36, 1e-3),
    (0.3, 0, 1.0), (0.0, 36, 1.0), (-0.1, 12, 1.1), (0.75, 18, 0.125),
])
def test_decline_factor_exact(d, months, expected):
    assert decline_factor(d, months) == pytest.approx(expected, rel=1e-12)


def test_decline_factor_refuses_a_rate_of_one_or_more():
    with pytest.raises(PlannerError, match="below 1"):
        decline_factor(1.0, 12)


# ---------------------------------------------------------------- project_crossovers, hand-computed

def test_api_falling_faster_raises_break_even():
    # api 50 %/yr, gpu 20 %/yr; slope s = 4e-5 USD/month per token/day today. In replica step k (v in
    # ((k-1)e8, k e8]) the cost is 1000 g k + 500, so the crossing is v = m (1000 g k + 500) / (s a) if it lies
    # in step k (the smallest such k), and never once s a x 1e8 <= m x 1000 g (the API grows slower than S).
    df = project_crossovers(step_cost, 4e-5, margin=2.0, api_decline=0.5, gpu_decline=0.2)
    assert list(df["months"]) == list(HORIZONS_MONTHS)
    assert list(df["api_price_factor"]) == pytest.approx([1, 0.5, 0.25, 0.125])
    assert list(df["gpu_price_factor"]) == pytest.approx([1, 0.8, 0.64, 0.512])
    x1 = df["crossover_tokens_per_day"]
    assert x1[0] == pytest.approx(1500 / 4e-5, rel=1e-9)  # 3.75e7, step 1
    assert x1[1] == pytest.approx(1300 / 2e-5, rel=1e-9)  # 6.5e7: 800 + 500 over 4e-5 x 0.5, step 1
    assert x1[2] == pytest.approx(1780 / 1e-5, rel=1e-9)  # 1.78e8: step 1 gives 1.14e8 > 1e8; step 2: 1280 + 500
    assert math.isnan(x1[3])  # s a x 1e8 = 500 < 1000 x 0.512: never
    xm = df["crossover_margin_tokens_per_day"]
    assert xm[0] == pytest.approx(3000 / 4e-5, rel=1e-9)  # 7.5e7
    assert xm[1] == pytest.approx(5800 / 2e-5, rel=1e-9)  # 2.9e8: steps 1 (1.3e8) and 2 (2.1e8) overshoot
    assert math.isnan(xm[2]) and math.isnan(xm[3])  # 1000 < 2 x 640; 500 < 2 x 512
    assert x1[0] < x1[1] < x1[2]
    text = trend_sentence(df, 1e8)
    assert "rises from 38M tokens/day today to beyond the volumes searched by month 36" in text
    assert "widens in the API's favour" in text
    assert "past break-even today and falls short of it by month 24: the verdict could flip" in text


def test_gpus_falling_faster_lowers_break_even():
    # api 10 %/yr, gpu 50 %/yr, s = 1.2e-5
    df = project_crossovers(step_cost, 1.2e-5, margin=1.0, api_decline=0.1, gpu_decline=0.5)
    x1 = list(df["crossover_tokens_per_day"])
    assert x1[0] == pytest.approx(3500 / 1.2e-5, rel=1e-9)  # 2.9167e8: steps 1 (1.25e8) and 2 (2.083e8) overshoot
    assert x1[1] == pytest.approx(1000 / 1.08e-5, rel=1e-9)  # 9.259e7: 500 + 500 over 1.2e-5 x 0.9
    assert x1[2] == pytest.approx(750 / 0.972e-5, rel=1e-9)  # 7.716e7: 250 + 500 over 1.2e-5 x 0.81
    assert x1[3] == pytest.approx(625 / 0.8748e-5, rel=1e-9)  # 7.144e7: 125 + 500 over 1.2e-5 x 0.729
    assert x1 == sorted(x1, reverse=True)
    assert list(df["crossover_margin_tokens_per_day"]) == pytest.approx(x1, rel=1e-12)  # margin 1: the same search
    text = trend_sentence(df, 1e8)
    assert text.startswith("Break-even falls from 290M tokens/day today to 71M tokens/day by month 36")
    assert "the gap closes" in text
    assert "short of break-even today and passes it by month 12" in text


def test_never_crossing_is_nan_at_every_horizon():
    for slope in (0.0, 1e-12):
        df = project_crossovers(step_cost, slope, margin=2.0, api_decline=0.5, gpu_decline=0.2)
        assert df["crossover_tokens_per_day"].isna().all() and df["crossover_margin_tokens_per_day"].isna().all()
    assert "does not break even at any volume searched" in trend_sentence(df, 1e8)


def test_equal_rates_keep_a_flat_cost_break_even_in_proportion():
    # no non-GPU lines and equal declines: A/S is unchanged, so the break-even volume is too
    df = project_crossovers(lambda v, f: f * 2000.0, 1e-5, margin=2.0, api_decline=0.4, gpu_decline=0.4,
                            horizons_months=(0, 30))
    assert df["crossover_tokens_per_day"][1] == pytest.approx(df["crossover_tokens_per_day"][0], rel=1e-9)
    assert "stays near 200M tokens/day through month 30" in trend_sentence(df, 1e9)


def test_margin_below_one_is_refused():
    with pytest.raises(PlannerError, match="margin"):
        project_crossovers(step_cost, 1e-5, margin=0.5, api_decline=0.5, gpu_decline=0.2)


# ---------------------------------------------------------------- the ratio at the plan's volume

def test_cost_ratio_at_the_plans_volume():
    df = project_cost_ratio(step_cost, 4e-5, 1.5e8, api_decline=0.5, gpu_decline=0.2, horizons_months=(0, 12, 36))
    assert list(df["api_monthly_usd"]) == pytest.approx([6000, 3000, 750])  # 4e-5 x 1.5e8 x (1, 0.5, 0.125)
    assert list(df["self_host_monthly_usd"]) == pytest.approx([2500, 2100, 1524])  # 2 replicas: 2000 g + 500
    assert list(df["api_over_self_host"]) == pytest.approx([2.4, 3000 / 2100, 750 / 1524])


# ---------------------------------------------------------------- the packaged catalogue

def test_every_packaged_rate_is_dated_sourced_and_a_decline():
    trends = load_price_trends()
    assert set(trends["applies_to"]) == {"api", "gpu"}
    for _, r in trends.iterrows():
        assert 0 <= r["annual_decline"] < 1, r["id"]
        assert len(r["source"]) > 40 and len(r["basis"]) > 40, r["id"]
        assert r["as_of"][:2] == "20", r["id"]
        for end in ("low", "high"):
            assert math.isnan(r[end]) or -1 < r[end] < 1, r["id"]
    assert default_rate(trends, "api")["id"] == "api_tokens"
    assert default_rate(trends, "gpu")["id"] == "gpu_hour"
    assert trend_rate(trends, "api_tokens")["annual_decline"] == pytest.approx(0.9)  # a16z: 10x per year
    with pytest.raises(PlannerError, match="unknown price trend 'nope'; known: api_tokens"):
        trend_rate(trends, "nope")


def test_loader_returns_a_copy():
    trends = load_price_trends()
    trends.loc[0, "annual_decline"] = 0.123
    assert load_price_trends().loc[0, "annual_decline"] != 0.123


# ---------------------------------------------------------------- bad files

GOOD = ("  - {{id: x, applies_to: api, annual_decline: {d}, as_of: 2025-01-01, source: a paper,\n"
        "     basis: what was measured{extra}}}\n")


@pytest.mark.parametrize(("body", "match"), [
    ("rates:\n" + GOOD.format(d=1.5, extra=""), r"bad\.yaml:2, entry 'x', field 'annual_decline': expected a frac"),
    ("rates:\n" + GOOD.format(d=0.5, extra=", low: 0.6"), r"bad\.yaml:2, entry 'x', field 'annual_decline': need low"),
    ("rates:\n" + GOOD.format(d=0.5, extra="") + GOOD.format(d=0.4, extra=""),
     r"bad\.yaml:4, entry 'x', field 'id': duplicate id"),
    ("rates:\n" + GOOD.format(d=0.5, extra=", speed: 3"), r"bad\.yaml:3, entry 'x', field 'speed': unknown field"),
    ("rates:\n  - {id: x, applies_to: tpu}\n", r"bad\.yaml:2, entry 'x', field 'applies_to': expected one of api"),
    ("rates:\n  - {id: x\n", r"bad\.yaml:\d+: not valid YAML"),
    ("- just a list\n", r"bad\.yaml: a price-trend file is a mapping"),
])
def test_bad_file_names_file_and_line(tmp_path, body, match):
    path = tmp_path / "bad.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(CatalogueError, match=match) as err:
        load_price_trends(path)
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------- on a plan

def test_price_trend_view_uses_the_reference_api_and_the_plans_gpu_factor():
    from types import SimpleNamespace

    import pandas as pd

    api = pd.DataFrame({"label": ["x / other", "x / ref"], "monthly_cost": [1.0, 1.5e8 * 4e-5 + 100],
                        "compliance_monthly": [0.0, 100.0]})
    plan = SimpleNamespace(api=api, reference_api="x / ref", workload=SimpleNamespace(tokens_per_day=1.5e8),
                           at_gpu_price=lambda f: (lambda v: step_cost(v, f) + 100), shared=lambda v: 100.0,
                           margin=2.0)
    trends = load_price_trends()
    df, text = price_trend_view(plan, trends, api_rate="api_tokens_frontier", gpu_rate="gpu_hour_same_chip")
    # slope 4e-5 (compliance taken off); both sides pay 100, so break-even is step_cost's: 1500 / 4e-5 at month 0
    assert df["crossover_tokens_per_day"][0] == pytest.approx(3.75e7, rel=1e-9)
    assert math.isnan(df["crossover_tokens_per_day"][1])  # API 5x cheaper: 8e-6 x 1e8 = 800 < 1000 per replica
    assert df["api_monthly_usd"][0] == pytest.approx(6100) and df["self_host_monthly_usd"][0] == pytest.approx(2600)
    assert "api_tokens_frontier, 2026-03-23" in text and "GPU-hours -0%/yr (gpu_hour_same_chip" in text
    assert price_trend_view(SimpleNamespace(api=api, reference_api="dedicated / y", at_gpu_price=None)) == (None, "")
