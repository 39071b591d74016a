"""The inputs a plan's workbook reads (planner.workbook): the workload, the GPU offer and the deployment, the
engineer cost, the constants, and the reference API's prices with its month's formula.

Each function appends labelled rows to a :class:`planner.workbook_formulas.Inputs` and registers the numeric ones
under a key (``tokens_in_per_day``, ``usd_per_gpu_hour``, ``gpus_primary``, ``engineer_usd_per_year``,
``hours_per_month``, ...) that the line formulas read. The reference API's month follows planner.api_costs::

    monthly = (T_in / 1e6 x ((1 - c) x p_in + c x p_cached) + T_out / 1e6 x p_out) x days per month

(c the cached share of the input, p_cached the input price where the row publishes none; compliance lines added
under --compliance-on-api, as the plan's API table has them).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from planner import tco as tco_mod
from planner.units import DAYS_PER_MONTH, HOURS_PER_MONTH, MONTHS_PER_YEAR, SECONDS_PER_DAY
from planner.workbook_formulas import PERCENT, USD, USD_CENTS, Inputs, X, matches


def constants(inp: Inputs) -> None:
    inp.section("Constants")
    src = "planner.units"
    hours = inp.add("hours_per_month", "hours per month", HOURS_PER_MONTH, "hours",
                    "seed §1: hourly rate x 730 hours/month (8,760 h / 12)")
    inp.add("days_per_month", "days per month", hours / 24, "days",
            f"{src}: {HOURS_PER_MONTH} h / 24 = {DAYS_PER_MONTH:.4f} (the GPU month; APIs are billed on it too)")
    inp.add("months_per_year", "months per year", MONTHS_PER_YEAR, "months", src)
    inp.add("seconds_per_day", "seconds per day", SECONDS_PER_DAY, "s", src)
    inp.add("weeks_per_year", "weeks per year", tco_mod.WEEKS_PER_YEAR, "weeks", "planner.tco")
    inp.add("hours_worked_per_year", "hours an engineer works a year", tco_mod.HOURS_WORKED_PER_YEAR, "hours",
            "planner.tco: 40 h x 52 weeks (US full-time convention)")
    inp.add("hours_per_week", "hours per week", tco_mod.HOURS_PER_WEEK, "hours", "planner.tco")
    inp.add("business_hours_per_week", "business hours per week", tco_mod.BUSINESS_HOURS_PER_WEEK, "hours",
            "planner.tco: on-call pay applies outside them")


def workload_inputs(inp: Inputs, w) -> None:
    src = w.volume_source or "the plan's workload"
    inp.section("Workload", src)
    inp.add("tokens_in_per_day", "input tokens per day", w.tokens_in_per_day, "tokens/day", src)
    inp.add("tokens_out_per_day", "output tokens per day", w.tokens_out_per_day, "tokens/day", src)
    inp.add("requests_per_day", "requests per day", w.requests_per_day, "requests/day", src)
    inp.add("cached_input_fraction", "share of input tokens served from a prompt cache", w.cached_input_fraction,
            "", src, PERCENT)
    inp.add("peak_to_average", "peak-to-average request rate", w.peak_to_average, "x", src)
    inp.add("ttft_p99_s", "time to first token, p99 target", w.ttft_p99_s, "s", src)
    inp.add("tpot_p99_ms", "time per output token, p99 target", w.tpot_p99_s * 1e3, "ms", src)
    inp.add("availability", "availability target", w.availability, "", src, PERCENT)
    inp.add("guardrails", "guardrails screen", w.guardrails, "", src)
    inp.add("api_tier", "API service tier compared", w.api_tier, "", src)
    inp.add("existing_infra", "existing ML infrastructure", "yes" if w.existing_infra else "no", "", src)


def deployment_inputs(inp: Inputs, plan, offer_source: str, engineer: tuple[float, str], per_orchestrator: float):
    d = plan.deployment
    inp.section("GPU offer", offer_source)
    for key, label in (("gpu", "GPU"), ("provider", "provider"), ("region", "region"), ("pricing", "pricing"),
                       ("instance", "instance"), ("as_of", "price as of")):
        value = d.get(key)
        inp.add(key, label, "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value))
    inp.add("usd_per_gpu_hour", "price per GPU-hour", float(d["usd_per_gpu_hour"]), "USD/GPU-h", offer_source,
            USD_CENTS)
    inp.section("Deployment", f"planner: {plan.model}, {d['quant']}, the cheapest configuration meeting the SLOs")
    replicas = inp.add("replicas", "replicas at peak", float(d["replicas"]), "replicas")
    tp = inp.add("gpus_per_replica", "GPUs per replica (tensor parallel)", float(d["tp"]), "GPUs")
    spare = inp.add("spare_replicas", "spare replicas (redundancy)", float(d["spare_replicas"]), "replicas",
                    "planner.redundancy: the availability target")
    inp.add("gpus_primary", "GPUs, primary", replicas * tp, "GPUs", "replicas x GPUs per replica")
    inp.add("gpus_spare", "GPUs, spare", spare * tp, "GPUs", "spare replicas x GPUs per replica")
    inp.add("gpus_billed", "GPUs billed", float(d.get("gpus_billed", d["gpus_total"])), "GPUs",
            "whole instances of the offer (planner.prices); re-run the planner after changing replicas")
    inp.add("models", "models served", 1, "models", "planner.search.bill: one model per plan")
    inp.add("replicas_per_orchestrator", "replicas one orchestration server fronts", per_orchestrator, "replicas",
            "tco_defaults.yaml globals")
    guard = plan.guard or {}
    if guard.get("gpus"):
        inp.add("guard_gpus", "guard model GPUs (MIG share, with its spare)", float(guard["gpus"]), "GPUs",
                f"planner.guard: {guard.get('basis', '')}")
    inp.section("People")
    inp.add("engineer_usd_per_year", "engineer cost per year", engineer[0], "USD/year", engineer[1], USD)


def engineer_cost(plan, defaults: tco_mod.TcoDefaults) -> tuple[float, str]:
    """(engineer USD/year, source): the defaults', or the one the plan's engineer-share line was billed at (a
    --talent-region, --tco file or people-cost factor the defaults given do not hold)."""
    usd = float(defaults.globals["engineer_usd_per_year"])
    source = str(defaults.globals.get("engineer_usd_per_year_source") or "tco_defaults.yaml globals")
    existing = plan.workload.existing_infra
    for it in defaults.items:
        rows = plan.line_items[plan.line_items["id"] == it.id]
        share = it.params.get("fraction", 0.0) * (it.existing_infra_factor if existing else 1.0)
        if it.basis == "fraction_of_engineer" and len(rows) and share > 0:
            derived = float(rows["monthly_usd"].iloc[0]) * MONTHS_PER_YEAR / share
            if not matches(derived, usd):
                return derived, f"as planned: the '{it.item}' line x 12 / {share:g}"
    return usd, source


def api_formula(inp: Inputs, plan) -> X | None:
    """The reference API's monthly cost from the Inputs volumes and its prices (planner.api_costs); its amount as
    an input when the row is not a per-token price (a dedicated offer under residency); None when unknown."""
    rows = plan.api[plan.api["label"] == plan.reference_api] if "label" in plan.api else plan.api.iloc[:0]
    if rows.empty:
        ratio = plan.verdict.api_to_tco_ratio
        if not math.isfinite(ratio):
            return None
        inp.section(f"Reference: {plan.reference_api}")
        return inp.add("api_monthly_as_planned", "monthly cost as planned", ratio * plan.monthly_total_cost,
                       "USD/month", f"planner.verdict: {plan.verdict.comparison}", USD_CENTS)
    r = rows.iloc[0]
    mark = inp.mark()
    src = f"{r.get('source', '')} (as of {r.get('as_of', '')})"
    inp.section(f"Reference API: {plan.reference_api}", src)
    p_in = inp.add("api_usd_per_mtok_in", "input price", float(r["usd_per_mtok_in"]), "USD/M tokens", src, USD_CENTS)
    p_out = inp.add("api_usd_per_mtok_out", "output price", float(r["usd_per_mtok_out"]), "USD/M tokens", src,
                    USD_CENTS)
    cached = r.get("usd_per_mtok_cached_in")
    none = cached is None or (isinstance(cached, float) and math.isnan(cached))
    p_cached = inp.add("api_usd_per_mtok_cached", "cached input price" + (" (none published: the input price)"
                                                                          if none else ""),
                       p_in if none else float(cached), "USD/M tokens", src, USD_CENTS)
    inp.add("api_as_of", "prices as of", str(r.get("as_of", "")))
    inp.add("api_service_tier", "service tier", str(r.get("service_tier", "")))
    c = inp.refs["cached_input_fraction"]
    daily = (inp.refs["tokens_in_per_day"] / 1e6 * ((1 - c) * p_in + c * p_cached)
             + inp.refs["tokens_out_per_day"] / 1e6 * p_out)
    x = daily * inp.refs["days_per_month"]
    extra = r.get("compliance_monthly")
    if extra is not None and isinstance(extra, (int, float)) and math.isfinite(extra):
        x = x + inp.add("api_compliance_monthly", "evals, audit logging and guardrails on the API side",
                        float(extra), "USD/month", "planner: --compliance-on-api, priced as self-hosting bills them",
                        USD_CENTS)
    if matches(x.value, float(r["monthly_cost"])):
        return x
    inp.rollback(mark)
    inp.section(f"Reference API: {plan.reference_api}")
    return inp.add("api_monthly_as_planned", "monthly cost as planned (no formula reproduces it here)",
                   float(r["monthly_cost"]), "USD/month", src, USD_CENTS)


def offer_source(d: Mapping) -> str:
    """The GPU offer's source in the packaged price table; a phrase saying where it came from when not there."""
    from planner.plan import load_catalogues

    p = load_catalogues().gpu_prices
    rows = p[(p["gpu"] == d.get("gpu")) & (p["pricing"] == d.get("pricing")) & (p["provider"] == d.get("provider"))]
    rows = rows[[math.isclose(float(v), float(d["usd_per_gpu_hour"]), rel_tol=1e-9) for v in rows["usd_per_gpu_hour"]]]
    if rows.empty:
        return "the plan's GPU offer (a --gpu-prices file, owned GPUs or a what-if price factor)"
    return str(rows["source"].iloc[0])


__all__ = ["constants", "workload_inputs", "deployment_inputs", "engineer_cost", "api_formula", "offer_source"]
