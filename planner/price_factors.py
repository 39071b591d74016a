"""What-if price factors over the catalogues (planner.sensitivity varies them; PlanRequest.*_factor):

- ``gpu``: every GPU-hour price x factor (rented offers, and owned offers' per-GPU-hour cost with every capex and
  running-cost column of the breakdown, so the capex view stays the sum of its parts);
- ``api``: every API token price (input, output, cached input) x factor, and every dedicated offer's hourly price
  (the API side under --residency, planner.dedicated);
- ``people``: the engineer cost x factor (planner.tco.with_engineer_cost: every people line that scales with it).

Factors are checked here: finite and > 0 (0.01 to 100).
"""

from __future__ import annotations

import math
from dataclasses import replace

from planner.buy import CAPEX_COLUMNS
from profiler.errors import InvalidValueError

API_PRICE_FIELDS = ("usd_per_mtok_in", "usd_per_mtok_out", "usd_per_mtok_cached_in")
FACTOR_RANGE = (0.01, 100.0)  # a what-if beyond 100x or below 1% is a typo, not a scenario (design choice)


def check_factor(value: float, name: str) -> float:
    lo, hi = FACTOR_RANGE
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not lo <= value <= hi:
        raise InvalidValueError(f"{name} must be a number from {lo:g} to {hi:g} (a multiplier on today's price), "
                                f"got {value!r}")
    return float(value)


def scaled_catalogues(cat, gpu: float = 1.0, api: float = 1.0, people: float = 1.0):
    """`cat` (planner.plan.Catalogues) with its GPU-hour prices x `gpu`, API token prices x `api` and engineer
    cost x `people`; the tables are copies (the packaged ones are shared and never changed in place)."""
    gpu, api, people = (check_factor(gpu, "gpu_price_factor"), check_factor(api, "api_price_factor"),
                        check_factor(people, "people_cost_factor"))
    if gpu != 1.0:
        prices = cat.gpu_prices.copy()
        for col in ("usd_per_gpu_hour", *CAPEX_COLUMNS):
            if col in prices:
                prices[col] = prices[col] * gpu
        cat = replace(cat, gpu_prices=prices)
    if api != 1.0:
        from planner.dedicated import load_dedicated_offers

        prices = cat.api_prices.copy()
        for col in API_PRICE_FIELDS:
            if col in prices:
                prices[col] = prices[col] * api
        # the dedicated offers (the API side under --residency, planner.dedicated) are API prices too
        dedicated = (load_dedicated_offers() if cat.dedicated_offers is None else cat.dedicated_offers).copy()
        dedicated["usd_per_unit_hour"] = dedicated["usd_per_unit_hour"] * api
        cat = replace(cat, api_prices=prices, dedicated_offers=dedicated)
    if people != 1.0:
        from planner.tco import with_engineer_cost

        usd = float(cat.tco_defaults.globals["engineer_usd_per_year"]) * people
        source = cat.tco_defaults.globals.get("engineer_usd_per_year_source", "")
        cat = replace(cat, tco_defaults=with_engineer_cost(cat.tco_defaults, usd,
                                                           f"{source} x {people:g}".strip(" x") if source else
                                                           f"catalogue x {people:g}"))
    return cat


__all__ = ["scaled_catalogues", "check_factor", "API_PRICE_FIELDS", "FACTOR_RANGE"]
