"""Should you self-host at all? The seed's decision framework as a pure function.

Framework (shared/reference/seed_cost_model.md §4):

1. price the actual volume on at least three APIs, including a hosted open-weight option;
2. true TCO = the full line-item bill (planner.tco) — the seed's rule of thumb is raw GPU x 2.5
   (x 3 without existing ML infrastructure), shown as a cross-check;
3. self-host only if the API cost is at least 2x the true TCO (margin for hidden costs);
4. if data residency is the driver, consider dedicated API deployments (Azure OpenAI, AWS Bedrock,
   GCP Vertex) before self-hosting;
5. below ~50M tokens/day an API is almost always cheaper (a reason, never an override).

Decision, with ``ratio = reference API monthly cost / self-host TCO`` (reference API: planner.api_costs.
reference_row — the same model hosted, else the cheapest hosted open-weight model, else the cheapest):

- ``self-host``            ratio >= margin (2 by default);
- ``dedicated-api-first``  ratio < margin and data residency is required;
- ``hybrid``               1 <= ratio < margin with existing ML infrastructure: self-hosting is cheaper on
                           paper but inside the hidden-cost margin; keep the API for most traffic and route
                           the steps that need it to the self-hosted model (seed §4 "Hybrid routing");
- ``use-api``              otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from planner.api_costs import current_rows, reference_row
from planner.errors import PlannerError
from planner.prices import has_tag
from planner.units import fmt_tokens, fmt_usd
from planner.workload import Workload

DECISIONS = ("use-api", "self-host", "dedicated-api-first", "hybrid")
SELF_HOST_MARGIN = 2.0  # seed §4 step 4: "API cost at least 2x the true TCO"
LOW_VOLUME_TOKENS_PER_DAY = 50e6  # seed §4: "below ~50M tokens/day an API is almost always cheaper"
SUSTAINED_VOLUME_TOKENS_PER_DAY = 100e6  # seed §4: self-hosting wins "sustained above ~50-100M tokens/day"
MIN_APIS = 3  # seed §4 step 2: "price it on three API providers"
RULE_OF_THUMB = {False: 3.0, True: 2.5}  # seed §4 step 3: raw GPU x 3 (x 2.5 with existing ML infrastructure)
DEDICATED = "Azure OpenAI, AWS Bedrock or GCP Vertex"  # seed §4 step 5


@dataclass(frozen=True)
class Verdict:
    decision: str  # one of DECISIONS
    reasons: tuple[str, ...]  # sentences naming the numbers that drove the decision
    reference_api: str = ""  # "provider / model"
    api_to_tco_ratio: float = math.nan  # reference API monthly cost / self-host monthly TCO
    compared: tuple[str, ...] = ()  # labels of the APIs the reasons compare

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise PlannerError(f"unknown decision '{self.decision}'; one of {', '.join(DECISIONS)}")


def comparison_set(api: pd.DataFrame, model_name: str, n: int = MIN_APIS) -> pd.DataFrame:
    """At least `n` current APIs: the reference, the cheapest hosted open-weight, the cheapest frontier,
    then the cheapest others — cheapest first."""
    rows = current_rows(api).sort_values("monthly_cost", kind="stable")
    picks = [reference_row(api, model_name).name]
    for mask in (rows["open_weight"].astype(bool), has_tag(rows, "frontier")):
        if mask.any():
            picks.append(rows[mask].index[0])
    picks += list(rows.index)
    seen = list(dict.fromkeys(picks))[:max(n, 3)]
    return api.loc[seen].sort_values("monthly_cost", kind="stable")


def _label(row: pd.Series) -> str:
    return f"{row['provider']} / {row['model']}"


def _residency_reference(api: pd.DataFrame, model_name: str) -> pd.Series | None:
    """Under data residency shared third-party APIs are out: the reference is an API also sold as a dedicated
    in-region deployment (tag dedicated-option), the same model first, else the cheapest; None if none is."""
    rows = current_rows(api)
    dedicated = rows[has_tag(rows, "dedicated-option")].sort_values("monthly_cost", kind="stable")
    if dedicated.empty:
        return None
    same = dedicated[dedicated["serves"] == model_name] if "serves" in dedicated else dedicated.iloc[:0]
    return (same if len(same) else dedicated).iloc[0]


def _why_reference(row: pd.Series, model_name: str) -> str:
    if "dedicated-option" in (row.get("tags") or ()):
        return "the cheapest API also sold as a dedicated, in-region deployment"
    if row.get("serves") == model_name:
        return f"the same {model_name} weights, hosted"
    return "the cheapest hosted open-weight model" if bool(row.get("open_weight")) else "the cheapest API"


def _crossover_reason(ref: pd.Series, margin: float) -> str | None:
    if "crossover_tokens_per_day" not in ref.index:
        return None
    v1, vm = ref["crossover_tokens_per_day"], ref.get("crossover_margin_tokens_per_day", math.nan)
    if pd.isna(v1):
        return f"Self-hosting never becomes cheaper than {_label(ref)} within the volumes searched."
    text = f"Self-hosting breaks even with {_label(ref)} at {fmt_tokens(v1)} tokens/day"
    if not pd.isna(vm):
        text += f" and clears the {margin:g}x margin at {fmt_tokens(vm)} tokens/day"
    return text + "."


def _volume_reason(w: Workload) -> str:
    v = w.tokens_per_day
    if v < LOW_VOLUME_TOKENS_PER_DAY:
        return (f"At {fmt_tokens(v)} tokens/day the volume is below the ~{fmt_tokens(LOW_VOLUME_TOKENS_PER_DAY)}/day "
                "under which the seed finds an API almost always cheaper.")
    return (f"At {fmt_tokens(v)} tokens/day the volume is at or above the ~{fmt_tokens(LOW_VOLUME_TOKENS_PER_DAY)}-"
            f"{fmt_tokens(SUSTAINED_VOLUME_TOKENS_PER_DAY)}/day where the seed finds self-hosting can win, "
            "if sustained.")


def _tco_reasons(total: float, gpu_monthly: float | None, existing: bool) -> list[str]:
    if gpu_monthly is None or gpu_monthly <= 0:
        return []
    mult, rule = total / gpu_monthly, RULE_OF_THUMB[existing]
    out = [f"Self-hosting costs {fmt_usd(total)}/month all-in, {mult:.2f}x the {fmt_usd(gpu_monthly)} raw GPU bill; "
           f"the seed's rule of thumb (raw GPU x {rule:g}) gives {fmt_usd(gpu_monthly * rule)}."]
    if existing:
        out.append(f"Existing ML infrastructure is assumed: shared platform costs are left out, so the multiplier "
                   f"is {mult:.2f}x (the seed reports 1.3-1.5x with existing infrastructure, 2-3.5x without).")
    return out


def _decision(ratio: float, margin: float, w: Workload) -> tuple[str, str]:
    r = f"{ratio:.3g}x" if math.isfinite(ratio) else "n/a"
    if ratio >= margin:
        extra = " Data residency points the same way." if w.data_residency else ""
        return "self-host", f"Self-host: the API would cost {r} the true TCO, at least the {margin:g}x margin.{extra}"
    if w.data_residency:
        return "dedicated-api-first", (f"Try a dedicated API deployment first: data residency is required, and the "
                                       f"API costs only {r} the self-host TCO (below {margin:g}x); {DEDICATED} "
                                       "dedicated deployments keep data in-region without running GPUs.")
    if ratio >= 1 and w.existing_infra:
        return "hybrid", (f"Hybrid: self-hosting is cheaper on paper (the API costs {r} the TCO) but inside the "
                          f"{margin:g}x hidden-cost margin; keep the API for most traffic and route only the steps "
                          "that need it (residency, a fine-tuned model) to the existing infrastructure.")
    return "use-api", f"Use an API: it costs {r} the self-host TCO, below the {margin:g}x needed to self-host."


def decide(self_host_monthly: float, api: pd.DataFrame, workload: Workload, model_name: str, *,
           margin: float = SELF_HOST_MARGIN, gpu_monthly: float | None = None) -> Verdict:
    """Apply the framework (module docstring) to an :func:`planner.api_costs.api_costs` table.

    `api` may carry the crossover columns (``crossover_tokens_per_day``, ``crossover_margin_tokens_per_day``)
    merged in; `gpu_monthly` (raw primary GPU cost) adds the multiplier and rule-of-thumb sentences.
    """
    if not math.isfinite(self_host_monthly) or self_host_monthly <= 0:
        raise PlannerError(f"self-host monthly cost must be a finite number > 0, got {self_host_monthly!r}")
    if margin < 1:
        raise PlannerError(f"the self-host margin must be >= 1 (the seed uses 2), got {margin!r}")
    ref = _residency_reference(api, model_name) if workload.data_residency else None
    ref = reference_row(api, model_name) if ref is None else ref
    ratio = float(ref["monthly_cost"]) / self_host_monthly
    decision, headline = _decision(ratio, margin, workload)
    compared = comparison_set(api, model_name)
    reasons = [headline,
               f"The reference API, {_label(ref)} ({_why_reference(ref, model_name)}), would cost "
               f"{fmt_usd(ref['monthly_cost'])}/month for {fmt_tokens(workload.tokens_per_day)} tokens/day, "
               f"against {fmt_usd(self_host_monthly)}/month to self-host."]
    reasons.append("Compared on " + "; ".join(f"{_label(r)} {fmt_usd(r['monthly_cost'])}/month"
                                               for _, r in compared.iterrows()) + ".")
    if len(compared) < MIN_APIS or not compared["open_weight"].astype(bool).any():
        reasons.append(f"Only {len(compared)} current API(s) priced, open-weight hosted: "
                       f"{'yes' if compared['open_weight'].astype(bool).any() else 'no'}; the framework asks for "
                       f"at least {MIN_APIS} including a hosted open-weight option (add rows with --api-prices).")
    reasons.append(_volume_reason(workload))
    cross = _crossover_reason(ref, margin)
    if cross:
        reasons.append(cross)
    reasons += _tco_reasons(self_host_monthly, gpu_monthly, workload.existing_infra)
    if workload.data_residency:
        rows = current_rows(api)
        dedicated = rows[has_tag(rows, "dedicated-option")].sort_values("monthly_cost", kind="stable")
        if len(dedicated):
            listed = ", ".join(f"{_label(r)} {fmt_usd(r['monthly_cost'])}/month"
                               for _, r in dedicated.head(5).iterrows())
            reasons.append("Data residency rules out shared third-party APIs; models also sold as dedicated "
                           f"in-region deployments ({DEDICATED}): {listed}"
                           + " at list token prices (dedicated or provisioned capacity is priced separately; check "
                           "the region).")
        reasons.append("Open weights on dedicated GPUs someone else runs (e.g. Together dedicated endpoints) are "
                       "priced per GPU-hour: plan them with --provider together --pricing on-demand.")
    return Verdict(decision, tuple(reasons), _label(ref), ratio, tuple(_label(r) for _, r in compared.iterrows()))


__all__ = ["Verdict", "DECISIONS", "SELF_HOST_MARGIN", "LOW_VOLUME_TOKENS_PER_DAY", "comparison_set", "decide"]
