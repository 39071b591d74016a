"""GPUs you already own (`plan --owned h100-sxm:8`): a cap on the fleet and a sunk cost (issue 14 item 7).

:func:`owned_catalogues` (called by planner.api.plan before the search) adds one offer per owned GPU, provider and
region ``owned``, pricing ``owned``, billed at its running costs only, and narrows the request to those GPUs and
that pricing. The running costs are planner.buy's for the same GPU (gpu_prices.yaml ``purchase: params:``, each
with its source), per GPU::

    energy   = TDP x server W per GPU W x busy-average draw x PUE x $/kWh x 730 h     (power, x PUE)
    hosting  = server kW x colocation $/kW-month                                      (colocation)
    support  = server price x support_fraction_per_year / 12                          (support contract)
    usd_per_gpu_hour = (energy + hosting + support) / 730;  capital = 0: the purchase is sunk, not billed again

The support contract is counted as a running cost (design choice): it is renewed every year (20 % of the server
price a year, gpu_prices.yaml support_fraction_per_year), billed apart from the purchase (planner.buy bills it
monthly beside the capital), and the plan's availability target counts on failed parts being replaced. If yours
was prepaid with the hardware, it is sunk too: set ``support_fraction_per_year: 0`` with --gpu-prices FILE.
The people, infrastructure and other lines of the bill are billed as for any self-hosted plan. --pricing,
--provider and --region pick rented or bought offers, so an owned plan refuses them (the owned GPUs are where they
are, at one price).

:func:`owned_view` (View ``owned``) tells owned vs used vs idle, what is still billed, the sunk purchase and what
renting the same GPUs would cost instead. Idle owned GPUs are taken as powered down (design choice: servers that
serve nothing are switched off; no energy billed), while their colocation and support contract are still paid:
colocation is priced per kW of contracted capacity with electricity billed separately (gpu_prices.yaml
hosting_usd_per_kw_month, CBRE H2 2024), so installed servers pay it running or not. That idle cost is paid
whatever this plan decides, so it is shown as the owned fleet's cost, not added to the plan's bill.

A plan needs its serving GPUs (replicas + spares) and the whole GPUs its guard model's MIG share sits on
(:func:`guard_gpus`). One that needs more than you own is refused (:class:`OwnedShortfallError`, one line): "needs
N, you own M: X more would cost $Y/month rented or $Z/month bought, $T/month in all". Design choice: the search
prices every GPU it sizes at the offer's one rate, so planning on would bill the extra GPUs at the owned running
rate (below any rent or purchase); the error names the honest total instead (the plan with the X extra serving GPUs
at the cheaper of renting, RENT_PRICINGS, and buying, planner.buy), and its ``record`` carries
``extra_gpus_needed`` and ``monthly_total_with_extra_usd``. When a costlier configuration within the owned count was
among the plan's alternatives, the message names it. The cost curve and break-even volumes of an owned plan stop
where its serving GPUs would exceed the count owned (the offer's ``max_gpus``, planner.cost_curve): beyond it no
volume is priced at the owned rate (the guard model's GPUs are not counted there).

Tables (money in USD):

    fleet:  gpu, owned, used, idle                                       GPUs (used: serving + the guard model's)
            running_usd_per_gpu_month                                   energy + colocation + support of one GPU
            used_monthly_usd, idle_monthly_usd, hardware_monthly_usd    running the used GPUs (whole GPUs), the idle
                                                                        ones (colocation + support) and both
            sunk_purchase_usd                                           the owned GPUs at catalogue purchase prices
                                                                        (planner.buy upfront), not billed
                                                        one row per owned GPU type
    billed: item, monthly_usd, status, basis                            what is paid each month and what is not
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

import pandas as pd

from planner import prices as prices_mod
from planner.buy import CAPEX_COLUMNS, buy_monthly_cost_per_gpu, capex_breakdown, load_purchase
from planner.errors import InfeasibleError, NoOfferError
from planner.units import HOURS_PER_MONTH, fmt_usd
from planner.views import View
from profiler import catalogue
from profiler.errors import InvalidValueError

OWNED = "owned"  # provider, region and pricing of the owned offers
RENT_PRICINGS = ("reserved-1y", "on-demand")  # what renting the GPUs you lack is priced at (cheaper of the two)
FLEET_COLUMNS = ("gpu", "owned", "used", "idle", "running_usd_per_gpu_month", "used_monthly_usd",
                 "idle_monthly_usd", "hardware_monthly_usd", "sunk_purchase_usd")
BILLED_COLUMNS = ("item", "monthly_usd", "status", "basis")


class OwnedShortfallError(InfeasibleError):
    """The plan needs more GPUs than are owned; ``record`` holds the numbers of the message."""

    def __init__(self, message: str, record: dict):
        super().__init__(message)
        self.record = record


# ---- the owned offers ------------------------------------------------------------------------------------------

def _checked_owned(owned) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in owned:
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], int) and not isinstance(item[1], bool) and item[1] >= 1):
            raise InvalidValueError(f"--owned: expected (gpu id, count >= 1) pairs such as ('h100-sxm', 8), "
                                    f"got {item!r}")
        if item[0] in out:
            raise InvalidValueError(f"--owned: each GPU once, got {item[0]} twice")
        out[item[0]] = item[1]
    return out


def running_costs(cat, gpu: str, req) -> dict:
    """Per owned GPU: monthly energy, hosting and support [USD/month], the purchase [USD] and the source text.

    From the catalogue's ``buy`` row for `gpu` (planner.buy.capex_breakdown: price factors and --gpu-prices
    applied); a GPU without a purchase price gets energy and hosting from its TDP and no support contract (its
    price is unknown: said in the source)."""
    rows = cat.gpu_prices[(cat.gpu_prices["pricing"] == "buy") & (cat.gpu_prices["gpu"] == gpu)]
    cap = capex_breakdown(rows.iloc[0].to_dict()) if len(rows) else None
    if cap is not None:
        return {"energy": cap.monthly_energy_usd, "hosting": cap.monthly_hosting_usd,
                "support": cap.monthly_support_usd, "purchase": cap.upfront_usd,
                "source": "planner.buy running costs (gpu_prices.yaml purchase: pue, usd_per_kwh, avg_draw_fraction, "
                          "server_w_per_gpu_tdp_w, hosting_usd_per_kw_month, support_fraction_per_year); purchase "
                          "sunk, not billed"}
    params, _ = load_purchase(req.gpu_prices)
    c = buy_monthly_cost_per_gpu(0.0, cat.gpus[gpu].tdp_w, params)
    factor = req.gpu_price_factor
    return {"energy": c.energy * factor, "hosting": c.hosting * factor, "support": 0.0, "purchase": math.nan,
            "source": f"planner.buy energy and colocation from the TDP; no purchase price for {gpu} in gpu_prices.yaml "
                      "purchase: gpus, so no support contract billed; purchase sunk, not billed"}


def _owned_row(gpu: str, costs: dict) -> dict:
    monthly = costs["energy"] + costs["hosting"] + costs["support"]
    capex = dict.fromkeys(CAPEX_COLUMNS, 0.0)  # capital 0: the purchase is sunk
    capex.update(monthly_energy_usd=costs["energy"], monthly_hosting_usd=costs["hosting"],
                 monthly_support_usd=costs["support"])
    return {"provider": OWNED, "gpu": gpu, "pricing": OWNED, "usd_per_gpu_hour": monthly / HOURS_PER_MONTH,
            "gpus_per_instance": math.nan, "instance": "", "region": OWNED, "as_of": date.today().isoformat(),
            "source": costs["source"], "derived": True, **capex}


def owned_catalogues(cat, req):
    """(`cat` with an ``owned`` offer per owned GPU, `req` narrowed to those GPUs and that pricing); see the module
    docstring. Unknown GPU ids raise the catalogue's UnknownNameError (with close names)."""
    owned = _checked_owned(req.owned)
    if not owned:
        return cat, req
    for gpu in owned:
        catalogue.get_gpu(gpu, req.gpus_file)
    ignored = [flag for flag, given in (("--pricing", tuple(req.pricing) not in (("reserved-1y",), (OWNED,))),
                                        ("--provider", req.provider is not None),
                                        ("--region", req.region is not None)) if given]
    if ignored:  # they pick rented or bought offers; owned GPUs have one price, their running costs
        raise InvalidValueError(f"--owned bills the GPUs you own at their running costs: {', '.join(ignored)} "
                                "would not apply; drop it, or plan without --owned to compare rented offers")
    # max_gpus: the cost curve (break-even volumes, the cost plot) never plans more of them than you own
    rows = pd.DataFrame([{**_owned_row(g, running_costs(cat, g, req)), "max_gpus": n} for g, n in owned.items()])
    keep = cat.gpu_prices[cat.gpu_prices["pricing"] != OWNED]
    gpus = tuple(g for g in owned if not req.gpus or g in req.gpus)
    if not gpus:
        raise InvalidValueError(f"--gpu {','.join(req.gpus)} names none of the GPUs you own "
                                f"({', '.join(owned)}); drop --gpu or name an owned one")
    cat = replace(cat, gpu_prices=pd.concat([keep, rows], ignore_index=True))
    return cat, replace(req, gpus=gpus, pricing=(OWNED,), provider=None, region=None)


