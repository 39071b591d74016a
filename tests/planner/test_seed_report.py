"""planner.seed: the hidden-cost write-up's worked example reproduced from the catalogues, its arithmetic slips
computed from its prices, and the same scenario re-planned today (seed_cost_model.md §1-2)."""

from __future__ import annotations

import pytest

from planner.errors import PlannerError
from planner.units import SEED_DAYS_PER_MONTH
from profiler.errors import CatalogueError

# seed_cost_model.md §2: the write-up's quoted prices, $/M tokens (input, output)
QUOTED = {"Claude 3.5 Sonnet": (3.00, 15.00), "GPT-4o": (2.50, 10.00), "Claude Opus": (15.00, 75.00),
          "Gemini 2.5 Flash": (0.15, 0.60), "Together Llama 3.3 70B": (0.90, 0.90),
          "Groq Llama 3.3 70B": (0.59, 0.79)}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from planner.seed import seed_report

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INFERPLAN_HOME", str(tmp_path_factory.mktemp("home-seed")))
        return seed_report()


def test_the_bill_is_13275_a_month_2_6x_the_5100_gpu_bill(report):
    bill = report.bill
    assert len(bill) == 11  # the write-up's 11 lines; the hidden costs it leaves out are $0 here and not shown
    assert report.monthly_total_usd == pytest.approx(13_275) == bill["monthly_usd"].sum()
    assert report.raw_gpu_monthly_usd == pytest.approx(5_100)
    assert report.multiplier == pytest.approx(13_275 / 5_100)  # 2.603, printed 2.6x
    assert round(report.multiplier, 1) == report.writeup_multiplier == 2.6
    # every line matches the write-up's figure, which is tco_defaults.yaml's seed_monthly_usd
    assert (bill["difference_usd"].abs() < 1e-9).all()
    assert bill.set_index("id").loc["mlops", "writeup_monthly_usd"] == 3_200
    assert bill.set_index("id").loc["gpu_failover", "notes"] == "50% hot standby for the SLA"
    assert report.view("bill").record["writeup_monthly_total_usd"] == 13_275


def test_the_api_table_prices_the_seed_workload_at_the_quoted_prices(report):
    api = report.api.set_index("api")
    assert set(api.index) == set(QUOTED)
    for name, (p_in, p_out) in QUOTED.items():
        assert (api.loc[name, "usd_per_mtok_in"], api.loc[name, "usd_per_mtok_out"]) == (p_in, p_out)
        assert api.loc[name, "daily_usd"] == pytest.approx(5 * p_in + 1 * p_out)  # 5M in + 1M out a day
    assert (report.api["monthly_usd"] == SEED_DAYS_PER_MONTH * report.api["daily_usd"]).all()
    assert api.loc["GPT-4o", "monthly_usd"] == pytest.approx(675)  # 30 x $22.50
    assert api.loc["Claude Opus", "daily_usd"] == pytest.approx(150)


def test_the_four_slips_sit_beside_the_values_computed_from_the_prices(report):
    s = report.slips.set_index("api")
    assert list(s.index) == ["Claude 3.5 Sonnet", "Gemini 2.5 Flash", "Together Llama 3.3 70B", "Groq Llama 3.3 70B"]
    assert list(s["daily_usd"]) == pytest.approx([30.00, 1.35, 5.40, 3.74])  # computed (5 x p_in + 1 x p_out)
    assert list(s["printed_daily_usd"]) == [45.00, 2.25, 13.50, 4.15]  # as printed (seed_writeup.yaml)
    assert list(s["error_daily_usd"]) == pytest.approx([15.00, 0.90, 8.10, 0.41])
    assert s.loc["Groq Llama 3.3 70B", "working"] == "5 x $0.59 + 1 x $0.79 = $3.74"
    assert report.view("slips").record["count"] == 4


def test_the_corrected_values_follow_the_prices_not_a_typed_number():
    from planner.prices import load_api_prices
    from planner.seed import _load_writeup, api_table, slips_table

    prices = load_api_prices()
    groq = (prices["provider"] == "groq") & (prices["model"] == "llama-3.3-70b-versatile")
    prices.loc[groq, ["usd_per_mtok_in", "usd_per_mtok_out"]] = [1.00, 2.00]
    slips = slips_table(api_table(_load_writeup(), prices)).set_index("api")
    assert slips.loc["Groq Llama 3.3 70B", "daily_usd"] == pytest.approx(5 * 1.00 + 1 * 2.00)


def test_the_replan_is_the_default_plan(report, seed_plan):
    p, d = report.plan, seed_plan.deployment
    assert {k: p.deployment[k] for k in ("gpu", "quant", "tp", "replicas", "spare_replicas", "pricing")} == \
        {k: d[k] for k in ("gpu", "quant", "tp", "replicas", "spare_replicas", "pricing")}
    ref = seed_plan.api.loc[seed_plan.api["label"] == seed_plan.reference_api, "monthly_cost"].iloc[0]
    today = report.replan_table.set_index("line")["today_monthly_usd"]
    assert list(today) == pytest.approx([seed_plan.monthly_total_cost, seed_plan.monthly_gpu_cost, ref])
    assert report.today_bill["today_monthly_usd"].sum() == pytest.approx(seed_plan.monthly_total_cost)
    rec = report.view("replan").record
    assert rec["verdict"] == seed_plan.verdict.decision and rec["multiplier"] == pytest.approx(seed_plan.tco_multiplier)
    writeup = report.replan_table.set_index("line")["writeup_monthly_usd"]
    # the write-up's own like-for-like: its cheapest hosted Llama 3.3 70B, Groq at 30 x $3.74
    assert list(writeup) == pytest.approx([13_275, 5_100, 30 * 3.74])


def test_a_writeup_row_that_names_no_seed_price_is_refused():
    from planner.seed import _load_writeup, api_table

    w = _load_writeup()
    bad = type(w)(w.notes, w.bill_source, w.printed_multiplier,
                  ({"name": "GPT-4o", "provider": "openai", "model": "gpt-5"},), w.api_source)
    with pytest.raises(PlannerError, match="not an api_prices.yaml row tagged seed"):
        api_table(bad)


def test_a_malformed_writeup_file_names_its_line(write_file):
    from planner.seed import _load_writeup

    path = write_file("w.yaml", """
        bill:
          notes: {gpu_primary: reserved}
          printed_multiplier: 2.6
        api:
          rows:
            - {name: GPT-4o, provider: openai, model: gpt-4o, printed_daily_usd: lots}
        """)
    with pytest.raises(CatalogueError, match="printed_daily_usd"):
        _load_writeup(path)
