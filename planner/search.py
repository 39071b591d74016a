"""Search: the cheapest configuration meeting the SLOs over GPU x quant x TP x pricing model.

``search(...)`` returns the Candidates table, one row per (gpu, quant, kv_dtype, tp, pricing):

    gpu, quant, kv_dtype, tp, feasible, reason          what was tried; why not, if not
    batch, tpot_ms, ttft_s, replica_rps                 per replica at the SLO (planner.capacity)
    limited_by                                          tpot | ttft | memory | prefill | max_num_seqs
    replicas, spare_replicas, gpus_total, utilisation   at peak; spares from the redundancy policy
    pricing, provider, usd_per_gpu_hour                 the cheapest offer for that GPU and pricing model
    region, as_of                                       where that offer is sold and the date of its price
                                                        (SearchSpace.region limits the offers to one region)
    capex_usd                                           pricing "buy": the upfront purchase of the GPUs billed
                                                        (chips, servers, network; planner.buy.capex_breakdown), USD;
                                                        NaN when renting
    monthly_gpu_cost                                    primary replicas' GPUs x $/GPU-h x 730 h
    monthly_total_cost, tco_multiplier                  full line-item bill (planner.tco)

sorted cheapest first (infeasible rows last). Ties in ``monthly_total_cost`` are broken, in order, by
the least lossy weights (``QUALITY_ORDER``: bf16 before fp8 before int8 before int4), then by more
requests/s per replica (``replica_rps``: headroom), then by the order searched (GPUs and quants in the
order of the mappings passed in, then KV dtype, TP and pricing model as listed in the SearchSpace).
A TP degree above the GPUs of one node (``GpuSpec.gpus_per_node``) is an infeasible row saying so:
multi-node tensor parallelism is not sized.
Sizing one candidate is :func:`size`.
"""

from __future__ import annotations

import math
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from planner import buy as buy_mod
from planner import capacity_store, limits
from planner import prices as prices_mod
from planner import redundancy as red_mod
from planner import tco as tco_mod
from planner.capacity import Capacity, capacity_shape, replica_capacity, replicas_needed, utilisation
from planner.errors import PlannerError
from planner.launch import checkpoint_conflict
from planner.step_model import AnalyticStep, Deployment, ProfileStep
from planner.units import HOURS_PER_MONTH
from planner.workload import Workload
from profiler.analytic.efficiency import efficiency_for
from profiler.analytic.memory import check_tp
from profiler.analytic.profile import EfficiencyLookup
from profiler.analytic.timing import compute_dtype
from profiler.errors import InvalidValueError, UnsupportedQuantError
from profiler.specs import GpuSpec, KvDtype, ModelSpec, QuantScheme

DEFAULT_QUANTS = ("bf16", "fp8", "int8", "int4")  # a model released quantised: its own format (default_quants)
DEFAULT_TPS = (1, 2, 4, 8)
QUALITY_ORDER = ("bf16", "fp16", "fp8", "int8", "mxfp4", "int4")  # tie-break: least lossy weights first


def default_quants(model: ModelSpec) -> tuple[str, ...]:
    """The quants searched when none are named: a checkpoint released quantised (models.yaml checkpoint_quant,
    e.g. gpt-oss's mxfp4) in its own format only, as engines serve it (planner.launch.checkpoint_conflict);
    otherwise DEFAULT_QUANTS."""
    return (model.checkpoint_quant,) if model.checkpoint_quant else DEFAULT_QUANTS


# GPU classes a plan considers only when named (--gpu), and marks not for production (Plan.not_for_production,
# planner.plan): GeForce cards (driver licence) and Apple silicon (a desktop/laptop part).
NAMED_ONLY_CLASSES = ("consumer", "local")
NOT_FOR_PRODUCTION = {
    "consumer": "a GeForce card: NVIDIA's GeForce driver licence (nvidia.com/drivers/geforce-license, in force "
                "since 2017-11-30) section 2.1.3 bars datacenter deployment (gpus.yaml `class`)",
    "local": "Apple silicon, a laptop/desktop part: unified memory without ECC, one chip per machine, no "
             "datacenter support or SLA (design choice: for development estimates, not production sizing)",
}


def not_for_production(gpu: GpuSpec) -> str | None:
    """Why a plan on this GPU is not a production plan (consumer and local classes), else None."""
    reason = NOT_FOR_PRODUCTION.get(gpu.gpu_class)
    return f"{gpu.id}: {reason}" if reason else None


