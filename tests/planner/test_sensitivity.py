"""planner.sensitivity: the ranking against finite differences planned here, the verdict turns bisection finds, the
peak of an hourly profile, an end that cannot be planned, and unknown input names.

The scenario with turns: phi-3-mini-4k on H100 fp8 at 1B tokens/day (the seed's 5:1 mix) with existing ML
infrastructure. Today the reference API (Azure's Phi-3-mini) costs 0.89x the self-hosted bill, so the verdict is
use-api; with existing infrastructure a ratio of 1 or more (below the 2x margin) makes it hybrid, which a cheaper
GPU-hour or a dearer API reaches inside the ±30% ranges.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from planner.api import PlanRequest, plan
from planner.sensitivity import BISECT_STEPS, NO_PLAN, check_inputs, sensitivity
from planner.workload import DEFAULT_WORKLOAD
from profiler.errors import InvalidValueError

FAST = {"gpus": ("h100-sxm",), "quants": ("fp8",)}
NEAR = PlanRequest(model="phi-3-mini-4k", workload=replace(DEFAULT_WORKLOAD.scaled_to(1e9), existing_infra=True),
                   **FAST)
RANKED = ("gpu-price", "volume", "peak", "utilisation", "output-length", "api-price")


def _ends(req: PlanRequest) -> dict[str, tuple[PlanRequest, PlanRequest]]:
    """Each input's low and high request, written out here from the ranges the brief states (not from the module)."""
    w = req.workload

    def wl(**kw):
        return replace(req, workload=replace(w, **kw))

    return {
        "gpu-price": (replace(req, gpu_price_factor=0.7), replace(req, gpu_price_factor=1.3)),
        "api-price": (replace(req, api_price_factor=0.7), replace(req, api_price_factor=1.3)),
        "volume": (replace(req, workload=w.scaled_to(w.tokens_per_day / 2)),
                   replace(req, workload=w.scaled_to(w.tokens_per_day * 2))),
        "peak": (wl(peak_to_average=1.5), wl(peak_to_average=4.0)),  # the default 2x: x0.75 and x2
        "utilisation": (wl(peak_to_average=2.0 / 0.6), req),  # a 60% cap = sizing for peak / 0.6; 100% = today
        "output-length": (wl(tokens_out_per_day=w.tokens_out_per_day / 2),  # requests/day fixed
                          wl(tokens_out_per_day=w.tokens_out_per_day * 2)),
    }


@pytest.fixture(scope="module")
def near():
    return sensitivity(NEAR, RANKED)


def test_ranking_matches_finite_differences(near):
    """Each end planned independently: the same totals, and the table ranks the inputs by |high - low|."""
    t = near.table.set_index("input")
    swings = {}
    for name, (lo, hi) in _ends(NEAR).items():
        lo_total, hi_total = plan(lo).monthly_total_cost, plan(hi).monthly_total_cost
        assert t.loc[name, "low_monthly_usd"] == pytest.approx(lo_total, rel=1e-9), name
        assert t.loc[name, "high_monthly_usd"] == pytest.approx(hi_total, rel=1e-9), name
        swings[name] = abs(hi_total - lo_total)
    assert list(near.table["swing_usd"]) == pytest.approx(sorted(swings.values(), reverse=True))
    ranked = [swings[n] for n in near.table["input"]]
    assert ranked == sorted(ranked, reverse=True)
    assert near.table["input"].iloc[0] == max(swings, key=swings.get)  # volume: 5.5K to 11.9K a month
    assert near.base_monthly_usd == pytest.approx(plan(NEAR).monthly_total_cost, rel=1e-9)


def test_reference_api_cost_and_ratio(near):
    """The API column is the reference row's monthly cost in the plan at that end; the ratio is API / self-host."""
    r = near.table.set_index("input").loc["api-price"]
    p = plan(replace(NEAR, api_price_factor=1.3))
    ref = p.api.loc[p.api["label"] == p.reference_api, "monthly_cost"].iloc[0]
    assert r["high_api_monthly_usd"] == pytest.approx(ref, rel=1e-9)
    assert r["high_ratio"] == pytest.approx(ref / p.monthly_total_cost, rel=1e-9)
    assert r["high_decision"] == p.verdict.decision


def test_bisected_turns_are_real(near):
    """Plans just either side of each turn give today's verdict and the new one; the bracket is 1/64 of the way."""
    assert {(f.input, f.side) for f in near.flips} == {("gpu-price", "low"), ("api-price", "high")}
    field = {"gpu-price": "gpu_price_factor", "api-price": "api_price_factor"}
    for f in near.flips:
        before, after = f.between
        assert abs(after - before) == pytest.approx(0.3 / 2 ** BISECT_STEPS)
        d_before = plan(replace(NEAR, **{field[f.input]: before})).verdict.decision
        d_after = plan(replace(NEAR, **{field[f.input]: after})).verdict.decision
        assert (d_before, d_after) == (near.base_decision, f.to_decision) == ("use-api", "hybrid")
        assert f.sentence == f"verdict turns to hybrid at {f.label}"
        assert f.sentence in " ".join(near.lines)
    row = near.table.set_index("input").loc["volume"]
    assert row["verdict"] == "stays use-api" and row["low_decision"] == row["high_decision"] == "use-api"


def test_hourly_profile_fixes_the_peak():
    """With an hourly profile the base peak is its max/mean; an end re-plans at the peak asked for, profile dropped."""
    profile = tuple([0.5] * 12 + [1.5] * 12)  # max / mean = 1.5
    req = PlanRequest(model="llama-3.1-8b", workload=replace(DEFAULT_WORKLOAD, hourly_profile=profile,
                                                                   peak_to_average=None), **FAST)
    row = sensitivity(req, ("peak",)).table.iloc[0]
    assert (row["base_value"], row["low_value"], row["high_value"]) == pytest.approx((1.5, 1.125, 3.0))
    high = plan(replace(req, workload=replace(req.workload, hourly_profile=None, peak_to_average=3.0)))
    assert row["high_monthly_usd"] == pytest.approx(high.monthly_total_cost, rel=1e-9)


def test_an_end_that_cannot_be_planned_is_a_note():
    """Peak 80x with a 60% cap is sized as a peak of 133x, above the planner's 100x limit: a note, ranked last."""
    req = PlanRequest(model="llama-3.1-8b", workload=replace(DEFAULT_WORKLOAD, peak_to_average=80.0), **FAST)
    s = sensitivity(req, ("utilisation", "gpu-price"))
    row = s.table.set_index("input").loc["utilisation"]
    assert row["low_decision"] == NO_PLAN and "sizes for a 133x peak" in row["note"]
    assert list(s.table["input"]) == ["gpu-price", "utilisation"]  # a NaN swing goes last


def test_unknown_input_names_the_real_ones():
    with pytest.raises(InvalidValueError, match="unknown input 'gpu-prize'.*gpu-price.*people-cost.*output-length"):
        check_inputs(("volume", "gpu-prize"))
    assert check_inputs(("volume", "volume", "peak")) == ("volume", "peak")
