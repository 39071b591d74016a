"""Per-route split: a workload file of routes, each served where it is cheapest within its constraints (issue 14).

``inferplan plan --hybrid --workload routes.yaml`` (and :func:`route_split`) read a file such as
``examples/routes.yaml``::

    availability: 99.9%            # top-level workload keys (planner.workload.KNOWN_KEYS): defaults for every route
    models: [llama-3.1-8b]         # top-level route settings (below): defaults too
    routes:                        # the list of routes (required, at least one)
      - name: classify             # required, unique
        tokens_in_per_day: 400M    # any workload key: volumes, lengths, SLOs, peak_to_average, data_residency...
        mean_input_tokens: 300
        models: [llama-3.2-1b, llama-3.1-8b]
        tier: small
      - name: generate
        data_residency: true       # no third-party API may see this route's data: self-hosted only
        models: [llama-3.3-70b]

Route settings (per route, or top level as a default; a route's own setting wins):

- ``models``: the catalogue models (``inferplan models``) that may self-host the route; default the plan's MODEL.
- ``tier``: the lowest quality tier an API must be in to take the route (tiny < small < medium < large <
  frontier, planner/catalogues/api_prices.yaml: open-weight rows take their model's tier). Default: the lowest
  tier among ``models``. A model below the route's tier is refused.
- ``apis``: the API labels (``provider / model``, ``inferplan compare``) allowed instead of a tier; give one of
  ``tier`` and ``apis`` per level. Only current rows: no stale seed quote, retired or superseded row.
- ``gpu``, ``quant``, ``pricing``: restrict the self-hosted search (plan's --gpu, --quant, --pricing).

The choice per route (planner.route_costs): every allowed model is planned on the route's workload
(planner.api.plan, the cost verdict alone: a model that meets no SLO is out, with its reason); the route's
workload is priced on every allowed current API (planner.api_costs, the route's ``api_tier``); data residency
rules out every shared API (a dedicated deployment, which ``plan --residency`` prices, is not considered here).
The route goes to the cheapest allowed destination, whole: a route is not split over time (``plan --hybrid``
on a plain workload does that).

Tables of the returned View (name ``routes``; money in USD per month):

- ``routes`` (main): route, tokens_per_day [input + output tokens/day], destination (a model, self-hosted, or an
  API label; "none" when nothing is allowed), kind (self-host | API | none), monthly_usd (the destination's bill),
  cheapest_api_usd (the cheapest allowed API; empty under data residency), cheapest_self_host_usd (the cheapest
  feasible allowed model, full bill), why (in words), cheapest_api, cheapest_self_host, self_host_deployment,
  api_quality (what an API must be), data_residency, models. The terminal shows route, destination and the three
  costs (planner.route_costs.MAIN_COLUMNS) and prints each route's why as a line; --wide shows every column.
- ``options``: every option weighed: route, kind, option, monthly_usd (empty when out), allowed, note (why not, or
  the deployment). Per route: each allowed model, the cheapest allowed API, and the cheapest API left out.

The record: total_monthly_usd, routes, api_routes, self_hosted_routes, unserved_routes, all_api_monthly_usd,
one_api, one_api_monthly_usd, all_self_hosted_monthly_usd (None where not possible) and shared_deployments (model,
routes, separate_monthly_usd, shared_monthly_usd).

Each self-hosted route is billed as its own deployment (its own spares, people, monitoring); where several routes
self-host the same model, the lines price one deployment serving their summed traffic (route_costs.merged_workload).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner.errors import WorkloadError
from planner.prices import TIERS
from planner.units import YamlDoc, read_yaml
from planner.views import View
from planner.workload import DEFAULT_WORKLOAD, KNOWN_KEYS, Workload, build_workload
from profiler.errors import CatalogueError, InferplanError, InvalidValueError, did_you_mean

DEFAULT_MODEL = "llama-3.3-70b"  # the plan command's default MODEL (planner.cmd_plan.DEFAULT_MODEL)
SETTINGS = ("models", "tier", "apis", "gpu", "quant", "pricing")  # route settings (module docstring)
ROUTE_KEYS = ("name", *SETTINGS)
TOP_KEYS = ("routes", *SETTINGS)


@dataclass(frozen=True)
class Route:
    """One route: its workload and what may serve it. ``tier`` is the lowest API quality tier allowed ("" when
    ``apis`` names them); ``tier_basis`` says where it came from; ``file``/``line`` locate the route for errors."""

    name: str
    workload: Workload
    models: tuple[str, ...]
    tier: str = ""
    apis: tuple[str, ...] = ()
    gpus: tuple[str, ...] = ()
    quants: tuple[str, ...] = ()
    pricing: tuple[str, ...] = ()
    tier_basis: str = ""
    file: str = field(default="", compare=False)
    line: int | None = field(default=None, compare=False)

    def where(self) -> str:
        """``file:line, route 'name'``: the prefix of a message about this route."""
        place = f"{self.file}:{self.line}" if self.line else self.file
        return f"{place}, route '{self.name}'" if place else f"route '{self.name}'"


def has_routes(path: str | Path) -> bool:
    """True when the YAML file at `path` is a mapping with a top-level ``routes`` key (a file of routes)."""
    doc = read_yaml(path)
    return isinstance(doc.data, Mapping) and "routes" in doc.data


def load_routes(path: str | Path, default_model: str = DEFAULT_MODEL, *, models_file: Path | None = None,
                api_prices: Path | None = None, gpu_prices: Path | None = None) -> tuple[Route, ...]:
    """The routes of the file at `path` (module docstring), every name checked; errors name file and line.

    `default_model`: the model of a route that names none (and no top-level ``models``). `models_file`,
    `api_prices`, `gpu_prices`: the user's catalogue files the names are checked against."""
    doc = read_yaml(path)
    if not isinstance(doc.data, Mapping):
        raise doc.error("a routes file is a mapping: workload keys as defaults, then routes: [{name: ..., ...}]")
    if "routes" not in doc.data:
        raise CatalogueError("no 'routes:' list: give routes: [{name: classify, tokens_in_per_day: 5M, ...}, ...] "
                             "(a plain workload file has none)", file=doc.file, line=1)  # missing: the file's top
    _check_keys(doc, doc.data, TOP_KEYS, ())
    known = _Known(doc, models_file, api_prices, gpu_prices)
    top_values = {k: v for k, v in doc.data.items() if k not in TOP_KEYS}
    base = _workload(doc, {"name": Path(path).stem, **top_values}, DEFAULT_WORKLOAD, ())
    top = _settings(doc, doc.data, (), known, {})
    if top.get("models") is None:
        top["models"] = ((default_model, ()),)
    items = doc.data["routes"]
    if not isinstance(items, list) or not items:
        raise doc.error("'routes' is a list of routes: - {name: classify, tokens_in_per_day: 5M, models: [...]}",
                        "routes", field="routes")
    routes = tuple(_route(doc, i, item, base, top, known) for i, item in enumerate(items))
    seen: set[str] = set()
    for i, r in enumerate(routes):
        if r.name in seen:
            raise doc.error(f"route '{r.name}' is given twice; route names are unique", "routes", i, "name")
        seen.add(r.name)
    return routes


