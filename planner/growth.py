"""Volume growth month by month (`plan --growth 8%/month --months 24`): the plan's configuration re-sized and
re-costed each month, the reference API at the same volume, and the risk of a reserved-GPU commitment.

Month m serves ``V x (1 + g)^(m - 1)`` tokens/day (V: the planned volume, g: growth per month; month 1 is today).
Each month keeps the plan's configuration (GPU, quant, TP, offer: planner.fleet.Fleet) with as many replicas as the
month's peak needs, plus the spares the plan's redundancy policy gives that many, and its full monthly bill. The
``replanned_usd`` column re-plans the cheapest configuration at that volume instead (Plan.at_gpu_price(1)).

Table ``growth`` (one row per month):

    month            int    1 = today
    tokens_per_day   float  input + output tokens/day that month
    replicas         int    replicas serving the month's peak at the SLOs (ceil(peak req/s / one replica's req/s))
    spare_replicas   int    the redundancy policy's spares at that many replicas
    gpus             int    GPUs in use, replicas + spares
    gpu_hours        int    gpus x 730 h (planner.units.HOURS_PER_MONTH)
    self_host_usd    float  the full self-hosted bill that month [USD/month]
    api_usd          float  the reference API's bill at that volume [USD/month] (compliance lines included under
                            --compliance-on-api, as the plan's API table has them)
    replanned_usd    float  the cheapest configuration re-planned at that volume [USD/month]; None past the
                            planner's limits (planner.limits)
    cheaper          str    "self-host" when api_usd >= margin x self_host_usd (planner.verdict's rule), else "api"

Table ``commitment`` (a reserved term bought today vs renting on demand): one row per commitment sized for
month 1's GPUs and for month N's (N = the term's months, at most the span), and on-demand only:

    commitment          str    reserved-1y | reserved-3y | on-demand only
    sized_for_month     int    the month whose GPU count was committed (None: nothing committed)
    gpus_committed      int    GPUs paid for the whole term (whole instances of the reserved offer)
    term_months         int    12 or 36: the term paid, whatever the span shown
    committed_usd       float  gpus_committed x reserved $/GPU-h x 730 h x term_months [USD]
    on_demand_extra_usd float  GPUs needed above the commitment, rented on demand in whole instances [USD]
    total_usd           float  committed_usd + on_demand_extra_usd over the term [USD]
    vs_on_demand_usd    float  total_usd - the same term rented all on demand [USD] (negative: the commitment saves)
    idle_gpu_hours      int    committed GPU-hours no month needed
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pandas as pd

from planner.capex_view import capex_view
from planner.errors import PlannerError
from planner.limits import MAX_REPLICAS, MAX_TOKENS_PER_DAY
from planner.units import HOURS_PER_MONTH, fmt_tokens, fmt_usd
from planner.views import View
from profiler.errors import InvalidValueError

# design choice: -50 % to +100 % a month, the same range `--growth` accepts (planner.cmd_plan._growth): beyond it a
# month-by-month plan says little (volume halving, or doubling, every month)
GROWTH_RANGE = (-0.5, 1.0)
# design choice: up to 10 years; the cheapest hardware of the day changes well within that (planner/catalogues/
# price_trends.yaml), so a longer month-by-month table would describe a fleet nobody buys
MAX_MONTHS = 120
# reserved terms by pricing model: the names say it (1-year and 3-year commitments, gpu_prices.yaml)
TERMS = (("reserved-1y", 12), ("reserved-3y", 36))
ON_DEMAND = "on-demand"
COLUMNS = ("month", "tokens_per_day", "replicas", "spare_replicas", "gpus", "gpu_hours", "self_host_usd", "api_usd",
           "replanned_usd", "cheaper")
DEFAULT_COLUMNS = ("month", "tokens_per_day", "replicas", "gpus", "self_host_usd", "api_usd", "replanned_usd",
                   "cheaper")
COMMIT_COLUMNS = ("commitment", "sized_for_month", "gpus_committed", "term_months", "committed_usd",
                  "on_demand_extra_usd", "total_usd", "vs_on_demand_usd", "idle_gpu_hours")
COMMIT_DEFAULT = ("commitment", "term_months", "sized_for_month", "gpus_committed", "total_usd", "vs_on_demand_usd",
                  "idle_gpu_hours")
INT_COLUMNS = ("replicas", "spare_replicas", "gpus", "gpu_hours")  # None past the planner's limits: nullable ints
MAX_STEP_LINES = 4  # design choice: name the first few replica steps, count the rest (the table has them all)


def check_growth(growth_per_month: float | None, months: int) -> None:
    """PlanRequest.growth_per_month in [-0.5, 1] (None: no view) and months 1..120; else InvalidValueError."""
    lo, hi = GROWTH_RANGE
    if growth_per_month is not None and (isinstance(growth_per_month, bool)
                                         or not isinstance(growth_per_month, (int, float))
                                         or not math.isfinite(growth_per_month)
                                         or not lo <= growth_per_month <= hi):
        raise InvalidValueError(f"growth_per_month (--growth): expected a fraction from {lo:g} to {hi:g} (-50% to "
                                f"+100% a month, e.g. 0.08 for 8%/month), got {growth_per_month!r}")
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
        raise InvalidValueError(f"months (--months): expected a whole number of months from 1 to {MAX_MONTHS}, "
                                f"got {months!r}")


def volumes(tokens_per_day: float, growth_per_month: float, months: int) -> list[float]:
    """Tokens/day in months 1..months: V x (1 + g)^(m - 1)."""
    return [tokens_per_day * (1.0 + growth_per_month) ** (m - 1) for m in range(1, months + 1)]


def cheaper_side(self_host_usd: float | None, api_usd: float | None, margin: float) -> str | None:
    """planner.verdict's rule: self-host only when the API costs at least `margin` x the self-hosted bill."""
    if self_host_usd is None or api_usd is None:
        return None
    return "self-host" if api_usd >= margin * self_host_usd else "api"


