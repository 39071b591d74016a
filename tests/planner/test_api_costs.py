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
    # one month for both sides: 730 h / 24 = 30.42 days (the seed bills APIs for 30 days, GPUs for 730 h)
    assert table.loc[label, "monthly_cost"] == pytest.approx(730 / 24 * daily, abs=1e-9)
    assert table.loc[label, "usd_per_mtok_blended"] == pytest.approx(daily / 6, abs=1e-9)


def test_api_and_gpu_months_are_one_month():
    # issue 11 item 7: the API month was 30 days while the GPU month was 730 h (30.42 days), 1.4% apart
    from planner.units import DAYS_PER_MONTH, HOURS_PER_MONTH

    assert DAYS_PER_MONTH * 24 == HOURS_PER_MONTH == 730


def test_service_tiers_reprice_the_rows_that_publish_them():
    # LLITE 2026-07-24: GPT-4o Batch 1.25/5.00 (x0.5), Priority 4.25/17.00 (x1.7); seed day 5 x 2.50 + 1 x 10 = $22.50
    from dataclasses import replace

    prices = load_api_prices()
    for tier, factor, words in (("batch", 0.5, "batch x0.5"), ("priority", 1.7, "priority x1.7")):
        t = api_costs(replace(DEFAULT_WORKLOAD, api_tier=tier), prices).set_index("label")
        assert t.loc["openai / gpt-4o", "daily_cost"] == pytest.approx(22.50 * factor)
        assert t.loc["openai / gpt-4o", "service_tier"] == words
    # no priority price published for Groq's row: its standard price stays, and the row says so
    t = api_costs(replace(DEFAULT_WORKLOAD, api_tier="priority"), prices).set_index("label")
    assert t.loc["groq / llama-3.3-70b-versatile", "daily_cost"] == pytest.approx(3.74)
    assert t.loc["groq / llama-3.3-70b-versatile", "service_tier"] == "standard (no priority price published)"


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
    # Was "deepinfra / Llama-3.3-70B-Instruct-Turbo" (the cheapest open-weight row, another model); issue 11
    # item 5 added same-weights rows for every hosted catalogue model, so qwen2.5-7b is compared with itself.
    assert reference_api(api, "qwen2.5-7b") == "deepinfra / Qwen2.5-7B-Instruct"
    closed = api[~api["open_weight"]]
    # no closed row is in the small tier and none is open-weight: the cheapest current API (5 x 0.05 + 0.40)
    assert reference_api(closed, "qwen2.5-7b") == "openai / gpt-5-nano"
    stale_only = api[api["label"] == "together / Llama-3.3-70B-Instruct-Turbo@seed"]
    assert reference_api(stale_only, "llama-3.3-70b").endswith("@seed")  # nothing else to use


def test_bad_tables():
    with pytest.raises(PlannerError, match="empty"):
        api_costs(DEFAULT_WORKLOAD, load_api_prices().iloc[:0])
    with pytest.raises(PlannerError, match="usd_per_mtok_out"):
        api_costs(DEFAULT_WORKLOAD, load_api_prices().drop(columns=["usd_per_mtok_out"]))
