"""Break-even volumes against step-function self-host costs, and the cost-versus-volume curve."""

import math

import pytest

from planner.crossover import (
    MemoCost,
    breakeven_tokens_per_day,
    cost_curve,
    crossover_table,
    log_grid,
    step_volumes,
)
from planner.errors import InfeasibleError, PlannerError
from planner.prices import load_api_prices
from planner.workload import DEFAULT_WORKLOAD


def flat(cost: float):
    return MemoCost(lambda v: cost)


def stepped(fixed: float, per_replica: float, tokens_per_replica: float):
    """A replica-step cost: fixed + per_replica x ceil(v / tokens_per_replica), with the replica count."""
    def fn(v):
        n = max(1, math.ceil(v / tokens_per_replica))
        return fixed + per_replica * n, n
    return fn


def test_flat_cost_crosses_at_cost_over_slope():
    slope = 1e-4  # USD/month per token/day
    v = breakeven_tokens_per_day(flat(10_000), slope)
    assert v == pytest.approx(1e8, rel=1e-3) and slope * v >= 10_000
    v2 = breakeven_tokens_per_day(flat(10_000), slope, margin=2.0)
    assert v2 == pytest.approx(2e8, rel=1e-3)


def test_smallest_crossing_is_returned_when_steps_reopen_the_gap():
    def cost(v):  # self-host jumps above the API line after the first crossing
        return (10_000.0, 1) if v <= 1e8 else (30_000.0, 3)

    v = breakeven_tokens_per_day(MemoCost(cost), 1.2e-4)
    assert v == pytest.approx(10_000 / 1.2e-4, rel=1e-3)  # 8.33e7, not the later 2.5e8


def test_crossing_inside_a_step():
    # S = 5,000 + 1,000 x ceil(v / 1e7); the API line 2.1e-4 x v first reaches S on the (4e7, 5e7] step,
    # where S = 10,000: at v = 10,000 / 2.1e-4 = 4.76e7
    fn = MemoCost(stepped(5_000, 1_000, 1e7))
    slope = 2.1e-4
    v = breakeven_tokens_per_day(fn, slope)
    expected = next(x for x in (i * 1e4 for i in range(1, 100_000)) if slope * x >= 5_000 + 1_000 * math.ceil(x / 1e7))
    assert expected == pytest.approx(10_000 / slope, rel=1e-3)
    assert v == pytest.approx(expected, rel=2e-3)
    assert slope * v >= fn(v)[0]


