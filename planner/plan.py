"""The main job: workload -> cheapest SLO-meeting deployment -> full bill, APIs, crossover, verdict.

``make_plan`` composes the pure pieces (search, redundancy, tco, api_costs, crossover, verdict,
launch) into one frozen :class:`Plan`. ``Plan`` fields, units in names:

- ``deployment``: the chosen Candidates row (gpu, quant, kv_dtype, tp, batch, replicas, ...).
- ``redundancy``: DataFrame ``line, replicas, basis`` — N at peak, and each spare policy as its own line.
- ``line_items``: LineItems DataFrame ``item, category, monthly_usd, basis, source`` (planner.tco).
- ``api``: DataFrame of the same workload on every catalogue API (planner.api_costs) plus
  ``crossover_tokens_per_day`` per API.
- ``curve``: cost-vs-volume table (planner.crossover.cost_curve).
- ``alternatives``: the top-N Candidates (planner.search).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from pathlib import Path

import pandas as pd

from planner import api_costs as api_mod
from planner import buy as buy_mod
from planner import capacity_store
from planner import crossover as cross_mod
from planner import prices as prices_mod
from planner import verdict as verdict_mod
from planner.cost_curve import shared_cost
from planner.errors import InfeasibleError, PlannerError
from planner.launch import launch_args, launch_notes, startup_log
from planner.resize import narrowed, only
from planner.search import (
    SearchSpace,
    best,
    bill,
    closest_to_slos,
    default_quants,
    infeasible_summary,
    not_for_production,
    offer_for,
    search,
    size,
    step_model,
)
from planner.step_model import Deployment
from planner.units import DAYS_PER_MONTH, HOURS_PER_MONTH, fmt_usd
from planner.workload import Workload
from profiler import progress
from profiler.analytic.efficiency import efficiency_for
from profiler.analytic.params import param_counts
from profiler.specs import KvDtype, ModelSpec


@dataclass(frozen=True)
class Catalogues:
    """Everything a plan reads: specs and price tables (catalogue defaults, user overrides applied)."""

    gpus: dict
    quants: dict
    gpu_prices: pd.DataFrame
    api_prices: pd.DataFrame
    tco_defaults: object
    calibration: Path | None = None
    gpu_memory_utilization: float | None = None  # None: vLLM's default (Efficiency.gpu_memory_utilization)
    dedicated_offers: pd.DataFrame | None = None  # residency's alternatives (planner.dedicated); None: the catalogue's

    def efficiency(self, gpu_id: str, quant_id: str):
        """The efficiencies a plan uses for (gpu, quant): calibration file, then defaults; the memory share set."""
        return efficiency_for(gpu_id, quant_id, self.calibration, self.gpu_memory_utilization)


def load_catalogues(gpu_prices: Path | None = None, api_prices: Path | None = None, tco: Path | None = None,
                    calibration: Path | None = None) -> Catalogues:
    """The catalogues with the user's files over them. With no user file, one shared read-only instance
    per process (the packaged YAML does not change at run time; parsing it is most of a small plan)."""
    if gpu_prices is None and api_prices is None and tco is None:
        return replace(_packaged_catalogues(), calibration=calibration)
    return _read_catalogues(gpu_prices, api_prices, tco, calibration)


@lru_cache(maxsize=1)
def _packaged_catalogues() -> Catalogues:
    return _read_catalogues(None, None, None, None)


def _read_catalogues(gpu_prices: Path | None, api_prices: Path | None, tco: Path | None,
                     calibration: Path | None) -> Catalogues:
    from planner import tco as tco_mod
    from profiler import catalogue

    gpus = catalogue.load_gpus()
    # renting offers plus owning (pricing "buy": purchase amortised + power x PUE + hosting, planner.prices);
    # a --gpu-prices file may override either (its `offers:` and its `purchase:` sections)
    offers = pd.concat([prices_mod.load_gpu_prices(gpu_prices),
                        buy_mod.buy_offers({g.id: g.tdp_w for g in gpus.values()}, gpu_prices)],
                       ignore_index=True)
    return Catalogues(gpus, catalogue.load_quants(), offers, prices_mod.load_api_prices(api_prices),
                      tco_mod.load_tco_defaults(tco), calibration)


@dataclass(frozen=True)
class Plan:
    """A deployment for a workload, its full monthly bill, the same workload on APIs, and the verdict.

    Returned by :func:`planner.plan` (docs/python_api.md). Money in USD per month unless a name says otherwise;
    volumes in tokens per day. Tables are DataFrames: ``line_items`` (item, category, monthly_usd, basis, source,
    id), ``redundancy`` (line, replicas, gpus, used, basis), ``api`` (one row per API price: provider, model,
    daily_cost, monthly_cost, usd_per_mtok_blended, comparison, crossover_tokens_per_day, ...), ``alternatives``
    (the cheapest configurations searched) and ``curve`` (cost vs volume, what ``--plot`` draws).
    ``deployment`` is the chosen configuration (gpu, quant, kv_dtype, tp, replicas, spare_replicas, gpus_total,
    pricing, usd_per_gpu_hour, batch, tpot_ms, ttft_s, replica_rps, ...); ``verdict.decision`` is one of
    planner.verdict.DECISIONS (use-api, self-host, dedicated-api-first, hybrid, self-host-for-capability), with
    ``verdict.reasons`` in words. ``launch_args`` is the engine's launch line and ``startup_log`` what vLLM logs
    at start-up with it.
    """

    model: str
    workload: Workload
    deployment: dict  # the chosen Candidates row
    redundancy: pd.DataFrame
    line_items: pd.DataFrame
    monthly_gpu_cost: float  # primary replicas' GPUs (the seed's "raw GPU cost")
    monthly_total_cost: float
    tco_multiplier: float
    api: pd.DataFrame
    crossover_tokens_per_day: float | None  # vs the reference API (see reference_api)
    reference_api: str
    curve: pd.DataFrame
    verdict: verdict_mod.Verdict
    launch_args: list[str]  # the launch line of `engine` (planner.launch)
    alternatives: pd.DataFrame
    simulated: dict | None = None
    launch_notes: tuple[str, ...] = ()
    engine: str = "vllm"  # the serving engine planned for: vllm | trtllm | sglang (planner.engines)
    p99: dict | None = None  # the p99 sizing (planner.p99_plan); None when sized on the mean-value model
    margin: float = verdict_mod.SELF_HOST_MARGIN  # the verdict's self-host margin (API cost / TCO)
    # volumes where the reference API reaches 0.9x and 1.1x the self-host cost (planner.crossover.parity_band)
    parity_band: tuple[float | None, float | None] = (None, None)
    warnings: tuple[str, ...] = ()  # stale prices and the like: shown before the verdict, kept in the JSON
    tier: str = ""  # the model's quality tier (planner.api_costs.model_tier)
    capex: dict | None = None  # buying: upfront and monthly USD for the GPUs bought (planner.buy.capex_breakdown)
    guard: dict | None = None  # the guard model beside the deployment (planner.guard.guard_summary)
    framework: object | None = None  # the five steps and the drivers (planner.framework), set by planner.decision
    # factor -> cost_fn(tokens/day) with every GPU-hour price x factor (planner.trends); not part of the record
    at_gpu_price: Callable | None = field(default=None, repr=False, compare=False)
    # tokens/day -> the compliance lines billed on the API side too (--compliance-on-api), else None
    shared: Callable | None = field(default=None, repr=False, compare=False)
    startup_log: tuple[str, ...] = ()  # what vLLM logs at start-up with the launch line (planner.launch.startup_log)
    # the TCO defaults the bill was priced with (user --tco file, talent region, price factors applied): the finance
    # workbook writes each line as a formula of them (planner.workbook); not part of the record
    tco_defaults: object = field(default=None, repr=False, compare=False)
    views: tuple = ()  # budget views asked for (planner.views.View: hybrid, growth, owned, capex), in that order
    # why the chosen GPU is not for production (a GeForce or Apple-silicon GPU, named with --gpu), else None
    not_for_production: str | None = None

    @property
    def usd_per_mtok_self_host(self) -> float:
        """Full monthly TCO per million tokens (input + output) served a month [USD/M tokens]."""
        return self.monthly_total_cost / (self.workload.tokens_per_day * DAYS_PER_MONTH / 1e6)


def _deployment(model: ModelSpec, chosen: pd.Series, cat) -> Deployment:
    quant, gpu = cat.quants[chosen["quant"]], cat.gpus[chosen["gpu"]]
    return Deployment(model, gpu, quant, KvDtype(chosen["kv_dtype"]), int(chosen["tp"]),
                      cat.efficiency(gpu.id, quant.id))


SPOT_CAVEAT = ("Spot capacity can be reclaimed at short notice, and the availability sizing assumes each replica "
               "is up 99% of the time: keep the spares on-demand or reserved, or price with --pricing reserved-1y, "
               "before relying on spot for a 99.9% target.")


def _marks_named_gpus(fn: Callable) -> Callable:
    """A plan that fails on GPUs named with --gpu keeps the not-for-production marking in its error message."""
    from functools import wraps

    @wraps(fn)
    def wrapped(model, workload, space, cat, *args, **kwargs):
        try:
            return fn(model, workload, space, cat, *args, **kwargs)
        except InfeasibleError as exc:
            notes = [n for g in space.gpus if g in cat.gpus and (n := not_for_production(cat.gpus[g]))]
            if not notes:
                raise
            raise InfeasibleError(f"{exc} Not for production: {'; '.join(notes)}.") from None

    return wrapped


@_marks_named_gpus
def make_plan(model: ModelSpec, workload: Workload, space: SearchSpace, cat, profile: pd.DataFrame | None = None,
              top_n: int = 10, capacity_fn=None, sizing: str = "p99", engine: str = "vllm",
              margin: float = verdict_mod.SELF_HOST_MARGIN, crossovers: str = "like-for-like") -> Plan:
    """Search, pick the cheapest feasible deployment, and price it against every API.

    sizing ``p99`` (without `capacity_fn`): the mean-value search bounds every deployment's rate, the analytic p99
    model (planner.p99_plan) sizes the ones that can be cheapest (``keys_at``), and the plan picks among those;
    ``mean-value``: the mean-value capacities as they are. A `capacity_fn(dep, step)` replaces both (the
    simulator's, planner.simulated). `engine` (vllm | trtllm | sglang) sets the p99 model's KV cache and the launch
    line; the search's memory checks are vLLM's (planner.engines)."""
    capacities: dict = {}
    progress.report("sizing configurations")
    candidates = search(model, workload, space, cat.gpus, cat.quants, cat.gpu_prices, cat.tco_defaults, profile,
                        cat.efficiency, capacity_fn, capacities=capacities)
    summary = refine = None
    if sizing == "p99" and capacity_fn is None and candidates["feasible"].any():
        from planner.p99_plan import p99_capacity_fn, p99_summary

        found: dict = {}
        capacity_fn = p99_capacity_fn(workload, found, engine)

        def refine(key):
            dep = capacities[key][0]  # the mean-value search's feasible deployments: the p99 model's candidates
            return dep, capacity_fn(dep, step_model(dep, profile))

        # the crossovers and the cost curve read it; shared by plans of this shape (planner.cost_curve)
        cost_fn = shared_cost(capacities, workload, space, cat, refine, ("p99", engine), share=profile is None)
        progress.report("p99 sizing")
        keys = cost_fn.fn.keys_at(workload)
        mean_value = candidates
        candidates = search(model, workload, narrowed(space, keys), cat.gpus, cat.quants, cat.gpu_prices,
                            cat.tco_defaults, profile, cat.efficiency, only(keys, capacity_fn, "p99 model"))
        if best(candidates) is None:
            names = ", ".join(f"{g}/{q}/TP{t}" for g, q, _, t in keys)
            raise InfeasibleError(f"none of the cheapest mean-value candidates ({names}) meets TTFT p99 "
                                  f"{workload.ttft_p99_s:g} s and TPOT p99 {workload.tpot_p99_s * 1e3:g} ms once "
                                  f"queueing and the length spread are counted. Why: {infeasible_summary(candidates)}. "
                                  f"{closest_to_slos(candidates, workload)}Relax the SLOs, or --sizing mean-value to "
                                  "plan on mean step times.")
        summary = lambda chosen: p99_summary(found, chosen, mean_value, workload, keys)  # noqa: E731
    else:
        cost_fn = shared_cost(capacities, workload, space, cat, share=profile is None)
    chosen = best(candidates)
    if chosen is None and _nothing_fits_memory(candidates):
        raise InfeasibleError(_no_memory_fit_message(model, workload, space, cat))
    if chosen is None:
        raise InfeasibleError(
            f"no configuration of {model.name} meets TTFT p99 {workload.ttft_p99_s:g} s and TPOT p99 "
            f"{workload.tpot_p99_s * 1e3:g} ms within the search space. Why: {infeasible_summary(candidates)}. "
            f"{closest_to_slos(candidates, workload)}Relax the SLOs, allow more GPU types (--gpu), quants (--quant) "
            "or TP degrees, or a pricing model that has offers for these GPUs.")
    dep = _deployment(model, chosen, cat)
    cap = capacity_fn(dep, step_model(dep, profile)) if capacity_fn else None
    sized = size(dep, workload, space.redundancy, profile, capacity=cap)
    offer = offer_for(cat.gpu_prices, dep.gpu.id, chosen["pricing"], space.provider, int(chosen["gpus_total"]), {})
    items, total, mult = bill(sized, float(chosen["usd_per_gpu_hour"]), workload, cat.tco_defaults,
                              space.existing_infra, offer)
    api = api_mod.api_costs(workload, cat.api_prices)
    shared = _shared_fn(workload, sized, float(chosen["usd_per_gpu_hour"]), cat, space)
    if shared is not None:  # a regulated product pays evals, logging and guardrails with an API too
        extra = shared(workload.tokens_per_day)
        api["compliance_monthly"] = extra
        api["monthly_cost"] = api["monthly_cost"] + extra
        api["daily_cost"] = api["daily_cost"] + extra / DAYS_PER_MONTH
        api["usd_per_mtok_blended"] = api["daily_cost"] / (workload.tokens_per_day / 1e6)
    def at_gpu_price(factor: float) -> cross_mod.MemoCost:
        """The cost curve with every GPU-hour price x factor (planner.trends), memoised; today's at 1."""
        return cost_fn.fn.memo(factor)

    # crossovers like for like (issue 11 item 5): the same weights hosted and the model's quality tier, plus the
    # rows the verdict compares when those are too few; other APIs keep a blank crossover
    params_total = float(param_counts(model).total)
    tier = api_mod.model_tier(model.name, params_total)
    like = set(api_mod.comparable_rows(api, model.name, tier)["label"]) | set(
        verdict_mod.comparison_set(api, model.name, tier=tier)["label"])
    labels = cat.api_prices["provider"] + " / " + cat.api_prices["model"]
    priced = cat.api_prices[labels.isin(like)] if crossovers == "like-for-like" else cat.api_prices
    progress.report("break-even volumes", 0, len(priced))
    cross = cross_mod.crossover_table(cost_fn, workload, priced, margin=margin, shared=shared)
    progress.report("cost curve")
    api = api.merge(cross, on=["provider", "model"], how="left")
    current = set(api_mod.current_rows(api)["label"])
    api["comparison"] = [_comparison(r, model.name, tier, like, current) for _, r in api.iterrows()]
    curve = cross_mod.cost_curve(cost_fn, workload, cat.api_prices, apis=sorted(like), shared=shared)
    verdict = verdict_mod.decide(total, api, workload, model.name, margin=margin,
                                 gpu_monthly=float(chosen["monthly_gpu_cost"]), params_total=params_total,
                                 dedicated_offers=cat.dedicated_offers,
                                 dedicated_gpus={dep.gpu.id: int(chosen["gpus_total"])})
    ref = verdict.reference_api  # the verdict's reference (under residency, a dedicated-deployment API)
    extra = _like_for_like_notes(api, verdict.reference_api, workload, str(chosen["quant"]), model)
    if chosen["pricing"] == "spot":
        extra.append(SPOT_CAVEAT)
    verdict = replace(verdict, reasons=verdict.reasons + tuple(extra))
    longest = workload.longest_request_tokens
    ref_rows = cat.api_prices[(cat.api_prices["provider"] + " / " + cat.api_prices["model"]) == ref]
    band = cross_mod.parity_band(cost_fn, workload, ref_rows.head(1), shared=shared) if len(ref_rows) else (None, None)
    capacity_store.flush()  # the capacities sized for this plan, kept for the next run
    return Plan(
        model=model.name, workload=workload, deployment=chosen.to_dict(), redundancy=sized.redundancy.lines,
        line_items=items, monthly_gpu_cost=float(chosen["monthly_gpu_cost"]), monthly_total_cost=total,
        tco_multiplier=mult, api=api, crossover_tokens_per_day=_crossover_of(api, ref), reference_api=ref,
        curve=curve, verdict=verdict, launch_args=launch_args(engine, dep, sized.capacity, longest),
        launch_notes=tuple(launch_notes(engine, dep)), engine=engine,
        startup_log=tuple(startup_log(engine, dep, sized.capacity, longest)),
        alternatives=candidates.head(top_n), p99=summary(chosen.to_dict()) if summary else None, margin=margin,
        parity_band=band, warnings=tuple(_warnings(api, chosen, space.region)), tier=tier,
        capex=_capex(offer, int(chosen.get("gpus_billed", chosen["gpus_total"]))),
        guard=_guard(cat, dep, workload, sized.redundancy.spare_replicas > 0), at_gpu_price=at_gpu_price,
        shared=shared, tco_defaults=cat.tco_defaults, not_for_production=not_for_production(dep.gpu))


def _like_for_like_notes(api: pd.DataFrame, ref: str, workload: Workload, quant: str, model: ModelSpec) -> list[str]:
    """What makes the API side and the self-hosted side differ beyond the price (issue 11 item 7)."""
    rows = api[api["label"] == ref]
    row = rows.iloc[0] if len(rows) else None
    out = []
    if workload.compliance_on_api and "compliance_monthly" in api:
        usd = fmt_usd(float(api["compliance_monthly"].iloc[0]))
        out.append(f"Both sides carry evals, audit logging and guardrails ({usd}/month in each API's bill above, as "
                   "self-hosting bills them): --compliance-on-api.")
    elif not workload.compliance_on_api:
        out.append("Evals, audit logging and guardrails are billed to self-hosting only; a regulated product needs "
                   "them with an API too (--compliance-on-api adds them to both sides).")
    if workload.api_tier != "standard" and row is not None:
        out.append(f"APIs priced at the {workload.api_tier} tier: {ref} at {row.get('service_tier', '')}.")
    checkpoint = str(getattr(model, "checkpoint_quant", None) or "bf16")
    served = str(row.get("quant") or "") if row is not None else ""
    if served and served != quant:
        out.append(f"Precision differs: self-hosting runs {quant} weights, {ref} serves {served}.")
    elif not served and row is not None and quant != checkpoint:
        out.append(f"Self-hosting runs {quant} weights (the checkpoint is {checkpoint}); {ref} does not publish the "
                   "precision it serves, so check quality on your own evaluation before reading the price ratio as "
                   "like for like.")
    return out


def _shared_fn(workload: Workload, sized, usd_per_gpu_hour: float, cat, space: SearchSpace):
    """E(v): the compliance lines (planner.tco.COMPLIANCE_ITEMS) at daily volume v, priced as the plan prices them
    (the guard on the planned GPU at its rate), for the API side; None unless Workload.compliance_on_api."""
    if not workload.compliance_on_api:
        return None
    from planner import tco as tco_mod

    defaults = tco_mod.compliance_defaults(cat.tco_defaults)
    primary, spare = sized.replicas * sized.dep.tp, sized.redundancy.spare_replicas * sized.dep.tp
    memo: dict[float, float] = {}

    def shared(v: float) -> float:
        if v not in memo:
            memo[v] = tco_mod.tco_monthly_total(usd_per_gpu_hour * HOURS_PER_MONTH * primary, primary, spare,
                                                sized.replicas, workload.scaled_to(v), defaults, space.existing_infra,
                                                gpu=sized.dep.gpu)
        return memo[v]

    return shared


def _guard(cat, dep: Deployment, workload: Workload, spare: bool) -> dict | None:
    """The guard model the bill's guardrails line prices (tco_defaults.yaml basis guard_model); None without one."""
    from planner.guard import guard_summary

    item = next((it for it in cat.tco_defaults.items if it.basis == "guard_model"), None)
    if item is None:
        return None
    return guard_summary(dep.gpu, workload, spare, item.params["guard_model"])


def _capex(offer, gpus: int) -> dict | None:
    """Upfront capital and the monthly cost of owning, for all `gpus` bought; None when renting."""
    per = buy_mod.capex_breakdown(offer) if offer is not None and not isinstance(offer, PlannerError) else None
    if per is None:
        return None
    keys = ("chip_usd", "server_usd", "network_usd", "residual_usd", "monthly_capital_usd", "monthly_support_usd",
            "monthly_energy_usd", "monthly_hosting_usd", "upfront_usd", "monthly_usd")
    return {"gpus": gpus, **{k: getattr(per, k) * gpus for k in keys}}


def _warnings(api: pd.DataFrame, chosen: pd.Series, region: str | None) -> list[str]:
    """Prices older than 90 days and an offer outside the region asked for (issue 11 item 6): the API table's and
    the chosen GPU offer's."""
    today = date.today()
    return [w for w in (api_mod.staleness_warning(api, today),
                        *prices_mod.offer_warnings(chosen.to_dict(), today, region)) if w]


def _comparison(row: pd.Series, model_name: str, tier: str, like: set, current: set) -> str:
    """How an API row compares with the planned model: same weights, same tier, other tier (not compared), or
    not a current price (superseded, a stale seed quote, retired)."""
    if row.get("superseded_by"):
        return f"superseded by {row['superseded_by']}"
    if row["label"] not in current:
        return "not current (stale quote or retired)"
    if row.get("serves") == model_name:
        return "same weights"
    if row.get("tier") and row.get("tier") == tier:
        return "same tier"  # the tier itself is the row's `tier` column and the table's title
    compared = " (compared: too few in the tier)" if row["label"] in like else ""
    return f"other tier ({row.get('tier') or 'unknown'}){compared}"


def _nothing_fits_memory(candidates: pd.DataFrame) -> bool:
    """Every configuration that could run at all ran out of memory (none reached an SLO or price check)."""
    limited = candidates.get("limited_by", pd.Series("", index=candidates.index)).fillna("")
    return bool((limited == "memory").any() and not ((limited != "memory") & (limited != "")).any()
                and not candidates["feasible"].any())


def _no_memory_fit_message(model: ModelSpec, workload: Workload, space: SearchSpace, cat) -> str:
    """What would hold the model: each catalogue GPU's smallest TP per quant (profiler.analytic.profile)."""
    from profiler.analytic.profile import what_fits

    context = int(workload.mean_input_tokens + workload.mean_output_tokens)
    options = what_fits(model, cat.gpus, {k: v for k, v in cat.quants.items()
                                          if k in (space.quants or default_quants(model))},
                        space.kv_dtypes[0], context, cat.efficiency)
    head = (f"{model.name} does not fit in memory in any configuration searched (GPUs: "
            f"{', '.join(space.gpus) or 'all'}; quants: {', '.join(space.quants) or 'default'}; TP "
            f"{', '.join(map(str, space.tps))}) with room in the KV cache for one {context}-token sequence "
            "beside the weights.")
    if not options:
        return (head + " No single node of any catalogue GPU holds it at any quant: multi-node (pipeline-parallel) "
                "serving is outside what this planner sizes.")
    by_gpu: dict[str, list[str]] = {}
    for gpu, quant, tp in options:
        by_gpu.setdefault(gpu, []).append(f"{quant} TP={tp}")
    fits = "; ".join(f"{g} ({', '.join(v)})" for g, v in by_gpu.items())
    return head + f" It fits, within one node, on: {fits}. Pass those with --gpu/--quant/--tp."


def _crossover_of(api: pd.DataFrame, ref: str) -> float | None:
    rows = api[(api["provider"] + " / " + api["model"]) == ref]
    if rows.empty or pd.isna(rows["crossover_tokens_per_day"].iloc[0]):
        return None
    return float(rows["crossover_tokens_per_day"].iloc[0])
