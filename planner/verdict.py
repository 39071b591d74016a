"""Should you self-host at all? The seed's decision framework as a pure function.

Framework (shared/reference/seed_cost_model.md §4):

1. price the actual volume on at least three APIs, including a hosted open-weight option;
2. true TCO = the full line-item bill (planner.tco) — the seed's rule of thumb is raw GPU x 2.5
   (x 3 without existing ML infrastructure), shown as a cross-check;
3. self-host only if the API cost is at least 2x the true TCO (margin for hidden costs);
4. if data residency is the driver, consider dedicated API deployments (Azure OpenAI, AWS Bedrock,
   GCP Vertex) before self-hosting;
5. below ~50M tokens/day an API is almost always cheaper (a reason, never an override).

Decision, with ``ratio = reference monthly cost / self-host TCO``. The reference is planner.api_costs.
reference_row — the same weights hosted, else the cheapest API in the model's quality tier (the reasons say
which) — except under data residency, where shared per-token APIs are out and the reference is the cheapest
dedicated offer billed per unit-hour (planner.dedicated: dedicated endpoints, provisioned throughput):

- ``self-host``            ratio >= margin (2 by default);
- ``dedicated-api-first``  ratio < margin and data residency is required;
- ``hybrid``               1 <= ratio < margin with existing ML infrastructure: self-hosting is cheaper on
                           paper but inside the hidden-cost margin; keep the API for most traffic and route
                           the steps that need it to the self-hosted model (seed §4 "Hybrid routing");
- ``use-api``              otherwise;
- ``self-host-for-capability``  set afterwards by planner.needs when a need no API meets was named.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from planner.api_costs import SAME_WEIGHTS, comparable_rows, current_rows, model_tier, reference_row
from planner.crossover import MAX_TOKENS_PER_DAY, MIN_TOKENS_PER_DAY
from planner.dedicated import dedicated_costs, dedicated_reference, load_dedicated_offers
from planner.defaults import SELF_HOST_MARGIN
from planner.errors import PlannerError
from planner.units import fmt_tokens, fmt_usd
from planner.workload import Workload

# self-host-for-capability: a need no API meets (planner.needs), whatever the cost
DECISIONS = ("use-api", "self-host", "dedicated-api-first", "hybrid", "self-host-for-capability")
LOW_VOLUME_TOKENS_PER_DAY = 50e6  # seed §4: "below ~50M tokens/day an API is almost always cheaper"
SUSTAINED_VOLUME_TOKENS_PER_DAY = 100e6  # seed §4: self-hosting wins "sustained above ~50-100M tokens/day"
MIN_APIS = 3  # seed §4 step 2: "price it on three API providers"
RULE_OF_THUMB = {False: 3.0, True: 2.5}  # seed §4 step 3: raw GPU x 3 (x 2.5 with existing ML infrastructure)
DEDICATED = "Azure OpenAI, AWS Bedrock or GCP Vertex"  # seed §4 step 5
# what the user reads for "the seed" (shared/reference/seed_cost_model.md, a practitioner's write-up of the costs
# self-hosting hides); the internal name stays out of the output (issue 13)
WRITE_UP = "hidden-cost write-up"
SEARCHED = f"{fmt_tokens(MIN_TOKENS_PER_DAY)}-{fmt_tokens(MAX_TOKENS_PER_DAY)} tokens/day"  # planner.crossover's range


@dataclass(frozen=True)
class Verdict:
    decision: str  # one of DECISIONS
    reasons: tuple[str, ...]  # sentences naming the numbers that drove the decision
    reference_api: str = ""  # "provider / model"
    api_to_tco_ratio: float = math.nan  # reference API monthly cost / self-host monthly TCO
    compared: tuple[str, ...] = ()  # labels of the APIs the reasons compare
    comparison: str = ""  # what the reference is: "same weights, hosted", "same quality tier (small), ...", ...

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise PlannerError(f"unknown decision '{self.decision}'; one of {', '.join(DECISIONS)}")


def comparison_set(api: pd.DataFrame, model_name: str, n: int = MIN_APIS, tier: str | None = None) -> pd.DataFrame:
    """At least `n` current APIs, like for like: the reference, then the cheapest rows with the same weights or
    in the model's quality tier; only when those are too few, the cheapest other current rows — cheapest first."""
    ref = reference_row(api, model_name, tier)
    picks = [ref.name] + list(comparable_rows(api, model_name, tier).index)
    if len(set(picks)) < n:
        picks += list(current_rows(api).sort_values("monthly_cost", kind="stable").index)
    seen = list(dict.fromkeys(picks))[:max(n, 3)]
    return api.loc[seen].sort_values("monthly_cost", kind="stable")