def route_split(path: str | Path, default_model: str = DEFAULT_MODEL, *, api_prices: Path | None = None,
                gpu_prices: Path | None = None, tco: Path | None = None, models_file: Path | None = None) -> View:
    """The per-route split of the routes file at `path`: each route's cheapest allowed destination, the totals,
    and the all-API / all-self-hosted comparisons (a planner.views.View named ``routes``; module docstring)."""
    from planner.route_costs import split_view

    routes = load_routes(path, default_model, models_file=models_file, api_prices=api_prices, gpu_prices=gpu_prices)
    return split_view(routes, api_prices=api_prices, gpu_prices=gpu_prices, tco=tco, models_file=models_file)


# ------------------------------------------------------------------------------------------
# Reading the file
# ------------------------------------------------------------------------------------------


def _check_keys(doc: YamlDoc, data: Mapping, own: tuple[str, ...], path: tuple) -> None:
    """Every key is a workload key or one of `own`; an unknown one is refused with the closest names."""
    allowed = (*own, *KNOWN_KEYS)
    for key in data:
        if key not in allowed:
            hint = did_you_mean(str(key), allowed)
            where = "a route" if path else "a routes file"
            raise doc.error(f"unknown key '{key}'{hint}; {where} takes {', '.join(own)} and the workload keys "
                            "of planner.workload.KNOWN_KEYS", *path, key, field=str(key))


