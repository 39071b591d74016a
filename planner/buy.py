"""Buying GPUs instead of renting them: the purchase table, what owning costs a month, and the capex.

Epoch AI's method (gpu_prices.yaml ``purchase:`` has every parameter with its source): a server is the chip price
x ``server_factor``; the cluster network is ``network_fraction_of_cluster`` of the total; capital is repaid as an
annuity at the cost of capital (``wacc``) over ``amortisation_years``, less the resale value at end of life;
support is a yearly share of the server price; power is TDP x server overhead x average draw x PUE at the
industrial $/kWh; colocation is per kW-month. :func:`buy_offers` turns each purchase row into a GpuPrices row
(pricing ``buy``, region ``us``) with the per-GPU ``CAPEX_COLUMNS``; :func:`capex_breakdown` reads them back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from planner.errors import PlannerError
from planner.price_rows import PathArg, as_of, merge_rows, opt_price, price, read_docs, read_rows, text
from planner.prices import GPU_PRICE_COLUMNS, GPU_PRICES_FILE
from planner.units import HOURS_PER_MONTH, YamlDoc

_BUY_PARAMS = ("amortisation_years", "wacc", "residual_ooms_per_year", "support_fraction_per_year",
               "network_fraction_of_cluster", "server_factor", "server_w_per_gpu_tdp_w", "avg_draw_fraction", "pue",
               "usd_per_kwh", "hosting_usd_per_kw_month")
BUY_REGION = "us"  # the running costs are US figures: EIA/EPP industrial $/kWh, CBRE North America colocation
# Columns that buy_offers adds to its GpuPrices rows (per GPU; NaN on rented rows once concatenated)
CAPEX_COLUMNS = ("capex_chip_usd", "capex_server_usd", "capex_network_usd", "residual_usd", "monthly_capital_usd",
                 "monthly_support_usd", "monthly_energy_usd", "monthly_hosting_usd")


@dataclass(frozen=True)
class BuyParams:
    """Ownership and running-cost parameters; each value's source is in ``sources`` (gpu_prices.yaml)."""

    amortisation_years: float  # economic life L [years]
    wacc: float  # cost of capital r [1/year]; 0 gives straight-line amortisation
    residual_ooms_per_year: float  # resale value falls 10^(-k) a year (price-performance progress)
    support_fraction_per_year: float  # support contract [fraction of the server price per year]
    network_fraction_of_cluster: float  # cluster network share of total cluster cost
    server_factor: float  # server price / chip price (default; a purchase row may override)
    server_w_per_gpu_tdp_w: float  # server watts per GPU, per watt of GPU TDP
    avg_draw_fraction: float  # busy-average draw / server power
    pue: float  # facility power / IT power
    usd_per_kwh: float
    hosting_usd_per_kw_month: float  # colocation per kW of server power
    sources: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BuyCost:
    """One owned GPU: the upfront purchase [USD] and the monthly cost [USD/month], by component."""

    chip: float  # upfront: the GPU itself
    server: float  # upfront: the rest of its server share (CPUs, memory, NVLink board, chassis)
    network: float  # upfront: its share of the cluster network (switches, optics, cables)
    residual: float  # resale value of chip + server at the end of life (not discounted)
    capital: float  # monthly capital recovery of chip + server + network, net of the residual
    support: float  # monthly support contract
    energy: float
    hosting: float

    @property
    def upfront(self) -> float:
        return self.chip + self.server + self.network

    @property
    def total(self) -> float:
        return self.capital + self.support + self.energy + self.hosting

    @property
    def usd_per_gpu_hour(self) -> float:
        return self.total / HOURS_PER_MONTH


