"""The monthly self-hosting bill as line items, scaled from the seed bill to any deployment.

:func:`tco_line_items` returns the LineItems DataFrame, one row per item of ``tco_defaults.yaml``:

    item          str    e.g. "GPU compute, failover"
    category      str    gpu | infrastructure | observability | people | safety
    monthly_usd   float  [USD/month] (existing-infra share applied)
    basis         str    the formula with this deployment's numbers
    source        str    where the unit cost comes from
    id            str    the item's key in tco_defaults.yaml

Each item's basis is a pure function of the deployment (primary/spare GPUs, replicas), the workload
and the item's parameters (the table of bases is in ``tco_defaults.yaml``'s header). With the defaults,
the seed deployment — 2 primary H100s at $5,100/month ($3.49315/GPU-h x 730 h), 1 hot-standby GPU,
2 replicas, the seed workload — yields the seed bill exactly: 5,100 + 2,550 + 340 + 180 + 85 + 420
+ 3,200 + 600 + 400 + 250 + 150 (+ 0 upgrades) = $13,275, multiplier 13,275 / 5,100 = 2.603
(:func:`seed_bill`). In existing-infrastructure mode each item keeps ``existing_infra_factor`` of its
cost: the seed deployment then costs $7,310, 1.43x (seed §1: "1.3-1.5x").

Reference: shared/reference/seed_cost_model.md §1 and §3.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from planner.errors import PlannerError
from planner.units import DAYS_PER_MONTH, HOURS_PER_MONTH, STRICT_NUMBER, YamlDoc, fmt_usd, read_yaml
from planner.workload import DEFAULT_WORKLOAD, Workload

TCO_DEFAULTS_FILE = Path(__file__).resolve().parent / "catalogues" / "tco_defaults.yaml"
LINE_ITEM_COLUMNS = ("item", "category", "monthly_usd", "basis", "source", "id")
WEEKS_PER_YEAR = 52
# Lines a regulated product pays whichever serves the model (Workload.compliance_on_api adds them to the APIs' bills)
COMPLIANCE_ITEMS = ("eval", "logging", "guardrails")
HOURS_WORKED_PER_YEAR = 2080  # 40 h x 52 weeks: the US full-time convention (OPM, "2,087 / 2,080-hour" divisor)
HOURS_PER_WEEK = 168
BUSINESS_HOURS_PER_WEEK = 40


@dataclass(frozen=True)
class TcoItem:
    id: str
    item: str
    category: str
    basis: str
    params: dict = field(default_factory=dict, compare=False)  # the basis's numeric (and name) parameters
    seed_monthly_usd: float = math.nan
    existing_infra_factor: float = 1.0
    existing_infra_note: str = ""
    source: str = ""
    in_seed_bill: bool = True  # False: a cost the seed's §1 bill leaves out (seed §3); $0 in the seed reproduction


@dataclass(frozen=True)
class TcoDefaults:
    """Globals (engineer cost, replicas per orchestrator), the seed reference deployment and the items."""

    globals: dict
    seed_reference: dict
    items: tuple[TcoItem, ...]

    def item(self, item_id: str) -> TcoItem:
        for it in self.items:
            if it.id == item_id:
                return it
        raise PlannerError(f"no TCO item '{item_id}'; items: {', '.join(i.id for i in self.items)}")


@dataclass(frozen=True)
class _Deployment:
    """What the bases see: GPUs, replicas and the workload."""

    gpu_monthly_primary: float
    gpus_primary: int
    gpus_spare: int
    replicas: int
    workload: Workload
    model_gb: float | None
    models: int
    defaults: TcoDefaults
    gpu: object = None  # the GpuSpec of the deployment (sizes the guard model); None: the seed's guard slice
    seed: bool = False  # the seed reproduction: items not in the seed's §1 bill cost $0, the guard is the seed's slice
    text: bool = True  # False: totals only, the bases that price often (VOLUME_BASES) skip writing their basis text

    @property
    def spare_replicas(self) -> int:
        return math.ceil(self.gpus_spare / (self.gpus_primary / self.replicas) - 1e-9)

    @property
    def total_replicas(self) -> int:
        return self.replicas + self.spare_replicas

    @property
    def orchestrators(self) -> int:
        return math.ceil(self.total_replicas / self.defaults.globals["replicas_per_orchestrator"])

    @property
    def engineer_usd_per_month(self) -> float:
        return self.defaults.globals["engineer_usd_per_year"] / 12

    @property
    def engineer_usd_per_hour(self) -> float:
        return self.defaults.globals["engineer_usd_per_year"] / HOURS_WORKED_PER_YEAR


# ---- bases: (params, deployment) -> (monthly_usd, basis text) ----


def _gpu_primary(p: Mapping, d: _Deployment) -> tuple[float, str]:
    rate = d.gpu_monthly_primary / d.gpus_primary / HOURS_PER_MONTH
    return d.gpu_monthly_primary, f"{d.gpus_primary} GPUs x ${rate:.4f}/GPU-h x {HOURS_PER_MONTH} h"


def _gpu_spare(p: Mapping, d: _Deployment) -> tuple[float, str]:
    per_gpu = d.gpu_monthly_primary / d.gpus_primary
    return per_gpu * d.gpus_spare, f"{d.gpus_spare} spare GPU(s) x {fmt_usd(per_gpu)}/GPU-month"


def _fixed(p: Mapping, d: _Deployment) -> tuple[float, str]:
    return p["unit_usd"], "fixed"


def _per_replica_group(p: Mapping, d: _Deployment) -> tuple[float, str]:
    per = d.defaults.globals["replicas_per_orchestrator"]
    return d.orchestrators * p["unit_usd"], (f"ceil({d.total_replicas} replicas / {per:g}) = {d.orchestrators} "
                                             f"x {fmt_usd(p['unit_usd'])}")


def _per_host(p: Mapping, d: _Deployment) -> tuple[float, str]:
    hosts = d.total_replicas + d.orchestrators
    return hosts * p["unit_usd"], (f"{hosts} hosts ({d.total_replicas} replica + {d.orchestrators} orchestration) "
                                   f"x {fmt_usd(p['unit_usd'])}")


def _per_model_version(p: Mapping, d: _Deployment) -> tuple[float, str]:
    gb = d.model_gb if d.model_gb is not None else p["gb_per_version"]
    cost = p["versions_kept"] * gb * p["usd_per_gb_month"]
    return cost, f"{p['versions_kept']:g} versions x {gb:,.0f} GB x ${p['usd_per_gb_month']:.4f}/GB-month"


def _per_model(p: Mapping, d: _Deployment) -> tuple[float, str]:
    return d.models * p["unit_usd"], f"{d.models} model(s) x {fmt_usd(p['unit_usd'])}"


def _fraction_of_engineer(p: Mapping, d: _Deployment) -> tuple[float, str]:
    return p["fraction"] * d.engineer_usd_per_month, (
        f"{p['fraction']:g} x ${d.defaults.globals['engineer_usd_per_year']:,.0f}/yr / 12")


def _per_traffic_unit(p: Mapping, d: _Deployment) -> tuple[float, str]:
    peak = d.workload.tokens_per_s_peak
    units = max(1, math.ceil(peak / p["peak_tokens_per_s_per_unit"] - 1e-9))
    if not d.text:
        return units * p["unit_usd"], ""
    return units * p["unit_usd"], (f"ceil({peak:,.0f} peak tokens/s / {p['peak_tokens_per_s_per_unit']:,.0f}) = "
                                   f"{units} x {fmt_usd(p['unit_usd'])}")


def _fixed_plus_per_request(p: Mapping, d: _Deployment) -> tuple[float, str]:
    w = d.workload
    requests = w.requests_per_day * DAYS_PER_MONTH
    gb = requests * (w.mean_input_tokens + w.mean_output_tokens) * p["bytes_per_token"] / 1e9
    variable = requests / 1e6 * p["usd_per_million_events"] + gb * p["usd_per_gb_ingested"]
    if not d.text:
        return p["fixed_usd"] + variable, ""
    return p["fixed_usd"] + variable, (f"${p['fixed_usd']:,.2f} fixed + {requests:,.0f} requests/month "
                                       f"({gb:,.2f} GB logged) ${variable:,.2f}")


def _fixed_plus_egress(p: Mapping, d: _Deployment) -> tuple[float, str]:
    """unit_usd + max(0, GB out - free GB) x $/GB, GB out = output tokens/month x bytes per streamed token."""
    gb = d.workload.tokens_out_per_day * DAYS_PER_MONTH * p["bytes_per_output_token"] / 1e9
    billed = max(0.0, gb - p["free_gb_per_month"])
    egress = billed * p["usd_per_gb"]
    if not d.text:
        return p["unit_usd"] + egress, ""
    return p["unit_usd"] + egress, (f"{fmt_usd(p['unit_usd'])} fixed + egress {gb:,.1f} GB/month streamed "
                                    f"({p['free_gb_per_month']:g} GB free) x ${p['usd_per_gb']:.3f}/GB = "
                                    f"${egress:,.2f}")


def _upgrade_events(p: Mapping, d: _Deployment) -> tuple[float, str]:
    weekly = d.defaults.globals["engineer_usd_per_year"] / WEEKS_PER_YEAR
    weeks = p["events_per_year"] * p["engineer_weeks_per_event"]
    covered = 0.0
    if p.get("folded_into"):
        covered = d.defaults.item(p["folded_into"]).params.get("fraction", 0.0) * WEEKS_PER_YEAR
    extra = max(0.0, weeks - covered)
    text = (f"{p['events_per_year']:g}/yr x {p['engineer_weeks_per_event']:g} engineer-weeks = {weeks:g} weeks "
            f"(${weekly * p['engineer_weeks_per_event']:,.0f} each)")
    if p.get("folded_into"):
        text += f"; {covered:g} weeks/yr paid by '{p['folded_into']}', {extra:g} billed"
    return extra * weekly / 12, text


def _guard_model(p: Mapping, d: _Deployment) -> tuple[float, str]:
    """The guard model sized by the profiler on the deployment's GPU at its $/GPU-month (planner.guard)."""
    from planner.guard import guard_capacity

    w = d.workload
    if d.seed or d.gpu is None:
        why = "seed reproduction" if d.seed else "no GPU given to size the guard model on"
        return p["seed_unit_usd"], f"the seed's guard slice, {fmt_usd(p['seed_unit_usd'])} ({why})"
    cap = guard_capacity(d.gpu, w.guardrails, w.mean_input_tokens, w.mean_output_tokens, p["guard_model"])
    share, basis = cap.gpu_share(w.requests_per_s_peak, spare=d.gpus_spare > 0, text=d.text)
    per_gpu = d.gpu_monthly_primary / d.gpus_primary
    return share * per_gpu, (f"{basis} x {fmt_usd(per_gpu)}/GPU-month" if d.text else "")