def offered_gpus(gpus: Mapping[str, GpuSpec], named: tuple[str, ...]) -> dict[str, GpuSpec]:
    """The GPUs a plan considers: those named (--gpu), or else every datacenter GPU. Consumer (GeForce) cards
    only when named: NVIDIA's GeForce driver licence does not cover datacenter deployment (gpus.yaml `class`),
    and every plan has an availability target; Apple silicon (class local) likewise, a desktop/laptop part. Spot
    offers likewise only when asked for (--pricing spot)."""
    if named:
        return {k: v for k, v in gpus.items() if k in named}
    return {k: v for k, v in gpus.items() if v.gpu_class not in NAMED_ONLY_CLASSES}


@dataclass(frozen=True)
class SearchSpace:
    """What to try. Empty tuples mean "every catalogue entry" (GPUs: every datacenter GPU, :func:`offered_gpus`;
    quants: :func:`default_quants`)."""

    gpus: tuple[str, ...] = ()
    quants: tuple[str, ...] = ()
    kv_dtypes: tuple[KvDtype, ...] = (KvDtype.BF16,)
    tps: tuple[int, ...] = DEFAULT_TPS
    pricing: tuple[str, ...] = ("reserved-1y",)
    provider: str | None = None
    region: str | None = None  # only offers sold there (planner.prices.region_matches); None: any, rows say where
    redundancy: red_mod.RedundancyPolicy = field(default_factory=red_mod.RedundancyPolicy)
    existing_infra: bool = False


@dataclass(frozen=True)
class Sized:
    """One candidate sized for the workload (a Candidates row, with its records kept)."""

    dep: Deployment
    capacity: Capacity
    replicas: int
    redundancy: red_mod.Redundancy
    utilisation: float


def step_model(dep: Deployment, profile: pd.DataFrame | None):
    return ProfileStep(profile, dep) if profile is not None else AnalyticStep(dep)


_CAPACITIES: OrderedDict = OrderedDict()  # (Deployment, capacity_shape) -> the analytic mean-value Capacity
_CAPACITIES_SIZE = 4096  # a few sweeps' worth of candidates (~150 per 70B plan shape); least recently used go first


def mean_value_capacity(step, workload: Workload) -> Capacity:
    """planner.capacity.replica_capacity, memoised on the analytic step model for the process and between runs
    (planner.capacity_store): it depends on the deployment and the workload's shape, not its volume, so sweeps of
    plans (volumes, prices, the crossover's re-plans) size each candidate once. A measured profile's step model is
    not memoised (the table may change)."""
    if not isinstance(step, AnalyticStep):
        return replica_capacity(step, workload)
    shape = capacity_shape(workload)
    key = (step.dep, shape)
    cap = _CAPACITIES.get(key)
    if cap is None:
        stored = capacity_store.key("mean-value", "", step.dep, shape)  # kept between runs (planner.capacity_store)
        record = capacity_store.get(stored)
        if record is not None:
            cap = Capacity(**record)
        else:
            cap = replica_capacity(step, workload)
            capacity_store.put(stored, capacity_store.as_record(cap))
        _CAPACITIES[key] = cap
        while len(_CAPACITIES) > _CAPACITIES_SIZE:
            _CAPACITIES.popitem(last=False)
    else:
        _CAPACITIES.move_to_end(key)
    return cap


def size(dep: Deployment, workload: Workload, policy: red_mod.RedundancyPolicy,
         profile: pd.DataFrame | None = None, capacity: Capacity | None = None) -> Sized | None:
    """Replicas at peak and spares for one deployment; None when it cannot meet the SLOs. The spare count is
    memoised (planner.redundancy.spare_replicas) and the requirement table built only when read."""
    cap = capacity or mean_value_capacity(step_model(dep, profile), workload)
    if not cap.feasible:
        return None
    n = replicas_needed(cap, workload.requests_per_s_peak)
    red = red_mod.plan_redundancy(n, workload.availability, policy, gpus_per_replica=dep.tp,
                                  gpus_per_node=dep.gpu.gpus_per_node)
    return Sized(dep, cap, n, red, utilisation(cap, n, workload.requests_per_s_mean))


