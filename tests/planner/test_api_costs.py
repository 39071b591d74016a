"""The seed workload on every API: daily/monthly bills computed from prices, cached input, reference API."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from planner.api_costs import api_costs, api_daily_cost, monthly_usd_per_token_per_day, reference_api
from planner.errors import PlannerError
from planner.prices import load_api_prices
from planner.workload import DEFAULT_WORKLOAD


@pytest.fixture(scope="module")
def table():
    return api_costs(DEFAULT_WORKLOAD, load_api_prices()).set_index("label")


@pytest.mark.parametrize("label, daily", [
    ("openai / gpt-4o", 22.50),  # 5 x 2.50 + 1 x 10
    ("anthropic / claude-3-5-sonnet-20241022", 30.00),  # 5 x 3 + 1 x 15 (the seed prints $45: its slip)
    ("anthropic / claude-opus-4-1-20250805", 150.00),  # 5 x 15 + 1 x 75
    ("google / gemini-2.5-flash@seed", 1.35),  # 5 x 0.15 + 1 x 0.60
    ("together / Llama-3.3-70B-Instruct-Turbo@seed", 5.40),
    ("groq / llama-3.3-70b-versatile", 3.74),  # 5 x 0.59 + 0.79
])
def test_seed_rows(table, label, daily):
    assert table.loc[label, "daily_cost"] == pytest.approx(daily, abs=1e-9)
    assert table.loc[label, "monthly_cost"] == pytest.approx(30 * daily, abs=1e-9)  # seed: monthly = 30 x daily
    assert table.loc[label, "usd_per_mtok_blended"] == pytest.approx(daily / 6, abs=1e-9)


def test_table_shape(table):
    assert table["monthly_cost"].is_monotonic_increasing  # cheapest first
    for col in ("provider", "model", "serves", "open_weight", "tags", "as_of", "source", "usd_per_mtok_cached_in"):
        assert col in table.columns
    assert table.loc["groq / llama-3.3-70b-versatile", "serves"] == "llama-3.3-70b"


def test_cached_input_is_billed_at_the_cached_price():
    w = replace(DEFAULT_WORKLOAD, cached_input_fraction=0.5)
    t = api_costs(w, load_api_prices()).set_index("label")
    assert t.loc["openai / gpt-4o", "daily_cost"] == pytest.approx(5 * (0.5 * 2.5 + 0.5 * 1.25) + 10)
    assert t.loc["together / Llama-3.3-70B-Instruct-Turbo", "daily_cost"] == pytest.approx(6 * 0.88)  # no discount


def test_daily_cost_is_vectorised():
    assert api_daily_cost(5e6, 1e6, 2.5, 10.0) == pytest.approx(22.5)
    out = api_daily_cost(np.array([5e6, 10e6]), np.array([1e6, 2e6]), 3.0, 15.0, 0.3, 0.2)
    assert out == pytest.approx([5 * (0.8 * 3 + 0.2 * 0.3) + 15, 2 * (5 * (0.8 * 3 + 0.2 * 0.3) + 15)])
    series = api_daily_cost(5e6, 1e6, pd.Series([1.0, 2.0]), pd.Series([1.0, 1.0]), pd.Series([np.nan, 0.5]), 1.0)
    assert series == pytest.approx([5 + 1, 5 * 0.5 + 1])


def test_slope_times_volume_is_the_monthly_bill(table):
    prices = load_api_prices()
    slopes = monthly_usd_per_token_per_day(DEFAULT_WORKLOAD, prices)
    labels = prices["provider"] + " / " + prices["model"]
    for label, s in zip(labels, slopes, strict=True):
        assert s * 6e6 == pytest.approx(table.loc[label, "monthly_cost"])


def test_reference_api_rules(table):
    api = table.reset_index()
    assert reference_api(api, "llama-3.3-70b") == "deepinfra / Llama-3.3-70B-Instruct-Turbo"
    assert reference_api(api, "deepseek-v3") == "deepseek / deepseek-v3"
    assert reference_api(api, "qwen2.5-7b") == "deepinfra / Llama-3.3-70B-Instruct-Turbo"  # cheapest open-weight
    closed = api[~api["open_weight"]]
    assert reference_api(closed, "qwen2.5-7b") == "google / gemini-2.5-flash-lite"  # cheapest current
    stale_only = api[api["label"] == "together / Llama-3.3-70B-Instruct-Turbo@seed"]
    assert reference_api(stale_only, "llama-3.3-70b").endswith("@seed")  # nothing else to use


def test_bad_tables():
    with pytest.raises(PlannerError, match="empty"):
        api_costs(DEFAULT_WORKLOAD, load_api_prices().iloc[:0])
    with pytest.raises(PlannerError, match="usd_per_mtok_out"):
        api_costs(DEFAULT_WORKLOAD, load_api_prices().drop(columns=["usd_per_mtok_out"]))
