"""The hidden-cost write-up's worked example reproduced, its slips corrected, then re-planned today (`inferplan seed`).

:func:`seed_report` returns a :class:`SeedReport`: four sections, each a :class:`planner.views.View` (tables,
sentences, a record), and the re-planned :class:`planner.plan.Plan`. Money in USD; the write-up's figures come
from the catalogues (tco_defaults.yaml ``seed_monthly_usd`` and ``seed_reference``; api_prices.yaml rows tagged
``seed``; seed_writeup.yaml for its notes and printed daily totals), ours are computed.

bill (the write-up's production bill; ours = planner.tco.seed_bill, the seed deployment priced by tco_defaults.yaml):
    item                 str    the bill's line
    monthly_usd          float  [USD/month] ours
    writeup_monthly_usd  float  [USD/month] the write-up's printed figure; NaN on a line it does not have
    difference_usd       float  [USD/month] monthly_usd - writeup_monthly_usd
    notes                str    the write-up's note on the line
    basis                str    how ours is computed (planner.tco)
    id                   str    the item's key in tco_defaults.yaml

api (the write-up's workload, 5M input + 1M output tokens/day = DEFAULT_WORKLOAD, at its quoted prices):
    api                                str    the write-up's row
    provider, model                    str    the api_prices.yaml row (tag seed) holding the quoted price
    usd_per_mtok_in, usd_per_mtok_out  float  [USD per 1M tokens]
    daily_usd                          float  [USD/day] = T_in / 1e6 x p_in + T_out / 1e6 x p_out
    monthly_usd                        float  [USD/month] = 30 x daily_usd (SEED_DAYS_PER_MONTH, the write-up's month)
    printed_daily_usd                  float  [USD/day] the write-up's printed total; NaN where none is quoted
    serves, as_of, source              str    from api_prices.yaml

slips (the api rows whose printed daily total does not follow from their prices):
    api                  str
    printed_daily_usd    float  [USD/day] as printed
    daily_usd            float  [USD/day] computed from the prices (the api table's)
    error_daily_usd      float  [USD/day] printed - computed
    printed_monthly_usd  float  [USD/month] 30 x printed
    monthly_usd          float  [USD/month] 30 x computed
    working              str    the arithmetic, e.g. "5 x $3.00 + 1 x $15.00 = $30.00"

replan (the same scenario planned today: planner.plan(PlanRequest()), the default plan):
    line                 str    monthly bill all-in | raw GPU cost | like-for-like API
    writeup_monthly_usd  float  [USD/month] the write-up's figure
    today_monthly_usd    float  [USD/month] today's plan
    basis                str    what each side is
today_bill (today's line items beside the write-up's):
    item, writeup_monthly_usd [USD/month], today_monthly_usd [USD/month], basis (today's), id

Reference: shared/reference/seed_cost_model.md §1 (bill), §2 (API table and its arithmetic).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from planner.errors import PlannerError
from planner.plan import Plan
from planner.units import HOURS_PER_MONTH, SEED_DAYS_PER_MONTH, fmt_tokens, fmt_usd, read_yaml
from planner.views import View
from planner.workload import DEFAULT_WORKLOAD

WRITEUP_GPU = "H100"  # seed §1: "GPU compute, primary (2x H100)"
SEED_WRITEUP_FILE = Path(__file__).resolve().parent / "catalogues" / "seed_writeup.yaml"
SLIP_TOLERANCE_USD = 0.005  # the write-up prints cents: a printed total further than half a cent off is a slip
SECTIONS = ("bill", "api", "slips", "replan")  # the report's sections, in order (JSON keys, sheet names)
# terminal columns of each table (fit 100 columns; --wide shows all)
COLUMNS = {"bill": ("item", "monthly_usd", "writeup_monthly_usd", "notes"),
           "api": ("api", "usd_per_mtok_in", "usd_per_mtok_out", "daily_usd", "monthly_usd", "printed_daily_usd"),
           "slips": ("api", "printed_daily_usd", "daily_usd", "error_daily_usd", "working"),
           "replan": ("line", "writeup_monthly_usd", "today_monthly_usd", "basis"),
           "today_bill": ("item", "writeup_monthly_usd", "today_monthly_usd")}


@dataclass(frozen=True)
class SeedReport:
    """The write-up's example: ``bill``, ``api``, ``slips`` and ``replan_table`` / ``today_bill`` (module docstring),
    the bill's totals [USD/month] and multiplier (ours and the write-up's), and ``plan``, the re-planned scenario."""

    bill: pd.DataFrame
    api: pd.DataFrame
    slips: pd.DataFrame
    replan_table: pd.DataFrame
    today_bill: pd.DataFrame
    plan: Plan
    monthly_total_usd: float
    raw_gpu_monthly_usd: float
    multiplier: float
    writeup_monthly_total_usd: float
    writeup_raw_gpu_monthly_usd: float
    writeup_multiplier: float  # as printed (rounded)
    views: tuple[View, ...] = ()

    def view(self, name: str) -> View:
        """The section called `name` (one of SECTIONS)."""
        for v in self.views:
            if v.name == name:
                return v
        raise PlannerError(f"no seed report section '{name}'; sections: {', '.join(SECTIONS)}")


# ---- the write-up's printed figures (seed_writeup.yaml) ----


@dataclass(frozen=True)
class _Writeup:
    notes: Mapping[str, str]
    bill_source: str
    printed_multiplier: float
    api_rows: tuple[Mapping[str, Any], ...]
    api_source: str


def _load_writeup(path: Path = SEED_WRITEUP_FILE) -> _Writeup:
    doc = read_yaml(path)
    data = doc.data if isinstance(doc.data, Mapping) else {}
    bill, api = data.get("bill") or {}, data.get("api") or {}
    notes, rows = bill.get("notes"), api.get("rows")
    if not isinstance(notes, Mapping) or not notes:
        raise doc.error("'bill.notes' maps tco_defaults.yaml item ids to the write-up's notes", "bill")
    if not isinstance(rows, list) or not rows:
        raise doc.error("'api.rows' lists the write-up's API rows (name, provider, model, printed_daily_usd)", "api")
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or not {"name", "provider", "model"} <= set(row):
            raise doc.error("an API row needs name, provider and model", "api", "rows", i)
        p = row.get("printed_daily_usd")
        if p is not None and (isinstance(p, bool) or not isinstance(p, (int, float)) or p < 0):
            raise doc.error(f"printed_daily_usd is a number >= 0 or null, got {p!r}", "api", "rows", i,
                            field="printed_daily_usd")
    m = bill.get("printed_multiplier")
    if isinstance(m, bool) or not isinstance(m, (int, float)):
        raise doc.error(f"'bill.printed_multiplier' is a number, got {m!r}", "bill")
    return _Writeup({str(k): str(v) for k, v in notes.items()}, str(bill.get("source", "")), float(m),
                    tuple(rows), str(api.get("source", "")))


# ---- 1. the bill ----


def bill_table(writeup: _Writeup, defaults=None) -> pd.DataFrame:
    """The write-up's bill lines priced by planner.tco.seed_bill, its figure and note beside each (a line the
    write-up lacks is shown only where ours is not $0, so the table always sums to our total)."""
    from planner.tco import load_tco_defaults, seed_bill

    defaults = defaults if defaults is not None else load_tco_defaults()
    ours = seed_bill(defaults)
    printed = {it.id: it.seed_monthly_usd for it in defaults.items if it.id in writeup.notes}
    keep = ours["id"].isin(list(writeup.notes)) | (ours["monthly_usd"] != 0)
    df = ours[keep].reset_index(drop=True)
    df["writeup_monthly_usd"] = df["id"].map(printed).astype(float)
    df["difference_usd"] = df["monthly_usd"] - df["writeup_monthly_usd"]
    df["notes"] = df["id"].map(writeup.notes).fillna("not in the write-up's bill")
    return df[["item", "monthly_usd", "writeup_monthly_usd", "difference_usd", "notes", "basis", "id"]]


def _bill_view(bill: pd.DataFrame, writeup: _Writeup, ref: Mapping, left_out: list[str]) -> tuple[View, tuple]:
    total, gpu = float(bill["monthly_usd"].sum()), float(bill.loc[bill["id"] == "gpu_primary", "monthly_usd"].sum())
    multiplier = total / gpu
    w_total, w_gpu = float(ref["total_monthly_usd"]), float(ref["gpu_monthly_primary"])
    lines = [f"Total {fmt_usd(total)}/month (the write-up: {fmt_usd(w_total)}) = {multiplier:.2f}x the "
             f"{fmt_usd(gpu)} raw GPU cost (the write-up: {fmt_usd(w_gpu)}, {writeup.printed_multiplier:g}x).",
             f"Ours prices the write-up's deployment ({ref['gpus_primary']} primary {WRITEUP_GPU}s, "
             f"{float(ref['hot_standby_fraction']):.0%} hot standby) with the line-item model that plans use "
             "(how each line is computed: --wide)."]
    if left_out:
        lines.append(f"Costs the write-up's bill leaves out, $0 in this reproduction and billed by plans: "
                     f"{', '.join(left_out)}.")
    record = {"monthly_total_usd": total, "raw_gpu_monthly_usd": gpu, "multiplier": multiplier,
              "writeup_monthly_total_usd": w_total, "writeup_raw_gpu_monthly_usd": w_gpu,
              "writeup_multiplier": writeup.printed_multiplier, "source": writeup.bill_source}
    view = View("bill", "1. The write-up's production bill (70B model, 99.9% uptime), reproduced",
                {"bill": bill}, {"bill": COLUMNS["bill"]}, tuple(lines), record)
    return view, (total, gpu, multiplier, w_total, w_gpu)


# ---- 2. the API table and 3. its slips ----


def api_table(writeup: _Writeup, api_prices: pd.DataFrame | None = None) -> pd.DataFrame:
    """The write-up's API rows at the prices it quoted (api_prices.yaml rows tagged seed), priced on its workload."""
    from planner.api_costs import api_daily_cost
    from planner.prices import has_tag, load_api_prices

    prices = api_prices if api_prices is not None else load_api_prices()
    prices = prices[has_tag(prices, "seed")]
    rows = []
    for r in writeup.api_rows:
        hit = prices[(prices["provider"] == r["provider"]) & (prices["model"] == r["model"])]
        if hit.empty:
            raise PlannerError(f"{SEED_WRITEUP_FILE.name}: '{r['name']}' names {r['provider']} / {r['model']}, which "
                               "is not an api_prices.yaml row tagged seed")
        p = hit.iloc[0]
        daily = api_daily_cost(DEFAULT_WORKLOAD.tokens_in_per_day, DEFAULT_WORKLOAD.tokens_out_per_day,
                               p["usd_per_mtok_in"], p["usd_per_mtok_out"])  # the write-up ignores prompt caching
        printed = r.get("printed_daily_usd")
        rows.append({"api": r["name"], "provider": p["provider"], "model": p["model"],
                     "usd_per_mtok_in": float(p["usd_per_mtok_in"]), "usd_per_mtok_out": float(p["usd_per_mtok_out"]),
                     "daily_usd": daily, "monthly_usd": SEED_DAYS_PER_MONTH * daily,
                     "printed_daily_usd": math.nan if printed is None else float(printed),
                     "serves": p["serves"], "as_of": p["as_of"], "source": p["source"]})
    return pd.DataFrame(rows)


