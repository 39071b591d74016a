"""Scenarios side by side (issue 14): named what-ifs from one YAML file, each planned, compared in one table.

:func:`load_scenarios` reads the file into :class:`Scenario` records, each a ``planner.api.PlanRequest``;
:func:`run_scenarios` plans each with ``planner.api.plan`` and returns :class:`ScenarioResults`. A scenario that
nothing can serve (InfeasibleError, or NoOfferError: no price row left) becomes a row saying why, and the others
are still planned.

File format (examples/scenarios.yaml is a commented example)::

    defaults:                          # optional: the keys every scenario starts from
      model: llama-3.3-70b
      tokens_in_per_day: 5M
      pricing: reserved-1y
    scenarios:                         # a list, planned and shown in this order
      - name: Today, 1-year reserved   # required, unique
      - name: Same on on-demand
        pricing: on-demand
      - name: 10x the volume
        volume_factor: 10

A scenario is ``defaults`` with its own keys over it, key by key (a scenario's ``owned`` replaces the default's
whole; a key set to ``null`` clears the default's value). Keys:

- ``name`` (required, unique); ``note``: free text, shown in the comparison's note column.
- ``model``: a catalogue model id (``inferplan models``; default llama-3.3-70b).
- the workload: ``workload`` (a workload YAML, planner.workload.load_workload) with any workload key over it
  (planner.workload.KNOWN_KEYS: tokens_in_per_day, tokens_out_per_day, requests_per_day, mean_input_tokens,
  ttft_p99, tpot_p99, availability, peak_to_average, cached_input_fraction, data_residency, existing_infra, ...);
  unset keys keep the seed scenario's values. ``volume_factor``: the daily volume times this, with the same request
  lengths, daily shape and SLOs.
- what is planned, as `inferplan plan`'s flags (planner.scenario_keys): ``gpu``, ``quant``, ``tp``, ``kv_dtype``,
  ``pricing`` (a name or a list), ``provider``, ``region``, ``engine``, ``margin``; redundancy ``hot_standby`` (0.5
  or 50%), ``spares``, ``zones``, ``node_loss``; budget views ``owned`` ({h100-sxm: 8}), ``hybrid``,
  ``growth_per_month`` (8% or 0.08) and ``months``; what-if prices ``gpu_price_factor``, ``api_price_factor``,
  ``people_cost_factor``; ``talent_region``.
- files, relative to the scenarios file: ``workload``, ``api_prices``, ``gpu_prices``, ``tco``,
  ``dedicated_prices``, ``models``.

An error names the file, the line and the scenario (``scenarios.yaml:12, entry 'Buy the GPUs', field 'pricing':
unknown pricing model 'bye' (did you mean 'buy'?); ...``).

``ScenarioResults.comparison``, one row per scenario in file order: scenario; model (its name); tokens_per_day
(input + output); gpu, quant, tp; replicas (serving the peak), spare_replicas, gpus_total; pricing; provider and
region (of the GPU offer); monthly_total_usd (the full self-hosting bill a month: GPUs, spares, people, hosting,
...), annual_total_usd (12 x monthly), monthly_gpu_usd (the serving replicas' GPUs alone), tco_multiplier (total /
GPU cost); reference_api (the like-for-like API the verdict compares with), api_monthly_usd (the same workload on it,
a month); verdict (planner.verdict.DECISIONS, or ``no plan``); note (why a scenario has no plan, else its ``note:``).
A row with no plan fills only scenario, model, tokens_per_day, pricing, verdict and note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from planner.api import PlanRequest
from planner.errors import InfeasibleError, NoOfferError, WorkloadError
from planner.plan import Plan
from planner.scenario_keys import PLAN_KEYS, path, text, volume_factor
from planner.units import MONTHS_PER_YEAR, read_yaml
from planner.workload import DEFAULT_WORKLOAD, KNOWN_KEYS, Workload, build_workload, load_workload
from profiler import catalogue, progress
from profiler.errors import CatalogueError, InferplanError, InvalidValueError, did_you_mean
from profiler.yamldoc import YamlDoc

COLUMNS = ("scenario", "model", "tokens_per_day", "gpu", "quant", "tp", "replicas", "spare_replicas", "gpus_total",
           "pricing", "provider", "region", "monthly_total_usd", "annual_total_usd", "monthly_gpu_usd",
           "tco_multiplier", "reference_api", "api_monthly_usd", "verdict", "note")
COUNT_COLUMNS = ("tp", "replicas", "spare_replicas", "gpus_total")
NO_PLAN = "no plan"  # the verdict of a scenario nothing can serve
OWN_KEYS = ("name", "note", "model", "workload", "volume_factor")
WORKLOAD_KEYS = tuple(k for k in KNOWN_KEYS if k != "name")  # a scenario's name is its workload's name
SCENARIO_KEYS = tuple(sorted({*OWN_KEYS, *WORKLOAD_KEYS, *PLAN_KEYS}))
TOP_KEYS = ("defaults", "scenarios")


@dataclass(frozen=True)
class Scenario:
    """One named what-if: the request planned, its note, and where the file defines it (for error messages)."""

    name: str
    request: PlanRequest
    note: str = ""
    file: str = ""
    line: int | None = None


@dataclass(frozen=True)
class ScenarioResults:
    """Each scenario's plan and the comparison table (module docstring). ``plans``: (name, Plan or None, note) in
    file order, the note being why there is no plan (else the scenario's own ``note:``, or "")."""

    plans: tuple[tuple[str, Plan | None, str], ...]
    comparison: pd.DataFrame = field(repr=False, compare=False)

    @property
    def not_planned(self) -> tuple[tuple[str, str], ...]:
        """(name, reason) of every scenario with no plan."""
        return tuple((name, note) for name, p, note in self.plans if p is None)


def load_scenarios(path: str | Path) -> tuple[Scenario, ...]:
    """The scenarios of a YAML file (module docstring), each checked: a bad key, value, model or GPU, a missing or
    repeated name is a CatalogueError naming the file, the line and the scenario."""
    doc = read_yaml(path)
    data = doc.data
    if not isinstance(data, Mapping):
        raise doc.error("a scenarios file is a mapping with a `scenarios:` list (and optional `defaults:`)")
    for key in data:
        if key not in TOP_KEYS:
            raise doc.error(f"unknown top-level key '{key}'{did_you_mean(key, TOP_KEYS)}; a scenarios file holds "
                            "`defaults:` (optional) and `scenarios:`", key)
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise doc.error("defaults: expected a mapping of scenario keys such as `model: llama-3.3-70b`", "defaults")
    if "name" in defaults:
        raise doc.error("defaults cannot hold a name: each scenario names itself", "defaults", "name")
    items = data.get("scenarios")
    if not isinstance(items, list) or not items:
        raise doc.error("scenarios: expected a list of scenarios, each a mapping with a name", "scenarios")
    base_dir = Path(doc.file).parent
    seen: dict[str, int | None] = {}
    out = []
    for i, item in enumerate(items):
        where = ("scenarios", i)
        if not isinstance(item, Mapping):
            raise doc.error(f"scenario {i + 1}: expected a mapping with a name, got {item!r}", *where)
        if "name" not in item:
            raise doc.error(f"scenario {i + 1} has no name: give each scenario a unique `name:`", *where)
        name = _field(doc, text, item["name"], "name", (*where, "name"), f"scenario {i + 1}", base_dir)
        if name in seen:
            raise doc.error(f"scenario name '{name}' is used twice (first at line {seen[name]}); names must be "
                            "unique", *where, "name", entry=name)
        seen[name] = doc.line(*where)
        # the path of each key's line (yamldoc indexes keys as text); a scenario's own key hides the default's
        origin = {**{k: ("defaults", str(k)) for k in defaults}, **{k: (*where, str(k)) for k in item}}
        out.append(_scenario(doc, {**defaults, **item}, origin, name, base_dir))
    return tuple(out)


def _field(doc: YamlDoc, parse, value: Any, key: str, where: tuple, entry: str, base_dir: Path) -> Any:
    try:
        return parse(value, key, base_dir)
    except InferplanError as exc:
        raise doc.error(str(exc), *where, entry=entry, field=key) from None


def _scenario(doc: YamlDoc, raw: Mapping[str, Any], origin: Mapping[str, tuple], name: str,
              base_dir: Path) -> Scenario:
    """One scenario's keys (defaults merged) -> a checked PlanRequest."""
    for key in raw:
        if key not in SCENARIO_KEYS:
            raise doc.error(f"unknown key '{key}'{did_you_mean(key, SCENARIO_KEYS)}; a scenario's keys: "
                            f"{', '.join(SCENARIO_KEYS)}", *origin[key], entry=name)
    kw = {f: _field(doc, parse, raw[k], k, origin[k], name, base_dir) for k, (f, parse) in PLAN_KEYS.items()
          if k in raw and raw[k] is not None}
    if "months" in kw and "growth_per_month" not in kw:
        raise doc.error("months sets the span of the growth view: give growth_per_month too, e.g. 8%",
                        *origin["months"], entry=name, field="months")
    model_id = _field(doc, text, raw.get("model") or PlanRequest.model, "model", origin.get("model", origin["name"]),
                      name, base_dir)
    _check_names(doc, model_id, kw, origin, name)
    note = _field(doc, lambda v, k, _b: str(v), raw.get("note", ""), "note", origin.get("note", ()), name, base_dir)
    workload = _workload(doc, raw, origin, name, base_dir)
    return Scenario(name, PlanRequest(model=model_id, workload=workload, **kw), note, doc.file,
                    doc.line(*origin["name"][:-1]))


def _check_names(doc: YamlDoc, model_id: str, kw: Mapping[str, Any], origin: Mapping[str, tuple],
                 name: str) -> None:
    """Model, GPU and quant ids exist (the catalogue's error suggests close names), before any planning."""
    models_file = kw.get("models_file")
    where = origin.get("model", origin["name"])
    try:
        model = catalogue.get_model(model_id, models_file=models_file)
    except InferplanError as exc:
        raise doc.error(str(exc), *where, entry=name, field="model") from None
    checks = [("gpu", g, lambda g: catalogue.get_gpu(g)) for g in kw.get("gpus", ())]
    checks += [("owned", g, lambda g: catalogue.get_gpu(g)) for g, _ in kw.get("owned", ())]
    checks += [("quant", q, lambda q: catalogue.get_quant(catalogue.resolve_quant_id(q, model)))
               for q in kw.get("quants", ())]
    for key, value, check in checks:
        try:
            check(value)
        except InferplanError as exc:
            raise doc.error(str(exc), *origin[key], entry=name, field=key) from None


def _workload(doc: YamlDoc, raw: Mapping[str, Any], origin: Mapping[str, tuple], name: str,
              base_dir: Path) -> Workload:
    """The scenario's workload: its `workload:` file (or the seed scenario), its workload keys over it, then its
    volume_factor; an error points at the key's line."""
    base = DEFAULT_WORKLOAD
    if raw.get("workload") is not None:
        file = _field(doc, path, raw["workload"], "workload", origin["workload"], name, base_dir)
        base = load_workload(file)  # its own errors name that file and line
    given = {k: v for k, v in raw.items() if k in WORKLOAD_KEYS and v is not None}
    for key, value in given.items():  # one key at a time first, so the error points at its line
        _field(doc, lambda v, k, _b: build_workload({k: v}, base), value, key, origin[key], name, base_dir)
    try:
        w = build_workload({"name": name, **given}, base)
    except (WorkloadError, InvalidValueError) as exc:
        raise doc.error(str(exc), *origin["name"][:-1], entry=name) from None
    if raw.get("volume_factor") is None:
        return w
    x = _field(doc, lambda v, k, _b: volume_factor(v, k), raw["volume_factor"], "volume_factor",
               origin["volume_factor"], name, base_dir)
    return _field(doc, lambda v, k, _b: w.scaled_to(w.tokens_per_day * v), x, "volume_factor",
                  origin["volume_factor"], name, base_dir)


def run_scenarios(scenarios: Sequence[Scenario]) -> ScenarioResults:
    """Plan every scenario (planner.api.plan), in order. One that nothing can serve (InfeasibleError, NoOfferError)
    is a ``no plan`` row with the planner's reason, and the rest go on; any other refusal is an error naming the
    scenario's file and line."""
    from planner.api import plan

    plans, rows = [], []
    for i, s in enumerate(scenarios):
        progress.report("scenario", i, len(scenarios))
        try:
            p, note = plan(s.request), s.note
        except (InfeasibleError, NoOfferError) as exc:
            p, note = None, " ".join(str(exc).split())
        except InferplanError as exc:
            raise CatalogueError(str(exc), file=s.file or None, line=s.line, entry=s.name) from None
        plans.append((s.name, p, note))
        rows.append(comparison_row(s, p, note))
    progress.report("scenario", len(scenarios), len(scenarios))
    return ScenarioResults(tuple(plans), comparison_frame(rows))


def comparison_row(s: Scenario, p: Plan | None, note: str) -> dict[str, Any]:
    """One comparison row (module docstring); a scenario with no plan fills only what the request says."""
    req = s.request
    if p is None:
        model = catalogue.get_model(req.model, models_file=req.models_file).name
        return {"scenario": s.name, "model": model, "tokens_per_day": req.workload.tokens_per_day,
                "pricing": ", ".join(req.pricing), "verdict": NO_PLAN, "note": note}
    d = p.deployment
    return {"scenario": s.name, "model": p.model, "tokens_per_day": p.workload.tokens_per_day, "gpu": d["gpu"],
            "quant": d["quant"], "tp": d["tp"], "replicas": d["replicas"], "spare_replicas": d["spare_replicas"],
            "gpus_total": d["gpus_total"], "pricing": d["pricing"], "provider": d.get("provider"),
            "region": d.get("region"), "monthly_total_usd": p.monthly_total_cost,
            "annual_total_usd": p.monthly_total_cost * MONTHS_PER_YEAR, "monthly_gpu_usd": p.monthly_gpu_cost,
            "tco_multiplier": p.tco_multiplier, "reference_api": p.reference_api,
            "api_monthly_usd": p.verdict.api_to_tco_ratio * p.monthly_total_cost,  # as planner.framework's step 4
            "verdict": p.verdict.decision, "note": note}


def comparison_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The rows as the documented table: every column, counts as nullable integers (a no-plan row has none)."""
    df = pd.DataFrame(list(rows), columns=list(COLUMNS))
    for c in COUNT_COLUMNS:
        df[c] = pd.array([None if pd.isna(v) else int(v) for v in df[c]], dtype="Int64")
    return df


__all__ = ["Scenario", "ScenarioResults", "load_scenarios", "run_scenarios", "comparison_row", "comparison_frame",
           "COLUMNS", "SCENARIO_KEYS", "NO_PLAN"]