def _workload(doc: YamlDoc, values: Mapping[str, Any], base: Workload, path: tuple) -> Workload:
    """build_workload over `base`, key by key first so that an error points at its own line."""
    for key, value in values.items():
        try:
            build_workload({key: value}, base)
        except (WorkloadError, InvalidValueError) as exc:
            raise doc.error(str(exc), *path, key, field=str(key)) from None
    try:
        return build_workload(values, base)
    except (WorkloadError, InvalidValueError) as exc:
        raise doc.error(str(exc), *path) from None


def _names(doc: YamlDoc, value: Any, path: tuple) -> tuple[tuple[str, tuple], ...]:
    """A list of names (YAML list or comma-separated text), each with its path for errors."""
    if isinstance(value, str):
        items = [(t.strip(), path) for t in value.split(",") if t.strip()]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [(v.strip(), (*path, j)) for j, v in enumerate(value) if v.strip()]
    else:
        raise doc.error(f"'{path[-1]}' is a list of names, e.g. [a, b], got {value!r}", *path, field=str(path[-1]))
    if not items:
        raise doc.error(f"'{path[-1]}' names nothing; give at least one", *path, field=str(path[-1]))
    return tuple(items)


class _Known:
    """The catalogues names are checked against, read on first use."""

    def __init__(self, doc: YamlDoc, models_file, api_prices, gpu_prices):
        self.doc, self.models_file, self.api_prices, self.gpu_prices = doc, models_file, api_prices, gpu_prices
        self._api = self._pricing = None

    def fail(self, exc: Exception, path: tuple) -> InferplanError:
        key = next((p for p in reversed(path) if isinstance(p, str)), None)
        return self.doc.error(str(exc), *path, field=key)

    def model_tier(self, name: str, path: tuple) -> str:
        from planner.api_costs import model_tier
        from profiler import catalogue
        from profiler.analytic.params import param_counts

        try:
            spec = catalogue.get_model(name, models_file=self.models_file)
        except InferplanError as exc:
            raise self.fail(exc, path) from None
        return model_tier(spec.name, float(param_counts(spec).total))

    def check_gpu(self, name: str, path: tuple) -> None:
        from profiler import catalogue

        try:
            catalogue.get_gpu(name)
        except InferplanError as exc:
            raise self.fail(exc, path) from None

    def check_quant(self, name: str, path: tuple) -> None:
        from profiler import catalogue

        if name != catalogue.NATIVE:
            try:
                catalogue.get_quant(name)
            except InferplanError as exc:
                raise self.fail(exc, path) from None

    def check_pricing(self, name: str, path: tuple) -> None:
        if self._pricing is None:
            from planner.plan import load_catalogues

            self._pricing = sorted(set(load_catalogues(gpu_prices=self.gpu_prices).gpu_prices["pricing"]))
        if name not in self._pricing:
            hint = did_you_mean(name, self._pricing)
            raise self.doc.error(f"unknown pricing model '{name}'{hint}; choose from {', '.join(self._pricing)}",
                                 *path, field="pricing")

    def api_label(self, name: str, path: tuple) -> str:
        """The API label `name` stands for (spaces around '/' optional); only current rows."""
        if self._api is None:
            from planner.prices import load_api_prices

            self._api = load_api_prices(self.api_prices)
        from planner.api_costs import current_rows

        api = self._api
        labels = dict(zip((api["provider"] + "/" + api["model"]).str.replace(" ", ""),
                          api["provider"] + " / " + api["model"], strict=True))
        label = labels.get(name.replace(" ", ""))
        if label is None:
            close = difflib.get_close_matches(name, list(labels.values()), n=2)
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            raise self.doc.error(f"unknown API '{name}'{hint}; `inferplan compare` lists them as provider / model",
                                 *path, field="apis")
        current = current_rows(api)
        if label not in set(current["provider"] + " / " + current["model"]):
            raise self.doc.error(f"API '{label}' is not a current price (a stale seed quote, retired, or superseded "
                                 "by a newer model): name a current row", *path, field="apis")
        return label


