"""Where each route of a routes file goes, and what the split costs (the arithmetic behind planner.routes).

Per route (planner.routes.Route)::

    self-host option  = planner.api.plan(model, route workload, the route's gpu/quant/pricing).monthly_total_cost
                        for each allowed model; InfeasibleError / NoOfferError: the model is out, with its reason
    API option        = planner.api_costs.api_costs(route workload).monthly_cost on current rows (no stale seed
                        quote, retired or superseded row) whose quality tier is at least the route's tier, or that
                        the route names; none under data residency. With compliance_on_api, the cheapest plan's
                        compliance lines (Plan.shared) are added to every API, as plan does.
    destination       = the cheapest allowed option (an API on a tie: no deployment to run)

Totals: the sum of the destinations; "all on APIs" = the sum of each route's cheapest allowed API; "all on one
API" = the cheapest API allowed on every route, summed; "all self-hosted" = the sum of each route's cheapest
self-hosted bill, each its own deployment. Routes that self-host the same model are also planned as one deployment
serving their summed traffic (:func:`merged_workload`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from statistics import NormalDist

import pandas as pd

from planner.api_costs import api_costs, current_rows
from planner.errors import InfeasibleError, NoOfferError
from planner.prices import TIERS
from planner.routes import Route
from planner.units import MONTHS_PER_YEAR, fmt_usd
from planner.views import View
from planner.workload import GUARD_SCOPES, LengthDist, Workload
from profiler import progress
from profiler.errors import InferplanError, InvalidValueError

# The terminal's default columns (fit 100 with route names up to ~13 characters and a 44-character API label at its
# natural width: a label's model id is never folded). The why of each route is printed as a line under the tables;
# kind, why and the rest: --wide, CSV, JSON.
MAIN_COLUMNS = ("route", "destination", "monthly_usd", "cheapest_api_usd", "cheapest_self_host_usd")
OPTION_COLUMNS = ("route", "kind", "option", "monthly_usd", "allowed")  # note: --wide (the whys say it)
TITLE = "Per-route split: each route where it is cheapest within its constraints"


@dataclass(frozen=True)
class Files:
    """The user's catalogue files every plan of the split reads."""

    api_prices: Path | None = None
    gpu_prices: Path | None = None
    tco: Path | None = None
    models_file: Path | None = None


@dataclass(frozen=True)
class Choice:
    """One route weighed: its feasible plans by model, the models out (reason), its APIs (api_costs rows of
    current prices with ``allowed`` and ``note``) and the destination picked."""

    route: Route
    plans: dict
    out: dict
    api: pd.DataFrame
    kind: str  # self-host | API | none
    destination: str
    monthly_usd: float

    @property
    def best_plan(self):
        return min(self.plans.values(), key=lambda p: p.monthly_total_cost) if self.plans else None

    @property
    def best_api(self) -> pd.Series | None:
        allowed = self.api[self.api["allowed"]]
        return allowed.iloc[0] if len(allowed) else None


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[a-z0-9)]\.)\s+(?=[A-Z])", str(text), maxsplit=1)[0]


def _plan(route: Route, model: str, workload: Workload, files: Files, gpus=None, quants=None, pricing=None):
    from planner.api import PlanRequest, plan

    extra = {"pricing": p} if (p := pricing if pricing is not None else route.pricing) else {}
    req = PlanRequest(model=model, workload=workload, gpus=gpus if gpus is not None else route.gpus,
                      quants=quants if quants is not None else route.quants, framework=False, top=0,
                      api_prices=files.api_prices, gpu_prices=files.gpu_prices, tco=files.tco,
                      models_file=files.models_file, **extra)
    try:
        return plan(req)
    except (InfeasibleError, NoOfferError):
        raise
    except InferplanError as exc:  # a name or value the route gave that the planner refuses: say which route
        raise InvalidValueError(f"{route.where()}, model {model}: {exc}") from None