def growth_view(plan, req, fleet, cat) -> View:
    """The growth view of `plan` (module docstring) for PlanRequest `req` (growth_per_month, months)."""
    check_growth(req.growth_per_month, req.months)
    g, months = float(req.growth_per_month), int(req.months)
    api_price = reference_pricer(plan, cat)
    replan = plan.at_gpu_price(1.0) if plan.at_gpu_price is not None else None
    rows = [_month(m, v, plan, fleet, api_price, replan)
            for m, v in enumerate(volumes(plan.workload.tokens_per_day, g, months), start=1)]
    table = pd.DataFrame(rows, columns=list(COLUMNS)).astype({c: "Int64" for c in INT_COLUMNS})
    change = verdict_change(table)
    totals, priced = span_totals(table)
    commit, commit_lines = commitment_table(plan, req, fleet, cat)
    lines = (_step_lines(table, fleet) + _limit_lines(table) + [_change_line(table, change, plan.margin),
                                                                 _totals_line(totals, priced, months)] + commit_lines)
    record = {"months": months, "growth_per_month": g, "verdict_change_month": change,
              "cheaper_at_start": _at(table, 0), "cheaper_at_end": _at(table, -1),
              "totals": totals, "months_totalled": priced, "reference_api": plan.reference_api}
    tables = {"growth": table} | ({"commitment": commit} if commit is not None else {})
    columns = {"growth": DEFAULT_COLUMNS, "commitment": COMMIT_DEFAULT}
    title = f"Growth: {g:+.1%} volume a month over {months} month(s), the planned configuration re-sized each month"
    return View("growth", title, tables, columns, tuple(lines), record)


def _at(table: pd.DataFrame, i: int) -> str | None:
    side = table["cheaper"].iloc[i]
    return None if pd.isna(side) else str(side)


