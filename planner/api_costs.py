"""The same workload priced on every LLM API.

Equation (per API row; prices in USD per 1M tokens, volumes in tokens/day)::

    daily_cost   = T_in / 1e6 x [(1 - c) x p_in + c x p_cached] + T_out / 1e6 x p_out
    monthly_cost = 30.42 x daily_cost       (730 h / 24: the GPU bill's month, planner.units.DAYS_PER_MONTH)
    usd_per_mtok_blended = daily_cost / ((T_in + T_out) / 1e6)

with ``c`` the workload's ``cached_input_fraction`` and ``p_cached`` the row's cached-input price (the
input price where the row has none). Reference: shared/reference/seed_cost_model.md §2 (the seed's
printed daily totals are not used: several do not follow from its prices).

:func:`api_costs` returns one row per API, cheapest first:

    provider, model, label ("provider / model"), usd_per_mtok_in, usd_per_mtok_out, usd_per_mtok_cached_in,
    daily_cost [USD/day], monthly_cost [USD/month], usd_per_mtok_blended [USD per 1M tokens, in + out],
    serves, open_weight, tags, tier, superseded_by, as_of, source

Which API a self-hosted model is measured against (:func:`reference_row`): the same weights hosted first,
else the cheapest API in the model's quality tier (api_prices.yaml header: the tier rule), never a superseded,
stale or retired row.
"""

from __future__ import annotations

import datetime as dt
import functools
import math

import numpy as np
import pandas as pd

from planner.errors import PlannerError
from planner.prices import TIERS, has_tag, load_model_tiers
from planner.units import DAYS_PER_MONTH
from planner.workload import Workload

NOT_A_REFERENCE_TAGS = ("stale", "retired")  # seed quotes superseded by current prices; retired models
STALE_AFTER_DAYS = 90  # issue 11 item 6: warn when an API price is more than 90 days old
# Tier of a model outside the catalogue (a --config fine-tune) from its total parameters: the api_prices.yaml
# rule, tiny < 4B <= small < 15B <= medium < 50B <= large < 200B <= frontier.
TIER_PARAM_BOUNDS = ((4e9, "tiny"), (15e9, "small"), (50e9, "medium"), (200e9, "large"))
SAME_WEIGHTS = "same weights, hosted"


def api_daily_cost(tokens_in_per_day, tokens_out_per_day, usd_per_mtok_in, usd_per_mtok_out,
                   usd_per_mtok_cached_in=np.nan, cached_input_fraction=0.0):
    """Daily API bill [USD/day] (module docstring). Scalars or NumPy arrays / Series, broadcast."""
    p_in = np.asarray(usd_per_mtok_in, dtype=float)
    cached = np.asarray(usd_per_mtok_cached_in, dtype=float)
    p_cached = np.where(np.isnan(cached), p_in, cached)
    c = np.asarray(cached_input_fraction, dtype=float)
    per_in = (1.0 - c) * p_in + c * p_cached
    out = (np.asarray(tokens_in_per_day, dtype=float) / 1e6 * per_in
           + np.asarray(tokens_out_per_day, dtype=float) / 1e6 * np.asarray(usd_per_mtok_out, dtype=float))
    return out if out.ndim else float(out)


def _check(api_prices: pd.DataFrame) -> None:
    need = {"provider", "model", "usd_per_mtok_in", "usd_per_mtok_out"}
    missing = need - set(api_prices.columns)
    if missing:
        raise PlannerError(f"API price table lacks columns {', '.join(sorted(missing))}; load it with "
                           "planner.prices.load_api_prices")
    if api_prices.empty:
        raise PlannerError("the API price table is empty; nothing to compare self-hosting with")


def tiered(api_prices: pd.DataFrame, tier: str) -> pd.DataFrame:
    """The rows' prices in the workload's API service tier (Workload.api_tier): standard as listed; batch and
    priority scale the input, cached-input and output prices by the row's ``batch_multiplier`` /
    ``priority_multiplier`` (api_prices.yaml ``service_tiers``). A row without one keeps its standard price, and
    its ``service_tier`` column says so."""
    df = api_prices.copy()
    if tier == "standard":
        df["service_tier"] = "standard"
        return df
    col = f"{tier}_multiplier"
    m = pd.to_numeric(df[col], errors="coerce") if col in df else pd.Series(np.nan, index=df.index)
    has = m.notna()
    for price in ("usd_per_mtok_in", "usd_per_mtok_out", "usd_per_mtok_cached_in"):
        if price in df:
            df[price] = np.where(has, df[price] * m.fillna(1.0), df[price])
    df["service_tier"] = np.where(has, tier + " x" + m.round(3).astype(str), f"standard (no {tier} price published)")
    return df