# ---- what the GPUs you lack would cost -------------------------------------------------------------------------

def rent_offer(cat, gpu: str, gpus: int) -> tuple[pd.Series, float] | None:
    """The cheapest offer renting `gpus` more `gpu`s (RENT_PRICINGS, whole instances) and its USD/month; None
    when the catalogue rents none."""
    best = None
    for pricing in RENT_PRICINGS:
        try:
            offer = prices_mod.cheapest_offer(cat.gpu_prices, gpu, pricing, None, gpus)
        except NoOfferError:
            continue
        monthly = prices_mod.gpus_billed(gpus, offer) * float(offer["usd_per_gpu_hour"]) * HOURS_PER_MONTH
        if best is None or monthly < best[1]:
            best = (offer, monthly)
    return best


def buy_cost(cat, gpu: str, gpus: int) -> tuple[float, float] | None:
    """(USD/month, upfront USD) of buying `gpus` more `gpu`s (planner.buy), None without a purchase price."""
    rows = cat.gpu_prices[(cat.gpu_prices["pricing"] == "buy") & (cat.gpu_prices["gpu"] == gpu)]
    cap = capex_breakdown(rows.iloc[0].to_dict()) if len(rows) else None
    return None if cap is None else (cap.monthly_usd * gpus, cap.upfront_usd * gpus)


