"""Break-even volume between self-hosting and each API, and the cost-versus-volume curve.

The self-hosting side is a callable the caller supplies (the planner passes full TCO with redundancy at
that volume, keeping the workload's input/output mix and request lengths)::

    cost_fn(tokens_per_day) -> monthly_usd            or   -> (monthly_usd, replicas)

It is a non-decreasing step function of the volume (replicas step up; a few line items grow with
traffic); ``inf`` (or an InfeasibleError) means "cannot serve that volume". The API side is linear:
``A(v) = s x v`` with ``s`` from :func:`planner.api_costs.monthly_usd_per_token_per_day`.

Break-even for one API with margin m (1 = equal cost; the seed framework's "API >= 2x TCO" is m = 2):
the smallest v with ``A(v) >= m x S(v)``. Because S never falls, no volume in ``[v, m x S(v) / s)`` can
meet it (there ``s x v' < m x S(v) <= m x S(v')``), so the search walks up from ``min_tokens_per_day``
jumping each time to ``m x S(v) / s``, or to the last point of a log grid (``points_per_decade`` per
decade) before it, which keeps the jumps on volumes every API shares (memoised) while the API is far below.
It stops at the first v that meets the condition: the exact first crossing of a step-shaped S, windows
that open and close again between grid points included. After ``off_grid_budget`` jumps off the grid (the
API then climbs nearly as fast as S: each evaluation is a re-plan, so this bounds the time) it steps grid
point by grid point and bisects geometrically to ``rel_tol`` between the last two; from there a window
narrower than the grid spacing can be missed. None if it never holds up to ``max_tokens_per_day`` (or
self-hosting becomes infeasible first: S is then infinite above).

Tables:

- :func:`crossover_table`: ``provider, model, slope_usd_per_month_per_tok_day,
  crossover_tokens_per_day, crossover_monthly_usd, crossover_margin_tokens_per_day`` (NaN = never).
- :func:`cost_curve`: wide, ``tokens_per_day, self_host_monthly, self_host_replicas, replica_step`` and
  one column per API label (monthly USD); rows at each located replica step are added (``replica_step``
  True on the first volume with the new count).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from planner import limits
from planner.api_costs import current_rows, monthly_usd_per_token_per_day
from planner.errors import InfeasibleError, PlannerError
from planner.workload import Workload
from profiler import progress

CostFn = Callable[[float], "float | tuple[float, int]"]
MIN_TOKENS_PER_DAY = 1e4
MAX_TOKENS_PER_DAY = limits.MAX_TOKENS_PER_DAY  # the largest volume a plan sizes (planner/limits.py)
POINTS_PER_DECADE = 8
REL_TOL = 1e-3
OFF_GRID_BUDGET = 12  # off-grid volumes one search evaluates before it falls back to the grid (speed; docstring)


class MemoCost:
    """Memoised cost_fn: v -> (monthly_usd, replicas or None). Pass one instance to both
    :func:`crossover_table` and :func:`cost_curve` to share evaluations."""

    def __init__(self, cost_fn: CostFn):
        self.fn, self.cache = cost_fn, {}

    def __call__(self, v: float) -> tuple[float, int | None]:
        if v not in self.cache:
            try:
                out = self.fn(v)
            except InfeasibleError:
                out = (math.inf, None)
            cost, reps = out if isinstance(out, tuple) else (out, None)
            cost = float(cost)
            if math.isnan(cost) or cost < 0:
                raise PlannerError(f"the self-host cost function returned {cost!r} at {v:g} tokens/day; "
                                   "it must return a cost >= 0 (inf when infeasible)")
            self.cache[v] = (cost, None if reps is None else int(reps))
        return self.cache[v]


def log_grid(lo: float, hi: float, points_per_decade: int = POINTS_PER_DECADE) -> np.ndarray:
    """Log-spaced volumes from lo to hi inclusive [tokens/day]."""
    if not (0 < lo < hi) or points_per_decade < 1:
        raise PlannerError(f"need 0 < lo < hi and points_per_decade >= 1, got {lo}, {hi}, {points_per_decade}")
    n = max(2, int(math.ceil(math.log10(hi / lo) * points_per_decade)) + 1)
    return np.geomspace(lo, hi, n)


def breakeven_tokens_per_day(cost: Callable[[float], tuple[float, int | None]], slope: float, *,
                             margin: float = 1.0, min_tokens_per_day: float = MIN_TOKENS_PER_DAY,
                             max_tokens_per_day: float = MAX_TOKENS_PER_DAY,
                             points_per_decade: int = POINTS_PER_DECADE, rel_tol: float = REL_TOL,
                             off_grid_budget: int = OFF_GRID_BUDGET) -> float | None:
    """Smallest daily volume where ``slope x v >= margin x cost(v)[0]`` (module docstring); None if never."""
    if slope <= 0:
        return None

    def ok(v: float) -> bool:
        return slope * v >= margin * cost(v)[0]

    grid = log_grid(min_tokens_per_day, max_tokens_per_day, points_per_decade)
    v, budget = float(grid[0]), off_grid_budget  # invariant: no volume in [grid[0], v) meets the condition
    while v <= max_tokens_per_day:
        if ok(v):
            return v
        c = cost(v)[0]
        if math.isinf(c):
            return None  # infeasible here, hence at every larger volume (the cost never falls)
        clear = margin * c / slope  # nothing in [v, clear) meets the condition (module docstring)
        while slope * clear < margin * c:  # rounding: step to the first float where it is met, if S stays flat
            clear = math.nextafter(clear, math.inf)
        after = grid[grid > v]
        if len(after) and after[0] <= clear:
            v = float(after[after <= clear][-1])  # the last grid volume before `clear`: shared, memoised
        elif budget > 0:
            v, budget = clear, budget - 1  # off the grid: the walk's exact next candidate
        elif len(after):  # budget spent: the next grid volume; a crossing before it is found by bisection
            g = float(after[0])
            if ok(g):
                return bisect_volume(ok, v, g, rel_tol)
            v = g
        else:
            return None
    return None



def bisect_volume(ok: Callable[[float], bool], lo: float, hi: float, rel_tol: float) -> float:
    """Geometric bisection of [lo (fails), hi (meets)] to a relative width of rel_tol; the upper end."""
    while hi / lo > 1 + rel_tol:
        mid = math.sqrt(lo * hi)
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def less_shared(memo: MemoCost, shared: Callable[[float], float] | None, margin: float = 1.0):
    """The self-host cost a break-even at `margin` compares with when both sides pay `shared(v)` (compliance lines
    billed with an API too): ``s v + E >= m S  <=>  s v >= m max(0, S - E / m)`` (s v >= 0, so where E/m exceeds S
    the condition holds either way). E is priced on the planned GPU and offer, S on the cheapest deployment at v, so
    at volumes far from the plan E/m can exceed S (a restricted search at 1T tokens/day): the floor at 0 keeps the
    condition exact there. Where S holds E in full, S - E/m never falls (m >= 1), so the break-even search stays exact.
    `memo` itself when nothing is shared."""
    if shared is None:
        return memo
    return MemoCost(lambda v: (max(0.0, memo(v)[0] - shared(v) / margin), memo(v)[1]))


def crossover_table(cost_fn: CostFn, workload: Workload, api_prices: pd.DataFrame, *, margin: float = 2.0,
                    min_tokens_per_day: float = MIN_TOKENS_PER_DAY, max_tokens_per_day: float = MAX_TOKENS_PER_DAY,
                    points_per_decade: int = POINTS_PER_DECADE,
                    shared: Callable[[float], float] | None = None) -> pd.DataFrame:
    """Per API: break-even volume (API = self-host) and the volume where API >= `margin` x self-host. `shared(v)`:
    monthly costs both sides pay at volume v (:func:`less_shared`)."""
    memo = cost_fn if isinstance(cost_fn, MemoCost) else MemoCost(cost_fn)
    at_1, at_m = less_shared(memo, shared), less_shared(memo, shared, margin)
    slopes = monthly_usd_per_token_per_day(workload, api_prices)
    kw = dict(min_tokens_per_day=min_tokens_per_day, max_tokens_per_day=max_tokens_per_day,
              points_per_decade=points_per_decade)
    rows = []
    for i, ((_, r), s) in enumerate(zip(api_prices.iterrows(), slopes, strict=True)):
        progress.report("break-even volumes", i, len(api_prices))
        v1 = breakeven_tokens_per_day(at_1, s, **kw)
        vm = breakeven_tokens_per_day(at_m, s, margin=margin, **kw)
        rows.append({"provider": r["provider"], "model": r["model"],
                     "slope_usd_per_month_per_tok_day": float(s),
                     "crossover_tokens_per_day": math.nan if v1 is None else v1,
                     "crossover_monthly_usd": math.nan if v1 is None else s * v1,
                     "crossover_margin_tokens_per_day": math.nan if vm is None else vm})
    return pd.DataFrame(rows)


# The API and self-hosting are "at parity" while the API's bill is within +-10% of self-hosting's: a routine price
# change (a provider's cut, a different offer for the same GPU) moves costs by that much (design choice; the
# sensitivity view varies prices +-30%). The band shows how far such a change moves the break-even volume.
PARITY_BAND = 0.10


def parity_band(cost_fn: CostFn, workload: Workload, api_row: pd.DataFrame, band: float = PARITY_BAND,
                shared: Callable[[float], float] | None = None, **kw) -> tuple[float | None, float | None]:
    """(first volume where the API reaches (1 - band) x self-host cost, first where it reaches (1 + band) x);
    None where it never does. `api_row`: a one-row API price table; `shared` as in :func:`crossover_table`."""
    memo = cost_fn if isinstance(cost_fn, MemoCost) else MemoCost(cost_fn)
    slope = float(monthly_usd_per_token_per_day(workload, api_row)[0])
    lo, hi = 1 - band, 1 + band
    # with `shared`, the lower edge compares s v >= 0.9 S - E, whose S - E/0.9 can fall where E grows faster than
    # the rest of S: the search then finds a crossing, not always the first (the band is a sensitivity guide)
    return (breakeven_tokens_per_day(less_shared(memo, shared, lo), slope, margin=lo, **kw),
            breakeven_tokens_per_day(less_shared(memo, shared, hi), slope, margin=hi, **kw))


def _steps(memo: MemoCost, lo: float, hi: float, budget: list[int], rel_tol: float) -> list[float]:
    """First volumes with a new replica count inside (lo, hi], located by bisection, up to budget[0]."""
    out: list[float] = []
    r_lo, r_hi = memo(lo)[1], memo(hi)[1]
    while r_lo is not None and r_hi is not None and r_hi != r_lo and budget[0] > 0:
        a, b = lo, hi
        while b / a > 1 + rel_tol:
            mid = math.sqrt(a * b)
            a, b = (a, mid) if memo(mid)[1] != r_lo else (mid, b)
        out.append(b)
        budget[0] -= 1
        lo, r_lo = b, memo(b)[1]
    return out


def cost_curve(cost_fn: CostFn, workload: Workload, api_prices: pd.DataFrame, *,
               tokens_per_day: Sequence[float] | None = None, min_tokens_per_day: float | None = None,
               max_tokens_per_day: float | None = None, points_per_decade: int = POINTS_PER_DECADE,
               apis: Sequence[str] | None = None, max_steps: int = 24, rel_tol: float = REL_TOL,
               shared: Callable[[float], float] | None = None) -> pd.DataFrame:
    """Self-host and API monthly cost over a volume grid (module docstring).

    Default grid: from min(1M, volume / 10) to max(10B, volume x 100) tokens/day, at most MAX_TOKENS_PER_DAY.
    `apis`: labels ("provider / model") to include; default every current API row. Up to `max_steps` replica steps are
    located exactly (about log2(grid ratio / rel_tol) cost evaluations each).
    """
    memo = cost_fn if isinstance(cost_fn, MemoCost) else MemoCost(cost_fn)
    v0 = workload.tokens_per_day
    grid = (np.asarray(tokens_per_day, dtype=float) if tokens_per_day is not None else
            log_grid(min_tokens_per_day or min(1e6, v0 / 10),
                     max_tokens_per_day or min(MAX_TOKENS_PER_DAY, max(1e10, v0 * 100)), points_per_decade))
    if grid.ndim != 1 or len(grid) == 0 or np.any(grid <= 0):
        raise PlannerError("tokens_per_day must be a non-empty list of volumes > 0")
    grid = np.unique(grid)
    budget = [max_steps]
    steps = [s for lo, hi in zip(grid[:-1], grid[1:], strict=True) for s in _steps(memo, lo, hi, budget, rel_tol)]
    vols = np.unique(np.concatenate([grid, np.asarray(steps, dtype=float)]))
    costs = [memo(v) for v in vols]
    df = pd.DataFrame({"tokens_per_day": vols, "self_host_monthly": [c for c, _ in costs],
                       "self_host_replicas": pd.array([r for _, r in costs], dtype="Int64")})
    df["replica_step"] = np.isin(vols, steps)
    rows = current_rows(api_prices) if apis is None else _select(api_prices, apis)
    slopes = monthly_usd_per_token_per_day(workload, rows)
    extra = np.array([shared(float(v)) for v in vols]) if shared is not None else 0.0  # both sides pay it
    for (_, r), s in zip(rows.iterrows(), slopes, strict=True):
        df[f"{r['provider']} / {r['model']}"] = s * vols + extra
    return df


def _select(api_prices: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    have = api_prices["provider"] + " / " + api_prices["model"]
    missing = [lab for lab in labels if lab not in set(have)]
    if missing:
        raise PlannerError(f"unknown API '{missing[0]}'; use 'provider / model' labels such as {have.iloc[0]!r}")
    return api_prices[have.isin(labels)]


def step_volumes(curve: pd.DataFrame) -> pd.DataFrame:
    """The located replica steps of a :func:`cost_curve`: ``tokens_per_day, replicas_before, replicas_after``."""
    prev = curve["self_host_replicas"].shift(1)
    steps = curve[curve["replica_step"]]
    return pd.DataFrame({"tokens_per_day": steps["tokens_per_day"], "replicas_before": prev[steps.index],
                         "replicas_after": steps["self_host_replicas"]}).reset_index(drop=True)


__all__ = ["CostFn", "MemoCost", "log_grid", "bisect_volume", "breakeven_tokens_per_day", "crossover_table",
           "cost_curve", "parity_band", "PARITY_BAND", "step_volumes"]
