"""Library entry point behind `inferplan plan` and `crossover`: names in, a Plan out. No printing.

A walk-through with a worked example: docs/python_api.md."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from planner import buy as buy_mod
from planner import prices as prices_mod
from planner.launch import ENGINES, checkpoint_conflict
from planner.plan import Catalogues, Plan, load_catalogues, make_plan
from planner.redundancy import SEED_POLICY, RedundancyPolicy
from planner.search import DEFAULT_TPS, SearchSpace
from planner.workload import DEFAULT_WORKLOAD, Workload
from profiler import catalogue
from profiler.errors import InvalidValueError, did_you_mean
from profiler.interop import ServingContext
from profiler.schema import read_profile
from profiler.specs import KvDtype

SIZINGS = ("p99", "mean-value")


@dataclass(frozen=True)
class PlanRequest:
    """What `inferplan plan` asks for: names and numbers, resolved and checked by :func:`plan`.

    Args:
        model: a catalogue model id (``inferplan models``), or a local model folder holding config.json, or a
            config.json path (labelled with the folder's name).
        workload: what is served (planner.workload.Workload: tokens/day, request lengths, peak-to-average, the
            p99 TTFT / TPOT targets in seconds, availability as a fraction); build one from human units with
            ``build_workload({"tokens_in_per_day": "50M", "tpot_p99_s": "50ms"})``. Default: the seed scenario.
        gpus, quants, tps, kv_dtypes: the search space by id (empty: every catalogue GPU; the model's default
            quants, bf16/fp8/int8/int4; TP 1, 2, 4, 8); ``kv_dtypes`` is ``bf16`` and/or ``fp8``.
        pricing: pricing models compared (on-demand, reserved-1y, reserved-3y, spot, buy); ``provider`` and
            ``region`` keep only those offers.
        spares, hot_standby, zones, node_loss: redundancy over the availability sizing (N+k spare replicas; a
            hot-standby fraction 0-1 at every fleet size; survive losing one of N zones; and the fullest node).
        margin: self-host only when the reference API costs at least this many times the self-host TCO (1-100).
        sizing: ``p99`` (the tail model's p99 latencies) or ``mean-value`` (mean step time, 80 % load cap);
            ``simulate``: size the cheapest candidates in the continuous-batching simulator instead.
        engine: the serving engine planned for: vllm, trtllm or sglang.
        profile: a measured or calibrated profile CSV/JSON (profiler.schema) used instead of the analytic model.
        tco, api_prices, gpu_prices, dedicated_prices, models_file, gpus_file, quants_file, risks_file,
            price_trends_file: YAML files over the packaged catalogues (each the same layout as the packaged one).
        gpu_memory_utilization: vLLM's share of GPU memory, in (0, 1] (None: 0.9).
        talent_region, opportunity_hours: price engineer time at a region's compensation; engineer hours a month
            on inference, shown as an opportunity cost.
        framework: apply the decision framework's drivers (False: the cost verdict alone).
        top: alternatives kept in ``Plan.alternatives``.
    """

    model: str = "llama-3.3-70b"
    workload: Workload = DEFAULT_WORKLOAD
    gpus: tuple[str, ...] = ()
    quants: tuple[str, ...] = ()
    tps: tuple[int, ...] = ()
    kv_dtypes: tuple[str, ...] = ("bf16",)
    pricing: tuple[str, ...] = ("reserved-1y",)
    provider: str | None = None
    region: str | None = None  # --region: only offers sold there (planner.prices.region_matches); None: any region
    spares: int | None = None
    hot_standby: float | None = None  # None: the seed bill's 50% hot standby up to 2 replicas, N+k above
    zones: int | None = None
    node_loss: bool = False  # also survive losing the fullest node
    tco: Path | None = None
    api_prices: Path | None = None
    gpu_prices: Path | None = None
    dedicated_prices: Path | None = None  # dedicated/provisioned offers added over catalogues/dedicated.yaml
    profile: Path | None = None
    simulate: bool = False
    engine: str = "vllm"  # the serving engine planned for (planner.engines.ENGINES): p99 model, simulator, launch line
    sizing: str = "p99"  # p99: replicas on the tail model's p99s (planner.p99_plan); mean-value: planner.capacity
    margin: float = 2.0  # self-host only when the reference API costs >= margin x the TCO (seed §4 step 4)
    crossovers: str = "like-for-like"  # break-evens for the compared APIs only; "all": every API row (crossover cmd)
    models_file: Path | None = None
    top: int = 8
    # YAML in the catalogue's layout adding or replacing GPUs / quant schemes (a user GPU needs its price in
    # gpu_prices too); quant ids may be `native` (the model's checkpoint format)
    gpus_file: Path | None = None
    quants_file: Path | None = None
    gpu_memory_utilization: float | None = None  # None: vLLM's 0.9 (Efficiency.gpu_memory_utilization)
    talent_region: str | None = None  # engineer cost from this region's compensation range (planner.risks)
    opportunity_hours: float | None = None  # engineer hours/month on inference: the opportunity-cost row
    framework: bool = True  # apply the framework's drivers (planner.decision); False: the cost verdict alone
    risks_file: Path | None = None  # rows over catalogues/risks.yaml (planner.risks)
    price_trends_file: Path | None = None  # a price-trend catalogue replacing catalogues/price_trends.yaml
    # what-if factors (planner.sensitivity varies them; planner.price_factors applies them to the catalogues):
    gpu_price_factor: float = 1.0  # every GPU-hour price x this
    api_price_factor: float = 1.0  # every API token price x this
    people_cost_factor: float = 1.0  # the engineer cost (and the people lines that scale with it) x this
    # budget views (issue 14), each a planner.views.View in Plan.views:
    hybrid: bool = False  # self-host the base load, send the rest to the reference API (planner.hybrid)
    growth_per_month: float | None = None  # volume growth per month, e.g. 0.08 (planner.growth); None: no view
    months: int = 24  # months the growth view covers
    owned: tuple[tuple[str, int], ...] = ()  # GPUs already owned, (gpu id, count): a cap and a sunk cost


def policy_for(req: PlanRequest) -> RedundancyPolicy:
    pol = SEED_POLICY
    if req.hot_standby is not None:  # a fraction the user gives applies at every scale
        pol = replace(pol, hot_standby_fraction=req.hot_standby, hot_standby_max_replicas=None)
    if req.spares is not None:
        pol = replace(pol, spares=req.spares)
    if req.zones is not None:
        pol = replace(pol, zones=req.zones)
    if req.node_loss:
        pol = replace(pol, survive_node_loss=True)
    return pol


def _check_offers(req: PlanRequest, cat) -> None:
    """Unknown pricing models and providers are input errors, not 'no configuration meets the SLOs'."""
    known = sorted(set(cat.gpu_prices["pricing"]))
    bad = [p for p in req.pricing if p not in known]
    if bad:
        hint = did_you_mean(bad[0], known)
        raise InvalidValueError(f"unknown pricing model '{bad[0]}'{hint}; choose from {', '.join(known)}")
    providers = sorted(set(cat.gpu_prices["provider"]))
    if req.provider is not None and req.provider not in providers:
        hint = did_you_mean(req.provider, providers)
        raise InvalidValueError(f"no GPU offers from provider '{req.provider}'{hint}; providers: "
                                f"{', '.join(providers)}")


def with_user_catalogues(cat: Catalogues, req: PlanRequest) -> Catalogues:
    """`cat` with the request's --gpus / --quants files over its GPUs and schemes (owned GPUs re-priced at the
    file's TDP) and its --gpu-memory-utilization."""
    from profiler.api import check_gpu_memory_utilization

    check_gpu_memory_utilization(req.gpu_memory_utilization)
    if req.gpus_file is not None:
        gpus = catalogue.load_gpus(req.gpus_file)
        rented = cat.gpu_prices[cat.gpu_prices["pricing"] != "buy"]
        owned = buy_mod.buy_offers({g.id: g.tdp_w for g in gpus.values()}, req.gpu_prices)
        cat = replace(cat, gpus=gpus, gpu_prices=pd.concat([rented, owned], ignore_index=True))
    if req.quants_file is not None:
        cat = replace(cat, quants=catalogue.load_quants(req.quants_file))
    if req.gpu_memory_utilization is not None:
        cat = replace(cat, gpu_memory_utilization=req.gpu_memory_utilization)
    if req.talent_region is not None:  # people-cost lines at the region's market compensation (planner.risks)
        from planner.risks import load_risks, talent_engineer_usd_per_year
        from planner.tco import with_engineer_cost

        usd, source = talent_engineer_usd_per_year(req.talent_region, load_risks(req.risks_file))
        cat = replace(cat, tco_defaults=with_engineer_cost(cat.tco_defaults, usd, source))
    if req.dedicated_prices is not None:
        from planner.dedicated import load_dedicated_offers

        cat = replace(cat, dedicated_offers=load_dedicated_offers(req.dedicated_prices))
    return cat


def plan(req: PlanRequest) -> Plan:
    """Resolve names, check them, search, and assemble the plan.

    Returns:
        A :class:`planner.plan.Plan`: the chosen ``deployment`` (a dict: gpu, quant, tp, replicas, spare_replicas,
        gpus_total, usd_per_gpu_hour, monthly_total_cost [USD/month], ...), ``monthly_total_cost`` and
        ``monthly_gpu_cost`` [USD/month], ``line_items`` (the bill, one row per item), ``api`` (the workload on every
        API, with crossovers), ``curve`` (monthly cost vs tokens/day, self-hosted and per API), ``alternatives``,
        ``redundancy``, ``verdict`` and ``launch_args``. docs/python_api.md lists the columns.

    Raises:
        UnknownNameError: a model, GPU or quant id that is not in the catalogues (the message suggests names).
        CatalogueError: a malformed YAML file or config.json (file, line, field named).
        InvalidValueError, WorkloadError: an impossible value. InfeasibleError / NoOfferError: nothing meets the
        SLOs, or no price row matches. All are :class:`profiler.errors.InferplanError`.
    """
    model = catalogue.get_model(req.model, models_file=req.models_file)
    cat = with_user_catalogues(load_catalogues(req.gpu_prices, req.api_prices, req.tco), req)
    if (req.gpu_price_factor, req.api_price_factor, req.people_cost_factor) != (1.0, 1.0, 1.0):
        from planner.price_factors import scaled_catalogues

        cat = scaled_catalogues(cat, req.gpu_price_factor, req.api_price_factor, req.people_cost_factor)
    if req.owned:  # owned GPUs: offers billed at their running costs only (planner.owned)
        from planner.owned import owned_catalogues

        cat, req = owned_catalogues(cat, req)
    for g in req.gpus:
        catalogue.get_gpu(g, req.gpus_file)  # unknown ids fail here with close-name suggestions
    req = replace(req, quants=tuple(dict.fromkeys(catalogue.resolve_quant_id(q, model) for q in req.quants)))
    for q in req.quants:
        catalogue.get_quant(q, req.quants_file)
    catalogue.check_quants_for_model(model, [cat.quants[q] for q in req.quants] or cat.quants.values())
    conflicts = [checkpoint_conflict(model, cat.quants[q]) for q in req.quants]
    if conflicts and all(conflicts):  # every quant asked for contradicts the checkpoint: say that, not "no SLO fit"
        raise InvalidValueError(conflicts[0])
    _check_offers(req, cat)
    if req.region is not None:  # filter the table once, so the search and the plan's offer lookups agree
        cat = replace(cat, gpu_prices=prices_mod.filter_region(cat.gpu_prices, req.region, req.pricing))
    bad_kv = [k for k in req.kv_dtypes if k not in ("bf16", "fp8")]
    if bad_kv or not req.kv_dtypes:
        raise InvalidValueError(f"--kv-dtype must be bf16 or fp8, not {', '.join(bad_kv) or 'empty'}")
    space = SearchSpace(gpus=req.gpus, quants=req.quants, kv_dtypes=tuple(KvDtype(k) for k in req.kv_dtypes),
                        tps=req.tps or DEFAULT_TPS, pricing=req.pricing or ("reserved-1y",), provider=req.provider,
                        region=req.region, redundancy=policy_for(req), existing_infra=req.workload.existing_infra)
    serving = ServingContext.of(model, req.gpus, req.quants, req.kv_dtypes, req.tps, models_file=req.models_file,
                                gpus_file=req.gpus_file, quants_file=req.quants_file)  # for a vllm/guidellm report
    profile = read_profile(req.profile, serving)[0] if req.profile else None
    if profile is not None and not (profile["model"] == model.name).any():
        raise InvalidValueError(f"{req.profile} profiles {', '.join(sorted(profile['model'].unique()))}, not "
                                f"{model.name}: a profile only describes its own model; profile {model.name} "
                                "(inferplan profile ... --measure -o FILE) or drop --profile")
    if req.sizing not in SIZINGS:
        raise InvalidValueError(f"--sizing must be one of {', '.join(SIZINGS)}, not {req.sizing!r}")
    if req.engine not in ENGINES:
        hint = did_you_mean(req.engine, ENGINES)
        raise InvalidValueError(f"--engine must be one of {', '.join(ENGINES)}, not {req.engine!r}{hint}")
    if not (isinstance(req.margin, (int, float)) and math.isfinite(req.margin) and 1 <= req.margin <= 100):
        raise InvalidValueError(f"--margin must be a number from 1 to 100 (the seed's rule is 2: the API costs at "
                                f"least twice the self-host TCO), got {req.margin!r}")
    if req.growth_per_month is not None:  # fail before the planning, not after it
        from planner.growth import check_growth

        check_growth(req.growth_per_month, req.months)
    result = make_plan(model, req.workload, space, cat, profile, top_n=req.top, sizing=req.sizing, engine=req.engine,
                       margin=float(req.margin), crossovers=req.crossovers)
    if req.simulate:
        from planner.simulated import attach_simulation

        result = attach_simulation(result, model, req.workload, space, cat, profile, req.engine)
    if req.framework:
        from planner.decision import with_framework

        result = with_framework(result, opportunity_hours=req.opportunity_hours, talent_region=req.talent_region,
                                risks_file=req.risks_file, price_trends_file=req.price_trends_file,
                                tco=cat.tco_defaults)
    return replace(result, views=_views(result, req, model, cat, space))


def _views(result: Plan, req: PlanRequest, model, cat: Catalogues, space: SearchSpace) -> tuple:
    """The budget views the request asks for (planner.views), in a fixed order; capex whenever GPUs are bought."""
    from planner.fleet import fleet_of

    if not (req.owned or req.hybrid or req.growth_per_month is not None or result.capex):
        return ()
    fleet = fleet_of(result, model, cat, space)
    views = []
    if req.owned:
        from planner.owned import owned_view

        views.append(owned_view(result, req, fleet, cat))
    if req.hybrid:
        from planner.hybrid import hybrid_view

        views.append(hybrid_view(result, req, fleet, cat))
    if req.growth_per_month is not None:
        from planner.growth import growth_view

        views.append(growth_view(result, req, fleet, cat))
    if result.capex:
        from planner.growth import capex_view

        views.append(capex_view(result, fleet))
    return tuple(views)