def guard_gpus(plan) -> int:
    """Whole owned GPUs the guard model occupies (planner.guard: its GPU share, on the plan's GPU type; a MIG
    instance lives on one physical GPU, so a share of 0.5 takes one GPU off the owned pool)."""
    share = float((plan.guard or {}).get("gpus") or 0.0)
    return math.ceil(share - 1e-9) if share > 0 else 0


def _replicas(d, guard: int) -> str:
    """"3 replicas + 1 spare x TP2, 1 for the guard model" for a deployment dict."""
    n, s = int(d["replicas"]), int(d["spare_replicas"])
    return (f"{n} replica{'s' if n != 1 else ''} + {s} spare{'s' if s != 1 else ''} x TP{int(d['tp'])}"
            + (f", {guard} for the guard model" if guard else ""))


def _fitting_alternative(plan, owned: dict[str, int]) -> str:
    alt = plan.alternatives
    if alt is None or alt.empty or "gpus_total" not in alt:
        return ""
    ok = alt[alt["feasible"].astype(bool) & alt["gpu"].isin(list(owned))]
    guard = guard_gpus(plan)  # sized on the volume, on the plan's GPU type: the same for each alternative
    ok = ok[[int(n) + guard <= owned[g] for g, n in zip(ok["gpu"], ok["gpus_total"], strict=True)]]
    if ok.empty:
        return ""
    r = ok.iloc[0]
    return (f"; {r['gpu']} {r['quant']} TP{int(r['tp'])} fits in {int(r['gpus_total'])} of them at "
            f"{fmt_usd(float(r['monthly_total_cost']))}/month (--gpu {r['gpu']} --quant {r['quant']} "
            f"--tp {int(r['tp'])})")


