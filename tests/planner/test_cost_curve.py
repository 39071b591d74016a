"""The self-hosted cost curve (planner.cost_curve) gives what a plan made afresh at each volume bills, and the
crossovers read from it are the ones a bisection of full re-plans finds."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from planner import tco as tco_mod
from planner.api import PlanRequest, plan, policy_for
from planner.api_costs import monthly_usd_per_token_per_day
from planner.cost_curve import SHORTLIST, SelfHostCurve
from planner.crossover import MemoCost, breakeven_tokens_per_day
from planner.errors import InfeasibleError
from planner.plan import load_catalogues
from planner.search import DEFAULT_TPS, SearchSpace, best, search
from planner.workload import DEFAULT_WORKLOAD
from profiler.catalogue import get_gpu, get_model

REQ_8B = PlanRequest(model="llama-3.1-8b", sizing="mean-value", framework=False)


@pytest.fixture(scope="module")
def plan_8b(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INFERPLAN_HOME", str(tmp_path_factory.mktemp("home-8b")))
        return plan(REQ_8B)


def _replan_total(req: PlanRequest, v: float) -> float:
    """Monthly TCO of a whole new plan at daily volume v (search, sizing, bill): what the curve stands for."""
    try:
        return plan(dataclasses.replace(req, workload=req.workload.scaled_to(v))).monthly_total_cost
    except InfeasibleError:
        return math.inf


def test_the_curve_bills_what_a_plan_made_at_each_volume_bills(plan_8b):
    curve = plan_8b.at_gpu_price(1.0)
    for v in np.geomspace(3e5, 3e10, 6):  # from one replica to hundreds: the deployment changes along the way
        assert curve(v)[0] == pytest.approx(_replan_total(REQ_8B, v), rel=1e-9), v


def test_the_p99_curve_bills_what_a_p99_plan_at_each_volume_bills(seed_plan):
    curve = seed_plan.at_gpu_price(1.0)
    req = PlanRequest(framework=False)  # the seed scenario, sized on the p99 model
    for v in (2e6, 6e8, 2e10):
        assert curve(v)[0] == pytest.approx(_replan_total(req, v), rel=1e-9), v


def _searched_total(v: float) -> float:
    """The cheapest total of a whole new search at daily volume v: every candidate sized and billed in full."""
    model, cat = get_model(REQ_8B.model), load_catalogues()
    space = SearchSpace(tps=DEFAULT_TPS, redundancy=policy_for(REQ_8B))
    row = best(search(model, REQ_8B.workload.scaled_to(v), space, cat.gpus, cat.quants, cat.gpu_prices,
                      cat.tco_defaults))
    return math.inf if row is None else float(row["monthly_total_cost"])


def test_crossovers_from_the_curve_match_a_bisection_of_full_replans(plan_8b):
    """The reference walks a log grid of full searches to the first volume where the API costs at least as much,
    then bisects between it and the grid point before (each probe a whole search) to 0.1%."""
    api = plan_8b.api.dropna(subset=["crossover_tokens_per_day"])
    row = api.loc[api["crossover_tokens_per_day"].idxmin()]  # the compared API self-hosting overtakes first
    slope = float(monthly_usd_per_token_per_day(plan_8b.workload, api.loc[[row.name]])[0])
    got = breakeven_tokens_per_day(MemoCost(plan_8b.at_gpu_price(1.0)), slope)
    assert got is not None and math.isclose(got, row["crossover_tokens_per_day"], rel_tol=1e-12)
    grid = np.geomspace(1e4, 1e12, 65)
    first = next(i for i, v in enumerate(grid) if slope * v >= _searched_total(v))
    lo, hi = float(grid[first - 1]), float(grid[first])
    while hi / lo > 1 + 1e-3:
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if slope * mid >= _searched_total(mid) else (mid, hi)
    assert got == pytest.approx(hi, rel=2e-3)


def _candidates(p):
    """The curve's mean-value candidate list of a plan (the one it prices cheapest first)."""
    curve = p.at_gpu_price(1.0).fn
    return curve, curve.mean_value


def test_candidates_are_met_in_the_order_a_full_sort_gives(plan_8b):
    curve, cands = _candidates(plan_8b)
    assert len(cands.configs) > SHORTLIST  # the lazy order matters only with more candidates than the shortlist
    for v in (1e6, 1e8, 1e10):
        peak = plan_8b.workload.scaled_to(v).requests_per_s_peak
        lazy = [o[:5] for o in cands.cheapest(peak)]
        ns = cands.counts(peak)
        full = sorted((o for i in range(len(cands.configs)) for o in cands.options(i, int(ns[i]))),
                      key=lambda o: o[:3])
        assert lazy == [o[:5] for o in full]