def _month(m: int, v: float, plan, fleet, api_price, replan) -> dict:
    """One month's row; the self-hosted columns are None past the planner's limits (planner.limits)."""
    if v > MAX_TOKENS_PER_DAY:  # a workload past the limit cannot be built (planner.limits)
        return {"month": m, "tokens_per_day": v} | dict.fromkeys(COLUMNS[2:])
    w = plan.workload if m == 1 else plan.workload.scaled_to(v)
    n = fleet.replicas_for(w.requests_per_s_peak)
    within = n <= MAX_REPLICAS
    gpus = fleet.gpus(n) if within else None
    self_host = fleet.monthly_cost(n, w) if within else None
    api = api_price(w, gpus or 0)
    replanned = None
    if replan is not None:
        cost = replan(v)[0]
        replanned = cost if math.isfinite(cost) else None
    return {"month": m, "tokens_per_day": v, "replicas": n if within else None,
            "spare_replicas": fleet.spares(n) if within else None, "gpus": gpus,
            "gpu_hours": gpus * HOURS_PER_MONTH if within else None, "self_host_usd": self_host, "api_usd": api,
            "replanned_usd": replanned, "cheaper": cheaper_side(self_host, api, plan.margin)}


def reference_pricer(plan, cat) -> Callable:
    """(workload, GPUs in use) -> the reference API's monthly bill [USD/month], priced as the plan's API table prices
    it (planner.api_costs, plus the compliance lines under --compliance-on-api); a dedicated reference (data
    residency) priced per unit-hour (planner.dedicated); None when the reference is priced nowhere."""
    from planner.api_costs import api_costs

    labels = cat.api_prices["provider"] + " / " + cat.api_prices["model"]
    rows = cat.api_prices[labels == plan.reference_api].head(1)
    if len(rows):
        def per_token(w, gpus: int) -> float:
            cost = float(api_costs(w, rows)["monthly_cost"].iloc[0])
            return cost + (plan.shared(w.tokens_per_day) if plan.shared is not None else 0.0)

        return per_token
    from planner.dedicated import dedicated_costs, load_dedicated_offers

    offers = cat.dedicated_offers if cat.dedicated_offers is not None else load_dedicated_offers()
    gpu = plan.deployment["gpu"]

    def dedicated(w, gpus: int) -> float | None:
        costs = dedicated_costs(offers, w, plan.model, {gpu: gpus})
        hit = costs[costs["label"] == plan.reference_api]
        return float(hit["monthly_cost"].iloc[0]) if len(hit) else None

    return dedicated


def verdict_change(table: pd.DataFrame) -> int | None:
    """The first month whose cheaper side differs from month 1's (None: the same side in every month priced)."""
    sides = [None if pd.isna(c) else c for c in table["cheaper"]]
    for m, side in zip(table["month"], sides, strict=True):
        if side is not None and sides[0] is not None and side != sides[0]:
            return int(m)
    return None


def span_totals(table: pd.DataFrame) -> tuple[dict, int]:
    """Totals [USD] of self_host_usd, api_usd and replanned_usd over the months where both sides are priced (the
    first ones: later months pass the planner's limits), and how many months that is."""
    priced = table[table["self_host_usd"].notna() & table["api_usd"].notna()]
    return ({k: None if priced[k].isna().any() else float(priced[k].sum())
             for k in ("self_host_usd", "api_usd", "replanned_usd")}, len(priced))


def _step_lines(table: pd.DataFrame, fleet) -> list[str]:
    """When the replicas step up (or down), with one replica's rate at peak."""
    reps = [None if pd.isna(r) else int(r) for r in table["replicas"]]
    steps = [(int(table["month"].iloc[i]), reps[i - 1], reps[i]) for i in range(1, len(reps))
             if reps[i] is not None and reps[i - 1] is not None and reps[i] != reps[i - 1]]
    if not steps:
        return [f"Replicas stay at {reps[0]} over the {len(reps)} month(s): one replica serves "
                f"{fleet.replica_rps:.3g} requests/s at peak within the latency targets."]
    said = "; ".join(f"{a} to {b} in month {m}" for m, a, b in steps[:MAX_STEP_LINES])
    more = f"; {len(steps) - MAX_STEP_LINES} more step(s) in the table" if len(steps) > MAX_STEP_LINES else ""
    return [f"Replicas change {said}{more} (each replica serves {fleet.replica_rps:.3g} requests/s at peak within "
            "the latency targets; spares follow the plan's redundancy policy)."]