def bill(sized: Sized, usd_per_gpu_hour: float, workload: Workload, tco_defaults,
         existing_infra: bool, offer: pd.Series | None = None) -> tuple[pd.DataFrame, float, float]:
    """LineItems of a sized deployment at a $/GPU-hour, its monthly total and TCO multiplier (planner.tco).

    With the `offer` row, GPUs are rented in whole instances (``gpus_per_instance``): the GPUs paid for
    but not used are their own line, "GPU compute, unused in rented instances".
    """
    primary = sized.replicas * sized.dep.tp
    spare = sized.redundancy.spare_replicas * sized.dep.tp
    items = tco_mod.tco_line_items(usd_per_gpu_hour * HOURS_PER_MONTH * primary, primary, spare, sized.replicas,
                                   workload, defaults=tco_defaults, existing_infra=existing_infra, gpu=sized.dep.gpu)
    if offer is not None:  # the price's origin and date on the line that uses it (issue 11 item 6)
        where = ", ".join(str(v) for v in (offer.get("provider"), offer.get("region")) if isinstance(v, str) and v)
        as_of = offer.get("as_of")
        dated = f" ({where}{f', price as of {as_of}' if isinstance(as_of, str) and as_of else ''})"
        gpu_rows = items["id"] == "gpu_primary"
        items.loc[gpu_rows, "basis"] = items.loc[gpu_rows, "basis"] + dated
    idle = 0 if offer is None else prices_mod.gpus_billed(primary + spare, offer) - primary - spare
    if idle:
        size = prices_mod.instance_size(offer)
        items = pd.concat([items, pd.DataFrame([{
            "item": "GPU compute, unused in rented instances", "category": "gpu",
            "monthly_usd": idle * usd_per_gpu_hour * HOURS_PER_MONTH,
            "basis": f"{offer.get('instance') or 'the instance'} rents {size} GPUs at a time: "
                     f"{primary + spare} used, {idle} idle x ${usd_per_gpu_hour:.4f}/GPU-h x {HOURS_PER_MONTH} h",
            "source": f"gpu_prices.yaml gpus_per_instance ({offer.get('provider')})",
            "id": "gpu_instance_rounding"}])], ignore_index=True)
    total, mult = tco_mod.tco_summary(items)
    return items, total, mult


def _deployments(model: ModelSpec, gpus: Mapping[str, GpuSpec], quants: Mapping[str, QuantScheme],
                 space: SearchSpace, efficiency: EfficiencyLookup = efficiency_for):
    """(gpu, quant, tp, Deployment, "") per candidate, or (gpu, quant, tp or None, None, why not)."""
    for gpu in gpus.values():
        for quant in quants.values():
            conflict = checkpoint_conflict(model, quant)
            if conflict:
                yield (gpu, quant, None, None, conflict)
                continue
            try:
                compute_dtype(gpu, quant)
            except UnsupportedQuantError as exc:
                yield (gpu, quant, None, None, str(exc))
                continue
            eff = efficiency(gpu.id, quant.id)
            for kv in space.kv_dtypes:
                for tp in space.tps:
                    if tp > gpu.gpus_per_node:
                        yield (gpu, quant, tp, None, f"TP={tp} needs {tp} GPUs in one node and a {gpu.id} node "
                               f"holds {gpu.gpus_per_node}; tensor parallelism across nodes is not sized, use TP <= "
                               f"{gpu.gpus_per_node}")
                        continue
                    try:
                        check_tp(model, tp)
                    except InvalidValueError as exc:
                        yield (gpu, quant, tp, None, str(exc))
                        continue
                    yield (gpu, quant, tp, Deployment(model, gpu, quant, kv, tp, eff), "")


def offer_for(gpu_prices: pd.DataFrame, gpu: str, pricing: str, provider: str | None, gpus: int, memo: dict,
              region: str | None = None):
    """The cheapest offer row renting `gpus` GPUs in whole instances (:func:`planner.prices.cheapest_offer`),
    or the PlannerError saying why there is none; memoised in `memo` (one dict per search or cost curve).
    `region`: only offers sold there (:func:`planner.prices.region_matches`)."""
    key = (gpu, pricing, provider, region, gpus)
    if key not in memo:
        sizes = (gpu, pricing, provider, region)
        if sizes not in memo:  # (GPUs per instance, $/GPU-h, provider, row) of the cheapest offer of each size
            offers = offers_by_size(gpu_prices, sizes)
            memo[sizes] = offers if isinstance(offers, PlannerError) else [
                (prices_mod.instance_size(o), float(o["usd_per_gpu_hour"]), o["provider"], o) for o in offers]
        offers = memo[sizes]
        memo[key] = offers if isinstance(offers, PlannerError) else min(
            offers, key=lambda o: (math.ceil(gpus / o[0]) * o[0] * o[1], o[1], o[2]))[3]
    return memo[key]


