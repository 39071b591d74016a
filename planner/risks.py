"""Risks and hidden costs that are not line items: lock-in, talent, opportunity cost, model-update lag.

The figures live in ``planner/catalogues/risks.yaml``, each with ``as_of`` and ``source`` (issue 19 item 5; seed
§3). :func:`risk_table` turns a plan's facts (:class:`PlanFacts`) into the Risks DataFrame, one row per risk, with
columns ``risk, value, unit, what_it_means`` (one plain sentence with the plan's numbers), ``source, as_of,
overridable_by`` (the CLI flag or catalogue key that changes it) and ``id`` (commitment, migration, spot, talent,
opportunity — only when hours are given — and update_lag):

    committed    = monthly GPU bill [USD/month] x commitment months (buy: amortisation life [yr] x 12)   [USD]
    migration    = engineer-weeks x engineer cost [USD/yr] / 52                             [USD]
    talent mid   = (low + high) / 2 x usd_per_unit                                         [USD/yr]
    opportunity  = hours per month x engineer cost [USD/yr] / hours_worked_per_year       [USD/month]
    update lag   = 12 / events_per_year / 2 + engineer_weeks_per_event / engineers / (52 / 12)   [months]

The caller wires ``--talent-region`` (:func:`talent_engineer_usd_per_year` -> :func:`planner.tco.with_engineer_cost`),
``--opportunity-hours`` and ``--risks FILE``; :func:`plan_risks` reads the facts off a Plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from planner.errors import PlannerError
from planner.price_rows import as_of, close_hint, merge_rows, price, read_docs, read_rows, text
from planner.prices import CATALOGUE_DIR
from planner.units import fmt_usd

RISKS_FILE: Path = CATALOGUE_DIR / "risks.yaml"
RISK_COLUMNS = ("risk", "value", "unit", "what_it_means", "source", "as_of", "overridable_by", "id")
BUY_LIFE = "amortisation_years"  # the buy commitment: purchase.params.amortisation_years in gpu_prices.yaml
WEEKS_PER_YEAR = 52
TALENT_DEFAULT_REGION = "us"  # the talent row's range when no --talent-region is named (the seed's)
PAY = ("total-comp", "base")  # total-comp = salary + bonus + equity; base = salary only


@dataclass(frozen=True)
class Sourced:
    value: Any  # a number (BUY_LIFE for the buy commitment)
    as_of: str
    source: str


@dataclass(frozen=True)
class Risks:
    """risks.yaml: commitments (pricing -> Sourced months), values (VALUE_IDS -> Sourced), spot (DataFrame by GPU
    id: instance, low, high [share of capacity reclaimed per month], as_of, source), price_spread (instance,
    low/high_usd_per_hour [USD/instance-h], as_of, source), talent (DataFrame by region: low, high [currency/yr],
    currency, usd_per_unit, pay, as_of, source, and low_usd, high_usd, mid_usd [USD/yr]). Shared: do not mutate."""

    commitments: dict
    values: dict
    spot: pd.DataFrame
    price_spread: dict
    talent: pd.DataFrame


@dataclass(frozen=True)
class PlanFacts:
    """A plan's facts. None: engineer cost = the TCO defaults' (with --talent-region the caller passes the
    region's mid-point, or defaults made by with_engineer_cost); no opportunity row; buy life = gpu_prices.yaml's."""
    pricing: str  # on-demand | reserved-1y | reserved-3y | spot | buy
    gpu: str  # profiler GPU id
    gpus: int  # primary + spare
    gpu_monthly_usd: float  # [USD/month]
    self_host_monthly_usd: float  # the whole bill [USD/month]
    existing_infra: bool = False
    engineer_usd_per_year: float | None = None
    talent_region: str | None = None
    opportunity_hours_per_month: float | None = None
    buy_life_years: float | None = None


# ---- loading (planner.price_rows: file:line errors; a --risks file's row replaces the fields it sets) ----
def _number(low: float = 0.0, high: float = math.inf, strict: bool = False):
    def check(v: Any, f: str) -> float:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or v < low or v > high or (strict and v == low):
            raise ValueError(f"expected a number {'>' if strict else '>='} {low:g}"
                             + (f" and <= {high:g}" if high < math.inf else "") + f", got {v!r}")
        return float(v)
    return check


_nonneg, _positive, _share = _number(), _number(strict=True), _number(high=1.0)


def _months(v: Any, f: str) -> float | str:
    return v if v == BUY_LIFE else _nonneg(v, f)


def _one_of(choices: tuple[str, ...]):
    def check(v: Any, f: str) -> str:
        if v not in choices:
            raise ValueError(f"unknown {f} {v!r}{close_hint(str(v), choices)}; use one of {', '.join(choices)}")
        return v
    return check


VALUE_IDS = ("migration_engineer_weeks", "spot_notice_s", "hours_worked_per_year", "engineers_per_upgrade")
_pay, _value_id = _one_of(PAY), _one_of(VALUE_IDS)


def _spec(**checks) -> dict:  # {field: (checker, required)} for read_rows: all required, plus as_of and source
    return {**{k: (c, True) for k, c in checks.items()}, "as_of": (as_of, True), "source": (text, True)}


_SECTIONS = {  # section: (key, fields)
    "commitments": ("pricing", _spec(pricing=text, months=_months)),
    "values": ("id", _spec(id=_value_id, value=_positive)),
    "spot_interruption": ("gpu", _spec(gpu=text, instance=text, low=_share, high=_share)),
    "spot_price_spread": ("instance", _spec(instance=text, low_usd_per_hour=price, high_usd_per_hour=price)),
    "talent": ("region", _spec(region=text, low=_positive, high=_positive, currency=text, usd_per_unit=_positive,
                               pay=_pay)),
}


def _rows(docs, section: str) -> dict[str, dict]:
    key, spec = _SECTIONS[section]
    rows = []
    for d in docs:
        for i, r in enumerate(read_rows(d, section, spec, (key,))):
            lo, hi = ("low_usd_per_hour", "high_usd_per_hour") if "low_usd_per_hour" in r else ("low", "high")
            if lo in r and r[lo] > r[hi]:
                raise d.error(f"{lo} ({r[lo]:g}) is above {hi} ({r[hi]:g})", section, i, lo, entry=r[key], field=lo)
            rows.append(r)
    return {r[key]: {k: v for k, v in r.items() if k != "_given"} for r in merge_rows(rows, (key,))}


@lru_cache(maxsize=8)
def load_risks(path: str | Path | None = None) -> Risks:
    """The packaged risks catalogue, with the YAML at `path` (``--risks FILE``) over it, row by row."""
    docs = read_docs(RISKS_FILE, path)
    for d in docs:
        for k in d.data or {}:
            if k not in _SECTIONS and k != "schema_version":
                raise d.error(f"unknown section{close_hint(str(k), _SECTIONS)}; sections: {', '.join(_SECTIONS)}", k)
    t = {name: _rows(docs, name) for name in _SECTIONS}
    missing = [v for v in VALUE_IDS if v not in t["values"]] + [TALENT_DEFAULT_REGION] * (
        TALENT_DEFAULT_REGION not in t["talent"]) + ["spot_price_spread"] * (not t["spot_price_spread"])
    if missing:
        raise PlannerError(f"{docs[-1].file}: the risks catalogue lacks {', '.join(missing)}")
    tal = pd.DataFrame.from_dict(t["talent"], orient="index")
    talent = tal.assign(low_usd=tal["low"] * tal["usd_per_unit"], high_usd=tal["high"] * tal["usd_per_unit"],
                        mid_usd=(tal["low"] + tal["high"]) / 2 * tal["usd_per_unit"])  # [USD/yr]
    return Risks({k: Sourced(r["months"], r["as_of"], r["source"]) for k, r in t["commitments"].items()},
                 {k: Sourced(r["value"], r["as_of"], r["source"]) for k, r in t["values"].items()},
                 pd.DataFrame.from_dict(t["spot_interruption"], orient="index"),
                 next(iter(t["spot_price_spread"].values())), talent)


def talent_range(region: str, risks: Risks | None = None) -> pd.Series:
    """The region's row of ``Risks.talent`` (low_usd, high_usd, mid_usd [USD/yr], pay, as_of, source, ...)."""
    regions = list((risks or load_risks()).talent.index)
    if region not in regions:
        raise PlannerError(f"unknown talent region '{region}'{close_hint(region, regions)}; known regions: "
                           f"{', '.join(regions)} (add one under talent: with --risks FILE)")
    return (risks or load_risks()).talent.loc[region]


def talent_engineer_usd_per_year(region: str, risks: Risks | None = None) -> tuple[float, str]:
    """(mid-point of the region's pay range [USD/yr], its source): the people-cost basis for ``--talent-region``."""
    t = talent_range(region, risks)
    return float(t["mid_usd"]), (f"talent region {region}: mid-point of {fmt_usd(t['low_usd'])}-"
                                 f"{fmt_usd(t['high_usd'])} ({t['pay']}, {t['as_of']}); {t['source']}")


def engineer_usd_per_hour(usd_per_year: float, risks: Risks | None = None) -> float:
    """Annual engineer cost / hours worked per year [USD/h] (192,000 / 2,080 = 92.31)."""
    return usd_per_year / (risks or load_risks()).values["hours_worked_per_year"].value


def opportunity_cost_monthly(hours_per_month: float, usd_per_hour: float) -> float:
    """Engineer-hours a month spent on inference x the hourly rate [USD/month]."""
    if not all(math.isfinite(v) and v >= 0 for v in (hours_per_month, usd_per_hour)):
        raise PlannerError(f"hours and rate must be finite numbers >= 0, got {hours_per_month!r}, {usd_per_hour!r}")
    return hours_per_month * usd_per_hour


def commitment_months(pricing: str, risks: Risks | None = None, buy_life_years: float | None = None) -> float:
    """Months `pricing` binds the GPUs for; buy = the purchase life (`buy_life_years`, else gpu_prices.yaml's)."""
    risks = risks or load_risks()
    if pricing not in risks.commitments:
        raise PlannerError(f"no commitment length for pricing '{pricing}'; known: {', '.join(risks.commitments)}")
    value = risks.commitments[pricing].value
    if value == BUY_LIFE and buy_life_years is None:
        from planner.buy import load_purchase  # the purchase life the buy rows are priced over
        buy_life_years = load_purchase()[0].amortisation_years
    return 12 * buy_life_years if value == BUY_LIFE else float(value)


def update_lag_months(events_per_year: float, engineer_weeks_per_event: float,
                      engineers_per_upgrade: float = 1.0) -> tuple[float, float]:
    """(mean, worst) months behind the newest adopted release (risks.yaml update_lag); inf with no upgrades."""
    if events_per_year <= 0:
        return math.inf, math.inf
    interval = 12 / events_per_year
    duration = engineer_weeks_per_event / engineers_per_upgrade / (WEEKS_PER_YEAR / 12)
    return interval / 2 + duration, interval + duration


# ---- the rows: each returns (value, unit, what_it_means, sourced entry, overridable_by) ----
_RISKS, _PER_MONTH = "--risks FILE", "share of capacity reclaimed per month"


def _commitment(f: PlanFacts, rk: Risks, engineer: float):
    months = commitment_months(f.pricing, rk, f.buy_life_years)
    usd, bill = f.gpu_monthly_usd * months, f"{fmt_usd(f.gpu_monthly_usd)}/month x {months:g} months"
    share = f.gpu_monthly_usd / f.self_host_monthly_usd if f.self_host_monthly_usd > 0 else math.nan
    means = {"on-demand": f"on-demand commits $0: the {f.gpus} GPUs can be released any hour, at the top hourly rate.",
             "spot": f"spot commits $0, but the provider can take the {f.gpus} GPUs back at any time (spot row).",
             "owned": f"owned GPUs commit nothing new: the purchase is sunk; the {f.gpus} GPUs' running costs "
                      f"({fmt_usd(f.gpu_monthly_usd)}/month) stop when they are retired or sold.",
             "buy": f"buying commits the {f.gpus} GPUs for {months:g} months, their depreciation life: stopping early "
                    f"leaves up to {fmt_usd(usd)} ({bill}; energy and hosting included, an upper bound) unrecovered "
                    "beyond resale."}.get(f.pricing, f"{f.pricing} commits {fmt_usd(usd)} ({bill}; the GPUs are "
                                          f"{share:.0%} of the {fmt_usd(f.self_host_monthly_usd)}/month bill): "
                                          "leaving early still pays it.")
    return usd, "USD", means, rk.commitments[f.pricing], (
        f"--pricing; --gpu-prices FILE (purchase.params.amortisation_years, for buy); {_RISKS} (commitments)")


def _migration(f: PlanFacts, rk: Risks, engineer: float):
    s = rk.values["migration_engineer_weeks"]
    who = " by the existing MLOps team (their time, not a new hire)" if f.existing_infra else ""
    return s.value, "engineer-weeks", (
        f"moving the serving stack to another provider or GPU takes ~{s.value:g} engineer-weeks{who} (re-evaluation "
        f"on the new hardware, prompt regression tests, gradual rollout): "
        f"{fmt_usd(s.value * engineer / WEEKS_PER_YEAR)} at {fmt_usd(engineer)}/yr."), s, (
        f"{_RISKS} (values: migration_engineer_weeks)")


def _spot(f: PlanFacts, rk: Risks, engineer: float):
    ps, how = rk.price_spread, f"--pricing; {_RISKS} (spot_interruption, spot_price_spread)"
    prices = (f" Spot prices move too: {ps['instance']} ran {fmt_usd(ps['low_usd_per_hour'])}-"
              f"{fmt_usd(ps['high_usd_per_hour'])}/h across the zones of one region.")
    if f.gpu not in rk.spot.index:
        known = ", ".join(f"{g} {b.low:.0%}-{b.high:.0%}" for g, b in rk.spot.iterrows())
        return math.nan, _PER_MONTH, (f"no published spot interruption band for {f.gpu or 'this GPU'} (published: "
                                      f"{known}).{prices}"), Sourced(None, ps["as_of"], ps["source"]), how
    b = rk.spot.loc[f.gpu]
    taken = (f"AWS reclaimed {b['low']:.0%}-{b['high']:.0%} of {b['instance']} spot capacity over the trailing month, "
             f"with {rk.values['spot_notice_s'].value:g} s notice")
    means = (f"this plan runs on spot: {taken}; keep spare replicas or an on-demand fallback for its {f.gpus} GPUs."
             if f.pricing == "spot" else f"not on spot; spot would be cheaper, but {taken}.")
    return b["high"], _PER_MONTH, means + prices, Sourced(None, b["as_of"], b["source"]), how


def _talent(f: PlanFacts, rk: Risks, engineer: float):
    t = talent_range(region := f.talent_region or TALENT_DEFAULT_REGION, rk)
    return engineer, "USD/yr", (
        f"people-cost lines use {fmt_usd(engineer)}/yr per engineer; the {region} range is {fmt_usd(t['low_usd'])}-"
        f"{fmt_usd(t['high_usd'])} ({t['pay']}), so those lines run {t['low_usd'] / engineer - 1:+.0%} to "
        f"{t['high_usd'] / engineer - 1:+.0%} across it."), Sourced(None, t["as_of"], t["source"]), (
        f"--talent-region REGION (its mid-point becomes the basis); --tco FILE (globals.engineer_usd_per_year); "
        f"{_RISKS} (talent)")


def _opportunity(f: PlanFacts, rk: Risks, engineer: float):
    s, hours = rk.values["hours_worked_per_year"], f.opportunity_hours_per_month
    rate = engineer_usd_per_hour(engineer, rk)
    usd = opportunity_cost_monthly(hours, rate)
    return usd, "USD/month", (
        f"{hours:g} engineer-hours a month on inference x {fmt_usd(rate)}/h ({fmt_usd(engineer)}/yr / "
        f"{s.value:,.0f} h) = {fmt_usd(usd)}/month of work not done elsewhere (not in the bill)."), s, (
        f"--opportunity-hours HOURS; {_RISKS} (values: hours_worked_per_year)")


def _update_lag(up, rk: Risks):
    events, weeks, n = up.params["events_per_year"], up.params["engineer_weeks_per_event"], rk.values[
        "engineers_per_upgrade"]
    mean, worst = update_lag_months(events, weeks, n.value)
    means = ("with no upgrade events the deployment never moves to a newer model." if math.isinf(mean) else
             f"upgrading {events:g} times a year (every {12 / events:.1f} months) at {weeks:g} engineer-weeks each "
             f"({n.value:g} engineer on it), the deployment runs on average {mean:.1f} months (at worst {worst:.1f}) "
             "behind the newest model you would adopt; an API serves it on release day.")
    return mean, "months", means, Sourced(None, n.as_of, f"{up.source}; {n.source}"), (
        f"--tco FILE (items.upgrades.events_per_year, engineer_weeks_per_event); {_RISKS} "
        "(values: engineers_per_upgrade)")


_ROWS = (("commitment", "GPU commitment (lock-in)", _commitment),
         ("migration", "Migration effort (lock-in)", _migration), ("spot", "Spot volatility (availability)", _spot),
         ("talent", "Talent cost (people-cost basis)", _talent),
         ("opportunity", "Opportunity cost (optional)", _opportunity))


def risk_table(facts: PlanFacts, risks: Risks | None = None, tco=None) -> pd.DataFrame:
    """The Risks DataFrame (module docstring); `tco` = the TcoDefaults in use (engineer cost when the facts give
    none, upgrade events), None = the catalogue's. A --tco file without an `upgrades` item has no lag row."""
    from planner.tco import _catalogue_defaults

    rk, tco = risks or load_risks(), tco if tco is not None else _catalogue_defaults()
    if not all(math.isfinite(v) and v >= 0 for v in (facts.gpu_monthly_usd, facts.self_host_monthly_usd)):
        raise PlannerError(f"the monthly GPU bill and self-hosting total must be finite numbers >= 0, got "
                           f"{facts.gpu_monthly_usd!r}, {facts.self_host_monthly_usd!r}")
    engineer = float(tco.globals["engineer_usd_per_year"] if facts.engineer_usd_per_year is None
                     else facts.engineer_usd_per_year)
    rows = [(i, name, *make(facts, rk, engineer)) for i, name, make in _ROWS
            if i != "opportunity" or facts.opportunity_hours_per_month is not None]
    if any(it.id == "upgrades" for it in tco.items):
        rows.append(("update_lag", "Model-update lag", *_update_lag(tco.item("upgrades"), rk)))
    return pd.DataFrame([{"risk": name, "value": float(v), "unit": unit, "what_it_means": means, "source": s.source,
                          "as_of": s.as_of, "overridable_by": how, "id": i}
                         for i, name, v, unit, means, s, how in rows], columns=list(RISK_COLUMNS))


def plan_risks(plan, *, opportunity_hours: float | None = None, talent_region: str | None = None,
               risks: Risks | None = None, tco=None) -> pd.DataFrame:
    """:func:`risk_table` for a :class:`planner.plan.Plan`: its pricing, GPU, billed GPUs, the bill's gpu lines and
    total. With `talent_region` the engineer cost is the region's mid-point (rebill with
    :func:`planner.tco.with_engineer_cost` so the people lines use it too)."""
    d, items = plan.deployment, plan.line_items
    engineer = talent_engineer_usd_per_year(talent_region, risks)[0] if talent_region else None
    facts = PlanFacts(str(d["pricing"]), str(d["gpu"]), int(d.get("gpus_billed", d["gpus_total"])),
                      float(items.loc[items["category"] == "gpu", "monthly_usd"].sum()), float(plan.monthly_total_cost),
                      bool(plan.workload.existing_infra), engineer, talent_region, opportunity_hours)
    return risk_table(facts, risks, tco)


__all__ = ["RISK_COLUMNS", "Risks", "Sourced", "PlanFacts", "load_risks", "talent_range",
           "talent_engineer_usd_per_year", "engineer_usd_per_hour", "opportunity_cost_monthly", "commitment_months",
           "update_lag_months", "risk_table", "plan_risks"]