def monthly_usd_per_token_per_day(workload: Workload, api_prices: pd.DataFrame) -> np.ndarray:
    """Slope of each API's monthly bill in the daily volume (in + out) at the workload's mix.

    Units: USD/month per (token/day).
    """
    _check(api_prices)
    api_prices = tiered(api_prices, workload.api_tier)
    share_in = workload.tokens_in_per_day / workload.tokens_per_day
    daily = api_daily_cost(share_in, 1.0 - share_in, api_prices["usd_per_mtok_in"],
                           api_prices["usd_per_mtok_out"], _cached(api_prices), workload.cached_input_fraction)
    return np.asarray(daily, dtype=float) * DAYS_PER_MONTH


def _cached(api_prices: pd.DataFrame):
    return api_prices["usd_per_mtok_cached_in"] if "usd_per_mtok_cached_in" in api_prices else np.nan


def api_costs(workload: Workload, api_prices: pd.DataFrame) -> pd.DataFrame:
    """Every API's daily and monthly bill for `workload`, cheapest first (module docstring)."""
    _check(api_prices)
    df = tiered(api_prices, workload.api_tier)
    for col, default in (("usd_per_mtok_cached_in", np.nan), ("serves", ""), ("open_weight", False), ("tags", ""),
                         ("tier", ""), ("superseded_by", ""), ("quant", ""), ("as_of", ""), ("source", "")):
        if col not in df:
            df[col] = default
    df["daily_cost"] = api_daily_cost(workload.tokens_in_per_day, workload.tokens_out_per_day, df["usd_per_mtok_in"],
                                      df["usd_per_mtok_out"], df["usd_per_mtok_cached_in"],
                                      workload.cached_input_fraction)
    df["monthly_cost"] = df["daily_cost"] * DAYS_PER_MONTH
    df["usd_per_mtok_blended"] = df["daily_cost"] / (workload.tokens_per_day / 1e6)
    df["label"] = df["provider"] + " / " + df["model"]
    cols = ["provider", "model", "label", "usd_per_mtok_in", "usd_per_mtok_out", "usd_per_mtok_cached_in",
            "daily_cost", "monthly_cost", "usd_per_mtok_blended", "serves", "open_weight", "tags", "tier",
            "superseded_by", "quant", "service_tier", "as_of", "source"]
    return df[cols].sort_values("monthly_cost", kind="stable").reset_index(drop=True)


def current_rows(api: pd.DataFrame) -> pd.DataFrame:
    """Rows that may stand for "the API price today": not a superseded seed quote (tag stale), not retired, and
    not replaced by the vendor's newer model (``superseded_by``)."""
    keep = np.ones(len(api), dtype=bool)
    if "tags" in api:
        for tag in NOT_A_REFERENCE_TAGS:
            keep &= ~has_tag(api, tag).to_numpy()
    if "superseded_by" in api:
        keep &= (api["superseded_by"].fillna("") == "").to_numpy()
    return api[keep]


@functools.cache
def _catalogue_tiers() -> dict[str, str]:
    """The packaged catalogue's model tiers, read once (callers do not mutate the mapping)."""
    return load_model_tiers()


def tier_for_params(params_total: float) -> str:
    """The quality tier of a model from its total parameter count (TIER_PARAM_BOUNDS; MoE counted in full)."""
    if not math.isfinite(params_total) or params_total <= 0:
        raise PlannerError(f"a model's parameter count must be a number > 0, got {params_total!r}")
    return next((tier for bound, tier in TIER_PARAM_BOUNDS if params_total < bound), TIERS[-1])


def model_tier(model_name: str, params_total: float | None = None, tiers: dict[str, str] | None = None) -> str:
    """`model_name`'s tier: the catalogue's ``model_tiers`` entry, else the parameter rule, else "" (unknown)."""
    tiers = _catalogue_tiers() if tiers is None else tiers
    if model_name in tiers:
        return tiers[model_name]
    return tier_for_params(params_total) if params_total is not None else ""


def _col(rows: pd.DataFrame, name: str, default) -> pd.Series:
    return rows[name] if name in rows else pd.Series(default, index=rows.index)


