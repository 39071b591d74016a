"""Buying the GPUs (`plan --pricing buy`): the upfront capital, its depreciation year by year, and the running costs
(opex) monthly and annually, for a finance lead's budget.

The plan's bill carries the purchase as a monthly capital line: an annuity at the cost of capital (WACC) over the
economic life, net of the discounted resale value (planner.buy.buy_monthly_cost_per_gpu), what financing the
purchase costs a month. Accounting books it differently: the purchase depreciates straight-line to its resale value
over the same years. The ``depreciation`` table shows both side by side.

Table ``capex`` (what is bought today, all GPUs of the plan including spares):

    item            str    GPUs, servers, cluster network, total
    gpus            int    GPUs bought
    per_gpu_usd     float  upfront per GPU [USD]
    upfront_usd     float  upfront for all GPUs [USD]
    basis           str    how it is derived (planner/catalogues/gpu_prices.yaml ``purchase:``)

Table ``depreciation`` (one row per year of the economic life; a fractional life ends with a part year):

    year              int    1 = the year of purchase
    start_book_usd    float  book value at the start of the year [USD]
    depreciation_usd  float  straight-line: (upfront - resale) x the year's share of the life / life [USD]
    end_book_usd      float  book value at the end of the year; the last year's is the resale value [USD]
    capital_line_usd  float  the plan's capital line that year: the monthly annuity x 12 x the year's share [USD]

Table ``opex`` (running costs; the capital line is not opex):

    item          str    energy, colocation, support, then the bill's other lines by category, and the total
    monthly_usd   float  [USD/month]
    annual_usd    float  12 x monthly [USD/year]
    basis         str    the formula or the bill lines summed
"""

from __future__ import annotations

import math

import pandas as pd

from planner.units import MONTHS_PER_YEAR, fmt_usd
from planner.views import View

REL_TOL = 1e-6  # design choice: the annuity recomputed from the parameters matches the plan's to rounding error
CATEGORY_WORDS = {"infrastructure": "Infrastructure (orchestration, networking, storage)",
                  "observability": "Monitoring, logging and audit", "people": "People (engineering time)",
                  "safety": "Guardrails and content filtering"}


def capex_view(plan, fleet=None) -> View:
    """The capex view of a plan that buys its GPUs (``plan.capex`` set; module docstring). `fleet` (planner.fleet)
    names the GPU; the plan alone is enough."""
    from planner.buy import load_purchase

    cx = plan.capex
    params = load_purchase()[0]
    gpu = fleet.dep.gpu.id if fleet is not None else str(plan.deployment.get("gpu", "GPU"))
    capex = capex_table(cx, params, gpu)
    dep = depreciation_table(cx["upfront_usd"], cx["residual_usd"], cx["monthly_capital_usd"],
                             params.amortisation_years)
    opex = opex_table(cx, plan.line_items, params)
    lines = [_capital_line(cx, params, dep), *_match_line(cx, params),
             _bill_line(plan.monthly_total_cost, float(opex["monthly_usd"].iloc[-1]), cx["monthly_capital_usd"])]
    record = {"gpus": int(cx["gpus"]), "upfront_usd": cx["upfront_usd"], "resale_usd": cx["residual_usd"],
              "amortisation_years": params.amortisation_years, "wacc": params.wacc,
              "monthly_capital_usd": cx["monthly_capital_usd"],
              "straight_line_usd_per_year": (cx["upfront_usd"] - cx["residual_usd"]) / params.amortisation_years,
              "monthly_opex_usd": float(opex["monthly_usd"].iloc[-1]),
              "annual_opex_usd": float(opex["annual_usd"].iloc[-1])}
    title = (f"Buying {int(cx['gpus'])} {gpu}: {fmt_usd(cx['upfront_usd'])} upfront, depreciation and running "
             "costs")
    columns = {"capex": ("item", "gpus", "per_gpu_usd", "upfront_usd"),
               "depreciation": ("year", "start_book_usd", "depreciation_usd", "end_book_usd", "capital_line_usd"),
               "opex": ("item", "monthly_usd", "annual_usd")}
    return View("capex", title, {"capex": capex, "depreciation": dep, "opex": opex}, columns, tuple(lines), record)


def capex_table(cx: dict, params, gpu: str) -> pd.DataFrame:
    """Table ``capex`` (module docstring) from Plan.capex (planner.plan._capex: USD for all GPUs bought)."""
    n = int(cx["gpus"])
    f = params.network_fraction_of_cluster
    items = (("GPUs", cx["chip_usd"], f"{gpu} list price (gpu_prices.yaml purchase: gpus)"),
             ("Servers (CPUs, memory, board, chassis)", cx["server_usd"],
              "server price = GPU price x the server factor, less the GPU"),
             ("Cluster network (switches, optics, cables)", cx["network_usd"],
              f"{f:.0%} of the cluster's cost: server price x {f:g} / (1 - {f:g})"),
             ("Total upfront", cx["upfront_usd"], "GPUs + servers + network"))
    return pd.DataFrame([{"item": item, "gpus": n, "per_gpu_usd": usd / n if n else math.nan, "upfront_usd": usd,
                          "basis": basis} for item, usd, basis in items],
                        columns=["item", "gpus", "per_gpu_usd", "upfront_usd", "basis"])


