"""Issue 14 item 7: GPUs already owned (planner.owned): billed at their running costs only, capped at the count owned.

Every expected figure is recomputed from planner.buy's formula and the packaged purchase parameters, not copied from
a run. Plans are restricted to H100 SXM, fp8 and the cost verdict alone (framework=False) to stay fast.
"""

from __future__ import annotations

import math

import pytest

from planner import prices as prices_mod
from planner.buy import buy_monthly_cost_per_gpu, load_purchase
from planner.errors import InfeasibleError
from planner.units import HOURS_PER_MONTH
from profiler.errors import InvalidValueError, UnknownNameError

GPU = "h100-sxm"
SMALL = {"model": "llama-3.1-8b", "gpus": (GPU,), "quants": ("fp8",), "framework": False}


def _plan(tmp_path_factory, **kw):
    from planner.api import PlanRequest, plan

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INFERPLAN_HOME", str(tmp_path_factory.mktemp("home-owned")))
        return plan(PlanRequest(**kw))


@pytest.fixture(scope="module")
def owned_plan(tmp_path_factory):
    return _plan(tmp_path_factory, **SMALL, owned=((GPU, 8),))


@pytest.fixture(scope="module")
def rented_plan(tmp_path_factory):
    return _plan(tmp_path_factory, **SMALL, pricing=("reserved-1y",))


def _running_usd_per_gpu_month(catalogues) -> tuple[float, object]:
    """Energy + colocation + support of one owned H100 from planner.buy (capital left out: the purchase is sunk)."""
    params, table = load_purchase()
    row = table[table["gpu"] == GPU].iloc[0]
    c = buy_monthly_cost_per_gpu(row["usd_per_gpu"], catalogues.gpus[GPU].tdp_w, params, row["server_factor"])
    return c.energy + c.hosting + c.support, c


def _gpu_lines(plan) -> float:
    return float(plan.line_items.loc[plan.line_items["category"] == "gpu", "monthly_usd"].sum())


def test_owned_gpus_are_billed_at_running_costs_only(owned_plan, catalogues):
    running, c = _running_usd_per_gpu_month(catalogues)
    gpus = int(owned_plan.deployment["gpus_total"])
    assert owned_plan.deployment["pricing"] == "owned" and owned_plan.deployment["gpu"] == GPU
    assert owned_plan.deployment["usd_per_gpu_hour"] == pytest.approx(running / HOURS_PER_MONTH, rel=1e-12)
    assert _gpu_lines(owned_plan) == pytest.approx(running / HOURS_PER_MONTH * gpus * HOURS_PER_MONTH, rel=1e-12)
    assert running < c.total - c.capital * 0.999  # the capital (the purchase) is not billed again
    assert owned_plan.capex is None  # nothing bought


def _gpu_priced(plan) -> float:
    """The lines priced per GPU-hour: the serving GPUs (category gpu) and the guard model's GPU share."""
    guard = plan.line_items.loc[plan.line_items["id"] == "guardrails", "monthly_usd"].sum()
    return _gpu_lines(plan) + float(guard)


def test_owning_is_cheaper_than_renting_by_the_gpu_lines_alone(owned_plan, rented_plan):
    for key in ("gpu", "quant", "tp", "replicas", "spare_replicas", "gpus_total"):
        assert owned_plan.deployment[key] == rented_plan.deployment[key], key  # the same configuration
    saved = rented_plan.monthly_total_cost - owned_plan.monthly_total_cost
    assert saved > 0
    assert saved == pytest.approx(_gpu_priced(rented_plan) - _gpu_priced(owned_plan), rel=1e-9)
    gpus = owned_plan.deployment["gpus_total"] + owned_plan.guard["gpus"]  # every other line is the same
    rate_gap = rented_plan.deployment["usd_per_gpu_hour"] - owned_plan.deployment["usd_per_gpu_hour"]
    assert saved == pytest.approx(gpus * rate_gap * HOURS_PER_MONTH, rel=1e-9)


def test_the_view_splits_owned_into_used_and_idle_and_bills_only_what_runs(owned_plan, catalogues):
    from planner.views import view_named

    view = view_named(owned_plan.views, "owned")
    rec = view.record
    used = int(owned_plan.deployment["gpus_total"]) + math.ceil(owned_plan.guard["gpus"])  # the guard's MIG GPU too
    assert (rec["gpus_owned"], rec["gpus_used"], rec["gpus_idle"]) == (8, used, 8 - used)
    _, c = _running_usd_per_gpu_month(catalogues)
    assert rec["idle_monthly_usd"] == pytest.approx((8 - used) * (c.hosting + c.support))  # powered down: no energy
    assert rec["sunk_purchase_usd"] == pytest.approx(8 * c.upfront)
    billed = view.tables["billed"]
    assert billed.loc[billed["status"] == "billed", "monthly_usd"].sum() == pytest.approx(owned_plan.monthly_total_cost)
    assert billed.loc[billed["item"] == "GPU purchase", "monthly_usd"].item() == 0
    assert rec["extra_gpus_needed"] == 0 and rec["monthly_total_with_extra_usd"] == owned_plan.monthly_total_cost
    assert any("powered down" in line for line in view.lines)