def _api_table(route: Route, api_prices: pd.DataFrame, compliance: float) -> pd.DataFrame:
    """The route's workload on every current API, cheapest first: ``quality_ok`` (in the route's tier or named by
    it), ``allowed`` (that, and no data residency) and ``note`` (why or why not)."""
    w = route.workload
    api = current_rows(api_costs(w, api_prices)).copy()
    api["monthly_cost"] = api["monthly_cost"] + compliance
    api["compliance_monthly"] = compliance
    if route.apis:
        api["quality_ok"] = api["label"].isin(route.apis)
        api["note"] = api["quality_ok"].map({True: "named in the route's apis", False: "not in the route's apis"})
    else:
        rank = api["tier"].fillna("").map(lambda t: TIERS.index(t) if t in TIERS else -1)
        api["quality_ok"] = rank >= TIERS.index(route.tier)
        api["note"] = [f"tier {t or 'unknown'} (route: {route.tier} or above)" for t in api["tier"].fillna("")]
    api["allowed"] = api["quality_ok"] & (not w.data_residency)
    if w.data_residency:
        api["note"] = "data residency: no shared API; " + api["note"]
    return api.sort_values("monthly_cost", kind="stable").reset_index(drop=True)


def weigh(route: Route, api_prices: pd.DataFrame, files: Files) -> Choice:
    """Plan every allowed model, price every allowed API and pick the cheapest (module docstring)."""
    plans, out = {}, {}
    for model in route.models:
        try:
            plans[model] = _plan(route, model, route.workload, files)
        except (InfeasibleError, NoOfferError) as exc:
            out[model] = _first_sentence(exc)
    best = min(plans.values(), key=lambda p: p.monthly_total_cost) if plans else None
    shared = getattr(best, "shared", None) if route.workload.compliance_on_api else None
    api = _api_table(route, api_prices, shared(route.workload.tokens_per_day) if shared else 0.0)
    allowed = api[api["allowed"]]
    options = [(float(r["monthly_cost"]), 0, "API", r["label"]) for _, r in allowed.head(1).iterrows()]
    if best is not None:
        options.append((best.monthly_total_cost, 1, "self-host", best.model))
    if not options:
        return Choice(route, plans, out, api, "none", "none", math.nan)
    cost, _, kind, dest = min(options)  # the API first on a tie (the 0 before the 1)
    return Choice(route, plans, out, api, kind, dest, cost)


def _deployment_words(p) -> str:
    d = p.deployment
    return (f"{int(d['replicas'])} + {int(d['spare_replicas'])} spare x {int(d['tp'])}x {d['gpu']} "
            f"({d['quant']}, {d['pricing']})")


def _quality(route: Route, basis: bool = True) -> str:
    """What an API must be to take the route, in words (with where the tier came from when `basis`)."""
    if route.apis:
        return "the route's named APIs"
    return f"tier {route.tier} or above" + (f" ({route.tier_basis})" if basis else "")


def _cheapest(route: Route, basis: bool = True) -> str:
    return f"the cheapest {'of' if route.apis else 'in'} {_quality(route, basis)}"


def _why(c: Choice) -> str:
    api, p, w = c.best_api, c.best_plan, c.route.workload
    self_host = (f"self-hosting {p.model} costs {fmt_usd(p.monthly_total_cost)}" if p is not None
                 else "no allowed model meets the SLOs" if c.out else "no model to self-host")
    if c.kind == "API":
        extra = float(api["compliance_monthly"])
        with_compliance = (f" (with {fmt_usd(extra)}/month of evals, audit logging and guardrails: "
                           "compliance_on_api)") if extra else ""
        return f"API, {_cheapest(c.route)}{with_compliance}; {self_host}"
    if c.kind == "self-host" and w.data_residency:
        fit = c.api[c.api["quality_ok"]]
        api_words = (f" ({_cheapest(c.route, basis=False)} would cost "
                     f"{fmt_usd(float(fit['monthly_cost'].iloc[0]))})") if len(fit) else ""
        return f"self-hosted, as data residency rules out shared APIs{api_words}; {_deployment_words(p)}"
    if c.kind == "self-host":
        return f"self-hosted, cheaper than the cheapest allowed API ({api['label']}); {_deployment_words(p)}"
    return ("nothing allowed: " + ("data residency rules out APIs and " if w.data_residency else "no API allowed and ")
            + "; ".join(f"{m}: {why}" for m, why in c.out.items()))


