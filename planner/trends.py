"""Price trends: where the break-even volume moves as API and GPU-hour prices fall (issue 19 item 4).

Rates live in ``planner/catalogues/price_trends.yaml``, each dated and sourced. PriceTrends DataFrame
(:func:`load_price_trends`), key ``id``:

    id                str
    applies_to        str    api | gpu
    annual_decline    float  fraction of the price lost per year [1/yr]; 0.5 = prices halve each year
    low, high         float  slow and fast ends of the published range [1/yr]; NaN = none published
    as_of, source     str
    basis             str    what exactly was measured
    default           bool   the rate a plan uses for its side (one per applies_to)

Price factor after t months (a constant annual rate, compounded)::

    decline_factor(d, t) = (1 - d) ^ (t / 12)                       [dimensionless], d < 1

Projection (:func:`project_crossovers`), per horizon t [months]; A = API, S = self-hosting::

    a(t)   = decline_factor(api_decline, t)          API price factor
    g(t)   = decline_factor(gpu_decline, t)          GPU-hour price factor (non-GPU lines unchanged)
    A_t(v) = api_slope x a(t) x v                    [USD/month]; api_slope in USD/month per (token/day)
    S_t(v) = cost_at(v, g(t))                        [USD/month], the caller's full self-hosted cost
    crossover_tokens_per_day(t)        = min v in [lo, hi] with A_t(v) >= S_t(v)            [tokens/day]
    crossover_margin_tokens_per_day(t) = min v in [lo, hi] with A_t(v) >= margin x S_t(v)   [tokens/day]

found by :func:`planner.crossover.breakeven_tokens_per_day`, exact for a step-shaped S that never falls in v
(NaN = never within lo..hi; a value equal to lo means "at or below lo"). A break-even volume that rises over
the horizons means the gap widens in the API's favour (it takes more traffic to pay for a deployment); one
that falls means it closes. :func:`project_cost_ratio` gives A_t(V) / S_t(V) at the plan's own volume V, so a
reader sees whether the verdict could flip within 36 months; :func:`price_trend_view` runs both on a Plan
(``plan.at_gpu_price``, its reference API, ``plan.shared``). People lines are held flat in today's dollars.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from planner.crossover import MAX_TOKENS_PER_DAY, MIN_TOKENS_PER_DAY, MemoCost, breakeven_tokens_per_day, less_shared
from planner.errors import PlannerError
from planner.price_rows import as_of, flag, read_rows, text
from planner.prices import CATALOGUE_DIR
from planner.units import fmt_tokens, read_yaml

TRENDS_FILE: Path = CATALOGUE_DIR / "price_trends.yaml"
SIDES = ("api", "gpu")
HORIZONS_MONTHS = (0, 12, 24, 36)
TREND_COLUMNS = ("id", "applies_to", "annual_decline", "low", "high", "as_of", "source", "basis", "default")
PROJECTION_COLUMNS = ("months", "api_price_factor", "gpu_price_factor", "crossover_tokens_per_day",
                      "crossover_margin_tokens_per_day")
RATIO_COLUMNS = ("months", "api_price_factor", "gpu_price_factor", "api_monthly_usd", "self_host_monthly_usd",
                 "api_over_self_host")
# A break-even volume within 1% of today's counts as unchanged: well above the search's 0.1% tolerance
# (planner.crossover.REL_TOL) and far below what a year of the sourced rates moves it (design choice).
UNCHANGED_REL = 0.01
CostAt = Callable[[float, float], "float | tuple[float, int]"]


def _rate(v: Any, f: str) -> float:
    if f != "annual_decline" and v is None:
        return math.nan  # low / high: no published range
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not -1 < v < 1:
        raise ValueError(f"expected a fraction per year between -1 and 1 (0.5 = prices halve each year), got {v!r}")
    return float(v)


def _side(v: Any, f: str) -> str:
    if v not in SIDES:
        raise ValueError(f"expected one of {', '.join(SIDES)}, got {v!r}")
    return v


_FIELDS = {"id": (text, True), "applies_to": (_side, True), "annual_decline": (_rate, True),
           "low": (_rate, False), "high": (_rate, False), "as_of": (as_of, True), "source": (text, True),
           "basis": (text, True), "default": (flag, False)}


def _check(doc, rows: list[dict]) -> None:
    """Cross-field rules, each error naming file:line of the offending entry."""
    seen: dict[str, int] = {}
    for i, r in enumerate(rows):
        if r["id"] in seen:
            raise doc.error(f"duplicate id (first at entry {seen[r['id']] + 1})", "rates", i, "id",
                            entry=r["id"], field="id")
        seen[r["id"]] = i
        lo = r["annual_decline"] if math.isnan(r["low"]) else r["low"]
        hi = r["annual_decline"] if math.isnan(r["high"]) else r["high"]
        if not lo <= r["annual_decline"] <= hi:
            raise doc.error(f"need low <= annual_decline <= high, got {r['low']}, {r['annual_decline']}, "
                            f"{r['high']}", "rates", i, "annual_decline", entry=r["id"], field="annual_decline")
    for side in SIDES:
        extra = [i for i, r in enumerate(rows) if r["applies_to"] == side and r["default"]][1:]
        if extra:
            raise doc.error(f"more than one default rate for '{side}'", "rates", extra[0], "default",
                            entry=rows[extra[0]]["id"], field="default")


@lru_cache(maxsize=8)
def _load(path: str) -> pd.DataFrame:
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise doc.error("a price-trend file is a mapping with a 'rates:' list")
    rows = read_rows(doc, "rates", _FIELDS, ("id",))
    _check(doc, rows)
    return pd.DataFrame([{k: r[k] for k in TREND_COLUMNS} for r in rows], columns=list(TREND_COLUMNS))


def load_price_trends(path: str | Path | None = None) -> pd.DataFrame:
    """The PriceTrends table (module docstring) from `path`, default the packaged catalogue (a fresh copy)."""
    return _load(str(TRENDS_FILE if path is None else Path(path))).copy()


def default_rate(trends: pd.DataFrame, applies_to: str) -> pd.Series:
    """The row marked default for `applies_to` ('api' or 'gpu')."""
    rows = trends[(trends["applies_to"] == applies_to) & trends["default"]]
    if rows.empty:
        raise PlannerError(f"no default price trend for '{applies_to}'; rates: {', '.join(trends['id'])}")
    return rows.iloc[0]


def trend_rate(trends: pd.DataFrame, rate_id: str) -> pd.Series:
    """One rate by id; a PlannerError listing the ids when it is unknown."""
    rows = trends[trends["id"] == rate_id]
    if rows.empty:
        raise PlannerError(f"unknown price trend '{rate_id}'; known: {', '.join(trends['id'])}")
    return rows.iloc[0]


def decline_factor(annual_decline: float, months: float) -> float:
    """Price multiplier after `months` at `annual_decline` per year: ``(1 - d) ^ (months / 12)``."""
    if not annual_decline < 1:
        raise PlannerError(f"annual_decline must be below 1 (1 = free within a year), got {annual_decline!r}")
    return (1.0 - annual_decline) ** (months / 12.0)


def project_crossovers(cost_at: CostAt, api_slope: float, *, margin: float, api_decline: float,
                       gpu_decline: float, horizons_months: Sequence[float] = HORIZONS_MONTHS,
                       lo: float = MIN_TOKENS_PER_DAY, hi: float = MAX_TOKENS_PER_DAY,
                       shared: Callable[[float], float] | None = None) -> pd.DataFrame:
    """Break-even and margin volumes at each horizon (module docstring); columns PROJECTION_COLUMNS.

    `cost_at(tokens_per_day, gpu_price_factor)` -> monthly USD (or (USD, replicas)), non-decreasing in the volume,
    inf when infeasible; `api_slope` [USD/month per token/day] is today's, from
    :func:`planner.api_costs.monthly_usd_per_token_per_day`; `shared(v)`: monthly lines both sides pay
    (:func:`planner.crossover.less_shared`), held flat.
    """
    if margin < 1:
        raise PlannerError(f"margin must be >= 1 (1 = equal cost), got {margin!r}")
    rows, kw = [], dict(min_tokens_per_day=lo, max_tokens_per_day=hi)
    for t in horizons_months:
        a, g = decline_factor(api_decline, t), decline_factor(gpu_decline, t)
        memo = MemoCost(lambda v, g=g: cost_at(v, g))  # one cache per horizon, shared by both searches
        v1 = breakeven_tokens_per_day(less_shared(memo, shared), api_slope * a, **kw)
        vm = breakeven_tokens_per_day(less_shared(memo, shared, margin), api_slope * a, margin=margin, **kw)
        rows.append({"months": t, "api_price_factor": a, "gpu_price_factor": g,
                     "crossover_tokens_per_day": math.nan if v1 is None else v1,
                     "crossover_margin_tokens_per_day": math.nan if vm is None else vm})
    return pd.DataFrame(rows, columns=list(PROJECTION_COLUMNS))


def project_cost_ratio(cost_at: CostAt, api_slope: float, volume_tokens_per_day: float, *, api_decline: float,
                       gpu_decline: float, horizons_months: Sequence[float] = HORIZONS_MONTHS,
                       shared: Callable[[float], float] | None = None) -> pd.DataFrame:
    """API and self-host monthly cost at the plan's volume per horizon, and their ratio (columns RATIO_COLUMNS;
    the API side includes `shared`). A ratio >= the plan's margin means self-hosting wins; below 1, the API."""
    rows = []
    for t in horizons_months:
        a, g = decline_factor(api_decline, t), decline_factor(gpu_decline, t)
        api = api_slope * a * volume_tokens_per_day + (shared(volume_tokens_per_day) if shared else 0.0)
        own = MemoCost(lambda v, g=g: cost_at(v, g))(volume_tokens_per_day)[0]  # inf when infeasible
        rows.append({"months": t, "api_price_factor": a, "gpu_price_factor": g, "api_monthly_usd": api,
                     "self_host_monthly_usd": own, "api_over_self_host": api / own if own > 0 else math.inf})
    return pd.DataFrame(rows, columns=list(RATIO_COLUMNS))