def _label(row: pd.Series) -> str:
    return f"{row['provider']} / {row['model']}"


def _residency_choice(workload: Workload, model_name: str, offers: pd.DataFrame | None,
                     gpus: Mapping[str, int] | None) -> tuple[pd.Series | None, pd.DataFrame]:
    """Under data residency shared per-token APIs are out: the reference is the cheapest dedicated offer
    (planner.dedicated), sized where it can be; (None, empty) when no offer is priced."""
    costs = dedicated_costs(load_dedicated_offers() if offers is None else offers, workload, model_name, gpus)
    return dedicated_reference(costs), costs


def _like_for_like(api: pd.DataFrame, model_name: str, tier: str) -> str:
    """Which comparisons remain when the same weights are not hosted (issue 11 item 5); "" when they are."""
    if (api.get("serves", pd.Series("", index=api.index)) == model_name).any():
        return ""
    if model_tier(model_name):  # a catalogue model nobody hosts
        return f"No API hosts the {model_name} weights: it is compared within its quality tier ({tier})."
    where = (f"APIs in its quality tier ({tier}, from its parameter count)" if tier
             else "APIs in its quality tier, once its parameter count places it there")
    return (f"No API serves the same weights as {model_name} (a private or uncatalogued model, e.g. a fine-tune): "
            f"the comparisons that remain are a hosted LoRA of its base model (price it as the base model's "
            f"same-weights rows: inferplan plan <base model id>) and {where}.")


def _why_reference(row: pd.Series, model_name: str) -> str:
    if "units_basis" in row.index:  # a dedicated offer (planner.dedicated)
        size = "at least " if bool(row["floor"]) else ""
        return f"dedicated, billed per {row['unit']}: {size}{row['units']:g} unit(s), {row['units_basis']}"
    words = row.get("comparison") or ""
    return f"the same {model_name} weights, hosted" if words == SAME_WEIGHTS else words


def _crossover_reason(ref: pd.Series, margin: float) -> str | None:
    if "crossover_tokens_per_day" not in ref.index:
        return None
    v1, vm = ref["crossover_tokens_per_day"], ref.get("crossover_margin_tokens_per_day", math.nan)
    if pd.isna(v1):
        return f"Self-hosting never becomes cheaper than {_ref_label(ref)} within the volumes searched ({SEARCHED})."
    text = f"Self-hosting breaks even with {_ref_label(ref)} at ~{fmt_tokens(v1, 2)} tokens/day"
    if not pd.isna(vm):
        text += f" and clears the {margin:g}× margin at ~{fmt_tokens(vm, 2)} tokens/day"
    return text + "."


def _volume_reasons(w: Workload, ref: pd.Series, ratio: float, margin: float) -> list[str]:
    """The write-up's volume rule of thumb, then what this plan's own numbers say at this volume, then the
    break-even: they never read as contradicting each other (issue 13: at 60M tokens/day the rule said
    "self-hosting can win" beside a crossover that said it never does)."""
    v = w.tokens_per_day
    cheaper = ratio > 1 and not about_equal(ratio)  # self-hosting costs less than the reference here
    cross = _crossover_reason(ref, margin)
    if v < LOW_VOLUME_TOKENS_PER_DAY:
        rule = (f"At {fmt_tokens(v)} tokens/day the volume is below the ~{fmt_tokens(LOW_VOLUME_TOKENS_PER_DAY)}/day "
                f"under which the {WRITE_UP} finds an API almost always cheaper")
        rule += "; this plan is an exception: self-hosting costs less here." if cheaper else ", and so it is here."
        return [rule] + ([cross] if cross else [])
    rule = (f"At {fmt_tokens(v)} tokens/day the volume is at or above the ~{fmt_tokens(LOW_VOLUME_TOKENS_PER_DAY)}-"
            f"{fmt_tokens(SUSTAINED_VOLUME_TOKENS_PER_DAY)}/day where the {WRITE_UP} finds self-hosting can win, "
            "if sustained")
    if cheaper:
        return [rule + "; here it does."] + ([cross] if cross else [])
    v1 = ref["crossover_tokens_per_day"] if "crossover_tokens_per_day" in ref.index else None
    if v1 is None:  # no break-even searched (a dedicated offer)
        return [rule + f"; here it does not: {_ref_label(ref)} costs less at this volume."]
    if not pd.isna(v1) and v1 <= v:  # a window: self-hosting broke even lower down, then added replicas
        return [rule + f"; here it does not: {_ref_label(ref)} costs less at this volume, although self-hosting first "
                f"breaks even at ~{fmt_tokens(v1, 2)} tokens/day (the replicas added since cost more than it saves)."]
    if pd.isna(v1):
        return [rule + f"; here it does not: self-hosting never becomes cheaper than {_ref_label(ref)} within the "
                f"volumes searched ({SEARCHED})."]
    return [rule + f"; here it does not yet: {cross[0].lower()}{cross[1:]}"]