_BY_SIZE: dict[int, tuple[weakref.ref, dict]] = {}  # id(price table) -> (the table, {sizes key: offers})


def offers_by_size(gpu_prices: pd.DataFrame, sizes: tuple):
    """:func:`planner.prices.cheapest_offers_by_size` (or the PlannerError saying why there are none) for the
    (gpu, pricing, provider, region) `sizes`, memoised per price table for the process: a table filtered with pandas
    once, not once per search and cost curve. Price tables are built once and never changed in place (catalogue
    loaders, planner.api); a table that is collected takes its entries with it."""
    entry = _BY_SIZE.get(id(gpu_prices))
    if entry is None or entry[0]() is not gpu_prices:
        key = id(gpu_prices)
        entry = _BY_SIZE[key] = (weakref.ref(gpu_prices, lambda _, k=key: _BY_SIZE.pop(k, None)), {})
    found = entry[1]
    if sizes not in found:
        try:
            found[sizes] = prices_mod.cheapest_offers_by_size(gpu_prices, *sizes)
        except PlannerError as exc:
            found[sizes] = exc
    return found[sizes]


def bill_total(replicas: int, spare_replicas: int, tp: int, usd_per_gpu_hour: float, workload: Workload,
               tco_defaults, existing_infra: bool, offer: pd.Series | None = None, gpu=None,
               part: str | None = None) -> float:
    """``bill(...)[1]`` of `replicas` + `spare_replicas` of `tp` GPUs, without the line-item table [USD/month].
    `gpu` (GpuSpec) sizes the guard model (planner.guard); None bills the seed's guard slice. `part`
    (planner.tco.tco_monthly_total): ``"deployment"`` the lines fixed at a replica count (idle GPUs of whole
    instances included), ``"volume"`` the lines that move with the daily volume; None both."""
    primary, spare = replicas * tp, spare_replicas * tp
    idle = 0 if offer is None or part == "volume" else prices_mod.gpus_billed(primary + spare, offer) - primary - spare
    return (tco_mod.tco_monthly_total(usd_per_gpu_hour * HOURS_PER_MONTH * primary, primary, spare, replicas,
                                      workload, defaults=tco_defaults, existing_infra=existing_infra, gpu=gpu,
                                      part=part)
            + idle * usd_per_gpu_hour * HOURS_PER_MONTH)


def _row(dep: Deployment, sized: Sized | None, cap: Capacity, pricing: str, gpu_prices: pd.DataFrame,
         provider: str | None, workload: Workload, tco_defaults, existing_infra: bool, memo: dict,
         region: str | None = None) -> dict:
    row = {"gpu": dep.gpu.id, "quant": dep.quant.id, "kv_dtype": dep.kv_dtype.value, "tp": dep.tp,
           "pricing": pricing, "feasible": sized is not None, "reason": cap.reason, "limited_by": cap.limited_by,
           "batch": cap.batch, "tpot_ms": cap.tpot_s * 1e3, "ttft_s": cap.ttft_s, "replica_rps": cap.requests_per_s}
    if sized is None:
        return row
    primary = sized.replicas * dep.tp
    spare = sized.redundancy.spare_replicas * dep.tp
    offer = offer_for(gpu_prices, dep.gpu.id, pricing, provider, primary + spare, memo.setdefault("offers", {}),
                      region)
    if isinstance(offer, PlannerError):
        row.update(feasible=False, reason=str(offer))
        return row
    usd = float(offer["usd_per_gpu_hour"])
    bills = memo.setdefault("bills", {})  # many candidates share a bill: same offer, GPUs and replicas
    key = (offer["provider"], usd, prices_mod.instance_size(offer), primary, spare, sized.replicas, dep.gpu.id)
    if key not in bills:  # bill()'s total and multiplier, without its line-item table
        idle = prices_mod.gpus_billed(primary + spare, offer) - primary - spare
        total, gpu_line = tco_mod.tco_totals(usd * HOURS_PER_MONTH * primary, primary, spare, sized.replicas, workload,
                                             tco_defaults, existing_infra, gpu=dep.gpu)
        total += idle * usd * HOURS_PER_MONTH
        bills[key] = total, (total / gpu_line if gpu_line > 0 else math.nan)
    total, mult = bills[key]
    row.update(replicas=sized.replicas, spare_replicas=sized.redundancy.spare_replicas,
               gpus_total=primary + spare, gpus_billed=prices_mod.gpus_billed(primary + spare, offer),
               utilisation=sized.utilisation, provider=offer["provider"], instance=offer.get("instance"),
               region=offer.get("region"), as_of=offer.get("as_of"), capex_usd=_capex_usd(offer, primary + spare),
               usd_per_gpu_hour=usd, monthly_gpu_cost=usd * HOURS_PER_MONTH * primary,
               monthly_total_cost=total, tco_multiplier=mult)
    return row