def _incident_response(p: Mapping, d: _Deployment) -> tuple[float, str]:
    """Engineer time for hardware and software incidents on the GPUs beyond the fleet the MLOps share was quoted
    for, paid at the on-call rate out of business hours (the response tier follows the availability target)."""
    gpus = d.gpus_primary + d.gpus_spare
    extra = max(0.0, gpus - p["covered_gpus"])
    per_month = extra * p["interruptions_per_gpu_day"] * HOURS_PER_MONTH / 24
    fast = d.workload.availability >= p["fast_response_availability"]
    premium = p["oncall_premium_fast"] if fast else p["oncall_premium_slow"]
    off_hours = 1 - BUSINESS_HOURS_PER_WEEK / HOURS_PER_WEEK
    hours = per_month * p["engineer_hours_per_incident"]
    cost = hours * d.engineer_usd_per_hour * (1 + off_hours * premium)
    return cost, (f"{gpus} GPUs, {extra:g} beyond the {p['covered_gpus']:g} MLOps covers: {per_month:.2f} "
                  f"incidents/month x {p['engineer_hours_per_incident']:g} h x ${d.engineer_usd_per_hour:,.2f}/h, "
                  f"{off_hours:.0%} off-hours at +{premium:.0%} on-call pay "
                  f"({'5' if fast else '30'}-minute response tier)")