def load_purchase(extra: PathArg = None) -> tuple[BuyParams, pd.DataFrame]:
    """Purchase parameters and the table ``gpu, usd_per_gpu, server_factor, as_of, source``."""
    docs = read_docs(GPU_PRICES_FILE, extra)
    params: dict[str, Any] = {}
    rows: list[dict] = []
    spec = {"gpu": (text, True), "usd_per_gpu": (price, True), "server_factor": (opt_price, False),
            "as_of": (as_of, True), "source": (text, True)}
    for d in docs:
        section = (d.data or {}).get("purchase") or {}
        for name, item in (section.get("params") or {}).items():
            if name not in _BUY_PARAMS or not isinstance(item, Mapping) or "source" not in item:
                raise d.error(f"a purchase parameter is one of {', '.join(_BUY_PARAMS)} with value and source",
                              "purchase", "params", name, entry=str(name))
            value = item.get("value")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise d.error(f"value must be a number >= 0, got {value!r}", "purchase", "params", name,
                              entry=str(name), field="value")
            params[name] = item
        if "gpus" in section:
            sub = YamlDoc(section, d.file, {k[1:]: v for k, v in d.lines.items() if k[:1] == ("purchase",)})
            rows += read_rows(sub, "gpus", spec, ("gpu",))
    missing = [p for p in _BUY_PARAMS if p not in params]
    if missing:
        raise PlannerError(f"purchase parameters missing: {', '.join(missing)}")
    bp = BuyParams(**{p: float(params[p]["value"]) for p in _BUY_PARAMS},
                   sources=tuple((p, str(params[p]["source"])) for p in _BUY_PARAMS))
    if bp.amortisation_years <= 0 or not 0 <= bp.network_fraction_of_cluster < 1:
        raise PlannerError("purchase parameters: amortisation_years must be > 0 and network_fraction_of_cluster "
                           f"in [0, 1); got {bp.amortisation_years:g} and {bp.network_fraction_of_cluster:g}")
    return bp, pd.DataFrame(merge_rows(rows, ("gpu",)), columns=list(spec))


def capital_recovery_factor(rate: float, years: float) -> float:
    """Annual payment per USD borrowed at `rate` [1/year] over `years`: r(1+r)^L / ((1+r)^L - 1); 1/L at r = 0.

    The annuity ("capital recovery factor") of engineering economics: Short, Packey & Holt (1995), *A Manual
    for the Economic Evaluation of Energy Efficiency and Renewable Energy Technologies*, NREL/TP-462-5173,
    the fixed-charge method behind NREL SAM's LCOE calculator (samrepo.nrelcloud.org/help/fin_lcoefcr.html).
    """
    if rate == 0:
        return 1.0 / years
    growth = (1.0 + rate) ** years
    return rate * growth / (growth - 1.0)


def residual_fraction(params: BuyParams) -> float:
    """Resale value at end of life / purchase price: 10^(-k L), k = price-performance OOMs per year.

    EPP ``depreciate_by_hardware_progress``: a GPU's value falls with the price-performance trend,
    0.14 orders of magnitude a year, so after 4 years it is worth 10^-0.56 = 27.5 % of its price.
    """
    return 10.0 ** (-params.residual_ooms_per_year * params.amortisation_years)


def buy_monthly_cost_per_gpu(usd_per_gpu: float, tdp_w: float, params: BuyParams,
                             server_factor: float | None = None) -> BuyCost:
    """Cost of owning one GPU in a colocation facility: the upfront purchase [USD] and the monthly cost [USD/month].

        server   = usd_per_gpu x server_factor                        (chip + the rest of the server)
        network  = server x f / (1 - f)                                (f: network share of cluster cost)
        residual = server x 10^(-k L)                                  (resale value after L years)
        capital  = (server + network - residual / (1 + r)^L) x CRF(r, L) / 12
        support  = server x support_fraction_per_year / 12
        server_kw = tdp_w x server_w_per_gpu_tdp_w / 1000
        energy   = server_kw x avg_draw_fraction x pue x usd_per_kwh x 730 h
        hosting  = server_kw x hosting_usd_per_kw_month

    Reference: Epoch AI, training-cost-trends ``cost_analysis_standalone.py`` (server factor, cluster
    interconnect 19 %, price-performance depreciation 0.14 OOM/yr, power, PUE); CBRE H2 2024 (colocation
    $/kW-month); the sources of each default are in gpu_prices.yaml ``purchase: params:``.
    """
    factor = params.server_factor if server_factor is None or math.isnan(server_factor) else server_factor
    server = usd_per_gpu * factor
    f = params.network_fraction_of_cluster
    network = server * f / (1.0 - f)
    residual = server * residual_fraction(params)
    r, life = params.wacc, params.amortisation_years
    capital = (server + network - residual / (1.0 + r) ** life) * capital_recovery_factor(r, life) / 12.0
    kw = tdp_w * params.server_w_per_gpu_tdp_w / 1000.0
    return BuyCost(
        chip=usd_per_gpu, server=server - usd_per_gpu, network=network, residual=residual, capital=capital,
        support=server * params.support_fraction_per_year / 12.0,
        energy=kw * params.avg_draw_fraction * params.pue * params.usd_per_kwh * HOURS_PER_MONTH,
        hosting=kw * params.hosting_usd_per_kw_month,
    )