def _capex_usd(offer: pd.Series, gpus: int) -> float:
    """Upfront USD to buy the GPUs an owned offer bills for; NaN for a rented offer."""
    cap = buy_mod.capex_breakdown(offer)
    return math.nan if cap is None else cap.upfront_usd * prices_mod.gpus_billed(gpus, offer)


def search(model: ModelSpec, workload: Workload, space: SearchSpace, gpus: Mapping[str, GpuSpec],
           quants: Mapping[str, QuantScheme], gpu_prices: pd.DataFrame, tco_defaults=None,
           profile: pd.DataFrame | None = None, efficiency: EfficiencyLookup = efficiency_for, capacity_fn=None,
           capacities: dict | None = None) -> pd.DataFrame:
    """Every candidate sized and priced; cheapest feasible first.

    `efficiency(gpu_id, quant_id) -> Efficiency` gives each candidate's factors (default: the calibration file,
    else the published defaults). `capacity_fn(dep, step) -> Capacity` replaces the mean-value capacity model
    (the simulator uses it).
    `capacities`, when given, receives ``(gpu, quant, kv_dtype, tp) -> (Deployment, Capacity)`` of every
    candidate that meets the SLOs: volume-invariant, so the crossover curve re-prices them without re-search.
    """
    gpus = offered_gpus(gpus, space.gpus)
    quants = {k: v for k, v in quants.items() if k in (space.quants or default_quants(model))}
    if not gpus or not quants or not space.tps or not space.kv_dtypes:
        raise InvalidValueError("nothing to search: no GPU, quant, TP degree or KV dtype matches the request")
    tco_defaults = tco_defaults if tco_defaults is not None else tco_mod.load_tco_defaults()
    rows = []
    memo: dict = {}  # offers and bills shared by the candidates of this one search
    for gpu, quant, tp, dep, why in _deployments(model, gpus, quants, space, efficiency):
        if dep is None:
            rows.append({"gpu": gpu.id, "quant": quant.id, "feasible": False, "reason": why,
                         **({} if tp is None else {"tp": tp})})
            continue
        try:
            step = step_model(dep, profile)
            cap = capacity_fn(dep, step) if capacity_fn else mean_value_capacity(step, workload)
        except PlannerError as exc:  # a profile that lacks this configuration
            rows.append({"gpu": gpu.id, "quant": quant.id, "tp": dep.tp, "feasible": False, "reason": str(exc)})
            continue
        n_peak = replicas_needed(cap, workload.requests_per_s_peak) if cap.feasible else 0
        if n_peak > limits.MAX_REPLICAS:  # not sized: its redundancy alone would walk ~n_peak failure states
            rows.append({"gpu": gpu.id, "quant": quant.id, "tp": dep.tp, "feasible": False,
                         "reason": f"needs {n_peak:,} replicas at peak, more than the {limits.MAX_REPLICAS:,} "
                                   "inferplan sizes (planner/limits.py)"})
            continue
        sized = size(dep, workload, space.redundancy, capacity=cap)
        if capacities is not None and cap.feasible:
            capacities[(gpu.id, quant.id, dep.kv_dtype.value, dep.tp)] = (dep, cap)
        for pricing in space.pricing:
            rows.append(_row(dep, sized, cap, pricing, gpu_prices, space.provider, workload, tco_defaults,
                             space.existing_infra, memo, space.region))
    df = pd.DataFrame(rows)
    df["monthly_total_cost"] = df.get("monthly_total_cost", pd.Series(math.nan, index=df.index))
    # Cheapest first; on a tie prefer the higher-fidelity quant, then more headroom per replica, then the
    # order searched (module docstring).
    df["_quality"] = df["quant"].map({q: i for i, q in enumerate(QUALITY_ORDER)}).fillna(len(QUALITY_ORDER))
    df["_rps"] = -df.get("replica_rps", pd.Series(0.0, index=df.index)).fillna(0.0)
    df["_searched"] = range(len(df))
    keys = ["feasible", "monthly_total_cost", "_quality", "_rps", "_searched"]
    df = df.sort_values(keys, ascending=[False, True, True, True, True], na_position="last").drop(
        columns=["_quality", "_rps", "_searched"])
    return df.reset_index(drop=True)


