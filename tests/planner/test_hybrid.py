"""planner.hybrid: self-host the base load on n replicas of the planned configuration, send the rest to the API.

Every case is llama-3.1-8b on H100 SXM at fp8 (one configuration: fast). Its replica takes ~29 requests/s at the
SLOs, i.e. ~3B tokens/day at 1,000 in + 200 out per request, and the reference API (deepinfra, same weights) bills
a replica's full day of tokens at about $2,000/month: about one replica's GPUs, so `api_price_factor` moves the
answer between the API only, a split and self-hosting only.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from planner import hybrid
from planner.workload import DEFAULT_WORKLOAD, Workload

SMALL = dict(model="llama-3.1-8b", gpus=("h100-sxm",), quants=("fp8",))
IN_PER_REQUEST, OUT_PER_REQUEST = 1000, 200  # the seed workload's mean lengths (planner.workload)


def _plan_and_fleet(**kw):
    """The plan of PlanRequest(**SMALL, **kw) and its Fleet, built as planner.api.plan builds it for the views."""
    from planner.api import PlanRequest, plan, policy_for
    from planner.fleet import fleet_of
    from planner.plan import load_catalogues
    from planner.price_factors import scaled_catalogues
    from planner.search import DEFAULT_TPS, SearchSpace
    from profiler import catalogue
    from profiler.specs import KvDtype

    req = PlanRequest(**{**SMALL, **kw})
    p = plan(req)
    cat = scaled_catalogues(load_catalogues(), api=req.api_price_factor)
    space = SearchSpace(gpus=req.gpus, quants=req.quants, kv_dtypes=(KvDtype("bf16"),), tps=DEFAULT_TPS,
                        pricing=req.pricing, redundancy=policy_for(req))
    return p, fleet_of(p, catalogue.get_model(req.model), cat, space), cat


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The default-volume plan of SMALL, its fleet and catalogues, under a private INFERPLAN_HOME."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INFERPLAN_HOME", str(tmp_path_factory.mktemp("home-hybrid")))
        return _plan_and_fleet()


def _requests(replicas: float, replica_rps: float) -> float:
    return replicas * replica_rps * 86_400


def _workload(requests_per_day: float, **kw) -> Workload:
    return Workload(tokens_in_per_day=requests_per_day * IN_PER_REQUEST,
                    tokens_out_per_day=requests_per_day * OUT_PER_REQUEST, requests_per_day=requests_per_day, **kw)


def _dearer(row, factor: float):
    """An API price row with every token price x factor (what --api-price-factor does to the catalogue)."""
    row = row.copy()
    for col in ("usd_per_mtok_in", "usd_per_mtok_out", "usd_per_mtok_cached_in"):
        row[col] = row[col] * factor
    return row


def _peaky(replica_rps: float) -> Workload:
    """A base load of 4 replicas' rate all day, 11.5 replicas' for 3 hours (12:00-15:00): a sharp peak."""
    profile = [4.0] * 24
    profile[12:15] = [11.5] * 3
    mean = sum(profile) / 24
    return _workload(_requests(mean, replica_rps), hourly_profile=tuple(profile))


def _front_loaded(self_host_usd) -> bool:
    """planner.hybrid's condition: the replicas up to any n add at least as much on average as those after it."""
    d = np.diff(np.asarray(self_host_usd, dtype=float))
    return all(d[:n].mean() >= d[n:].mean() for n in range(1, len(d)))


# ---- the load curve ---------------------------------------------------------------------------------------------

def test_load_curve_two_level_day_from_peak_to_average():
    c = hybrid.load_curve(replace(DEFAULT_WORKLOAD, peak_to_average=3.0))
    assert c.hours == (8.0, 16.0) and c.multipliers == (3.0, 0.0)  # busy 24/3 h at 3x, idle otherwise
    frac = hybrid.load_curve(replace(DEFAULT_WORKLOAD, peak_to_average=2.5))
    assert frac.hours[0] == pytest.approx(9.6)  # a fractional hour splits
    for curve in (c, frac, hybrid.load_curve(replace(DEFAULT_WORKLOAD, peak_to_average=1.0))):
        assert sum(curve.hours) == pytest.approx(24)
        assert np.dot(curve.hours, curve.multipliers) / 24 == pytest.approx(1.0)  # mean 1
    assert "flat" in hybrid.load_curve(replace(DEFAULT_WORKLOAD, peak_to_average=1.0)).source