BASES: dict[str, tuple[Callable[[Mapping, _Deployment], tuple[float, str]], tuple[str, ...]]] = {
    "gpu_primary": (_gpu_primary, ()),
    "gpu_spare": (_gpu_spare, ()),
    "fixed": (_fixed, ("unit_usd",)),
    "per_replica_group": (_per_replica_group, ("unit_usd",)),
    "per_host": (_per_host, ("unit_usd",)),
    "per_model_version": (_per_model_version, ("versions_kept", "gb_per_version", "usd_per_gb_month")),
    "per_model": (_per_model, ("unit_usd",)),
    "fraction_of_engineer": (_fraction_of_engineer, ("fraction",)),
    "per_traffic_unit": (_per_traffic_unit, ("unit_usd", "peak_tokens_per_s_per_unit")),
    "fixed_plus_per_request": (_fixed_plus_per_request,
                               ("fixed_usd", "usd_per_million_events", "usd_per_gb_ingested", "bytes_per_token")),
    "upgrade_events": (_upgrade_events, ("events_per_year", "engineer_weeks_per_event")),
    "fixed_plus_egress": (_fixed_plus_egress, ("unit_usd", "bytes_per_output_token", "free_gb_per_month",
                                               "usd_per_gb")),
    "guard_model": (_guard_model, ("guard_model", "seed_unit_usd")),
    "incident_response": (_incident_response, ("interruptions_per_gpu_day", "engineer_hours_per_incident",
                                               "covered_gpus", "fast_response_availability", "oncall_premium_fast",
                                               "oncall_premium_slow")),
}
# Bases whose cost moves with the daily volume at a fixed deployment (Workload.scaled_to changes what they read: peak
# tokens/s, requests, output tokens, the guard model's peak load); every other basis depends on the deployment
# alone (GPUs, replicas, the availability target). planner.cost_curve prices the others once per deployment.
VOLUME_BASES = frozenset({"per_traffic_unit", "fixed_plus_per_request", "fixed_plus_egress", "guard_model"})
_TEXT_PARAMS = {"folded_into", "guard_model"}  # parameters that name something rather than count it
_PARAMS = {name for _, names in BASES.values() for name in names} | _TEXT_PARAMS
_ITEM_FIELDS = {"id", "item", "category", "basis", "seed_monthly_usd", "existing_infra_factor",
                "existing_infra_note", "source", "in_seed_bill"}