def reference_row(api: pd.DataFrame, model_name: str, tier: str | None = None) -> pd.Series:
    """The API a self-hosted `model_name` is measured against, from an :func:`api_costs` table.

    1. the cheapest current API serving the same weights (``serves == model_name``): "same weights, hosted";
    2. else the cheapest current API in the model's quality tier (`tier`, default :func:`model_tier`):
       "same quality tier (<tier>), different model";
    3. else (no tier known, or none priced in it) the cheapest current hosted open-weight model;
    4. else the cheapest current API (all rows when none is current).

    The returned row carries ``comparison``: the words for which of these it is.
    """
    rows = current_rows(api)
    if rows.empty:
        rows = api
    if rows.empty:
        raise PlannerError("no API rows to compare with")
    tier = model_tier(model_name) if tier is None else tier
    other = f"no API priced in its tier ({tier})" if tier else "its quality tier unknown"
    choices = ((_col(rows, "serves", "") == model_name, SAME_WEIGHTS),
               ((_col(rows, "tier", "") == tier) & (tier != ""), f"same quality tier ({tier}), different model"),
               (_col(rows, "open_weight", False).astype(bool), f"the cheapest hosted open-weight model; {other}"),
               (pd.Series(True, index=rows.index), f"the cheapest API; {other}"))
    for mask, words in choices:
        if mask.any():
            row = rows[mask].sort_values("monthly_cost", kind="stable").iloc[0].copy()
            row["comparison"] = words
            return row
    raise AssertionError("unreachable: the last choice takes every row")


def comparable_rows(api: pd.DataFrame, model_name: str, tier: str | None = None) -> pd.DataFrame:
    """Current rows a like-for-like comparison may use: the same weights hosted and the model's tier,
    cheapest first (empty when neither is priced)."""
    rows = current_rows(api)
    tier = model_tier(model_name) if tier is None else tier
    mask = (_col(rows, "serves", "") == model_name) | ((_col(rows, "tier", "") == tier) & (tier != ""))
    return rows[mask].sort_values("monthly_cost", kind="stable")


def _as_of_date(s: str) -> dt.date | None:
    """The first day an ``as_of`` (YYYY, YYYY-MM or YYYY-MM-DD) can mean; None for 'undated'."""
    parts = str(s).split("-")
    try:
        return dt.date(int(parts[0]), int(parts[1]) if len(parts) > 1 else 1, int(parts[2]) if len(parts) > 2 else 1)
    except (ValueError, IndexError):
        return None


def stale_api_rows(api: pd.DataFrame, today: dt.date, max_age_days: int = STALE_AFTER_DAYS) -> pd.DataFrame:
    """Current rows whose price is older than `max_age_days` on `today` (undated rows count as stale), with
    ``age_days`` (NaN when undated), oldest first. A partial date (YYYY, YYYY-MM) counts from its first day."""
    rows = current_rows(api).copy()
    dates = rows["as_of"].map(_as_of_date) if len(rows) else pd.Series(dtype=object)
    rows["age_days"] = [float((today - d).days) if d else math.nan for d in dates]
    stale = rows[rows["age_days"].isna() | (rows["age_days"] > max_age_days)]
    return stale.sort_values("age_days", ascending=False, na_position="first", kind="stable")


def staleness_warning(api: pd.DataFrame, today: dt.date, max_age_days: int = STALE_AFTER_DAYS) -> str | None:
    """One line for the CLI when current API prices are older than `max_age_days`; None when all are fresh."""
    stale = stale_api_rows(api, today, max_age_days)
    if stale.empty:
        return None
    n, total = len(stale), len(current_rows(api))
    dated = stale["as_of"][stale["age_days"].notna()]
    oldest = f"; oldest {dated.iloc[0]} ({stale['age_days'].dropna().iloc[0]:.0f} days)" if len(dated) else ""
    return (f"{n} of {total} current API prices are more than {max_age_days} days old on {today.isoformat()}"
            f"{oldest}: check the providers' pages or pass fresher rows with --api-prices.")


def reference_api(api: pd.DataFrame, model_name: str) -> str:
    """The reference API's label ``provider / model`` (see :func:`reference_row`)."""
    row = reference_row(api, model_name)
    return f"{row['provider']} / {row['model']}"


__all__ = ["api_daily_cost", "api_costs", "monthly_usd_per_token_per_day", "current_rows", "reference_row",
           "reference_api", "comparable_rows", "model_tier", "tier_for_params", "stale_api_rows", "staleness_warning",
           "STALE_AFTER_DAYS", "SAME_WEIGHTS"]