def shortfall(plan, owned: dict[str, int], fleet, cat) -> OwnedShortfallError:
    """The one-line refusal of a plan needing more GPUs than owned, with its record (module docstring)."""
    d = plan.deployment
    gpu, need = str(d["gpu"]), int(d["gpus_total"]) + guard_gpus(plan)
    have = owned[gpu]
    extra = need - have
    rent, buy = rent_offer(cat, gpu, extra), buy_cost(cat, gpu, extra)
    # what the plan's bill priced them at: the extra GPUs are serving GPUs (the guard's share sits on an owned one)
    owned_rate_extra = extra * fleet.usd_per_gpu_hour * HOURS_PER_MONTH
    options = [(m, "rented") for m in ([rent[1]] if rent else [])] + [(m, "bought") for m in ([buy[0]] if buy else [])]
    cheapest = min(options) if options else None
    total = None if cheapest is None else plan.monthly_total_cost - owned_rate_extra + cheapest[0]
    rent_text = (f"{fmt_usd(rent[1])}/month rented ({rent[0]['provider']} {rent[0]['pricing']}, "
                 f"{fmt_usd(float(rent[0]['usd_per_gpu_hour']))}/GPU-h)" if rent else "no rental offer")
    buy_text = f"{fmt_usd(buy[0])}/month bought ({fmt_usd(buy[1])} upfront)" if buy else "no purchase price"
    total_text = "" if total is None else f", {fmt_usd(total)}/month in all with them {cheapest[1]}"
    fits = _fitting_alternative(plan, owned)
    message = (f"{plan.model} needs {need} {gpu} GPUs ({_replicas(d, guard_gpus(plan))}) and you own {have}: "
               f"{extra} more would cost {rent_text} or {buy_text}{total_text}{fits}; count them with "
               f"--owned {gpu}:{need}, or plan without --owned")
    record = {"gpu": gpu, "gpus_owned": have, "gpus_needed": need, "extra_gpus_needed": extra,
              "rent_monthly_usd": rent[1] if rent else None, "buy_monthly_usd": buy[0] if buy else None,
              "buy_upfront_usd": buy[1] if buy else None,
              "monthly_total_with_extra_usd": total, "extra_priced_as": cheapest[1] if cheapest else None}
    return OwnedShortfallError(message, record)


# ---- the view --------------------------------------------------------------------------------------------------

def _fleet_table(owned: dict[str, int], gpu: str, used: int, cat) -> pd.DataFrame:
    rows = []
    for g, n in owned.items():
        o = cat.gpu_prices[(cat.gpu_prices["pricing"] == OWNED) & (cat.gpu_prices["gpu"] == g)].iloc[0]
        run = float(o["usd_per_gpu_hour"]) * HOURS_PER_MONTH
        idle_each = float(o["monthly_hosting_usd"]) + float(o["monthly_support_usd"])  # powered down: no energy
        u = used if g == gpu else 0
        purchase = buy_cost(cat, g, n)
        rows.append({"gpu": g, "owned": n, "used": u, "idle": n - u, "running_usd_per_gpu_month": run,
                     "used_monthly_usd": u * run, "idle_monthly_usd": (n - u) * idle_each,
                     "hardware_monthly_usd": u * run + (n - u) * idle_each,
                     "sunk_purchase_usd": purchase[1] if purchase else math.nan})
    return pd.DataFrame(rows, columns=list(FLEET_COLUMNS))


def _billed_table(plan, offer: pd.Series, serving: int, idle_usd: float, idle: int, sunk: float) -> pd.DataFrame:
    per = [("Power (x PUE) of the serving GPUs", "monthly_energy_usd"),
           ("Colocation of the serving GPUs", "monthly_hosting_usd"),
           ("Support contract of the serving GPUs", "monthly_support_usd")]
    rows = [{"item": name, "monthly_usd": serving * float(offer[col]), "status": "billed",
             "basis": f"{serving} GPUs x {fmt_usd(float(offer[col]))}/GPU-month"} for name, col in per]
    items = plan.line_items
    others = items[items["category"] != "gpu"].groupby("category", sort=False)["monthly_usd"].sum()
    rows += [{"item": f"{cat.capitalize()} (the plan's other lines)", "monthly_usd": float(v), "status": "billed",
              "basis": "planner.tco line items"} for cat, v in others.items()]
    rows.append({"item": f"{idle} idle owned GPUs: colocation and support", "monthly_usd": idle_usd,
                 "status": "paid, not this plan's", "basis": "powered down: no energy; colocation per kW installed"})
    rows.append({"item": "GPU purchase", "monthly_usd": 0.0, "status": "sunk, not billed",
                 "basis": f"{fmt_usd(sunk)} upfront at catalogue prices" if math.isfinite(sunk) else
                 "no catalogue purchase price"})
    return pd.DataFrame(rows, columns=list(BILLED_COLUMNS))


