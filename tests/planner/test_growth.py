"""The growth view (planner.growth) and the capex view (planner.capex_view) of issue 14, deliverables 5 and 6.

Plans are llama-3.1-8b on h100-sxm fp8 (about a second each). The growth plans are captured with the Fleet and the
catalogues planner.api handed to growth_view, so the commitment table can be re-run on a narrowed price table.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pandas as pd
import pytest

from planner import growth as growth_mod
from planner.capex_view import depreciation_table
from planner.growth import cheaper_side, check_growth, commitment_cost, commitment_table, verdict_change
from planner.units import HOURS_PER_MONTH, MONTHS_PER_YEAR
from planner.views import view_named
from planner.workload import DEFAULT_WORKLOAD
from profiler.errors import InvalidValueError

SMALL = {"model": "llama-3.1-8b", "gpus": ("h100-sxm",), "quants": ("fp8",)}


def _captured(tmp_path_factory, **kw):
    """plan(PlanRequest(**SMALL, **kw)) and the (plan, req, fleet, cat) growth_view was called with."""
    from planner.api import PlanRequest, plan

    seen = {}
    real = growth_mod.growth_view

    def recording(p, req, fleet, cat):
        seen.update(req=req, fleet=fleet, cat=cat)
        return real(p, req, fleet, cat)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INFERPLAN_HOME", str(tmp_path_factory.mktemp("home-growth")))
        mp.setattr(growth_mod, "growth_view", recording)
        result = plan(PlanRequest(**SMALL, **kw))
    return result, seen


@pytest.fixture(scope="module")
def doubling(tmp_path_factory):
    """+100 % a month for 12 months from 6M tokens/day: the peak passes several multiples of one replica's rate."""
    return _captured(tmp_path_factory, growth_per_month=1.0, months=12)


@pytest.fixture(scope="module")
def turning(tmp_path_factory):
    """200M tokens/day, API prices x 100, +20 %/month: the API starts cheaper and self-hosting overtakes it."""
    return _captured(tmp_path_factory, workload=DEFAULT_WORKLOAD.scaled_to(2e8), api_price_factor=100,
                     growth_per_month=0.2, months=12)


@pytest.fixture(scope="module")
def bought(tmp_path_factory):
    from planner.api import PlanRequest, plan

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INFERPLAN_HOME", str(tmp_path_factory.mktemp("home-buy")))
        return plan(PlanRequest(**SMALL, pricing=("buy",)))


def _growth(p) -> pd.DataFrame:
    view = view_named(p.views, "growth")
    assert view is not None and list(view.main.columns) == list(growth_mod.COLUMNS)
    return view.main


def test_month_one_reproduces_the_plan(doubling):
    p, _ = doubling
    first = _growth(p).iloc[0]
    d = p.deployment
    assert (first["month"], first["tokens_per_day"]) == (1, p.workload.tokens_per_day)
    assert (first["replicas"], first["spare_replicas"]) == (d["replicas"], d["spare_replicas"])
    assert first["gpus"] == d["gpus_total"]
    assert first["self_host_usd"] == pytest.approx(p.monthly_total_cost, rel=1e-12)
    ref = p.api[p.api["label"] == p.reference_api]["monthly_cost"].iloc[0]
    assert first["api_usd"] == pytest.approx(ref, rel=1e-12)
    assert first["replanned_usd"] == pytest.approx(p.at_gpu_price(1.0)(p.workload.tokens_per_day)[0], rel=1e-12)


def test_volumes_grow_geometrically_and_gpu_hours_follow(doubling):
    table = _growth(doubling[0])
    v = table["tokens_per_day"].to_numpy()
    assert len(table) == 12 and list(table["month"]) == list(range(1, 13))
    assert v[1:] / v[:-1] == pytest.approx([2.0] * 11, rel=1e-12)
    assert list(table["gpu_hours"]) == [g * HOURS_PER_MONTH for g in table["gpus"]]