def _settings(doc: YamlDoc, data: Mapping, path: tuple, known: _Known, inherited: Mapping) -> dict:
    """The route settings given at this level (models, tier, apis, gpu, quant, pricing), checked."""
    if "tier" in data and "apis" in data:
        raise doc.error("give 'tier' (APIs by quality) or 'apis' (APIs by name), not both", *path, "apis",
                        field="apis")
    out = dict(inherited)
    for key in ("models", "gpu", "quant", "pricing", "apis"):
        if key in data:
            out[key] = _names(doc, data[key], (*path, key))
    if "tier" in data:
        tier = str(data["tier"]).strip().lower()
        if tier not in TIERS:
            hint = did_you_mean(tier, TIERS)
            raise doc.error(f"unknown tier '{data['tier']}'{hint}; tiers: {', '.join(TIERS)}", *path, "tier",
                            field="tier")
        out["tier"] = tier
        out.pop("apis", None)  # this level's tier replaces an inherited list of APIs
    if "apis" in data:
        out["apis"] = tuple((known.api_label(n, p), p) for n, p in out["apis"])
        out.pop("tier", None)  # and this level's list replaces an inherited tier
    for n, p in out.get("gpu", ()) if "gpu" in data else ():
        known.check_gpu(n, p)
    for n, p in out.get("quant", ()) if "quant" in data else ():
        known.check_quant(n, p)
    for n, p in out.get("pricing", ()) if "pricing" in data else ():
        known.check_pricing(n, p)
    return out


def _route(doc: YamlDoc, i: int, item: Any, base: Workload, top: Mapping, known: _Known) -> Route:
    path = ("routes", i)
    if not isinstance(item, Mapping):
        raise doc.error("a route is a mapping: {name: classify, tokens_in_per_day: 5M, models: [...]}", *path)
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise doc.error("a route needs a name: name: classify", *path, *(("name",) if "name" in item else ()),
                        field="name")
    _check_keys(doc, item, ROUTE_KEYS, path)
    values = {k: v for k, v in item.items() if k not in ROUTE_KEYS}
    workload = _workload(doc, {"name": name.strip(), **values}, base, path)
    s = _settings(doc, item, path, known, top)
    tiers = {n: known.model_tier(n, p) for n, p in s["models"]}
    lowest = min(tiers.values(), key=TIERS.index)
    tier = s.get("tier", "" if "apis" in s else lowest)
    for n, p in s["models"]:
        if "tier" in s and TIERS.index(tiers[n]) < TIERS.index(tier):
            raise doc.error(f"model {n} is in tier {tiers[n]}, below the route's tier {tier}: drop it or lower "
                            "the tier", *p, field="models")
    basis = ("named in the file" if "apis" in s else "set in the file" if "tier" in s
             else f"the tier of {next(n for n in tiers if tiers[n] == lowest)}")
    return Route(name=name.strip(), workload=workload, models=tuple(n for n, _ in s["models"]), tier=tier,
                 apis=tuple(n for n, _ in s.get("apis", ())), gpus=tuple(n for n, _ in s.get("gpu", ())),
                 quants=tuple(n for n, _ in s.get("quant", ())), pricing=tuple(n for n, _ in s.get("pricing", ())),
                 tier_basis=basis, file=doc.file, line=doc.line(*path))


__all__ = ["Route", "has_routes", "load_routes", "route_split", "DEFAULT_MODEL", "SETTINGS"]