def _ref_label(ref: pd.Series) -> str:
    return str(ref["label"]) if "label" in ref.index and ref["label"] else _label(ref)


def _tco_reasons(total: float, gpu_monthly: float | None, existing: bool) -> list[str]:
    if gpu_monthly is None or gpu_monthly <= 0:
        return []
    mult, rule = total / gpu_monthly, RULE_OF_THUMB[existing]
    out = [f"Self-hosting costs {fmt_usd(total)}/month all-in, {fmt_times(mult)} the {fmt_usd(gpu_monthly)} raw GPU "
           f"bill; the {WRITE_UP}'s rule of thumb (raw GPU × {rule:g}) gives {fmt_usd(gpu_monthly * rule)}."]
    if existing:
        out.append(f"Existing ML infrastructure is assumed: shared platform costs are left out, so the multiplier "
                   f"is {fmt_times(mult)} (the {WRITE_UP} reports 1.3-1.5× with existing infrastructure, 2-3.5× "
                   "without).")
    return out


def fmt_times(x: float) -> str:
    """A ratio as people say it: ``398×``, ``40×``, ``6.16×``, ``1.5×`` (3 significant figures below 10, else 2)."""
    if not math.isfinite(x):
        return "n/a"
    if x >= 10:
        return f"{float(f'{x:.2g}'):,.0f}×"
    return f"{float(f'{x:.3g}'):g}×"


def cost_sides(label: str, api_monthly: float, self_host_monthly: float) -> str:
    """'<label> costs $31.63/month; self-hosting costs $12,588/month: 398× more' — the dearer side last, so a ratio
    below 1 is never printed (issue 13)."""
    api, own = f"{label} costs {fmt_usd(api_monthly)}/month", f"self-hosting costs {fmt_usd(self_host_monthly)}/month"
    ratio = api_monthly / self_host_monthly
    if about_equal(ratio):
        return f"{api} and {own}: about the same"
    return f"{api}; {own}: {fmt_times(1 / ratio)} more" if ratio < 1 else f"{own}; {api}: {fmt_times(ratio)} more"


def about_equal(ratio: float) -> bool:
    """True when `ratio` (or its inverse) reads as 1× at the precision fmt_times prints."""
    return ratio > 0 and fmt_times(max(ratio, 1 / ratio)) == "1×"


def margin_rule(margin: float, what: str = "the API") -> str:
    return f"Self-hosting only pays when {what} costs at least {margin:g}× the self-hosted bill."


def _decision(ref_monthly: float, self_host_monthly: float, label: str, margin: float,
              w: Workload) -> tuple[str, str]:
    ratio = ref_monthly / self_host_monthly
    sides = cost_sides(label, ref_monthly, self_host_monthly)
    if ratio >= margin:
        extra = " Data residency points the same way." if w.data_residency else ""
        return "self-host", (f"Self-host: {sides}, at least the {margin:g}× margin self-hosting needs to pay for its "
                             f"hidden costs.{extra}")
    if w.data_residency:
        return "dedicated-api-first", (f"Try a dedicated deployment first: data residency is required, and "
                                       f"{sides}. "
                                       f"{margin_rule(margin, 'the dedicated offer')} A dedicated endpoint or "
                                       f"provisioned capacity ({DEDICATED}) keeps data in-region without running "
                                       "GPUs yourself.")
    if ratio >= 1 and w.existing_infra:
        return "hybrid", (f"Hybrid: self-hosting is cheaper on paper ({sides}) but inside the {margin:g}× hidden-cost "
                          "margin; keep the API for most traffic and route only the steps that need it (residency, a "
                          "fine-tuned model) to the existing infrastructure.")
    return "use-api", f"Use an API: {sides}. {margin_rule(margin)}"