def _at(v: float) -> str:
    return f"{fmt_tokens(v, 2)} tokens/day" if math.isfinite(v) else "beyond the volumes searched"


def _past(v: float, volume: float) -> bool:
    return math.isfinite(v) and v <= volume


def trend_sentence(df: pd.DataFrame, volume_tokens_per_day: float) -> str:
    """One or two sentences on a :func:`project_crossovers` table: does break-even rise (the gap widens in the
    API's favour) or fall (it closes), and where does the plan's own volume sit today and at the last horizon."""
    if df.empty:
        raise PlannerError("no horizons to describe")
    first, last = df.iloc[0], df.iloc[-1]
    v0, v1, t1 = float(first["crossover_tokens_per_day"]), float(last["crossover_tokens_per_day"]), last["months"]
    prices = (f"API prices at {last['api_price_factor'] * 100:.2g}% of today's and GPU-hours at "
              f"{last['gpu_price_factor'] * 100:.2g}% after {t1:g} months")
    rises = math.isnan(v1) or (not math.isnan(v0) and v1 > v0 * (1 + UNCHANGED_REL))
    falls = math.isnan(v0) or v1 < v0 / (1 + UNCHANGED_REL)
    if math.isnan(v0) and math.isnan(v1):
        head = f"Self-hosting does not break even at any volume searched, today or with {prices}."
    elif rises or falls:
        gap = "the gap widens in the API's favour" if rises else "the gap closes"
        head = f"Break-even {'rises' if rises else 'falls'} from {_at(v0)} today to {_at(v1)} by month {t1:g} " \
               f"({prices}): {gap}."
    else:
        head = f"Break-even stays near {_at(v0)} through month {t1:g} ({prices})."
    now, later = _past(v0, volume_tokens_per_day), _past(v1, volume_tokens_per_day)
    where = f"At your {_at(volume_tokens_per_day)}"
    if now == later:
        tail = f"{where} self-hosting is {'past' if now else 'short of'} break-even at both ends."
    else:
        flip = next(r["months"] for _, r in df.iterrows()
                    if _past(float(r["crossover_tokens_per_day"]), volume_tokens_per_day) != now)
        tail = (f"{where} self-hosting is {'past' if now else 'short of'} break-even today and "
                f"{'falls short of' if now else 'passes'} it by month {flip:g}: the verdict could flip.")
    return f"{head} {tail}"