def _main_row(c: Choice) -> dict:
    api, p = c.best_api, c.best_plan
    return {"route": c.route.name, "tokens_per_day": c.route.workload.tokens_per_day, "destination": c.destination,
            "kind": c.kind, "monthly_usd": c.monthly_usd,
            "cheapest_api_usd": float(api["monthly_cost"]) if api is not None else math.nan,
            "cheapest_self_host_usd": p.monthly_total_cost if p is not None else math.nan, "why": _why(c),
            "cheapest_api": api["label"] if api is not None else "",
            "cheapest_self_host": p.model if p is not None else "",
            "self_host_deployment": _deployment_words(p) if p is not None else "",
            "api_quality": "none (data residency)" if c.route.workload.data_residency else _quality(c.route),
            "data_residency": c.route.workload.data_residency, "models": ", ".join(c.route.models)}


def _option_rows(c: Choice) -> list[dict]:
    name = c.route.name
    rows = [{"route": name, "kind": "self-host", "option": m, "monthly_usd": p.monthly_total_cost, "allowed": True,
             "note": _deployment_words(p)} for m, p in c.plans.items()]
    rows += [{"route": name, "kind": "self-host", "option": m, "monthly_usd": math.nan, "allowed": False,
              "note": why} for m, why in c.out.items()]
    # the cheapest allowed, the cheapest of the route's quality (under residency) and the cheapest of all
    picks = [c.api[c.api["allowed"]].head(1), c.api[c.api["quality_ok"]].head(1), c.api.head(1)]
    for _, r in pd.concat(picks).drop_duplicates("label").iterrows():
        rows.append({"route": name, "kind": "API", "option": r["label"], "monthly_usd": float(r["monthly_cost"]),
                     "allowed": bool(r["allowed"]), "note": r["note"]})
    return rows


def split_view(routes: Sequence[Route], *, api_prices: Path | None = None, gpu_prices: Path | None = None,
               tco: Path | None = None, models_file: Path | None = None) -> View:
    """Weigh every route (:func:`weigh`) and assemble the ``routes`` view (planner.routes docstring)."""
    from planner.plan import load_catalogues

    files = Files(api_prices, gpu_prices, tco, models_file)
    prices = load_catalogues(gpu_prices, api_prices, tco).api_prices
    choices = []
    for i, route in enumerate(routes):
        progress.report("route", i, len(routes))
        choices.append(weigh(route, prices, files))
    progress.report("shared deployments")
    shared = _shared_deployments(choices, files)
    main = pd.DataFrame([_main_row(c) for c in choices])
    options = pd.DataFrame([r for c in choices for r in _option_rows(c)])
    lines, record = _summary(choices, shared)
    return View(name="routes", title=TITLE, tables={"routes": main, "options": options},
                columns={"routes": MAIN_COLUMNS, "options": OPTION_COLUMNS}, lines=tuple(lines), record=record)


# ------------------------------------------------------------------------------------------
# Totals and comparisons
# ------------------------------------------------------------------------------------------


def _one_api(choices: Sequence[Choice]) -> tuple[str, float] | None:
    """The cheapest API allowed on every route, and the routes' summed bill on it; None when there is none."""
    common = None
    for c in choices:
        allowed = c.api[c.api["allowed"]].set_index("label")["monthly_cost"]
        common = allowed if common is None else common[common.index.isin(allowed.index)] + allowed
    common = common.dropna() if common is not None else None
    if common is None or common.empty:
        return None
    label = common.idxmin()
    return str(label), float(common[label])


