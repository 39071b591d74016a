"""The seed's decision framework, step by step with its numbers, and the drivers beside it (issue 19).

shared/reference/seed_cost_model.md §4, each step a :class:`Step` (``outcome`` pass | fail | info | skipped):

1. **Volume**: the actual monthly volume, and where it came from (a usage log is measured; flags, a workload file
   or the default scenario are projections). monthly tokens = tokens/day x DAYS_PER_MONTH (730 h / 24).
2. **APIs**: that volume priced on at least three APIs, including a hosted open-weight option of the same model
   (pass when >= 3 like-for-like rows and the same weights are among them, or no API hosts them at all).
3. **True TCO**: raw GPU x 2.5 with existing ML infrastructure, x 3 without (the rule of thumb), beside the
   itemised bill; gap = itemised - rule [USD/month].
4. **Margin**: self-host only if the reference API costs at least margin x the TCO (pass / fail, both numbers).
5. **Residency**: under data residency, dedicated deployments priced before self-hosting (else skipped).

Drivers (each an input, each sourced): capability needs (planner.needs), latency (planner.latency), price trends
(planner.trends), risks that are not line items (planner.risks), and the middle-ground warning::

    middle ground = no existing ML infrastructure and (50M <= tokens/day < 100M, the seed's band where self-hosting
                    "can win", or 1/margin <= API / TCO < margin: neither side clears the hidden-cost margin)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from planner.units import DAYS_PER_MONTH, fmt_tokens, fmt_usd
from planner.verdict import (
    LOW_VOLUME_TOKENS_PER_DAY,
    MIN_APIS,
    RULE_OF_THUMB,
    SEARCHED,
    SUSTAINED_VOLUME_TOKENS_PER_DAY,
    WRITE_UP,
    comparison_set,
    cost_sides,
    fmt_times,
)
from planner.workload import DEFAULT_WORKLOAD

FIXED_STACK = ("people", "observability", "infrastructure")  # line-item categories that do not scale with GPUs much
DEFAULT_SOURCE = f"the built-in default scenario (the {WRITE_UP}'s 5M input + 1M output tokens/day)"


@dataclass(frozen=True)
class Step:
    number: int
    title: str
    outcome: str  # pass | fail | info | skipped
    text: str  # one sentence with the numbers
    numbers: dict  # the step's figures, units in the keys


@dataclass(frozen=True)
class Framework:
    steps: tuple[Step, ...]
    needs: tuple = ()  # planner.needs.NeedResult per named need
    latency: dict | None = None  # planner.latency check as a record; None: not computed
    trends: pd.DataFrame | None = None  # planner.trends projection (months, crossovers, price factors)
    trend_text: str = ""
    risks: pd.DataFrame | None = None  # planner.risks rows
    middle_ground: str = ""  # the warning, "" when not in the middle ground


def _step_volume(w) -> Step:
    default = (w.tokens_in_per_day, w.tokens_out_per_day) == (DEFAULT_WORKLOAD.tokens_in_per_day,
                                                               DEFAULT_WORKLOAD.tokens_out_per_day)
    source = w.volume_source or (DEFAULT_SOURCE if default else "given by the caller")
    measured = source.startswith("usage log")
    monthly = w.tokens_per_day * DAYS_PER_MONTH
    hint = "" if measured else (" (projected, not measured: the framework asks for the measured volume; --usage-log"
                                " FILE reads it from your request log)")
    return Step(1, "Actual monthly volume", "info",
                f"{fmt_tokens(w.tokens_in_per_day)} input + {fmt_tokens(w.tokens_out_per_day)} output tokens/day = "
                f"{fmt_tokens(monthly)} tokens/month, from {source}{hint}.",
                {"tokens_in_per_day": w.tokens_in_per_day, "tokens_out_per_day": w.tokens_out_per_day,
                 "tokens_per_month": monthly, "source": source, "measured": measured})


def _step_apis(plan) -> Step:
    rows = comparison_set(plan.api, plan.model, tier=plan.tier or None)
    same = rows[rows.get("serves", pd.Series("", index=rows.index)) == plan.model]
    hosted_anywhere = bool((plan.api.get("serves", pd.Series("", index=plan.api.index)) == plan.model).any())
    ok = len(rows) >= MIN_APIS and (len(same) > 0 or not hosted_anywhere)
    listed = "; ".join(f"{r['provider']} / {r['model']} {fmt_usd(r['monthly_cost'])}"
                       f"{' (same weights)' if r.get('serves') == plan.model else ''}" for _, r in rows.iterrows())
    miss = "" if hosted_anywhere else f" No API hosts the {plan.model} weights: the rows are its quality tier."
    return Step(2, "Priced on at least three APIs, one hosting the same open weights", "pass" if ok else "fail",
                f"{len(rows)} priced: {listed}.{miss}",
                {"apis": [{"api": f"{r['provider']} / {r['model']}", "monthly_usd": float(r["monthly_cost"]),
                           "same_weights": r.get("serves") == plan.model} for _, r in rows.iterrows()],
                 "same_weights_hosted": len(same) > 0})


def _step_tco(plan) -> Step:
    existing = plan.workload.existing_infra
    mult = RULE_OF_THUMB[existing]
    rule = plan.monthly_gpu_cost * mult
    gap = plan.monthly_total_cost - rule
    return Step(3, "True TCO: raw GPU × 2.5 (× 3 without existing ML infrastructure) beside the itemised bill", "info",
                f"raw GPU {fmt_usd(plan.monthly_gpu_cost)} × {mult:g} = {fmt_usd(rule)}/month "
                f"({'with' if existing else 'without'} existing ML infrastructure); itemised bill "
                f"{fmt_usd(plan.monthly_total_cost)}/month, {fmt_usd(abs(gap))} ({abs(gap) / rule:.0%}) "
                f"{'above' if gap >= 0 else 'below'} the rule of thumb.",
                {"raw_gpu_monthly_usd": plan.monthly_gpu_cost, "rule_multiplier": mult, "rule_tco_monthly_usd": rule,
                 "itemised_tco_monthly_usd": plan.monthly_total_cost, "gap_monthly_usd": gap})


def _step_margin(plan) -> Step:
    v = plan.verdict
    api = v.api_to_tco_ratio * plan.monthly_total_cost
    need = plan.margin * plan.monthly_total_cost
    ok = v.api_to_tco_ratio >= plan.margin
    sides = cost_sides(v.reference_api, api, plan.monthly_total_cost)
    verdict = (f"at least the {fmt_usd(need)}/month ({plan.margin:g}× the bill) that self-hosting needs" if ok else
               f"Self-hosting pays only when the API costs at least {fmt_usd(need)}/month ({plan.margin:g}× the bill)")
    return Step(4, f"Self-host only if the API costs at least {plan.margin:g}× the self-hosted bill",
                "pass" if ok else "fail", f"{sides}{', ' if ok else '. '}{verdict}.",
                {"reference_api": v.reference_api, "api_monthly_usd": api, "margin": plan.margin,
                 "required_api_monthly_usd": need, "api_to_tco_ratio": v.api_to_tco_ratio})


def _step_residency(plan) -> Step:
    v = plan.verdict
    if not plan.workload.data_residency:
        return Step(5, "Under data residency, dedicated deployments first", "skipped",
                    "data residency not required (--residency prices dedicated offers before self-hosting).", {})
    api = v.api_to_tco_ratio * plan.monthly_total_cost
    ok = v.api_to_tco_ratio >= plan.margin
    verdict = (f"pass, self-hosting clears the {plan.margin:g}× margin over it" if ok else
               f"fail, self-hosting pays only when the dedicated offer costs at least {plan.margin:g}× the "
               "self-hosted bill")
    return Step(5, "Under data residency, dedicated deployments first", "pass" if ok else "fail",
                f"dedicated offers priced: {', '.join(v.compared)}; the cheapest: "
                f"{cost_sides(v.reference_api, api, plan.monthly_total_cost)}; {verdict}. Azure OpenAI, AWS "
                "Bedrock and GCP Vertex provisioned capacity publish no dated price: add quotes with "
                "--dedicated-prices.",
                {"offers": list(v.compared), "cheapest": v.reference_api, "cheapest_monthly_usd": api})


def middle_ground(plan) -> str:
    """The write-up's worst outcome said plainly (module docstring), or ""."""
    w, v = plan.workload, plan.verdict
    ratio = v.api_to_tco_ratio
    band = LOW_VOLUME_TOKENS_PER_DAY <= w.tokens_per_day < SUSTAINED_VOLUME_TOKENS_PER_DAY
    close = math.isfinite(ratio) and 1 / plan.margin <= ratio < plan.margin
    if w.existing_infra or not (band or close):
        return ""
    items = plan.line_items
    fixed = float(items.loc[items["category"].isin(FIXED_STACK), "monthly_usd"].sum())
    low, high = fmt_tokens(LOW_VOLUME_TOKENS_PER_DAY), fmt_tokens(SUSTAINED_VOLUME_TOKENS_PER_DAY)
    why = (f"{fmt_tokens(w.tokens_per_day)} tokens/day is inside the {WRITE_UP}'s ~{low}-{high}/day band" if band else
           f"{cost_sides(v.reference_api, ratio * plan.monthly_total_cost, plan.monthly_total_cost)}, within "
           f"{fmt_times(plan.margin)} of each other, where neither side clears the hidden-cost margin")
    return (f"Middle ground: {why}, and there is no existing ML infrastructure. Self-hosting here carries the whole "
            f"fixed stack (people, platform and observability lines {fmt_usd(fixed)}/month, "
            f"{fixed / plan.monthly_total_cost:.0%} of the bill) for a volume that does not pay for it, the write-up's "
            f"worst outcome. {_stay_on_api(plan)}. Otherwise self-host on a platform that already exists "
            "(--existing-infra prices the marginal bill).")