def best(candidates: pd.DataFrame) -> pd.Series | None:
    ok = candidates[candidates["feasible"] & candidates["monthly_total_cost"].notna()]
    return ok.iloc[0] if len(ok) else None


def _col(df: pd.DataFrame, name: str, default=math.nan) -> pd.Series:
    return df[name] if name in df else pd.Series(default, index=df.index)


def _capacity_limited(df: pd.DataFrame) -> pd.Series:
    """Rows whose replica cannot meet the SLOs even alone (batch 0 with a limit), not a price or support issue."""
    kind = _col(df, "limited_by", "").fillna("")
    return ~df["feasible"].astype(bool) & kind.ne("") & _col(df, "batch", 0.0).fillna(0).eq(0)


def infeasible_summary(candidates: pd.DataFrame, limit: int = 5) -> str:
    """Why nothing worked: each kind of limit with how many configurations hit it, most common first.

    Rows with a capacity limit (``limited_by``) are grouped by it and shown by the example closest to
    the SLOs (lowest TPOT, then TTFT); other reasons (unsupported quant or TP, no price) as they are.
    """
    bad = candidates[~candidates["feasible"].astype(bool) & candidates["reason"].fillna("").ne("")]
    kind = _col(bad, "limited_by", "").where(_capacity_limited(bad), bad["reason"])
    order = bad.assign(_kind=kind, _tpot=_col(bad, "tpot_ms"), _ttft=_col(bad, "ttft_s"))
    order = order.sort_values(["_tpot", "_ttft"], na_position="last")
    groups = sorted(order.groupby("_kind", sort=False), key=lambda kv: -len(kv[1]))
    return "; ".join(f"{g['reason'].iloc[0]} ({len(g)}x)" for _, g in groups[:limit])


def closest_to_slos(candidates: pd.DataFrame, workload: Workload) -> str:
    """The SLO targets the nearest configuration would meet, from its one-sequence TPOT and TTFT.

    Nearest = the least relative relaxation: min over the candidates that fit in memory of
    max(TPOT_1 / TPOT target, TTFT_1 / TTFT target). Empty when no candidate has those timings.
    """
    rows = candidates[_capacity_limited(candidates)]
    rows = rows[_col(rows, "tpot_ms").notna() & _col(rows, "ttft_s").notna()]
    if rows.empty:
        return ""
    need = pd.concat([rows["tpot_ms"] / 1e3 / workload.tpot_p99_s, rows["ttft_s"] / workload.ttft_p99_s], axis=1)
    r = rows.loc[need.max(axis=1).idxmin()]
    tpot_ms = max(r["tpot_ms"], workload.tpot_p99_s * 1e3)
    ttft_s = max(r["ttft_s"], workload.ttft_p99_s)
    return (f"The nearest, {r['gpu']} {r['quant']} TP{int(r['tp'])}, serves one sequence at {r['tpot_ms']:.1f} "
            f"ms/token and the p99 prompt's first token in {r['ttft_s']:.2f} s: TPOT p99 >= "
            f"{math.ceil(tpot_ms * 10) / 10:g} ms with TTFT p99 >= {math.ceil(ttft_s * 100) / 100:g} s would be "
            "feasible there. ")


__all__ = ["SearchSpace", "Sized", "best", "bill", "bill_total", "offer_for", "closest_to_slos", "infeasible_summary",
           "search", "size",
           "HOURS_PER_MONTH"]