def _summary(choices: Sequence[Choice], shared: Sequence[dict]) -> tuple[list[str], dict]:
    served = [c for c in choices if c.kind != "none"]
    total = sum(c.monthly_usd for c in served)
    on_api = [c for c in served if c.kind == "API"]
    hosted = [c for c in served if c.kind == "self-host"]
    lines = [f"{c.route.name}: {_why(c)}." for c in choices]
    lines += [f"Total: {fmt_usd(total)}/month ({fmt_usd(total * MONTHS_PER_YEAR)}/year) for {len(served)} route(s): "
             f"{len(on_api)} on APIs ({fmt_usd(sum(c.monthly_usd for c in on_api))}), {len(hosted)} self-hosted "
             f"({fmt_usd(sum(c.monthly_usd for c in hosted))})."]
    unserved = [c.route.name for c in choices if c.kind == "none"]
    if unserved:
        lines.append(f"Not served (nothing allowed meets the constraints, left out of the total): "
                     f"{', '.join(unserved)}.")
    if hosted:
        lines.append("Each self-hosted route is billed as its own deployment: its own spare replicas, people, "
                     "monitoring and tooling.")
    all_api = None if any(c.best_api is None for c in choices) else sum(float(c.best_api["monthly_cost"])
                                                                         for c in choices)
    no_api = [c.route.name for c in choices if c.best_api is None]
    lines.append(f"All routes on APIs (each its cheapest allowed): {fmt_usd(all_api)}/month." if all_api is not None
                 else f"All routes on APIs: not allowed for {', '.join(no_api)} (data residency or no API allowed).")
    one = _one_api(choices)
    lines.append(f"All routes on one API ({one[0]}, the cheapest allowed on every route): {fmt_usd(one[1])}/month."
                 if one else "All routes on one API: no single API is allowed on every route.")
    sh = [c.best_plan for c in choices]
    all_self = None if any(p is None for p in sh) else sum(p.monthly_total_cost for p in sh)
    lines.append(f"All routes self-hosted (each its own deployment): {fmt_usd(all_self)}/month." if all_self is not None
                 else "All routes self-hosted: not possible, no allowed model meets the SLOs of "
                      f"{', '.join(c.route.name for c, p in zip(choices, sh, strict=True) if p is None)}.")
    lines += _margin_lines(hosted) + [s["line"] for s in shared]
    resident = [c for c in choices if c.route.workload.data_residency]
    if resident:
        lines.append(f"Data residency on {', '.join(c.route.name for c in resident)}: shared APIs are left out; a "
                     f"dedicated deployment (`inferplan plan {resident[0].route.models[0]} --residency` prices them) "
                     "is not considered here.")
    record = {"total_monthly_usd": total, "routes": len(choices), "api_routes": len(on_api),
              "self_hosted_routes": len(hosted), "unserved_routes": unserved, "all_api_monthly_usd": all_api,
              "one_api": one[0] if one else None, "one_api_monthly_usd": one[1] if one else None,
              "all_self_hosted_monthly_usd": all_self,
              "shared_deployments": [{k: v for k, v in s.items() if k != "line"} for s in shared]}
    return lines, record


def _margin_lines(hosted: Sequence[Choice]) -> list[str]:
    from planner.defaults import SELF_HOST_MARGIN

    out = []
    for c in hosted:
        api = c.best_api
        if api is not None and float(api["monthly_cost"]) < SELF_HOST_MARGIN * c.monthly_usd:
            out.append(f"Route '{c.route.name}': its cheapest allowed API costs "
                       f"{float(api['monthly_cost']) / c.monthly_usd:.2f}x the self-hosted bill, under the "
                       f"{SELF_HOST_MARGIN:g}x margin `inferplan plan` asks before self-hosting (costs the bill "
                       "does not see: migration, outages, hiring).")
    return out


# ------------------------------------------------------------------------------------------
# Routes that self-host the same model: one deployment for their summed traffic
# ------------------------------------------------------------------------------------------

P99 = 0.99  # the quantile the SLOs and the length fit use (planner.workload: the p99 targets)


def _merged_dist(parts: Sequence[tuple[float, LengthDist]], mean: float) -> LengthDist:
    """A lognormal at the mixture's `mean` whose p99 is the largest p99 of the parts. The mixture's true p99 is at
    most that (P(X > q) = sum w_i P(X_i > q) <= 1% at q = the largest part's p99), so the fit errs long:
    sigma solves ln(q / mean) = z sigma - sigma^2 / 2 (planner.workload.LengthDist), capped at z."""
    q = max(d.quantile(m, P99) for m, d in parts)
    z = NormalDist().inv_cdf(P99)
    ratio = math.log(q / mean) if q > mean else 0.0
    disc = z * z - 2 * ratio
    sigma = z - math.sqrt(disc) if disc >= 0 else z
    caps = [d.max_tokens for _, d in parts]
    return LengthDist("lognormal", sigma, None if None in caps else max(caps))