def buy_offers(tdp_w: Mapping[str, float], extra: PathArg = None) -> pd.DataFrame:
    """Owned GPUs as GpuPrices rows (provider ``self-owned``, pricing ``buy``, region ``us``), for GPUs with a
    purchase price, plus the :data:`CAPEX_COLUMNS` (read them with :func:`capex_breakdown`).

    `tdp_w` maps GPU id → TDP [W] (from the profiler's GPU catalogue). Concatenate with
    :func:`load_gpu_prices` to let a search compare buying with renting.
    """
    params, table = load_purchase(extra)
    rows = []
    for _, r in table.iterrows():
        if r["gpu"] not in tdp_w:
            continue
        c = buy_monthly_cost_per_gpu(r["usd_per_gpu"], tdp_w[r["gpu"]], params, r["server_factor"])
        source = (f"derived: ${c.upfront:,.0f} upfront (chip ${c.chip:,.0f} + server ${c.server:,.0f} + network "
                  f"${c.network:,.0f}), {params.amortisation_years:g}-yr life at {params.wacc:.1%} WACC less "
                  f"${c.residual:,.0f} resale = ${c.capital:,.0f}/mo + support ${c.support:,.0f}/mo + energy "
                  f"${c.energy:,.0f}/mo + colocation ${c.hosting:,.0f}/mo, / {HOURS_PER_MONTH} h; chip: {r['source']}")
        rows.append({"provider": "self-owned", "gpu": r["gpu"], "pricing": "buy",
                     "usd_per_gpu_hour": c.usd_per_gpu_hour, "gpus_per_instance": math.nan, "instance": "",
                     "region": BUY_REGION, "as_of": r["as_of"], "source": source, "derived": True,
                     "capex_chip_usd": c.chip, "capex_server_usd": c.server, "capex_network_usd": c.network,
                     "residual_usd": c.residual, "monthly_capital_usd": c.capital, "monthly_support_usd": c.support,
                     "monthly_energy_usd": c.energy, "monthly_hosting_usd": c.hosting})
    return pd.DataFrame(rows, columns=list(GPU_PRICE_COLUMNS) + list(CAPEX_COLUMNS))


@dataclass(frozen=True)
class CapexBreakdown:
    """What buying costs per GPU: upfront [USD] and monthly [USD/month] (a :class:`BuyCost` read off a row)."""

    chip_usd: float
    server_usd: float
    network_usd: float
    residual_usd: float
    monthly_capital_usd: float
    monthly_support_usd: float
    monthly_energy_usd: float
    monthly_hosting_usd: float

    @property
    def upfront_usd(self) -> float:
        return self.chip_usd + self.server_usd + self.network_usd

    @property
    def monthly_usd(self) -> float:
        return self.monthly_capital_usd + self.monthly_support_usd + self.monthly_energy_usd + self.monthly_hosting_usd


def capex_breakdown(offer_row: Mapping) -> CapexBreakdown | None:
    """The capex of a ``buy`` offer row (from :func:`buy_offers`), per GPU; None for a rented offer.

    Multiply by the GPUs bought (``gpus_billed``) for the deployment's upfront capital.
    """
    if offer_row.get("pricing") != "buy":
        return None
    values = [offer_row.get(c) for c in CAPEX_COLUMNS]
    if any(v is None or pd.isna(v) for v in values):
        return None  # a buy row from a user's own offers: no breakdown given
    return CapexBreakdown(*(float(v) for v in values))


__all__ = ["BuyParams", "BuyCost", "load_purchase", "buy_monthly_cost_per_gpu", "buy_offers", "CAPEX_COLUMNS",
           "CapexBreakdown", "capex_breakdown", "capital_recovery_factor", "residual_fraction", "BUY_REGION"]