def test_a_window_narrower_than_the_grid_is_found():
    # S is 9,600 up to 8.64e7 tokens/day, then 9,900 (a $300 line item steps up). The API at 1.125e-4 reaches
    # 9,600 at 8.5333e7, inside the window (8.5333e7, 8.64e7] that lies between the grid points 7.5e7 and 1e8
    # (8 per decade from 1e4): self-hosting is cheaper there first, so the crossover is 9,600 / 1.125e-4 exactly.
    fn = MemoCost(lambda v: 9_600.0 if v <= 8.64e7 else 9_900.0)
    v = breakeven_tokens_per_day(fn, 1.125e-4)
    assert v == pytest.approx(9_600 / 1.125e-4, rel=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_the_first_crossing_matches_a_brute_force_scan(seed):
    # random non-decreasing step costs: a fine scan (0.01% steps) is the reference for the first crossing
    import numpy as np

    rng = np.random.default_rng(seed)
    edges = np.sort(rng.uniform(4, 10, 12))  # log10 of the volumes where the cost steps up
    levels = np.cumsum(rng.uniform(10, 3_000, 13)) + 1_000

    def cost(v):
        return float(levels[np.searchsorted(edges, math.log10(v))])

    slope = 10 ** rng.uniform(-6, -3)
    scan = np.geomspace(1e4, 1e12, 180_000)
    hits = scan[slope * scan >= np.array([cost(x) for x in scan])]
    v = breakeven_tokens_per_day(MemoCost(cost), slope)
    if len(hits) == 0:
        assert v is None or v > scan[-2]
    else:
        assert v is not None and slope * v >= cost(v)  # it does cross there
        assert v <= hits[0] * (1 + 1e-9)  # and no later than the first scanned crossing
        assert v >= hits[0] / (scan[1] / scan[0]) * (1 - 1e-9)  # nor before the crossing the scan brackets


def test_a_cost_growing_almost_as_fast_as_the_api_is_bisected():
    # S = 1,000 + 0.99 x 1e-4 x v: the fixed-point jumps shrink by 0.99 each time; the crossing is where
    # 1e-4 x v = 1,000 + 0.99e-4 x v, i.e. v = 1,000 / 1e-6 = 1e9
    v = breakeven_tokens_per_day(MemoCost(lambda v: 1_000 + 0.99e-4 * v), 1e-4)
    assert v == pytest.approx(1e9, rel=2e-3)


def test_never_and_immediately():
    assert breakeven_tokens_per_day(flat(1e9), 1e-9, max_tokens_per_day=1e12) is None
    assert breakeven_tokens_per_day(flat(1.0), 1.0) == 1e4  # already at the smallest volume searched
    assert breakeven_tokens_per_day(flat(1.0), 0.0) is None


def test_infeasible_volumes_never_cross():
    def cost(v):
        if v > 1e9:
            raise InfeasibleError("too big")
        return 1e12  # never cheaper within the feasible range
    assert breakeven_tokens_per_day(MemoCost(cost), 1e-4) is None
    assert breakeven_tokens_per_day(MemoCost(lambda v: math.inf), 1.0) is None


def test_bad_cost_function():
    with pytest.raises(PlannerError, match="returned -1"):
        breakeven_tokens_per_day(MemoCost(lambda v: -1.0), 1.0)
    with pytest.raises(PlannerError, match="lo < hi"):
        log_grid(10, 1)


def test_crossover_table_for_the_catalogue():
    calls = []

    def fn(v):
        calls.append(v)
        return stepped(10_000, 3_000, 25e6)(v)

    api = load_api_prices()
    memo = MemoCost(fn)
    table = crossover_table(memo, DEFAULT_WORKLOAD, api)
    assert list(table.columns) == ["provider", "model", "slope_usd_per_month_per_tok_day", "crossover_tokens_per_day",
                                   "crossover_monthly_usd", "crossover_margin_tokens_per_day"]
    assert len(table) == len(api)
    opus = table[table.model == "claude-opus-4-1-20250805"].iloc[0]
    assert opus["slope_usd_per_month_per_tok_day"] == pytest.approx(150 * (730 / 24) / 6e6)  # a 730-hour month
    assert len(set(calls)) == len(calls) < 400  # memoised, shared across APIs
    v = opus["crossover_tokens_per_day"]
    assert opus["crossover_monthly_usd"] >= fn(v)[0] and opus["crossover_margin_tokens_per_day"] > v
    cheap = table[table.model == "gemini-2.5-flash-lite"].iloc[0]
    # $0.15/Mtok x 25M tokens/day x 30.42 = $114.06/month per replica's volume, far below its $3,000: never
    assert math.isnan(cheap["crossover_tokens_per_day"])


def test_cost_curve_locates_replica_steps():
    memo = MemoCost(stepped(10_000, 3_000, 25e6))
    curve = cost_curve(memo, DEFAULT_WORKLOAD, load_api_prices(), apis=["openai / gpt-4o"],
                       min_tokens_per_day=1e6, max_tokens_per_day=1e8)
    assert list(curve.columns) == ["tokens_per_day", "self_host_monthly", "self_host_replicas", "replica_step",
                                   "openai / gpt-4o"]
    assert curve["tokens_per_day"].is_monotonic_increasing
    monthly_at_seed = 22.50 * 730 / 24  # $22.50/day at 6M tokens/day, a 730-hour month: $684.38
    assert curve["openai / gpt-4o"].to_numpy() == pytest.approx(curve["tokens_per_day"].to_numpy() * monthly_at_seed
                                                                / 6e6)
    steps = step_volumes(curve)
    assert list(steps["replicas_after"]) == [2, 3, 4]
    assert list(steps["replicas_before"]) == [1, 2, 3]
    for (_, s), edge in zip(steps.iterrows(), (25e6, 50e6, 75e6), strict=True):
        assert s["tokens_per_day"] == pytest.approx(edge, rel=2e-3) and s["tokens_per_day"] > edge


def test_cost_curve_defaults_and_errors():
    curve = cost_curve(lambda v: 5_000.0, DEFAULT_WORKLOAD, load_api_prices())
    assert curve["tokens_per_day"].iloc[0] == pytest.approx(6e5) and curve["tokens_per_day"].iloc[-1] == 1e10
    assert curve["self_host_replicas"].isna().all() and not curve["replica_step"].any()
    assert "together / Llama-3.3-70B-Instruct-Turbo@seed" not in curve.columns  # stale seed quote left out
    with pytest.raises(PlannerError, match="unknown API 'nobody / nothing'"):
        cost_curve(lambda v: 1.0, DEFAULT_WORKLOAD, load_api_prices(), apis=["nobody / nothing"])
    with pytest.raises(PlannerError, match="volumes > 0"):
        cost_curve(lambda v: 1.0, DEFAULT_WORKLOAD, load_api_prices(), tokens_per_day=[0, 1])


def test_shared_lines_above_the_self_host_cost_floor_at_zero_not_an_error():
    """--compliance-on-api: E(v) is priced on the planned GPU and offer, S(v) on the cheapest deployment at v, so far
    from the plan E/m can exceed S (llama-3.1-8b on H100 at 1T tokens/day once raised 'the self-host cost function
    returned -78076'). s v + E >= m S holds there whatever s v is, and the floor at 0 keeps exactly that."""
    from planner.crossover import MemoCost, breakeven_tokens_per_day, less_shared

    memo = MemoCost(lambda v: (1_000.0 + 1e-6 * v, 1))  # S(v)
    shared = lambda v: 5e-6 * v  # noqa: E731  E(v): outgrows S above 2.5e8 tokens/day at margin 2
    cost = less_shared(memo, shared, margin=2.0)
    assert cost(1e12)[0] == 0.0 and cost(1e6)[0] == pytest.approx(1_000.0 + 1.0 - 2.5)
    slope = 1e-9  # s: tiny, so only the floor makes the condition hold
    v = breakeven_tokens_per_day(cost, slope, margin=2.0)
    assert v is not None and 2.5e8 <= v and slope * v + shared(v) >= 2.0 * memo(v)[0] * (1 - 1e-3)
