"""Buying a GPU (issue 11 item 8): a 4-year life at the cost of capital, resale value, support and network.

Every expected number below is worked by hand from the defaults in gpu_prices.yaml ``purchase: params:``
(life 4 yr, WACC 8 %, 0.14 OOM/yr depreciation, support 20 %/yr, network 19 % of cluster cost) and the
H100 SXM purchase row ($31,250 per GPU, server factor 1.64, 700 W).
"""

import pytest

from planner.buy import (
    CAPEX_COLUMNS,
    buy_offers,
    capex_breakdown,
    capital_recovery_factor,
    load_purchase,
    residual_fraction,
)
from planner.errors import PlannerError
from planner.prices import load_gpu_prices
from profiler.errors import CatalogueError

# Hand computation for one H100 SXM, [USD] and [USD/month]
CHIP = 31_250.0
SERVER = CHIP * 1.64  # 51,250: chip + the rest of the server (EPP factor)
NETWORK = SERVER * 0.19 / 0.81  # 12,021.60: 19 % of total cluster cost
RESIDUAL = SERVER * 10 ** (-0.14 * 4)  # 14,115.42: 27.5 % resale after 4 years
CRF = 0.08 * 1.08**4 / (1.08**4 - 1)  # 0.301921 per year
CAPITAL = (SERVER + NETWORK - RESIDUAL / 1.08**4) * CRF / 12  # 1,330.88 /month
SUPPORT = SERVER * 0.20 / 12  # 854.17 /month
SERVER_KW = 700 * 10.2 / (8 * 700)  # 1.275 kW: a DGX H100's 10.2 kW over 8 GPUs
ENERGY = SERVER_KW * 0.75 * 1.25 * 0.0826 * 730  # 72.07 /month
HOSTING = SERVER_KW * 184.06  # 234.68 /month


def test_buy_h100_per_gpu_hour_matches_the_hand_computation():
    row = buy_offers({"h100-sxm": 700}).iloc[0]
    assert row["usd_per_gpu_hour"] == pytest.approx((CAPITAL + SUPPORT + ENERGY + HOSTING) / 730)
    # before issue 11: 5-yr straight line, nothing else = (51,250 / 60 + 72.07 + 234.68) / 730 = $1.59/GPU-h
    assert row["usd_per_gpu_hour"] == pytest.approx(3.4134, abs=5e-4)
    assert row["region"] == "us" and row["as_of"] == "2025-03"
    assert "4-yr life at 8.0% WACC" in row["source"] and "support $854/mo" in row["source"]


def test_capex_breakdown_shows_the_upfront_and_monthly_parts():
    row = buy_offers({"h100-sxm": 700}).iloc[0]
    cap = capex_breakdown(row)
    assert (cap.chip_usd, cap.server_usd) == (CHIP, pytest.approx(SERVER - CHIP))
    assert cap.network_usd == pytest.approx(NETWORK) and cap.residual_usd == pytest.approx(RESIDUAL)
    assert cap.upfront_usd == pytest.approx(63_271.60, abs=0.01)
    assert cap.monthly_capital_usd == pytest.approx(CAPITAL) and cap.monthly_capital_usd == pytest.approx(1_330.88,
                                                                                                           abs=0.01)
    assert cap.monthly_support_usd == pytest.approx(SUPPORT)
    assert (cap.monthly_energy_usd, cap.monthly_hosting_usd) == (pytest.approx(ENERGY), pytest.approx(HOSTING))
    assert cap.monthly_usd == pytest.approx(row["usd_per_gpu_hour"] * 730)
    rented = load_gpu_prices().iloc[0]
    assert capex_breakdown(rented) is None
    assert set(CAPEX_COLUMNS) <= set(buy_offers({"h100-sxm": 700}).columns)


def test_b200_dgx_price_includes_the_server():
    cap = capex_breakdown(buy_offers({"b200": 1000}).iloc[0])  # a DGX price: server factor 1.0
    assert cap.server_usd == 0 and cap.chip_usd == pytest.approx(379_273 / 8)
    assert cap.network_usd == pytest.approx(379_273 / 8 * 0.19 / 0.81)


def test_capital_recovery_and_residual_formulas():
    assert capital_recovery_factor(0.08, 4) == pytest.approx(0.301921, abs=1e-6)
    assert capital_recovery_factor(0.0, 4) == 0.25  # no cost of capital: straight line
    params, _ = load_purchase()
    assert (params.amortisation_years, params.wacc, params.support_fraction_per_year) == (4, 0.08, 0.20)
    assert (params.network_fraction_of_cluster, params.residual_ooms_per_year) == (0.19, 0.14)
    assert residual_fraction(params) == pytest.approx(0.275423, abs=1e-6)
    assert all(len(src) > 20 for _, src in params.sources)


NO_EXTRAS = """
purchase:
  params:
    amortisation_years: {value: 5, source: "EPP 2023+"}
    wacc: {value: 0, source: test}
    residual_ooms_per_year: {value: 100, source: "test: 10^-500 = no resale value"}
    support_fraction_per_year: {value: 0, source: test}
    network_fraction_of_cluster: {value: 0, source: test}
"""


def test_without_the_extras_it_is_epochs_straight_line(write_file):
    """No cost of capital, resale, support or network over 5 years: the pre-issue-11 $1.59/GPU-h."""
    row = buy_offers({"h100-sxm": 700}, write_file("p.yaml", NO_EXTRAS)).iloc[0]
    cap = capex_breakdown(row)
    assert cap.network_usd == 0 and cap.monthly_support_usd == 0 and cap.residual_usd == 0
    assert cap.monthly_capital_usd == pytest.approx(SERVER / 60)
    assert row["usd_per_gpu_hour"] == pytest.approx((SERVER / 60 + ENERGY + HOSTING) / 730)
    assert row["usd_per_gpu_hour"] == pytest.approx(1.5903, abs=5e-4)


@pytest.mark.parametrize("text, match", [
    ("purchase:\n  params:\n    wacc: {value: high, source: me}\n", "number >= 0"),
    ("purchase:\n  params:\n    amortisation_years: {value: 0, source: me}\n", "amortisation_years must be > 0"),
    ("purchase:\n  params:\n    network_fraction_of_cluster: {value: 1, source: me}\n", r"in \[0, 1\)"),
    ("purchase:\n  params:\n    wacc: {value: 0.1}\n", "with value and source"),
])
def test_bad_purchase_parameters_are_one_clear_error(write_file, text, match):
    with pytest.raises((CatalogueError, PlannerError), match=match) as exc:
        load_purchase(write_file("bad.yaml", text))
    assert "\n" not in str(exc.value)


def test_a_plan_that_buys_carries_the_capex_and_the_new_price():
    from planner.api import PlanRequest, plan

    p = plan(PlanRequest(model="llama-3.1-8b", gpus=("h100-sxm",), quants=("bf16",), tps=(1,), pricing=("buy",)))
    d = p.deployment
    assert (d["provider"], d["region"], d["as_of"]) == ("self-owned", "us", "2025-03")
    assert d["usd_per_gpu_hour"] == pytest.approx((CAPITAL + SUPPORT + ENERGY + HOSTING) / 730)
    assert d["capex_usd"] == pytest.approx(d["gpus_billed"] * (SERVER + NETWORK))  # $63,271.60 per GPU
    assert p.alternatives["capex_usd"].notna().all()  # every candidate here is bought