def test_replicas_step_where_the_peak_crosses_multiples_of_one_replica(doubling):
    p, seen = doubling
    table, rps = _growth(p), seen["fleet"].replica_rps
    reps = [int(r) for r in table["replicas"]]
    peaks = [p.workload.scaled_to(v).requests_per_s_peak for v in table["tokens_per_day"]]
    assert reps == sorted(reps) and reps[-1] > reps[0]  # positive growth: non-decreasing, and it does step
    for m in range(1, len(reps)):
        if reps[m] > reps[m - 1]:  # the step: the previous count no longer covers the peak, the new one does
            assert peaks[m - 1] <= reps[m - 1] * rps * (1 + 1e-9) < peaks[m] <= reps[m] * rps * (1 + 1e-9)
    assert sum(r > q for q, r in zip(reps[:-1], reps[1:], strict=True)) >= 3
    line = next(x for x in view_named(p.views, "growth").lines if x.startswith("Replicas change"))
    first_step = next(m + 1 for m in range(1, len(reps)) if reps[m] != reps[m - 1])
    assert f"{reps[first_step - 2]} to {reps[first_step - 1]} in month {first_step}" in line


def test_api_cost_is_linear_in_volume(doubling):
    table = _growth(doubling[0])
    per_token = (table["api_usd"] / table["tokens_per_day"]).astype(float)
    assert per_token.to_numpy() == pytest.approx([per_token.iloc[0]] * len(table), rel=1e-9)


def test_cheaper_side_follows_the_margin_rule(turning):
    p, _ = turning
    for _, r in _growth(p).iterrows():
        assert r["cheaper"] == ("self-host" if r["api_usd"] >= p.margin * r["self_host_usd"] else "api")
    assert cheaper_side(100.0, 200.0, 2.0) == "self-host" and cheaper_side(100.0, 199.0, 2.0) == "api"
    assert cheaper_side(None, 1.0, 2.0) is None


def test_verdict_change_month_is_where_the_cheaper_column_first_differs(turning):
    p, _ = turning
    view = view_named(p.views, "growth")
    sides = list(view.main["cheaper"])
    change = view.record["verdict_change_month"]
    expected = next(m for m, s in enumerate(sides, start=1) if s != sides[0])  # this scenario does change
    assert change == expected and (sides[0], sides[change - 1]) == ("api", "self-host")
    assert f"in month {change}" in next(x for x in view.lines if x.startswith("The cheaper side"))
    flat = pd.DataFrame({"month": [1, 2, 3], "cheaper": ["api", "api", None]})
    assert verdict_change(flat) is None


def test_totals_cover_the_span(turning):
    p, _ = turning
    view = view_named(p.views, "growth")
    table, totals = view.main, view.record["totals"]
    assert totals["self_host_usd"] == pytest.approx(float(table["self_host_usd"].sum()))
    assert totals["api_usd"] == pytest.approx(float(table["api_usd"].sum()))
    assert (view.record["months"], view.record["growth_per_month"]) == (12, 0.2)


def test_commitment_cost_by_hand():
    # 3 GPUs committed at $2/GPU-h, needs 2, 3, 5 GPUs: 3 x 2 x 730 x 3 = 13,140 committed; month 3 rents 2 GPUs
    # on demand at $4: 2 x 4 x 730 = 5,840; month 1 leaves 1 committed GPU idle: 730 GPU-hours
    cost = commitment_cost([2, 3, 5], 3, 2.0, 4.0)
    assert cost == {"committed_usd": 13140.0, "on_demand_extra_usd": 5840.0, "total_usd": 18980.0,
                    "idle_gpu_hours": 730}
    # on demand only in 8-GPU instances: 2 + 3 + 5 GPUs needed, 8 GPUs billed each month: 24 x 4 x 730 = 70,080
    assert commitment_cost([2, 3, 5], 0, 2.0, 4.0, 8)["total_usd"] == 70080.0


def test_commitment_table_rows_follow_the_growth_table(doubling):
    from planner.search import offer_for

    p, seen = doubling
    view = view_named(p.views, "growth")
    table, commit = view.main, view.tables["commitment"]
    one_year = commit[commit["commitment"] == "reserved-1y"].set_index("sized_for_month")
    needs = [int(g) for g in table["gpus"]]  # a 12-month span covers the 1-year term exactly
    late = one_year.loc[12]  # sized for month 12: nothing above it, the early months idle
    assert late["gpus_committed"] >= needs[-1] and late["on_demand_extra_usd"] == 0
    assert late["idle_gpu_hours"] == sum(late["gpus_committed"] - n for n in needs) * HOURS_PER_MONTH
    early = one_year.loc[1]  # sized for month 1: no idle hours once the volume grows past it
    offer = offer_for(seen["cat"].gpu_prices, "h100-sxm", "reserved-1y", p.deployment["provider"],
                      max(needs), {})
    assert early["committed_usd"] == pytest.approx(
        early["gpus_committed"] * float(offer["usd_per_gpu_hour"]) * HOURS_PER_MONTH * 12)
    on_demand = commit[(commit["commitment"] == "on-demand only") & (commit["term_months"] == 12)].iloc[0]
    assert early["vs_on_demand_usd"] == pytest.approx(early["total_usd"] - on_demand["total_usd"])
    assert early["idle_gpu_hours"] == 0