def _limit_lines(table: pd.DataFrame) -> list[str]:
    past = table.loc[table["replicas"].isna(), "month"]
    if past.empty:
        return []
    return [f"From month {int(past.iloc[0])} the volume or the replicas pass what inferplan plans for "
            f"({fmt_tokens(MAX_TOKENS_PER_DAY)} tokens/day, {MAX_REPLICAS:,} replicas: planner/limits.py); those "
            "months are left blank."]


def _change_line(table: pd.DataFrame, change: int | None, margin: float) -> str:
    first = None if pd.isna(table["cheaper"].iloc[0]) else table["cheaper"].iloc[0]
    rule = f"self-hosting counts as cheaper only when the API costs at least {margin:g}x the self-hosted bill"
    if first is None:
        return f"The reference API has no price at this volume, so no side is named cheaper ({rule})."
    if change is None:
        n = int(table["cheaper"].notna().sum())
        over = f"all {n} month(s)" if n == len(table) else f"the {n} month(s) priced"
        return f"The cheaper side stays {_side(first)} over {over} ({rule})."
    row = table[table["month"] == change].iloc[0]
    return (f"The cheaper side changes from {_side(first)} to {_side(row['cheaper'])} in month {change}, at "
            f"{fmt_tokens(row['tokens_per_day'], 2)} tokens/day ({rule}).")


def _side(side: str) -> str:
    return "self-hosting" if side == "self-host" else "the API"


def _totals_line(totals: dict, priced: int, months: int) -> str:
    span = f"over the {months} month(s)" if priced == months else f"over months 1-{priced} (the months priced)"
    parts = [f"{what} {fmt_usd(totals[k]) if totals[k] is not None else 'not priced every month'}"
             for k, what in (("self_host_usd", "self-hosting this configuration"), ("api_usd", "the reference API"),
                             ("replanned_usd", "re-planning the cheapest configuration each month"))]
    return f"Totals {span}: " + ", ".join(parts) + "."


def commitment_cost(needs: Sequence[int], committed: int, reserved_usd_per_gpu_hour: float,
                    on_demand_usd_per_gpu_hour: float, on_demand_instance: int = 1) -> dict:
    """A term of `committed` reserved GPUs serving `needs` (GPUs needed each month of the term) [USD, GPU-hours]:
    the commitment is paid every month; GPUs needed above it are rented on demand in whole instances of
    `on_demand_instance` GPUs; committed GPUs no month needs are idle."""
    extra = [math.ceil(max(0, n - committed) / on_demand_instance) * on_demand_instance for n in needs]
    committed_usd = committed * reserved_usd_per_gpu_hour * HOURS_PER_MONTH * len(needs)
    extra_usd = sum(extra) * on_demand_usd_per_gpu_hour * HOURS_PER_MONTH
    return {"committed_usd": committed_usd, "on_demand_extra_usd": extra_usd, "total_usd": committed_usd + extra_usd,
            "idle_gpu_hours": sum(max(0, committed - n) for n in needs) * HOURS_PER_MONTH}