def merged_workload(workloads: Sequence[Workload], name: str) -> Workload:
    """The summed traffic of several routes on one deployment: volumes and requests added; the strictest SLOs
    (lowest TTFT / TPOT p99, highest availability) for every request; peaks assumed to coincide (the request-
    weighted mean of the peaks; hourly profiles summed when every route has one); lengths by :func:`_merged_dist`;
    cached share weighted by input tokens; residency, needs, guardrails and compliance the widest of the routes."""
    ws = list(workloads)
    reqs = sum(w.requests_per_day for w in ws)
    t_in, t_out = sum(w.tokens_in_per_day for w in ws), sum(w.tokens_out_per_day for w in ws)
    profile = (tuple(sum(w.requests_per_day * w.hourly_profile[h] for w in ws) for h in range(24))
               if all(w.hourly_profile for w in ws) else None)
    peak = None if profile else sum(w.requests_per_day * w.peak_to_average for w in ws) / reqs
    return replace(
        ws[0], name=name, tokens_in_per_day=t_in, tokens_out_per_day=t_out, requests_per_day=reqs,
        cached_input_fraction=sum(w.cached_input_fraction * w.tokens_in_per_day for w in ws) / t_in,
        input_dist=_merged_dist([(w.mean_input_tokens, w.input_dist) for w in ws], t_in / reqs),
        output_dist=_merged_dist([(w.mean_output_tokens, w.output_dist) for w in ws], t_out / reqs),
        hourly_profile=profile, peak_to_average=peak, daily_curve=None,
        ttft_p99_s=min(w.ttft_p99_s for w in ws), tpot_p99_s=min(w.tpot_p99_s for w in ws),
        availability=max(w.availability for w in ws), data_residency=any(w.data_residency for w in ws),
        existing_infra=all(w.existing_infra for w in ws), co_located=any(w.co_located for w in ws),
        compliance_on_api=any(w.compliance_on_api for w in ws),
        guardrails=max((w.guardrails for w in ws), key=lambda g: -GUARD_SCOPES.index(g)),
        needs=tuple(dict.fromkeys(n for w in ws for n in w.needs)), volume_source="")


def _union(groups: Sequence[tuple[str, ...]]) -> tuple[str, ...]:
    """The search restriction of a shared deployment: every value any route allows; () (no restriction) when a
    route has none."""
    return () if any(not g for g in groups) else tuple(dict.fromkeys(v for g in groups for v in g))


def _shared_deployments(choices: Sequence[Choice], files: Files) -> list[dict]:
    """Each model that two or more routes self-host, planned once on their merged workload."""
    by_model: dict[str, list[Choice]] = {}
    for c in choices:
        if c.kind == "self-host":
            by_model.setdefault(c.destination, []).append(c)
    out = []
    for model, group in by_model.items():
        if len(group) < 2:
            continue
        names = [c.route.name for c in group]
        separate = sum(c.monthly_usd for c in group)
        w = merged_workload([c.route.workload for c in group], " + ".join(names))
        head = (f"Routes {', '.join(names)} self-host {model} as {len(group)} deployments ({fmt_usd(separate)}/month); "
                "one deployment serving their summed traffic at the strictest SLOs")
        try:
            p = _plan(group[0].route, model, w, files, gpus=_union([c.route.gpus for c in group]),
                      quants=_union([c.route.quants for c in group]),
                      pricing=_union([c.route.pricing for c in group]))
        except (InfeasibleError, NoOfferError) as exc:
            out.append({"model": model, "routes": names, "separate_monthly_usd": separate, "shared_monthly_usd": None,
                        "line": f"{head} could not be planned: {_first_sentence(exc)}"})
            continue
        cost = p.monthly_total_cost
        verb = f"would cost {fmt_usd(cost)}/month, {fmt_usd(separate - cost)} less" if cost < separate else \
            f"would cost {fmt_usd(cost)}/month, no saving"
        out.append({"model": model, "routes": names, "separate_monthly_usd": separate, "shared_monthly_usd": cost,
                    "line": f"{head} {verb} ({_deployment_words(p)})."})
    return out


__all__ = ["Choice", "Files", "weigh", "split_view", "merged_workload", "MAIN_COLUMNS", "OPTION_COLUMNS"]