def test_a_plan_needing_more_gpus_than_owned_is_refused_with_the_cost_of_the_rest(tmp_path_factory, catalogues):
    big = {**SMALL, "model": "llama-3.3-70b"}
    with pytest.raises(InfeasibleError) as exc:
        _plan(tmp_path_factory, **big, owned=((GPU, 1),))
    msg, rec = str(exc.value), exc.value.record
    assert "\n" not in msg and "you own 1" in msg and "--owned" in msg
    need = rec["gpus_needed"]
    assert need > 1 and rec["extra_gpus_needed"] == need - 1 and f"needs {need} {GPU} GPUs" in msg
    # the honest total: the same plan on `need` owned GPUs, with the extra ones at the cheaper of renting and buying
    fits = _plan(tmp_path_factory, **big, owned=((GPU, need),))
    assert int(fits.deployment["gpus_total"]) + math.ceil(fits.guard["gpus"]) == need  # serving + the guard's GPU
    rent = min(prices_mod.gpus_billed(rec["extra_gpus_needed"], o) * float(o["usd_per_gpu_hour"]) * HOURS_PER_MONTH
               for o in (prices_mod.cheapest_offer(catalogues.gpu_prices, GPU, p, None, rec["extra_gpus_needed"])
                         for p in ("reserved-1y", "on-demand")))
    assert rec["rent_monthly_usd"] == pytest.approx(rent)
    extra = min(rec["rent_monthly_usd"], rec["buy_monthly_usd"])
    own_rate = float(fits.deployment["usd_per_gpu_hour"]) * HOURS_PER_MONTH
    assert rec["monthly_total_with_extra_usd"] == pytest.approx(
        fits.monthly_total_cost - rec["extra_gpus_needed"] * own_rate + extra)


def test_unknown_or_malformed_owned_gpus_are_input_errors(catalogues):
    from planner.api import PlanRequest
    from planner.owned import owned_catalogues

    with pytest.raises(UnknownNameError, match="h100-sxm"):
        owned_catalogues(catalogues, PlanRequest(owned=(("h100-sxn", 8),)))
    with pytest.raises(InvalidValueError, match="--owned"):
        owned_catalogues(catalogues, PlanRequest(owned=((GPU, 0),)))
    with pytest.raises(InvalidValueError, match="names none of the GPUs you own"):
        owned_catalogues(catalogues, PlanRequest(owned=((GPU, 8),), gpus=("a100-80gb",)))


def test_owned_catalogues_narrows_the_request_to_the_owned_gpus(catalogues):
    from planner.api import PlanRequest
    from planner.owned import owned_catalogues

    cat, req = owned_catalogues(catalogues, PlanRequest(owned=((GPU, 8), ("a100-80gb", 4)), gpus=(GPU, "l40s")))
    assert req.gpus == (GPU,) and req.pricing == ("owned",) and req.provider is None
    owned = cat.gpu_prices[cat.gpu_prices["pricing"] == "owned"]
    assert sorted(owned["gpu"]) == ["a100-80gb", GPU] and set(owned["provider"]) == {"owned"}
    assert (owned["monthly_capital_usd"] == 0).all()
    assert len(cat.gpu_prices) == len(catalogues.gpu_prices) + 2  # rented and bought rows kept for the comparisons


def test_the_cost_curve_stops_where_the_owned_gpus_run_out(owned_plan, rented_plan):
    """Break-even volumes and the cost plot read the cost curve: it prices no deployment needing more GPUs than the
    8 owned (planner.cost_curve, the offer's max_gpus), where the rented plan's curve goes on."""
    owned_cost, rented_cost = owned_plan.at_gpu_price(1.0), rented_plan.at_gpu_price(1.0)
    volume = owned_plan.workload.tokens_per_day
    assert math.isfinite(owned_cost(volume)[0])
    big = volume
    while rented_cost(big)[1] * 1 <= 8:  # replicas incl. spares x TP 1 (fp8 on one H100): GPUs in use
        big *= 2
    assert math.isinf(owned_cost(big)[0]) and math.isfinite(rented_cost(big)[0])
    assert owned_plan.deployment["tp"] == 1