def commitment_table(plan, req, fleet, cat) -> tuple[pd.DataFrame | None, list[str]]:
    """Table ``commitment`` (module docstring) and its sentences; (None, why) without the offers to price it."""
    from planner.prices import gpus_billed, instance_size

    g, span = float(req.growth_per_month), int(req.months)
    longest = max(t for _, t in TERMS)
    needs = _gpu_needs(plan, fleet, g, longest)
    rows, lines = [], []
    for pricing, term in TERMS:
        reserved = _offer(cat, fleet, pricing, plan.deployment.get("provider"), max(needs[:term]))
        if reserved is None:
            lines.append(f"No {pricing} offer for {fleet.dep.gpu.id}: that commitment is not priced.")
            continue
        if len(needs) < term:
            lines.append(f"A {pricing} commitment is not priced: the volume passes what inferplan plans for "
                         f"(planner/limits.py) in month {len(needs) + 1} of its {term}-month term.")
            continue
        on_demand = _offer(cat, fleet, ON_DEMAND, reserved["provider"], max(needs[:term]))
        if on_demand is None:
            lines.append(f"No on-demand offer for {fleet.dep.gpu.id}: GPUs above a {pricing} commitment cannot be "
                         "priced, so it is not shown.")
            continue
        od_price, od_size = float(on_demand["usd_per_gpu_hour"]), instance_size(on_demand)
        base = commitment_cost(needs[:term], 0, 0.0, od_price, od_size)["total_usd"]
        rows.append(_commit_row(f"{ON_DEMAND} only", None, 0, term, base,
                                commitment_cost(needs[:term], 0, 0.0, od_price, od_size)))
        for month in dict.fromkeys((1, min(term, span))):
            committed = gpus_billed(needs[month - 1], reserved)
            cost = commitment_cost(needs[:term], committed, float(reserved["usd_per_gpu_hour"]), od_price, od_size)
            rows.append(_commit_row(pricing, month, committed, term, base, cost))
        lines.append(_offer_line(pricing, reserved, on_demand))
        if term > span:
            lines.append(f"A {pricing} term runs {term} months, past the {span}-month span: its months "
                         f"{span + 1}-{term} assume the same growth.")
    table = pd.DataFrame(rows, columns=list(COMMIT_COLUMNS)).astype({"sized_for_month": "Int64"})
    return (table if rows else None), lines


def _commit_row(name: str, month: int | None, committed: int, term: int, base: float, cost: dict) -> dict:
    return {"commitment": name, "sized_for_month": month, "gpus_committed": committed, "term_months": term,
            **{k: cost[k] for k in ("committed_usd", "on_demand_extra_usd", "total_usd")},
            "vs_on_demand_usd": cost["total_usd"] - base, "idle_gpu_hours": int(cost["idle_gpu_hours"])}


def _gpu_needs(plan, fleet, g: float, months: int) -> list[int]:
    """GPUs in use (replicas + spares) in months 1..months at growth g, up to the first month past the planner's
    limits (planner.limits), which ends the list."""
    out = []
    for v in volumes(plan.workload.tokens_per_day, g, months):
        n = fleet.replicas_for(plan.workload.scaled_to(v).requests_per_s_peak) if v <= MAX_TOKENS_PER_DAY else None
        if n is None or n > MAX_REPLICAS:
            break
        out.append(fleet.gpus(n))
    return out


def _offer(cat, fleet, pricing: str, provider: str | None, gpus: int) -> pd.Series | None:
    """The cheapest `pricing` offer for the plan's GPU renting `gpus`: from `provider` when it sells one, else
    from any provider (the catalogue is already narrowed to --region); None when none is sold."""
    from planner.search import offer_for

    for who in dict.fromkeys((provider, None)):
        found = offer_for(cat.gpu_prices, fleet.dep.gpu.id, pricing, who, max(1, gpus), {})
        if not isinstance(found, PlannerError):
            return found
    return None


def _offer_line(pricing: str, reserved: pd.Series, on_demand: pd.Series) -> str:
    return (f"{pricing}: {reserved['provider']} at ${float(reserved['usd_per_gpu_hour']):.2f}/GPU-hour, paid every "
            f"month of the term whether used or not; GPUs above it on demand from {on_demand['provider']} at "
            f"${float(on_demand['usd_per_gpu_hour']):.2f}/GPU-hour.")


__all__ = ["growth_view", "capex_view", "check_growth", "volumes", "cheaper_side", "verdict_change", "span_totals",
           "commitment_cost", "commitment_table", "reference_pricer", "GROWTH_RANGE", "MAX_MONTHS", "TERMS", "COLUMNS"]