def slips_table(api: pd.DataFrame) -> pd.DataFrame:
    """The rows whose printed daily total is more than SLIP_TOLERANCE_USD from the one computed from its prices."""
    tin, tout = DEFAULT_WORKLOAD.tokens_in_per_day / 1e6, DEFAULT_WORKLOAD.tokens_out_per_day / 1e6
    off = api[api["printed_daily_usd"].notna() & ((api["printed_daily_usd"] - api["daily_usd"]).abs()
                                                  > SLIP_TOLERANCE_USD)]
    return pd.DataFrame({
        "api": off["api"], "printed_daily_usd": off["printed_daily_usd"], "daily_usd": off["daily_usd"],
        "error_daily_usd": off["printed_daily_usd"] - off["daily_usd"],
        "printed_monthly_usd": SEED_DAYS_PER_MONTH * off["printed_daily_usd"], "monthly_usd": off["monthly_usd"],
        "working": [f"{tin:g} x ${a:.2f} + {tout:g} x ${b:.2f} = ${d:.2f}"
                    for a, b, d in zip(off["usd_per_mtok_in"], off["usd_per_mtok_out"], off["daily_usd"], strict=True)],
    }).reset_index(drop=True)


def _api_views(api: pd.DataFrame, slips: pd.DataFrame, writeup: _Writeup) -> tuple[View, View]:
    w = DEFAULT_WORKLOAD
    volume = f"{fmt_tokens(w.tokens_in_per_day, 3)} input + {fmt_tokens(w.tokens_out_per_day, 3)} output tokens/day"
    api_view = View(
        "api", f"2. The same workload on APIs: {volume} at the write-up's quoted prices", {"api": api},
        {"api": COLUMNS["api"]},
        (f"daily = input tokens/1e6 x $/M in + output tokens/1e6 x $/M out; monthly = {SEED_DAYS_PER_MONTH} x daily "
         "(the write-up's month). printed_daily_usd: the write-up's own total (– where none is quoted).",),
        {"tokens_in_per_day": w.tokens_in_per_day, "tokens_out_per_day": w.tokens_out_per_day,
         "days_per_month": SEED_DAYS_PER_MONTH, "source": writeup.api_source})
    worst = slips.loc[slips["error_daily_usd"].abs().idxmax()] if len(slips) else None
    lines = (f"{len(slips)} of the write-up's {len(api)} daily totals do not follow from its own prices; the "
             "correct values are computed from the prices above, never copied."
             + (f" The largest: {worst['api']}, printed {fmt_usd(worst['printed_daily_usd'])}/day, correct "
                f"{fmt_usd(worst['daily_usd'])}/day." if worst is not None else ""),)
    slips_view = View("slips", "3. The write-up's arithmetic slips, corrected", {"slips": slips},
                      {"slips": COLUMNS["slips"]}, lines, {"count": len(slips), "source": writeup.api_source})
    return api_view, slips_view