def depreciation_table(upfront: float, resale: float, monthly_capital: float, years: float) -> pd.DataFrame:
    """Table ``depreciation``: straight-line from `upfront` to `resale` over `years` (the last year a part year when
    `years` is fractional), beside the plan's annuity (`monthly_capital` x 12 a year)."""
    rows, book = [], upfront
    for y in range(1, math.ceil(years - 1e-9) + 1):
        share = min(1.0, years - (y - 1))
        dep = (upfront - resale) * share / years
        end = resale if y == math.ceil(years - 1e-9) else book - dep  # the last year ends at the resale value
        rows.append({"year": y, "start_book_usd": book, "depreciation_usd": dep, "end_book_usd": end,
                     "capital_line_usd": monthly_capital * MONTHS_PER_YEAR * share})
        book = end
    return pd.DataFrame(rows, columns=["year", "start_book_usd", "depreciation_usd", "end_book_usd",
                                       "capital_line_usd"])


def opex_table(cx: dict, line_items: pd.DataFrame, params) -> pd.DataFrame:
    """Table ``opex``: owning's running costs (energy, colocation, support; planner.buy), the bill's other lines by
    category, any GPU line the capex does not explain, and the total."""
    rows = [("Energy (power x PUE)", cx["monthly_energy_usd"],
             f"server power x {params.avg_draw_fraction:g} average draw x PUE {params.pue:g} x "
             f"${params.usd_per_kwh:g}/kWh x 730 h"),
            ("Colocation (space, cooling, hosting)", cx["monthly_hosting_usd"],
             f"${params.hosting_usd_per_kw_month:g} per kW of server power a month"),
            ("Hardware support contract", cx["monthly_support_usd"],
             f"{params.support_fraction_per_year:.0%} of the server price a year")]
    gpu_lines = float(line_items.loc[line_items["category"] == "gpu", "monthly_usd"].sum())
    other_gpu = gpu_lines - cx["monthly_usd"]  # the bill's GPU lines less what owning explains (0 when they agree)
    if abs(other_gpu) > 0.005:
        rows.append(("Other GPU lines of the bill", other_gpu, "the bill's GPU lines less capital and running costs"))
    for cat, group in line_items[line_items["category"] != "gpu"].groupby("category", sort=False):
        rows.append((CATEGORY_WORDS.get(cat, str(cat).capitalize()), float(group["monthly_usd"].sum()),
                     "; ".join(group["item"])))
    total = sum(r[1] for r in rows)
    rows.append(("Total opex", total, "everything above; the capital line is not opex"))
    return pd.DataFrame([{"item": i, "monthly_usd": m, "annual_usd": m * MONTHS_PER_YEAR, "basis": b}
                         for i, m, b in rows], columns=["item", "monthly_usd", "annual_usd", "basis"])


def _capital_line(cx: dict, params, dep: pd.DataFrame) -> str:
    life = params.amortisation_years
    annuity = cx["monthly_capital_usd"] * MONTHS_PER_YEAR * life
    straight = float(dep["depreciation_usd"].sum())
    return (f"The bill's capital line, {fmt_usd(cx['monthly_capital_usd'])}/month, is an annuity: the purchase less "
            f"its discounted resale, repaid over {life:g} years at a {params.wacc:.1%} cost of capital "
            f"({fmt_usd(annuity)} in all). Accounting depreciates it straight-line instead, "
            f"{fmt_usd(straight / life)} a year down to the {fmt_usd(cx['residual_usd'])} resale value "
            f"({fmt_usd(straight)} in all); the difference is the cost of the capital.")


def _match_line(cx: dict, params) -> list[str]:
    """A sentence when the packaged purchase parameters do not reproduce the plan's capital line (a --gpu-prices
    file with its own ``purchase: params``): the schedule's life may then differ from the plan's."""
    from planner.buy import capital_recovery_factor

    r, life = params.wacc, params.amortisation_years
    annuity = (cx["upfront_usd"] - cx["residual_usd"] / (1.0 + r) ** life) * capital_recovery_factor(r, life) / 12
    if math.isclose(annuity, cx["monthly_capital_usd"], rel_tol=REL_TOL):
        return []
    return [f"The plan's capital line does not follow from the packaged purchase parameters ({life:g}-year life, "
            f"{r:.1%} cost of capital): the schedule above uses those, so check it against your own price file."]


def _bill_line(total: float, opex: float, capital: float) -> str:
    return (f"Opex {fmt_usd(opex)}/month ({fmt_usd(opex * MONTHS_PER_YEAR)}/year) + capital {fmt_usd(capital)}/month "
            f"= {fmt_usd(opex + capital)}/month; the plan's bill is {fmt_usd(total)}/month "
            f"({fmt_usd(total * MONTHS_PER_YEAR)}/year).")


__all__ = ["capex_view", "capex_table", "depreciation_table", "opex_table"]