def _lines(plan, owned: dict[str, int], offer: pd.Series, rec: dict) -> tuple[str, ...]:
    d, used, idle, total = plan.deployment, rec["gpus_used"], rec["gpus_idle"], plan.monthly_total_cost
    serving = used - rec["guard_gpus"]
    gpu_lines, sunk = rec["gpu_lines_monthly_usd"], rec["sunk_purchase_usd"]
    lines = [
        f"You own {sum(owned.values())} GPUs ({', '.join(f'{n} {g}' for g, n in owned.items())}); this plan uses "
        f"{used} {rec['gpu']} ({_replicas(d, rec['guard_gpus'])}), {idle} stand{'s' if idle == 1 else ''} idle.",
        f"Billed each month: {fmt_usd(gpu_lines)} to run the {serving} serving GPUs (power x PUE, colocation, "
        f"support contract; {fmt_usd(rec['running_usd_per_gpu_hour'])}/GPU-h) and {fmt_usd(total - gpu_lines)} of "
        f"people and other lines{' (the guard model GPU share among them)' if rec['guard_gpus'] else ''}: "
        f"{fmt_usd(total)} in all. The purchase "
        "is sunk, not billed" + (f" ({fmt_usd(sunk)} at catalogue prices)." if sunk is not None else "."),
    ]
    if idle:
        lines.append(f"Idle GPUs are taken as powered down; their colocation and support still cost "
                     f"{fmt_usd(rec['idle_monthly_usd'])}/month whatever this plan decides: the owned fleet costs "
                     f"{fmt_usd(rec['fleet_monthly_usd'])}/month with this plan on it.")
    if rec["renting_instead_monthly_usd"] is not None:
        lines.append(f"Renting the {serving} serving GPUs ({rec['renting_instead_offer']}) would cost "
                     f"{fmt_usd(rec['renting_instead_monthly_usd'])}/month: owning saves "
                     f"{fmt_usd(rec['saved_vs_renting_monthly_usd'])}/month.")
    return tuple(lines)


def owned_view(plan, req, fleet, cat) -> View:
    """The ``owned`` View of a plan on owned GPUs (module docstring); raises :class:`OwnedShortfallError` when the
    plan needs more GPUs than owned."""
    owned = _checked_owned(req.owned)
    d = plan.deployment
    gpu, serving, guard = str(d["gpu"]), int(d["gpus_total"]), guard_gpus(plan)
    used = serving + guard
    if used > owned.get(gpu, 0):
        raise shortfall(plan, owned, fleet, cat)
    offer = cat.gpu_prices[(cat.gpu_prices["pricing"] == OWNED) & (cat.gpu_prices["gpu"] == gpu)].iloc[0]
    fleet_t = _fleet_table(owned, gpu, used, cat)
    idle, idle_usd = int(fleet_t["idle"].sum()), float(fleet_t["idle_monthly_usd"].sum())
    sunk = float(fleet_t["sunk_purchase_usd"].sum(min_count=1))
    gpu_lines = float(plan.line_items.loc[plan.line_items["category"] == "gpu", "monthly_usd"].sum())
    rent = rent_offer(cat, gpu, serving)
    record = {"gpu": gpu, "gpus_owned": owned[gpu], "gpus_used": used, "guard_gpus": guard, "gpus_idle": idle,
              "running_usd_per_gpu_hour": float(offer["usd_per_gpu_hour"]),
              "energy_usd_per_gpu_month": float(offer["monthly_energy_usd"]),
              "hosting_usd_per_gpu_month": float(offer["monthly_hosting_usd"]),
              "support_usd_per_gpu_month": float(offer["monthly_support_usd"]),
              "gpu_lines_monthly_usd": gpu_lines, "plan_monthly_usd": plan.monthly_total_cost,
              "idle_monthly_usd": idle_usd, "fleet_monthly_usd": plan.monthly_total_cost + idle_usd,
              "sunk_purchase_usd": sunk if math.isfinite(sunk) else None,
              "renting_instead_monthly_usd": rent[1] if rent else None,
              "renting_instead_offer": f"{rent[0]['provider']} {rent[0]['pricing']}" if rent else None,
              "saved_vs_renting_monthly_usd": rent[1] - gpu_lines if rent else None,
              "extra_gpus_needed": 0, "monthly_total_with_extra_usd": plan.monthly_total_cost}
    tables = {"fleet": fleet_t, "billed": _billed_table(plan, offer, serving, idle_usd, idle, sunk)}
    columns = {"fleet": ("gpu", "owned", "used", "idle", "used_monthly_usd", "idle_monthly_usd", "sunk_purchase_usd"),
               "billed": ("item", "monthly_usd", "status")}
    return View(OWNED, "GPUs you own", tables, columns, _lines(plan, owned, offer, record), record)


__all__ = ["owned_catalogues", "owned_view", "OwnedShortfallError", "running_costs", "rent_offer", "buy_cost",
           "shortfall", "OWNED"]