# ---- 4. the scenario re-planned with today's catalogue ----


def _writeup_like_for_like(api: pd.DataFrame, model: str) -> pd.Series | None:
    """The write-up's cheapest API row serving the plan's model (the same weights, hosted), or None."""
    same = api[api["serves"] == model].sort_values("monthly_usd", kind="stable")
    return same.iloc[0] if len(same) else None


def _writeup_fleet(bill: pd.DataFrame, gpus_primary: int) -> tuple[int, int, float]:
    """(primary GPUs, spare GPUs, $/GPU-hour) of the write-up's deployment, read off the priced bill."""
    usd = dict(zip(bill["id"], bill["monthly_usd"], strict=True))
    per_gpu = usd["gpu_primary"] / gpus_primary
    return gpus_primary, round(usd.get("gpu_failover", 0.0) / per_gpu), per_gpu / HOURS_PER_MONTH


def replan_tables(plan: Plan, bill: pd.DataFrame, api: pd.DataFrame, w_total: float, w_gpu: float,
                  gpus_primary: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(replan, today_bill): the write-up's totals and like-for-like API beside today's plan (module docstring);
    `gpus_primary`: the write-up's primary GPUs (tco_defaults.yaml seed_reference)."""
    d = plan.deployment
    n, spare, rate = _writeup_fleet(bill, gpus_primary)
    ref = plan.api[plan.api["label"] == plan.reference_api]
    ref_monthly = float(ref["monthly_cost"].iloc[0]) if len(ref) else math.nan
    theirs = _writeup_like_for_like(api, plan.model)
    deployment = (f"{int(d['replicas'])} + {int(d['spare_replicas'])} spare x {int(d['tp'])}x {d['gpu']} "
                  f"({d['quant']}, {d['pricing']} at ${d['usd_per_gpu_hour']:.2f}/GPU-h)")
    rows = [("Monthly bill, all-in", w_total, plan.monthly_total_cost,
             f"the write-up: {n} + {spare} spare {WRITEUP_GPU} at ${rate:.2f}/GPU-h; today: {deployment}"),
            ("Raw GPU cost (primary GPUs)", w_gpu, plan.monthly_gpu_cost,
             f"the write-up: {n}x {WRITEUP_GPU}; today: {int(d['replicas'] * d['tp'])}x {d['gpu']}"),
            ("Like-for-like API (same weights)", math.nan if theirs is None else theirs["monthly_usd"], ref_monthly,
             f"the write-up: {'none' if theirs is None else theirs['api']} ({SEED_DAYS_PER_MONTH}-day month); "
             f"today: {plan.reference_api} ({HOURS_PER_MONTH}-hour month)")]
    replan = pd.DataFrame(rows, columns=["line", "writeup_monthly_usd", "today_monthly_usd", "basis"])
    printed = dict(zip(bill["id"], bill["writeup_monthly_usd"], strict=True))
    items = plan.line_items
    today = pd.DataFrame({"item": items["item"], "writeup_monthly_usd": items["id"].map(printed).astype(float),
                          "today_monthly_usd": items["monthly_usd"], "basis": items["basis"], "id": items["id"]})
    return replan, today.reset_index(drop=True)


def _replan_view(plan: Plan, replan: pd.DataFrame, today: pd.DataFrame, w_mult: float) -> View:
    d, v = plan.deployment, plan.verdict
    theirs, ref_monthly = replan["writeup_monthly_usd"].iloc[2], float(replan["today_monthly_usd"].iloc[2])
    lines = (f"Today's plan of the same scenario (the default plan, `inferplan plan`): {int(d['replicas'])} replica(s) "
             f"+ {int(d['spare_replicas'])} spare of {int(d['tp'])}x {d['gpu']} ({d['quant']}) = "
             f"{int(d['gpus_total'])} GPUs, {d['pricing']} at ${d['usd_per_gpu_hour']:.2f}/GPU-h "
             f"({d.get('provider') or 'any provider'}, {d.get('region') or 'any region'}, prices of {d.get('as_of')}).",
             f"It costs {fmt_usd(plan.monthly_total_cost)}/month all-in, {plan.tco_multiplier:.2f}x its "
             f"{fmt_usd(plan.monthly_gpu_cost)} raw GPU cost (the write-up: {w_mult:g}x).",
             f"The same weights hosted, {plan.reference_api}, cost {fmt_usd(ref_monthly)}/month (the write-up's "
             f"cheapest: {fmt_usd(theirs)}/month); the line-by-line bill is in the second table (how each line "
             "is computed: --wide).",
             f"Verdict: {v.decision}. {v.reasons[0] if v.reasons else ''}".rstrip())
    record = {"deployment": dict(d), "monthly_total_usd": plan.monthly_total_cost,
              "raw_gpu_monthly_usd": plan.monthly_gpu_cost, "multiplier": plan.tco_multiplier,
              "reference_api": plan.reference_api, "reference_api_monthly_usd": ref_monthly,
              "verdict": v.decision, "verdict_reasons": list(v.reasons)}
    return View("replan", "4. The same scenario planned today", {"replan": replan, "today_bill": today},
                {"replan": COLUMNS["replan"], "today_bill": COLUMNS["today_bill"]}, lines, record)


def seed_report() -> SeedReport:
    """The write-up's bill and API table reproduced from the catalogues, its slips beside the computed values, and
    the same scenario re-planned with today's catalogue (``planner.plan(PlanRequest())``)."""
    from planner.api import PlanRequest, plan
    from planner.tco import load_tco_defaults

    writeup, defaults = _load_writeup(), load_tco_defaults()
    bill = bill_table(writeup, defaults)
    left_out = [it.item for it in defaults.items if it.id not in writeup.notes and it.id not in set(bill["id"])]
    bill_view, (total, gpu, mult, w_total, w_gpu) = _bill_view(bill, writeup, defaults.seed_reference, left_out)
    api = api_table(writeup)
    slips = slips_table(api)
    api_view, slips_view = _api_views(api, slips, writeup)
    today_plan = plan(PlanRequest())
    replan, today = replan_tables(today_plan, bill, api, w_total, w_gpu,
                                  int(defaults.seed_reference["gpus_primary"]))
    return SeedReport(bill, api, slips, replan, today, today_plan, total, gpu, mult, w_total, w_gpu,
                      writeup.printed_multiplier,
                      (bill_view, api_view, slips_view, _replan_view(today_plan, replan, today,
                                                                     writeup.printed_multiplier)))


def report_tables(report: SeedReport) -> dict[str, pd.DataFrame]:
    """Every table of the report by name, in order (one sheet each in -o seed.xlsx)."""
    return {name: df for v in report.views for name, df in v.tables.items()}


def report_csv_table(report: SeedReport) -> pd.DataFrame:
    """The whole report as one table (--format csv): every section's rows under a ``table`` column naming it
    (bill, api, slips, replan, today_bill), columns the union of the tables' (empty where a table lacks one)."""
    parts = [df.assign(table=name) for name, df in report_tables(report).items()]
    df = pd.concat(parts, ignore_index=True)
    return df[["table", *[c for c in df.columns if c != "table"]]]


__all__ = ["SeedReport", "seed_report", "bill_table", "api_table", "slips_table", "replan_tables",
           "report_tables", "report_csv_table", "SEED_WRITEUP_FILE", "SECTIONS", "COLUMNS"]