def test_missing_reserved_offers_are_a_line_not_an_error(doubling):
    p, seen = doubling
    prices = seen["cat"].gpu_prices
    cat = replace(seen["cat"], gpu_prices=prices[prices["pricing"] != "reserved-3y"])
    table, lines = commitment_table(p, seen["req"], seen["fleet"], cat)
    assert set(table["commitment"]) == {"reserved-1y", "on-demand only"}
    assert "No reserved-3y offer for h100-sxm: that commitment is not priced." in lines


@pytest.mark.parametrize("growth, months", [(1.5, 24), (-0.6, 24), (math.nan, 24), (True, 24), ("8%", 24),
                                            (0.08, 0), (0.08, 121), (0.08, 12.5)])
def test_bad_growth_or_months_is_refused(growth, months):
    with pytest.raises(InvalidValueError, match="growth_per_month|months"):
        check_growth(growth, months)


def test_bad_growth_from_python_is_refused(tmp_path, monkeypatch):
    from planner.api import PlanRequest, plan

    monkeypatch.setenv("INFERPLAN_HOME", str(tmp_path))
    with pytest.raises(InvalidValueError, match="growth_per_month"):
        plan(PlanRequest(**SMALL, growth_per_month=2.0))


def test_depreciation_rows_sum_to_upfront_less_resale_and_chain(bought):
    view = view_named(bought.views, "capex")
    dep, cx = view.tables["depreciation"], bought.capex
    assert dep["start_book_usd"].iloc[0] == cx["upfront_usd"]
    assert dep["end_book_usd"].iloc[-1] == pytest.approx(cx["residual_usd"])
    assert dep["depreciation_usd"].sum() == pytest.approx(cx["upfront_usd"] - cx["residual_usd"])
    assert list(dep["start_book_usd"].iloc[1:]) == list(dep["end_book_usd"].iloc[:-1])
    assert (dep["start_book_usd"] - dep["depreciation_usd"]).to_numpy() == pytest.approx(dep["end_book_usd"])
    years = view.record["amortisation_years"]
    assert dep["capital_line_usd"].sum() == pytest.approx(cx["monthly_capital_usd"] * MONTHS_PER_YEAR * years)


def test_a_fractional_life_ends_with_a_part_year():
    dep = depreciation_table(1000.0, 100.0, 25.0, 2.5)  # 900 over 2.5 years: 360, 360, then half a year 180
    assert list(dep["depreciation_usd"]) == pytest.approx([360.0, 360.0, 180.0])
    assert list(dep["end_book_usd"]) == pytest.approx([640.0, 280.0, 100.0])
    assert list(dep["capital_line_usd"]) == pytest.approx([300.0, 300.0, 150.0])


def test_capex_and_opex_reconcile_with_the_bill(bought):
    view = view_named(bought.views, "capex")
    capex, opex, cx = view.tables["capex"], view.tables["opex"], bought.capex
    items = capex[capex["item"] != "Total upfront"]
    assert items["upfront_usd"].sum() == pytest.approx(cx["upfront_usd"])
    assert capex["upfront_usd"].iloc[-1] == pytest.approx(cx["upfront_usd"])
    total_opex = opex[opex["item"] == "Total opex"]["monthly_usd"].iloc[0]
    assert opex["monthly_usd"].iloc[:-1].sum() == pytest.approx(total_opex)
    assert total_opex + cx["monthly_capital_usd"] == pytest.approx(bought.monthly_total_cost)
    assert list(opex["annual_usd"]) == pytest.approx(list(opex["monthly_usd"] * MONTHS_PER_YEAR))
    energy = opex[opex["item"].str.startswith("Energy")]["monthly_usd"].iloc[0]
    assert energy == cx["monthly_energy_usd"]
    assert not any("does not follow" in x for x in view.lines)  # the packaged parameters are the plan's