_GLOBALS = ("engineer_usd_per_year", "replicas_per_orchestrator")

# ------------------------------------------------------------------------------------------
# Loading (catalogue, then a user file over it: items merge field by field, keyed by id)
# ------------------------------------------------------------------------------------------


# Ranges of the parameters that have one (every other number lies in [0, MAX_PARAM]): shares and probabilities in
# [0, 1], divisors > 0. `existing_infra_factor` is the share of an item that remains with existing infrastructure
# (module docstring), so a factor above 1 would raise the bill it is meant to lower.
_RANGES = {"existing_infra_factor": (0.0, 1.0), "fast_response_availability": (0.0, 1.0),
           "peak_tokens_per_s_per_unit": (1e-9, None), "replicas_per_orchestrator": (1.0, None)}
# 10^12 (USD, GB, events, engineers...): above any real bill line; keeps the monthly sum finite (1e308 overflows)
MAX_PARAM = 1e12


def _num(doc: YamlDoc, v: Any, *path, entry: str, name: str) -> float:
    if isinstance(v, str) and STRICT_NUMBER.fullmatch(v.strip()):
        v = float(v.strip().replace(",", ""))  # YAML 1.1 reads 1e308 (no dot) as a string
    low, high = _RANGES.get(name, (0.0, None))
    high = MAX_PARAM if high is None else high
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not low <= v <= high:
        want = ("a number > 0" if 0 < low < 1e-6 else f"a number >= 0 (at most {high:g})" if high == MAX_PARAM
                else f"a number from {low:g} to {high:g}")
        raise doc.error(f"expected {want}, got {v!r}", *path, entry=entry, field=name)
    return float(v)


