"""Residency compares with dedicated offers billed per unit-hour, never with shared per-token prices
(issue 11 item 4)."""

import math
import textwrap
from dataclasses import replace

import pandas as pd
import pytest

from planner.api_costs import api_costs
from planner.dedicated import dedicated_costs, load_dedicated_offers
from planner.errors import PlannerError
from planner.prices import load_api_prices
from planner.verdict import decide
from planner.workload import DEFAULT_WORKLOAD
from profiler.errors import CatalogueError

RESIDENT = replace(DEFAULT_WORKLOAD, data_residency=True)
LLAMA = "llama-3.3-70b"


@pytest.fixture(scope="module")
def offers():
    return load_dedicated_offers()


def test_catalogue_rows_are_dated_and_sourced(offers):
    assert len(offers) == 9 and (offers["as_of"] != "").all() and (offers["source"] != "").all()
    t = offers.set_index(["provider", "offer", "gpu"])["usd_per_unit_hour"]
    assert t[("together", "dedicated endpoint", "h100-sxm")] == 3.99  # docs.together.ai dedicated endpoints
    assert t[("fireworks", "on-demand deployment", "h200")] == 8.00  # fireworks.ai/pricing, read 2026-10-07
    assert t[("fireworks", "region-restricted deployment", "h100-sxm")] == pytest.approx(8.00 * 1.5)
    assert offers.loc[offers["offer"] == "region-restricted deployment", "derived"].all()


def test_gpu_hour_offers_are_sized_with_the_plans_gpus_else_a_stated_floor(offers):
    costs = dedicated_costs(offers, DEFAULT_WORKLOAD, LLAMA, {"h100-sxm": 2}).set_index("label")
    sized = costs.loc["together / dedicated endpoint h100-sxm"]
    assert sized["units"] == 2 and not sized["floor"]
    assert sized["monthly_cost"] == pytest.approx(2 * 3.99 * 730)  # $5,825.40
    floor = costs.loc["together / dedicated endpoint h200"]
    assert floor["units"] == 1 and floor["floor"] and "a floor" in floor["units_basis"]
    assert floor["monthly_cost"] == pytest.approx(5.49 * 730)  # $4,007.70
    order = list(costs["floor"])
    assert order == sorted(order)  # sized offers first, then floors, each cheapest first


def test_published_throughput_sets_the_units_at_the_peak():
    offer = pd.DataFrame([{"provider": "p", "offer": "provisioned", "unit": "model-unit-hour", "gpu": "",
                           "model": LLAMA, "usd_per_unit_hour": 20.0, "min_units": 2.0,
                           "tokens_per_s_per_unit": 100.0, "region": "eu", "as_of": "2026-10-01", "source": "test",
                           "derived": False}])
    w = DEFAULT_WORKLOAD.scaled_to(60e6)  # 60M tokens/day at the 2x peak: 1,388.9 tokens/s -> 14 units
    row = dedicated_costs(offer, w, LLAMA).iloc[0]
    assert row["units"] == math.ceil(60e6 / 86_400 * 2 / 100) == 14
    assert row["monthly_cost"] == pytest.approx(14 * 20 * 730)
    assert dedicated_costs(offer, DEFAULT_WORKLOAD, LLAMA).iloc[0]["units"] == 2  # 139 tokens/s: the minimum
    assert dedicated_costs(offer, w, "llama-3.1-8b").empty  # a model-unit offer serves one model only


def test_residency_reference_is_a_dedicated_offer_not_a_token_price():
    # before: "together / Llama-3.3-70B-Instruct-Turbo" at list token prices ($158/month at the seed volume)
    api = api_costs(RESIDENT, load_api_prices())
    v = decide(13_275, api, RESIDENT, LLAMA, dedicated_gpus={"h100-sxm": 2})
    assert v.reference_api == "together / dedicated endpoint h100-sxm"
    assert v.api_to_tco_ratio == pytest.approx(2 * 3.99 * 730 / 13_275)
    assert v.decision == "dedicated-api-first"
    tokens = set(api["label"])
    assert v.compared and not set(v.compared) & tokens  # shared per-token rows are not compared
    text = " ".join(v.reasons)
    assert "rules out shared per-token APIs" in text and "$5,825/month" in text
    assert "Compared on" not in text  # the per-token comparison sentence is not made under residency
    assert "as of 2026-05-08" in text and "region not stated: confirm in-region placement" in text


def test_residency_without_offers_falls_back_to_the_token_reference():
    api = api_costs(RESIDENT, load_api_prices())
    v = decide(13_275, api, RESIDENT, LLAMA, dedicated_offers=load_dedicated_offers().iloc[:0])
    assert v.reference_api == "deepinfra / Llama-3.3-70B-Instruct-Turbo"


def test_bad_offer_files(tmp_path):
    f = tmp_path / "d.yaml"
    f.write_text(textwrap.dedent("""\
        offers:
          - {provider: x, offer: y, unit: gpu-day, gpu: h100-sxm, usd_per_unit_hour: 1, as_of: 2026-10-01, source: t}
    """))
    with pytest.raises(CatalogueError, match="gpu-hour, model-unit-hour, ptu-hour"):
        load_dedicated_offers(f)
    f.write_text("offers:\n  - {provider: x, offer: y, unit: gpu-hour, usd_per_unit_hour: 1, as_of: 2026-10-01,"
                 " source: t}\n")
    with pytest.raises(PlannerError, match="needs its gpu"):
        load_dedicated_offers(f)