def test_load_curve_prefers_the_hourly_profile_then_the_usage_log():
    profile = tuple([1.0] * 12 + [3.0] * 12)
    both = replace(DEFAULT_WORKLOAD, hourly_profile=profile, daily_curve=profile[::-1], peak_to_average=None)
    assert hybrid.load_curve(both).source.endswith("hourly profile")
    logged = hybrid.load_curve(replace(DEFAULT_WORKLOAD, daily_curve=profile, peak_to_average=2.0))
    assert "usage log" in logged.source and logged.multipliers == pytest.approx((0.5,) * 12 + (1.5,) * 12)


# ---- (a) a flat load of exactly k replicas: all or nothing while the self-hosted bill is concave -----------------

def test_flat_exact_multiple_is_all_or_nothing(small):
    p, fleet, cat = small
    api = hybrid.reference_price_row(p, cat)
    outcomes = set()
    for k in (2, 3, 4):  # spares 1, 1, 1 (the policy's N+1): each replica past the first adds one GPU
        w = _workload(_requests(k, fleet.replica_rps), peak_to_average=1.0)
        for factor in (0.5, 3.0, 10.0):
            s = hybrid.hybrid_split(fleet, w, _dearer(api, factor))
            assert s.self_host_replicas == k
            assert _front_loaded(s.by_replicas["self_host_usd"])  # the docstring's condition holds here...
            assert s.best_replicas in (0, k), (k, factor, s.by_replicas["monthly_usd"].tolist())  # ...so its claim
            outcomes.add("self-host" if s.best_replicas == k else "api")
    assert outcomes == {"self-host", "api"}  # both ends are reached: the API dear (x10) makes self-hosting win


def test_flat_exact_multiple_through_the_plan(small):
    """api_price_factor 10 on the plan itself: the best split on a flat 3-replica load is self-hosting it all."""
    fleet = small[1]
    w = _workload(_requests(3, fleet.replica_rps), peak_to_average=1.0)
    p, _, _ = _plan_and_fleet(workload=w, hybrid=True, api_price_factor=10.0)
    rec = p.views[0].record
    assert p.deployment["replicas"] == 3 and rec["best_replicas"] == 3
    assert rec["best_monthly_usd"] == pytest.approx(p.monthly_total_cost, rel=1e-12)


def test_flat_load_stops_short_of_a_spare_step(small):
    """Why the all-or-nothing claim needs a front-loaded bill: at 18 replicas the policy's spares go from 2 to 3, and
    with the API at 3.25x the 18th replica's traffic is cheaper on the API than with its extra spare."""
    p, fleet, cat = small
    w = _workload(_requests(18, fleet.replica_rps), peak_to_average=1.0)
    s = hybrid.hybrid_split(fleet, w, _dearer(hybrid.reference_price_row(p, cat), 3.25))
    assert fleet.spares(18) > fleet.spares(17)
    assert not _front_loaded(s.by_replicas["self_host_usd"])
    assert s.best_replicas == 17
    assert s.best["monthly_usd"] < min(s.api_only["monthly_usd"], s.self_host_only["monthly_usd"])


# ---- (b) a peaky day: the split beats both pure options ----------------------------------------------------------

def test_peaky_load_split_beats_both(small):
    w = _peaky(small[1].replica_rps)
    p, fleet, _ = _plan_and_fleet(workload=w, hybrid=True, api_price_factor=4.0)
    v = p.views[0]
    rec, main = v.record, v.tables["hybrid"].set_index("option")
    assert 0 < rec["best_replicas"] < p.deployment["replicas"]
    assert rec["best_monthly_usd"] < rec["api_only_usd"]
    assert rec["best_monthly_usd"] < rec["self_host_only_usd"]
    assert 0 < rec["self_host_token_share"] < 1
    assert main.loc["best split", "monthly_usd"] == rec["best_monthly_usd"]
    assert main.loc["best split", "spare_replicas"] == fleet.spares(rec["best_replicas"])  # spares for its part only
    assert "against self-hosting only" in v.lines[1] and "hourly profile" in v.lines[2]