def _stay_on_api(plan) -> str:
    """Until when to stay on the API, from the reference's break-even volumes (issue 13: "until the volume is above
    the break-even" beside a crossover that said there is none read as a contradiction)."""
    ref, api = plan.verdict.reference_api, plan.api
    rows = api[api["label"] == ref] if "label" in api and "crossover_tokens_per_day" in api else api.iloc[:0]
    if rows.empty:
        return "Stay on the API until the volume is sustained above the break-even"
    v1 = rows["crossover_tokens_per_day"].iloc[0]
    vm = rows["crossover_margin_tokens_per_day"].iloc[0] if "crossover_margin_tokens_per_day" in rows else math.nan
    if pd.isna(v1):
        return (f"Stay on the API: self-hosting never becomes cheaper than {ref} within the volumes searched "
                f"({SEARCHED})")
    if pd.isna(vm):
        return (f"Stay on the API until the volume is sustained well above the break-even with {ref} "
                f"(~{fmt_tokens(v1, 2)} tokens/day; the {plan.margin:g}× margin is not cleared within the volumes "
                "searched)")
    return (f"Stay on the API until the volume is sustained above ~{fmt_tokens(vm, 2)} tokens/day, where self-hosting "
            f"clears the {plan.margin:g}× margin over {ref}")


def build_framework(plan, needs=(), latency: dict | None = None, trends: pd.DataFrame | None = None,
                    trend_text: str = "", risks: pd.DataFrame | None = None) -> Framework:
    steps = (_step_volume(plan.workload), _step_apis(plan), _step_tco(plan), _step_margin(plan),
             _step_residency(plan))
    return Framework(steps, tuple(needs), latency, trends, trend_text, risks, middle_ground(plan))


def framework_dict(fw: Framework) -> dict[str, Any]:
    """The framework as plain data for the JSON (render.jsonable turns the tables into records)."""
    return {
        "steps": [{"step": s.number, "title": s.title, "outcome": s.outcome, "text": s.text, **s.numbers}
                  for s in fw.steps],
        "needs": [{"need": n.need, "api_can_meet": n.api_can_meet, "what": n.what, "why": n.why,
                   "hosted_options": list(n.options)} for n in fw.needs],
        "latency": fw.latency, "price_trends": fw.trends, "price_trend_summary": fw.trend_text,
        "risks": fw.risks, "middle_ground": fw.middle_ground or None,
    }


__all__ = ["Step", "Framework", "build_framework", "framework_dict", "middle_ground"]