def test_replica_counts_match_the_capacity_model(plan_8b):
    from planner.capacity import replicas_needed

    _, cands = _candidates(plan_8b)
    for v in np.geomspace(1e4, 1e12, 40):
        peak = plan_8b.workload.scaled_to(v).requests_per_s_peak
        assert list(cands.counts(peak)) == [replicas_needed(cap, peak) for _, cap in cands.configs]


def test_cheaper_gpu_hours_never_raise_the_curve(plan_8b):
    today, cheaper = plan_8b.at_gpu_price(1.0), plan_8b.at_gpu_price(0.5)
    assert isinstance(cheaper, MemoCost) and cheaper.fn is not today.fn
    for v in (1e6, 1e9):
        assert cheaper(v)[0] < today(v)[0]


def test_keys_at_needs_p99_sizing(plan_8b):
    curve = plan_8b.at_gpu_price(1.0).fn
    assert isinstance(curve, SelfHostCurve)
    with pytest.raises(Exception, match="p99"):
        curve.keys_at(DEFAULT_WORKLOAD)


# ---- the bill's split into deployment lines and volume lines ------------------------------------------------------


@pytest.mark.parametrize("existing", [False, True])
def test_only_the_volume_lines_move_with_volume_at_a_fixed_deployment(existing):
    defaults = tco_mod.load_tco_defaults()
    gpu = get_gpu("h100-sxm")
    args = dict(defaults=defaults, existing_infra=existing, gpu=gpu)
    base = tco_mod.tco_line_items(3.5 * 730 * 4, 4, 2, 4, DEFAULT_WORKLOAD, **args).set_index("id")["monthly_usd"]
    moved = set()
    for v in (1e5, 3e8, 5e10):
        at = tco_mod.tco_line_items(3.5 * 730 * 4, 4, 2, 4, DEFAULT_WORKLOAD.scaled_to(v), **args)
        at = at.set_index("id")["monthly_usd"]
        moved |= set(at.index[(at - base).abs() > 1e-9])
        parts = [tco_mod.tco_monthly_total(3.5 * 730 * 4, 4, 2, 4, DEFAULT_WORKLOAD.scaled_to(v), part=p, **args)
                 for p in ("deployment", "volume")]
        assert sum(parts) == pytest.approx(float(at.sum()), rel=1e-12)
    volume_items = {it.id for it in defaults.items if it.basis in tco_mod.VOLUME_BASES}
    assert moved and moved <= volume_items  # a deployment line that moved with volume would be priced once only


def test_an_unknown_part_is_refused():
    with pytest.raises(Exception, match="part"):
        tco_mod.tco_monthly_total(1000.0, 1, 0, 1, DEFAULT_WORKLOAD, part="gpu")


# ---- one curve per shape --------------------------------------------------------------------------------------


def _crossovers(p):
    return p.api["crossover_tokens_per_day"]


def test_plans_of_one_shape_share_a_curve_and_agree_whichever_came_first(monkeypatch):
    from collections import OrderedDict

    import planner.cost_curve as cc

    small = REQ_8B
    at = [dataclasses.replace(small, workload=small.workload.scaled_to(v)) for v in (3e6, 4e8)]
    monkeypatch.setattr(cc, "_SHARED", OrderedDict())
    alone = plan(at[1])
    monkeypatch.setattr(cc, "_SHARED", OrderedDict())
    first, second = plan(at[0]), plan(at[1])
    assert second.at_gpu_price(1.0) is first.at_gpu_price(1.0)  # one memoised curve for the shape
    assert second.at_gpu_price(0.5) is first.at_gpu_price(0.5)  # and one per GPU price
    assert _crossovers(second).equals(_crossovers(alone))  # exactly: the curve is written at a canonical volume
    assert second.curve.equals(alone.curve)


def test_another_price_table_or_shape_gets_its_own_curve(monkeypatch, tmp_path):
    from collections import OrderedDict

    import planner.cost_curve as cc

    monkeypatch.setattr(cc, "_SHARED", OrderedDict())
    a = plan(REQ_8B)
    b = plan(dataclasses.replace(REQ_8B, workload=dataclasses.replace(REQ_8B.workload, tpot_p99_s=0.08)))
    c = plan(dataclasses.replace(REQ_8B, pricing=("on-demand",)))
    assert len({id(p.at_gpu_price(1.0)) for p in (a, b, c)}) == 3


def test_the_canonical_workload_does_not_depend_on_the_volume_scaled_from():
    from planner.cost_curve import canonical_workload

    base = DEFAULT_WORKLOAD
    assert len({canonical_workload(base.scaled_to(float(v))) for v in np.geomspace(1e5, 1e11, 60)}) == 1
