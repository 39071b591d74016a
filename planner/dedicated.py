"""Dedicated and provisioned inference offers, and a workload priced on each.

Under data residency a shared per-token API is out: the alternative to self-hosting is capacity reserved for
one customer (a dedicated endpoint, an on-demand deployment, provisioned throughput), billed per unit-hour
whether used or not (issue 11 item 4; seed_cost_model.md §4 step 5). The offers live in
``planner/catalogues/dedicated.yaml``, each dated and sourced.

DedicatedOffers DataFrame (:func:`load_dedicated_offers`), key ``(provider, offer, gpu, model)``:

    provider, offer                 str
    unit                            str    gpu-hour | model-unit-hour | ptu-hour
    gpu                             str    profiler GPU id (gpu-hour offers), else ""
    model                           str    catalogue model id a model-unit offer serves ("" = any)
    usd_per_unit_hour               float  [USD per unit-hour]
    min_units                       float  smallest deployment sold [units]
    tokens_per_s_per_unit           float  input + output tokens/s one unit carries [tokens/s]; NaN = not published
    region                          str    "" = not stated on the price page
    as_of, source                   str
    derived                         bool   computed from a published figure (formula in source)

Pricing (:func:`dedicated_costs`), per offer::

    units        = max(min_units, ceil(peak_tokens_per_s / tokens_per_s_per_unit))   where throughput is published
                 = max(min_units, GPUs the self-hosted plan uses on that GPU)          gpu-hour offers, when given
                 = min_units                                                          otherwise: a floor, said so
    monthly_cost = units x usd_per_unit_hour x HOURS_PER_MONTH                        [USD/month], 730 h (seed §1)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from planner.errors import PlannerError
from planner.price_rows import (
    PathArg,
    as_of,
    flag,
    gpu_id,
    merge_rows,
    opt_text,
    price,
    read_docs,
    read_rows,
    serves,
    text,
)
from planner.prices import CATALOGUE_DIR
from planner.units import HOURS_PER_MONTH
from planner.workload import Workload

DEDICATED_FILE: Path = CATALOGUE_DIR / "dedicated.yaml"
UNITS = ("gpu-hour", "model-unit-hour", "ptu-hour")
OFFER_COLUMNS = ("provider", "offer", "unit", "gpu", "model", "usd_per_unit_hour", "min_units",
                 "tokens_per_s_per_unit", "region", "as_of", "source", "derived")
COST_COLUMNS = ("provider", "offer", "label", "unit", "gpu", "model", "units", "units_basis", "floor",
                "usd_per_unit_hour", "monthly_cost", "region", "as_of", "source", "derived")


def _unit(v: Any, f: str) -> str:
    if v not in UNITS:
        raise ValueError(f"expected one of {', '.join(UNITS)}, got {v!r}")
    return v


def _opt_gpu(v: Any, f: str) -> str:
    return "" if v is None else gpu_id(v, f)


def _min_units(v: Any, f: str) -> float:
    if v is None:
        return 1.0
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"expected an integer >= 1, got {v!r}")
    return float(v)


def _opt_rate(v: Any, f: str) -> float:
    if v is None:
        return math.nan
    if price(v, f) <= 0:
        raise ValueError(f"expected tokens/s > 0, got {v!r}")
    return float(v)


_FIELDS = {"provider": (text, True), "offer": (text, True), "unit": (_unit, True), "gpu": (_opt_gpu, False),
           "model": (serves, False), "usd_per_unit_hour": (price, True), "min_units": (_min_units, False),
           "tokens_per_s_per_unit": (_opt_rate, False), "region": (opt_text, False), "as_of": (as_of, True),
           "source": (text, True), "derived": (flag, False)}


def load_dedicated_offers(extra: PathArg = None) -> pd.DataFrame:
    """The DedicatedOffers table (module docstring), catalogue first, then each `extra` YAML over it."""
    docs = read_docs(DEDICATED_FILE, extra)
    key = ("provider", "offer", "gpu", "model")
    rows = merge_rows([r for d in docs for r in read_rows(d, "offers", _FIELDS, key)], key)
    for r in rows:
        if r["unit"] == "gpu-hour" and not r["gpu"]:
            raise PlannerError(f"dedicated offer {r['provider']} / {r['offer']}: a gpu-hour offer needs its gpu")
    return pd.DataFrame(rows, columns=list(OFFER_COLUMNS))


def _units(offer: pd.Series, workload: Workload, gpus_needed: Mapping[str, int]) -> tuple[int, str, bool]:
    """(units, how they were chosen, True when only the minimum commitment: a floor)."""
    least = int(offer["min_units"])
    rate = float(offer["tokens_per_s_per_unit"])
    if math.isfinite(rate):
        need = math.ceil(workload.tokens_per_s_peak / rate)
        return (max(least, need), f"peak {workload.tokens_per_s_peak:,.0f} tokens/s / {rate:,.0f} per unit "
                f"(published), minimum {least}", False)
    if offer["unit"] == "gpu-hour" and offer["gpu"] in gpus_needed:
        n = int(gpus_needed[offer["gpu"]])
        return max(least, n), f"the {n} {offer['gpu']} GPUs the self-hosted plan uses", False
    return (least, f"minimum commitment ({least} {offer['unit'].removesuffix('-hour')}); throughput per unit not "
            "published for this model, so this is a floor", True)


def dedicated_costs(offers: pd.DataFrame, workload: Workload, model_name: str = "",
                    gpus_needed: Mapping[str, int] | None = None) -> pd.DataFrame:
    """Each dedicated offer's monthly cost for `workload` (module docstring), sized rows before floors,
    cheapest first. `gpus_needed` maps a GPU id to the GPUs the self-hosted plan runs on it; model-unit offers
    for another model than `model_name` are left out."""
    gpus_needed = gpus_needed or {}
    rows = offers[(offers["model"] == "") | (offers["model"] == model_name)] if len(offers) else offers
    out = []
    for _, o in rows.iterrows():
        units, basis, floor = _units(o, workload, gpus_needed)
        label = f"{o['provider']} / {o['offer']}" + (f" {o['gpu']}" if o["gpu"] else "") + (
            f" {o['model']}" if o["model"] else "")
        out.append({**o.to_dict(), "label": label, "units": units, "units_basis": basis, "floor": floor,
                    "monthly_cost": units * float(o["usd_per_unit_hour"]) * HOURS_PER_MONTH})
    df = pd.DataFrame(out, columns=list(COST_COLUMNS))
    return df.sort_values(["floor", "monthly_cost"], kind="stable").reset_index(drop=True)


def dedicated_reference(costs: pd.DataFrame) -> pd.Series | None:
    """The offer residency compares with: the cheapest sized offer, else the cheapest floor; None if no offers."""
    return None if costs.empty else costs.iloc[0]


__all__ = ["UNITS", "OFFER_COLUMNS", "COST_COLUMNS", "load_dedicated_offers", "dedicated_costs",
           "dedicated_reference"]
