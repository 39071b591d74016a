"""The same workload priced on every LLM API.

Equation (per API row; prices in USD per 1M tokens, volumes in tokens/day)::

    daily_cost   = T_in / 1e6 x [(1 - c) x p_in + c x p_cached] + T_out / 1e6 x p_out
    monthly_cost = 30 x daily_cost          (the seed write-up's convention, planner.units.DAYS_PER_MONTH)
    usd_per_mtok_blended = daily_cost / ((T_in + T_out) / 1e6)

with ``c`` the workload's ``cached_input_fraction`` and ``p_cached`` the row's cached-input price (the
input price where the row has none). Reference: shared/reference/seed_cost_model.md §2 (the seed's
printed daily totals are not used: several do not follow from its prices).

:func:`api_costs` returns one row per API, cheapest first:

    provider, model, label ("provider / model"), usd_per_mtok_in, usd_per_mtok_out, usd_per_mtok_cached_in,
    daily_cost [USD/day], monthly_cost [USD/month], usd_per_mtok_blended [USD per 1M tokens, in + out],
    serves, open_weight, tags, as_of, source
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.errors import PlannerError
from planner.prices import has_tag
from planner.units import DAYS_PER_MONTH
from planner.workload import Workload

NOT_A_REFERENCE_TAGS = ("stale", "retired")  # seed quotes superseded by current prices; retired models


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


def monthly_usd_per_token_per_day(workload: Workload, api_prices: pd.DataFrame) -> np.ndarray:
    """Slope of each API's monthly bill in the daily volume (in + out) at the workload's mix.

    Units: USD/month per (token/day).
    """
    _check(api_prices)
    share_in = workload.tokens_in_per_day / workload.tokens_per_day
    daily = api_daily_cost(share_in, 1.0 - share_in, api_prices["usd_per_mtok_in"],
                           api_prices["usd_per_mtok_out"], _cached(api_prices), workload.cached_input_fraction)
    return np.asarray(daily, dtype=float) * DAYS_PER_MONTH


def _cached(api_prices: pd.DataFrame):
    return api_prices["usd_per_mtok_cached_in"] if "usd_per_mtok_cached_in" in api_prices else np.nan


def api_costs(workload: Workload, api_prices: pd.DataFrame) -> pd.DataFrame:
    """Every API's daily and monthly bill for `workload`, cheapest first (module docstring)."""
    _check(api_prices)
    df = api_prices.copy()
    for col, default in (("usd_per_mtok_cached_in", np.nan), ("serves", ""), ("open_weight", False), ("tags", ""),
                         ("as_of", ""), ("source", "")):
        if col not in df:
            df[col] = default
    df["daily_cost"] = api_daily_cost(workload.tokens_in_per_day, workload.tokens_out_per_day, df["usd_per_mtok_in"],
                                      df["usd_per_mtok_out"], df["usd_per_mtok_cached_in"],
                                      workload.cached_input_fraction)
    df["monthly_cost"] = df["daily_cost"] * DAYS_PER_MONTH
    df["usd_per_mtok_blended"] = df["daily_cost"] / (workload.tokens_per_day / 1e6)
    df["label"] = df["provider"] + " / " + df["model"]
    cols = ["provider", "model", "label", "usd_per_mtok_in", "usd_per_mtok_out", "usd_per_mtok_cached_in",
            "daily_cost", "monthly_cost", "usd_per_mtok_blended", "serves", "open_weight", "tags", "as_of", "source"]
    return df[cols].sort_values("monthly_cost", kind="stable").reset_index(drop=True)


def current_rows(api: pd.DataFrame) -> pd.DataFrame:
    """Rows that may stand for "the API price today" (not a superseded seed quote, not retired)."""
    if "tags" not in api:
        return api
    keep = np.ones(len(api), dtype=bool)
    for tag in NOT_A_REFERENCE_TAGS:
        keep &= ~has_tag(api, tag).to_numpy()
    return api[keep]


def reference_row(api: pd.DataFrame, model_name: str) -> pd.Series:
    """The API a self-hosted `model_name` is measured against, from an :func:`api_costs` table.

    1. the cheapest current API serving the same open-weight model (``serves == model_name``);
    2. else the cheapest current hosted open-weight model (``open_weight``);
    3. else the cheapest current API.
    """
    rows = current_rows(api)
    if rows.empty:
        rows = api
    if rows.empty:
        raise PlannerError("no API rows to compare with")
    for mask in (rows.get("serves", pd.Series("", index=rows.index)) == model_name,
                 rows.get("open_weight", pd.Series(False, index=rows.index)).astype(bool)):
        if mask.any():
            return rows[mask].sort_values("monthly_cost", kind="stable").iloc[0]
    return rows.sort_values("monthly_cost", kind="stable").iloc[0]


def reference_api(api: pd.DataFrame, model_name: str) -> str:
    """The reference API's label ``provider / model`` (see :func:`reference_row`)."""
    row = reference_row(api, model_name)
    return f"{row['provider']} / {row['model']}"


__all__ = ["api_daily_cost", "api_costs", "monthly_usd_per_token_per_day", "current_rows", "reference_row",
           "reference_api"]