def _suggest(name: str, names) -> str:
    close = difflib.get_close_matches(name, list(names), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _item(doc: YamlDoc, raw: Mapping, i: int, known: tuple[str, ...] = ()) -> TcoItem:
    entry = str(raw.get("id", f"#{i + 1}"))
    for name in ("id", "item", "category", "basis", "source"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            hint = _suggest(entry, known).removeprefix("; ")
            new = (f"; '{entry}' is no catalogue item{f' ({hint})' if hint else ''}, and a new item needs item, "
                   "category, basis and source") if entry not in known else ""
            raise doc.error(f"missing or empty{new}", "items", i, name, entry=entry, field=name)
    if raw["basis"] not in BASES:
        raise doc.error(f"unknown basis; use one of {', '.join(BASES)}", "items", i, "basis", entry=entry,
                        field="basis")
    params = {k: v for k, v in raw.items() if k not in _ITEM_FIELDS}
    for k in params:
        if k not in _PARAMS:  # a misspelt parameter would otherwise be ignored silently
            close = difflib.get_close_matches(k, sorted(_PARAMS | _ITEM_FIELDS), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise doc.error(f"unknown field{hint} (basis '{raw['basis']}' takes "
                            f"{', '.join(BASES[raw['basis']][1]) or 'no parameters'})", "items", i, k, entry=entry,
                            field=k)
    for name in BASES[raw["basis"]][1]:
        if name not in params:
            raise doc.error(f"basis '{raw['basis']}' needs '{name}'", "items", i, entry=entry, field=name)
    for k, v in params.items():
        if k in _TEXT_PARAMS:
            if not isinstance(v, str) or not v.strip():
                raise doc.error("expected a name", "items", i, k, entry=entry, field=k)
        else:
            params[k] = _num(doc, v, "items", i, k, entry=entry, name=k)
    in_seed = raw.get("in_seed_bill", True)
    if not isinstance(in_seed, bool):
        raise doc.error(f"expected true or false, got {in_seed!r}", "items", i, "in_seed_bill", entry=entry,
                        field="in_seed_bill")
    factor = _num(doc, raw.get("existing_infra_factor", 1.0), "items", i, "existing_infra_factor", entry=entry,
                  name="existing_infra_factor")
    return TcoItem(raw["id"], raw["item"], raw["category"], raw["basis"], params,
                   float(raw.get("seed_monthly_usd", math.nan)), factor, str(raw.get("existing_infra_note", "")),
                   raw["source"].strip(), in_seed)


def _merged_raw_items(docs: list[YamlDoc]) -> list[tuple[YamlDoc, int, dict]]:
    merged: dict[str, tuple[YamlDoc, int, dict]] = {}
    for doc in docs:
        items = (doc.data or {}).get("items") or []
        if not isinstance(items, list):
            raise doc.error("'items' must be a list", "items")
        for i, raw in enumerate(items):
            if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str):
                raise doc.error("each item is a mapping with an 'id'", "items", i)
            base = merged.get(raw["id"], (doc, i, {}))[2]
            merged[raw["id"]] = (doc, i, {**base, **raw})
    return list(merged.values())


def load_tco_defaults(path: str | Path | None = None) -> TcoDefaults:
    """The catalogue's items, with a user file (``--tco FILE``) merged over them by item id."""
    docs = [read_yaml(TCO_DEFAULTS_FILE)] + ([read_yaml(path)] if path is not None else [])
    glob: dict[str, float] = {}
    seed: dict = {}
    for doc in docs:
        if doc.data is not None and not isinstance(doc.data, Mapping):
            raise doc.error("a TCO file is a mapping with 'globals:' and 'items:'")
        globals_ = (doc.data or {}).get("globals") or {}
        if not isinstance(globals_, Mapping):
            raise doc.error(f"'globals' is a mapping of {', '.join(_GLOBALS)} to numbers", "globals")
        seed_ref = (doc.data or {}).get("seed_reference") or {}
        if not isinstance(seed_ref, Mapping):
            raise doc.error("'seed_reference' is a mapping", "seed_reference")
        for name, spec in globals_.items():
            if name in _GLOBALS and isinstance(spec, (int, float)) and not isinstance(spec, bool):
                spec = {"value": spec, "source": f"user file {doc.file}"}  # a bare number is a value
            if name not in _GLOBALS:
                raise doc.error(f"unknown global{_suggest(str(name), _GLOBALS)}; globals: {', '.join(_GLOBALS)}",
                                "globals", name, entry=str(name), field=str(name))
            if not isinstance(spec, Mapping) or "value" not in spec:
                raise doc.error("write a global as a number, or as {value: ..., source: ...}", "globals", name,
                                entry=str(name))
            glob[name] = _num(doc, spec["value"], "globals", name, "value", entry=str(name), name=str(name))
        seed.update(seed_ref)
    if glob.get("replicas_per_orchestrator", 0) < 1:
        raise docs[-1].error("globals.replicas_per_orchestrator must be >= 1", "globals")
    known = tuple(str(r.get("id")) for r in (docs[0].data or {}).get("items") or [] if isinstance(r, Mapping))
    items = tuple(_item(doc, raw, i, known) for doc, i, raw in _merged_raw_items(docs))
    ids = {it.id for it in items}
    for it in items:
        target = it.params.get("folded_into")
        if target is not None and target not in ids:
            raise PlannerError(f"TCO item '{it.id}' is folded into unknown item '{target}'; items: {', '.join(ids)}")
    return TcoDefaults(glob, seed, items)


@lru_cache(maxsize=1)
def _catalogue_defaults() -> TcoDefaults:
    return load_tco_defaults()


# ------------------------------------------------------------------------------------------
# The bill
# ------------------------------------------------------------------------------------------


def _check(gpu_monthly_primary: float, gpus_primary: int, gpus_spare: int, replicas: int, models: int) -> None:
    if not math.isfinite(gpu_monthly_primary) or gpu_monthly_primary < 0:
        raise PlannerError(f"gpu_monthly_primary must be a finite number >= 0, got {gpu_monthly_primary!r}")
    if replicas < 1 or gpus_primary < replicas or gpus_primary % replicas:
        raise PlannerError(f"gpus_primary ({gpus_primary}) must be a positive multiple of replicas ({replicas})")
    if gpus_spare < 0 or models < 1:
        raise PlannerError(f"gpus_spare must be >= 0 and models >= 1, got {gpus_spare}, {models}")


def tco_line_items(gpu_monthly_primary: float, gpus_primary: int, gpus_spare: int, replicas: int,
                   workload: Workload, defaults: TcoDefaults | None = None, existing_infra: bool | None = None,
                   *, model_gb: float | None = None, models: int = 1, gpu=None, seed: bool = False) -> pd.DataFrame:
    """LineItems for a deployment (module docstring).

    Parameters: ``gpu_monthly_primary`` [USD/month] rental of the primary GPUs; ``gpus_primary``,
    ``gpus_spare`` GPU counts; ``replicas`` primary replicas (``gpus_primary / replicas`` GPUs each);
    ``existing_infra`` None = ``workload.existing_infra``; ``model_gb`` replaces the storage item's
    ``gb_per_version`` (e.g. the weights' size); ``models`` served (evaluation scales with it); ``gpu`` the
    deployment's GpuSpec, on which the guard model is sized (planner.guard; None: the seed's $250 slice);
    ``seed`` the seed reproduction (items with ``in_seed_bill: false`` cost $0, the guard is the seed's slice).
    """
    rows = [(it.item, it.category, usd, basis, it.source, it.id)
            for it, usd, basis in _priced_items(gpu_monthly_primary, gpus_primary, gpus_spare, replicas, workload,
                                                defaults, existing_infra, model_gb, models, gpu, seed)]
    return pd.DataFrame(rows, columns=list(LINE_ITEM_COLUMNS))


def tco_monthly_total(gpu_monthly_primary: float, gpus_primary: int, gpus_spare: int, replicas: int,
                      workload: Workload, defaults: TcoDefaults | None = None, existing_infra: bool | None = None,
                      *, model_gb: float | None = None, models: int = 1, gpu=None, seed: bool = False,
                      part: str | None = None) -> float:
    """The sum of :func:`tco_line_items` [USD/month] without building the table (cost curves call it often).
    `part`: ``"volume"`` sums only the items of VOLUME_BASES, ``"deployment"`` only the others (the two add up to
    the total); None: every item."""
    return sum(usd for _, usd, _ in _priced_items(gpu_monthly_primary, gpus_primary, gpus_spare, replicas, workload,
                                                  defaults, existing_infra, model_gb, models, gpu, seed, part,
                                                  text=False))


def tco_totals(gpu_monthly_primary: float, gpus_primary: int, gpus_spare: int, replicas: int, workload: Workload,
               defaults: TcoDefaults | None = None, existing_infra: bool | None = None, *, gpu=None
               ) -> tuple[float, float]:
    """(monthly total, the primary GPU line ``gpu_primary``) [USD/month]: what :func:`tco_summary` reads off the
    table, without building it (the search bills every candidate)."""
    total = primary = 0.0
    for it, usd, _ in _priced_items(gpu_monthly_primary, gpus_primary, gpus_spare, replicas, workload, defaults,
                                    existing_infra, None, 1, gpu, text=False):
        total += usd
        primary += usd if it.id == "gpu_primary" else 0.0
    return total, primary


def _priced_items(gpu_monthly_primary, gpus_primary, gpus_spare, replicas, workload, defaults, existing_infra,
                  model_gb, models, gpu=None, seed=False, part=None, text=True):
    """(item, monthly USD, basis text) per item of the defaults, existing-infra share applied; `part` as in
    :func:`tco_monthly_total`."""
    if part not in (None, "volume", "deployment"):
        raise PlannerError(f"part must be 'volume', 'deployment' or None, got {part!r}")
    _check(gpu_monthly_primary, gpus_primary, gpus_spare, replicas, models)
    defaults = defaults if defaults is not None else _catalogue_defaults()
    existing = workload.existing_infra if existing_infra is None else existing_infra
    dep = _Deployment(float(gpu_monthly_primary), int(gpus_primary), int(gpus_spare), int(replicas), workload,
                      model_gb, models, defaults, gpu, seed, text)
    for it in defaults.items:
        if part is not None and (it.basis in VOLUME_BASES) != (part == "volume"):
            continue
        if seed and not it.in_seed_bill:
            yield it, 0.0, "not in the seed's bill (seed §3 lists it as a hidden cost)"
            continue
        usd, basis = BASES[it.basis][0](it.params, dep)
        if existing and it.existing_infra_factor != 1.0:
            usd *= it.existing_infra_factor
            if text:
                basis += f"; x {it.existing_infra_factor:g} existing infra" + (
                    f" ({it.existing_infra_note})" if it.existing_infra_note else "")
        yield it, float(usd), basis


def compliance_defaults(defaults: TcoDefaults | None = None) -> TcoDefaults:
    """The defaults restricted to COMPLIANCE_ITEMS: price them with :func:`tco_monthly_total` for the API side."""
    defaults = defaults if defaults is not None else _catalogue_defaults()
    return TcoDefaults(defaults.globals, defaults.seed_reference,
                       tuple(it for it in defaults.items if it.id in COMPLIANCE_ITEMS))


def with_engineer_cost(defaults: TcoDefaults | None, usd_per_year: float, source: str = "") -> TcoDefaults:
    """`defaults` (None: the catalogue's) with ``globals.engineer_usd_per_year`` replaced: the people-cost lines
    that scale with it (fraction_of_engineer, upgrade_events, incident_response) scale in proportion; `source`
    is kept as ``globals["engineer_usd_per_year_source"]`` (e.g. planner.risks.talent_engineer_usd_per_year)."""
    defaults = defaults if defaults is not None else _catalogue_defaults()
    if isinstance(usd_per_year, bool) or not math.isfinite(usd_per_year) or usd_per_year <= 0:
        raise PlannerError(f"engineer cost must be a finite number of USD per year > 0, got {usd_per_year!r}")
    glob = {**defaults.globals, "engineer_usd_per_year": float(usd_per_year),
            "engineer_usd_per_year_source": source}
    return TcoDefaults(glob, defaults.seed_reference, defaults.items)


def tco_summary(items: pd.DataFrame) -> tuple[float, float]:
    """(monthly total [USD], multiplier = total / primary GPU cost); NaN multiplier when that is 0."""
    total = float(items["monthly_usd"].sum())
    gpu = float(items.loc[items["id"] == "gpu_primary", "monthly_usd"].sum())
    return total, (total / gpu if gpu > 0 else math.nan)


def seed_bill(defaults: TcoDefaults | None = None, existing_infra: bool = False,
              workload: Workload = DEFAULT_WORKLOAD) -> pd.DataFrame:
    """The seed deployment priced with `defaults` (``seed_reference`` section): the seed's $13,275 bill."""
    from planner.redundancy import RedundancyPolicy, plan_redundancy

    defaults = defaults if defaults is not None else _catalogue_defaults()
    ref = defaults.seed_reference
    replicas, gpus = int(ref["replicas"]), int(ref["gpus_primary"])
    red = plan_redundancy(replicas, workload.availability,
                          RedundancyPolicy(hot_standby_fraction=float(ref["hot_standby_fraction"])),
                          gpus_per_replica=gpus // replicas)
    return tco_line_items(float(ref["gpu_monthly_primary"]), gpus, red.spare_gpus, replicas, workload, defaults,
                          existing_infra, seed=True)


__all__ = ["TcoItem", "TcoDefaults", "BASES", "VOLUME_BASES", "LINE_ITEM_COLUMNS", "load_tco_defaults",
           "tco_line_items", "tco_totals", "tco_summary", "seed_bill", "with_engineer_cost"]