def decide(self_host_monthly: float, api: pd.DataFrame, workload: Workload, model_name: str, *,
           margin: float = SELF_HOST_MARGIN, gpu_monthly: float | None = None, params_total: float | None = None,
           dedicated_offers: pd.DataFrame | None = None, dedicated_gpus: Mapping[str, int] | None = None) -> Verdict:
    """Apply the framework (module docstring) to an :func:`planner.api_costs.api_costs` table.

    `api` may carry the crossover columns (``crossover_tokens_per_day``, ``crossover_margin_tokens_per_day``)
    merged in; `gpu_monthly` (raw primary GPU cost) adds the multiplier and rule-of-thumb sentences;
    `params_total` places a model outside the catalogue (a --config fine-tune) in a quality tier. Under data
    residency the reference comes from `dedicated_offers` (default: the catalogue's), sized with
    `dedicated_gpus` (GPU id -> GPUs the self-hosted plan uses) where given, else at each offer's minimum.
    """
    if not math.isfinite(self_host_monthly) or self_host_monthly <= 0:
        raise PlannerError(f"self-host monthly cost must be a finite number > 0, got {self_host_monthly!r}")
    if margin < 1:
        raise PlannerError(f"the self-host margin must be >= 1 (the {WRITE_UP} uses 2), got {margin!r}")
    tier = model_tier(model_name, params_total)
    ref, dedicated = (_residency_choice(workload, model_name, dedicated_offers, dedicated_gpus)
                      if workload.data_residency else (None, pd.DataFrame()))
    residency = ref is not None
    if ref is None:
        ref = reference_row(api, model_name, tier)
    label = ref["label"] if "label" in ref.index else _label(ref)
    ratio = float(ref["monthly_cost"]) / self_host_monthly
    decision, headline = _decision(float(ref["monthly_cost"]), self_host_monthly, label, margin, workload)
    compared = dedicated.head(max(MIN_APIS, 3)) if residency else comparison_set(api, model_name, tier=tier)
    reasons = [headline,
               f"The reference{'' if residency else ' API'}, {label} ({_why_reference(ref, model_name)}), would cost "
               f"{fmt_usd(ref['monthly_cost'])}/month for {fmt_tokens(workload.tokens_per_day)} tokens/day, "
               f"against {fmt_usd(self_host_monthly)}/month to self-host."]
    reasons += _residency_reasons(compared, workload) if residency else _api_reasons(api, compared, model_name, tier)
    reasons += _volume_reasons(workload, ref, ratio, margin)
    reasons += _tco_reasons(self_host_monthly, gpu_monthly, workload.existing_infra)
    labels = tuple(compared["label"] if "label" in compared else (_label(r) for _, r in compared.iterrows()))
    comparison = "dedicated offer, billed per unit-hour" if residency else str(ref.get("comparison", ""))
    return Verdict(decision, tuple(reasons), label, ratio, labels, comparison)


def _api_reasons(api: pd.DataFrame, compared: pd.DataFrame, model_name: str, tier: str) -> list[str]:
    """The per-token comparison sentences: like for like (same weights, else the tier), and what is missing."""
    def tagged(r: pd.Series) -> str:
        kind = ("same weights" if r.get("serves") == model_name else f"tier {r.get('tier')}" if r.get("tier") == tier
                else f"other tier: {r.get('tier') or 'none'}")
        return f"{_label(r)} {fmt_usd(r['monthly_cost'])}/month ({kind})"

    out = ["Compared on " + "; ".join(tagged(r) for _, r in compared.iterrows()) + "."]
    if tier:
        out.append(f"Comparisons are like for like: the same weights hosted where an API serves them, else APIs in "
                   f"the same quality tier ({tier}; api_prices.yaml says how tiers are assigned); superseded, "
                   "stale and retired rows are left out.")
    missing = _like_for_like(api, model_name, tier)
    if missing:
        out.append(missing)
    if len(compared) < MIN_APIS or not compared["open_weight"].astype(bool).any():
        out.append(f"Only {len(compared)} current API(s) priced, open-weight hosted: "
                   f"{'yes' if compared['open_weight'].astype(bool).any() else 'no'}; the framework asks for "
                   f"at least {MIN_APIS} including a hosted open-weight option (add rows with --api-prices).")
    return out


def _residency_reasons(compared: pd.DataFrame, workload: Workload) -> list[str]:
    """Under residency: only dedicated offers priced per unit-hour are compared (issue 11 item 4)."""
    listed = "; ".join(f"{r['label']} {fmt_usd(r['monthly_cost'])}/month ({'at least ' if r['floor'] else ''}"
                       f"{r['units']:g} x ${r['usd_per_unit_hour']:g}/{r['unit'].removesuffix('-hour')}-hour, "
                       f"{r['region'] or 'region not stated: confirm in-region placement'}; as of {r['as_of']})"
                       for _, r in compared.iterrows())
    return [f"Data residency rules out shared per-token APIs: compared only with dedicated offers billed per "
            f"unit-hour whether used or not: {listed}.",
            f"Not priced ({DEDICATED} provisioned capacity): no dated published price per unit was found; add a "
            "quote with --dedicated-prices FILE (rows in the planner/catalogues/dedicated.yaml layout)."]


__all__ = ["Verdict", "DECISIONS", "SELF_HOST_MARGIN", "LOW_VOLUME_TOKENS_PER_DAY", "comparison_set", "decide"]