def test_split_crossover_is_where_the_split_starts_self_hosting(small):
    w = _peaky(small[1].replica_rps)
    p, fleet, cat = _plan_and_fleet(workload=w, hybrid=True, api_price_factor=4.0)
    api = hybrid.reference_price_row(p, cat)
    cross = p.views[0].record["crossover_tokens_per_day"]
    assert cross is not None and cross <= w.tokens_per_day  # the split self-hosts at the planned volume
    assert hybrid.hybrid_split(fleet, w.scaled_to(cross), api).best_replicas > 0
    assert hybrid.hybrid_split(fleet, w.scaled_to(cross / (1 + 2 * hybrid.REL_TOL)), api).best_replicas == 0


def test_split_crossover_none_when_the_api_is_cheaper_per_replica(small):
    p, fleet, cat = small  # at list prices a replica's full day of tokens costs less on the API than its GPUs
    assert hybrid.split_crossover(fleet, p.workload, hybrid.reference_price_row(p, cat)) is None


# ---- (c) n = N is the plan; n = 0 is the plan's API row -----------------------------------------------------------

@pytest.mark.parametrize("kw", [dict(), dict(api_price_factor=4.0, peaky=True),
                                dict(model="llama-3.3-70b", compliance=True)])
def test_pure_options_reproduce_the_plan(kw, small):
    kw = dict(kw)
    w = _peaky(small[1].replica_rps) if kw.pop("peaky", False) else DEFAULT_WORKLOAD
    if kw.pop("compliance", False):
        w = replace(w, compliance_on_api=True)  # the API side carries the compliance lines too
    p, _, _ = _plan_and_fleet(workload=w, hybrid=True, **kw)
    rec = p.views[0].record
    table = p.views[0].tables["split_by_replicas"]
    assert table["replicas"].iloc[-1] == p.deployment["replicas"]
    assert rec["self_host_only_usd"] == pytest.approx(p.monthly_total_cost, rel=1e-12)
    assert table["api_token_share"].iloc[-1] == 0
    ref = p.api.loc[p.api["label"] == p.reference_api, "monthly_cost"].iloc[0]
    assert rec["api_only_usd"] == pytest.approx(ref, rel=1e-9)


# ---- (d) shares and served tokens ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["peaky", "two-level", "flat-remainder"])
def test_shares_sum_to_one_and_never_exceed_demand(small, shape):
    p, fleet, cat = small
    r = fleet.replica_rps
    w = {"peaky": _peaky(r), "two-level": _workload(_requests(5.3, r), peak_to_average=3.0),
         "flat-remainder": _workload(_requests(4.6, r), peak_to_average=1.0)}[shape]
    t = hybrid.hybrid_split(fleet, w, hybrid.reference_price_row(p, cat)).by_replicas
    assert np.allclose(t["self_host_token_share"] + t["api_token_share"], 1.0)
    assert np.allclose(t["self_host_tokens_per_day"] + t["api_tokens_per_day"], w.tokens_per_day)
    assert (t["self_host_tokens_per_day"] <= w.tokens_per_day * (1 + 1e-12)).all()
    one_replica_day = r * 86_400 * (IN_PER_REQUEST + OUT_PER_REQUEST)  # a replica can serve no more than this
    assert (t["self_host_tokens_per_day"] <= t["replicas"] * one_replica_day * (1 + 1e-9)).all()
    assert (np.diff(t["self_host_token_share"]) >= 0).all()  # more replicas never serve less
    assert t["self_host_token_share"].iloc[0] == 0 and t["self_host_token_share"].iloc[-1] == 1
    assert np.allclose(t["monthly_usd"], t["self_host_usd"] + t["api_usd"])


def test_residency_rules_the_hybrid_out():
    from planner.api import PlanRequest, plan
    from profiler.errors import InvalidValueError

    with pytest.raises(InvalidValueError, match="data residency"):
        plan(PlanRequest(**SMALL, workload=replace(DEFAULT_WORKLOAD, data_residency=True), hybrid=True))


def test_a_large_fleet_table_is_thinned_but_keeps_both_ends_and_the_best(small):
    """~50 replicas at 150B tokens/day: the printed split_by_replicas table is thinned to SHOWN_ROWS or so."""
    w = DEFAULT_WORKLOAD.scaled_to(150e9)
    p, _, _ = _plan_and_fleet(workload=w, hybrid=True, api_price_factor=3.0)
    v, n = p.views[0], p.deployment["replicas"]
    shown = v.tables["split_by_replicas"]["replicas"].tolist()
    assert n + 1 > hybrid.SHOWN_ROWS >= len(shown)
    assert shown[0] == 0 and shown[-1] == n and v.record["best_replicas"] in shown
    assert shown == sorted(set(shown))