def price_trend_view(plan, trends: pd.DataFrame | None = None, api_rate: str | None = None,
                     gpu_rate: str | None = None) -> tuple[pd.DataFrame | None, str]:
    """A :class:`planner.plan.Plan`'s break-even with its reference API at each horizon, joined with the cost
    ratio at the plan's volume, and :func:`trend_sentence` naming the rates used; (None, "") when the plan has
    no cost function by GPU price or its reference is not a per-token API. Default rates: the catalogue's."""
    api = plan.api[plan.api["label"] == plan.reference_api] if "label" in plan.api else plan.api.iloc[:0]
    if plan.at_gpu_price is None or api.empty:
        return None, ""
    trends = load_price_trends() if trends is None else trends
    ra = default_rate(trends, "api") if api_rate is None else trend_rate(trends, api_rate)
    rg = default_rate(trends, "gpu") if gpu_rate is None else trend_rate(trends, gpu_rate)
    w, row = plan.workload, api.iloc[0]
    slope = (row["monthly_cost"] - row.get("compliance_monthly", 0.0)) / w.tokens_per_day  # A(v) = slope x v
    fns: dict = {}

    def cost_at(v: float, f: float):
        return (fns[f] if f in fns else fns.setdefault(f, plan.at_gpu_price(f)))(v)

    kw = dict(api_decline=ra["annual_decline"], gpu_decline=rg["annual_decline"], shared=plan.shared)
    df = project_crossovers(cost_at, slope, margin=plan.margin, **kw).merge(
        project_cost_ratio(cost_at, slope, w.tokens_per_day, **kw)[["months", *RATIO_COLUMNS[3:]]], on="months")
    rates = (f"Rates: API tokens -{ra['annual_decline']:.0%}/yr ({ra['id']}, {ra['as_of']}), GPU-hours "
             f"-{rg['annual_decline']:.0%}/yr ({rg['id']}, {rg['as_of']}); people lines held flat.")
    return df, f"{trend_sentence(df, w.tokens_per_day)} {rates}"


__all__ = ["TRENDS_FILE", "SIDES", "HORIZONS_MONTHS", "TREND_COLUMNS", "PROJECTION_COLUMNS", "RATIO_COLUMNS",
           "UNCHANGED_REL", "load_price_trends", "default_rate", "trend_rate", "decline_factor",
           "project_crossovers", "project_cost_ratio", "trend_sentence", "price_trend_view"]
