"""Which inputs move the plan: each one over its stated range, re-planned, ranked (`inferplan sensitivity`).

:func:`sensitivity` re-plans the request (planner.api.plan, a real plan each time) at the low and the high end of
every input (planner.sensitivity_inputs: the inputs, their ranges and each range's source or rationale), ranks the
inputs by how far they move the self-hosted monthly total, and says how each moves the verdict: the ratio of the
reference API's monthly cost to the self-hosted TCO against the plan's margin. Where an end's verdict differs from
today's, bisection (:data:`BISECT_STEPS` more plans) finds the value where it turns. Budget views (hybrid, growth)
are left out of the re-plans: they change neither the total nor the verdict.

``Sensitivity.table`` columns, one row per input, largest swing first:

- ``rank``; ``input`` (the --inputs id), ``what`` (in words), ``unit`` (of the three ``*_value`` columns);
- ``low_value``, ``base_value``, ``high_value``: the input at the low end, today (NaN: no value on this axis, the
  default standby policy) and at the high end; ``low``, ``base``, ``high``: the same in words;
- ``low_monthly_usd``, ``high_monthly_usd``: the self-hosted monthly total (full TCO) at each end [USD/month];
  ``swing_usd`` = abs(high_monthly_usd - low_monthly_usd) [USD/month], the ranking;
- ``low_api_monthly_usd``, ``high_api_monthly_usd``: the reference API's monthly cost at each end [USD/month];
- ``low_ratio``, ``high_ratio``: reference API cost / self-hosted total (self-hosting needs at least the margin);
  ``ratio_swing`` = abs(high_ratio - low_ratio);
- ``low_decision``, ``high_decision``: the verdict at each end (planner.verdict.DECISIONS, or "no plan");
- ``verdict``: in words: "stays use-api", or "turns to hybrid at +19%" per end whose verdict differs;
- ``note``: why an end could not be planned (no configuration meets the SLOs there), else "";
- ``range_basis``: the range's source or rationale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from planner.errors import PlannerError
from planner.sensitivity_inputs import ALL, INPUTS, Axis, Input
from planner.units import fmt_usd
from planner.verdict import about_equal, fmt_times
from profiler import progress
from profiler.errors import InvalidValueError

NO_PLAN = "no plan"  # an end where no configuration meets the SLOs (or the workload cannot be): not a verdict
BISECT_STEPS = 6  # design choice: the bracket ends at 1/64 of the distance from today, e.g. 0.5% of a ±30% price
TABLE_COLUMNS = ("what", "low", "high", "low_monthly_usd", "high_monthly_usd", "swing_usd", "verdict")  # 100 cols


@dataclass(frozen=True)
class Point:
    """One re-plan: the input's value, the self-hosted total, the reference API's cost, their ratio, the verdict."""

    value: float
    monthly_usd: float
    api_monthly_usd: float
    ratio: float
    decision: str
    note: str = ""


@dataclass(frozen=True)
class Flip:
    """Where an input turns the verdict: `value` is the first value found with the new verdict, `between` the last
    value with today's and that one (plans at both ends of it give different verdicts)."""

    input: str
    what: str
    side: str  # "low" or "high": the end of the range it lies towards
    from_decision: str
    to_decision: str
    value: float
    label: str
    between: tuple[float, float]
    monthly_usd: float  # the self-hosted total at `value` [USD/month]

    @property
    def sentence(self) -> str:
        if self.to_decision == NO_PLAN:
            return f"no configuration meets the SLOs from {self.label}"
        return f"verdict turns to {self.to_decision} at {self.label}"


@dataclass(frozen=True)
class Sensitivity:
    """What moves the plan (module docstring: the table's columns); money in USD per month."""

    model: str
    deployment: str  # today's configuration in words
    table: pd.DataFrame
    base_monthly_usd: float
    base_api_monthly_usd: float
    base_ratio: float
    base_decision: str
    reference_api: str
    margin: float
    flips: tuple[Flip, ...]
    replans: int  # plans made, today's included

    @property
    def lines(self) -> tuple[str, ...]:
        return sensitivity_lines(self)


def check_inputs(names) -> tuple[str, ...]:
    """The --inputs ids, checked (one line naming the real ones otherwise), in the order given, each once."""
    names = tuple(dict.fromkeys(names))
    bad = [n for n in names if n not in INPUTS]
    if bad or not names:
        raise InvalidValueError(f"--inputs: unknown input {bad[0]!r}; choose from {', '.join(ALL)}" if bad else
                                f"--inputs: give at least one of {', '.join(ALL)}")
    return names


class _Runs:
    """Plans of the base request re-stated at an input's value, each made once."""

    def __init__(self, req) -> None:
        self.req, self.cache, self.count = req, {}, 0

    def at(self, spec: Input, value: float) -> Point:
        try:
            r = spec.apply(self.req, value)
            if r not in self.cache:
                self.cache[r] = self._plan(r)
        except (PlannerError, InvalidValueError) as exc:  # this end cannot be planned; the others still can
            return Point(value, math.nan, math.nan, math.nan, NO_PLAN, str(exc).splitlines()[0])
        return replace(self.cache[r], value=value)

    def _plan(self, r) -> Point:
        from planner.api import plan

        self.count += 1
        return point(plan(r), math.nan)


def point(p, value: float) -> Point:
    """A plan as a Point (the reference API's cost = the verdict's ratio x the self-hosted total)."""
    ratio = float(p.verdict.api_to_tco_ratio)
    return Point(value, float(p.monthly_total_cost), ratio * float(p.monthly_total_cost), ratio, p.verdict.decision)


def sensitivity(req, inputs: tuple[str, ...] = ALL) -> Sensitivity:
    """Re-plan `req` (planner.api.PlanRequest) at the low and high end of each of `inputs` (ids of
    planner.sensitivity_inputs.INPUTS) and rank them; bisect for the value where an input turns the verdict.

    Raises what planner.api.plan raises for `req` itself; an end that cannot be planned is a row note instead."""
    from planner.api import plan

    names = check_inputs(inputs)
    req = replace(req, hybrid=False, growth_per_month=None)  # views: neither the total nor the verdict
    progress.report("planning today's case")
    base_plan = plan(req)
    base, runs = point(base_plan, math.nan), _Runs(req)
    runs.cache[req] = base
    rows, flips = [], []
    for i, name in enumerate(names):
        spec = INPUTS[name]
        axis = spec.axis(req, base_plan)
        ends = []
        for k, value in enumerate((axis.low, axis.high)):
            progress.report("re-planning each input at both ends of its range", 2 * i + k, 2 * len(names))
            ends.append(runs.at(spec, value))
        turns = [f for side, end in zip(("low", "high"), ends, strict=True)
                 if (f := _turn(runs, spec, axis, side, end, base.decision)) is not None]
        flips += turns
        rows.append(_row(spec, axis, *ends, base.decision, turns))
    table = pd.DataFrame(rows).sort_values("swing_usd", ascending=False, na_position="last", kind="stable")
    table.insert(0, "rank", range(1, len(table) + 1))
    d = base_plan.deployment
    return Sensitivity(base_plan.model, f"{int(d['gpus_total'])}x {d['gpu']} ({d['quant']}, {d['pricing']})",
                       table.reset_index(drop=True), base.monthly_usd, base.api_monthly_usd, base.ratio,
                       base.decision, base_plan.verdict.reference_api, float(base_plan.margin), tuple(flips),
                       runs.count + 1)


def _turn(runs: _Runs, spec: Input, axis: Axis, side: str, end: Point, today: str) -> Flip | None:
    """Bisect between today's value and `end` for where the verdict changes; None when it does not (or when the
    default standby policy's own value already gives another verdict, so no single value is today's)."""
    if end.decision in (today, NO_PLAN):
        return None
    a = axis.base if not math.isnan(axis.base) else axis.anchor
    if a is None or a == end.value or (math.isnan(axis.base) and runs.at(spec, a).decision != today):
        return None
    b, to = end.value, end.decision
    for k in range(BISECT_STEPS):
        progress.report(f"finding where the {spec.what} turns the verdict", k, BISECT_STEPS)
        m = (a + b) / 2
        d = runs.at(spec, m).decision
        if d == today:
            a = m
        else:
            b, to = m, d
    return Flip(spec.name, spec.what, side, today, to, b, spec.label(b, axis), (a, b), runs.at(spec, b).monthly_usd)


def _row(spec: Input, axis: Axis, lo: Point, hi: Point, today: str, turns: list[Flip]) -> dict:
    words = {"low": spec.label(axis.low, axis), "high": spec.label(axis.high, axis)}
    verdict = "; ".join([f.sentence.removeprefix("verdict ") for f in turns] +
                        [f"{e.decision} at {words[s]}" for s, e in (("low", lo), ("high", hi))
                         if e.decision != today and not any(f.side == s for f in turns)])
    return {"input": spec.name, "what": spec.what, "unit": spec.unit,
            "low_value": axis.low, "base_value": axis.base, "high_value": axis.high,
            "low": words["low"], "base": spec.label(axis.base, axis), "high": words["high"],
            "low_monthly_usd": lo.monthly_usd, "high_monthly_usd": hi.monthly_usd,
            "swing_usd": abs(hi.monthly_usd - lo.monthly_usd),
            "low_api_monthly_usd": lo.api_monthly_usd, "high_api_monthly_usd": hi.api_monthly_usd,
            "low_ratio": lo.ratio, "high_ratio": hi.ratio, "ratio_swing": abs(hi.ratio - lo.ratio),
            "low_decision": lo.decision, "high_decision": hi.decision,
            "verdict": verdict or f"stays {today}", "note": "; ".join(e.note for e in (lo, hi) if e.note),
            "range_basis": spec.basis}


def ratio_words(ratio: float) -> str:
    """The API-to-self-host ratio as people say it, never below 1× (issue 13)."""
    if not math.isfinite(ratio) or ratio <= 0:
        return "no plan"
    if about_equal(ratio):
        return "the API and self-hosting cost about the same"
    return f"the API costs {fmt_times(ratio)} self-hosting" if ratio >= 1 else \
        f"self-hosting costs {fmt_times(1 / ratio)} the API"


def sensitivity_lines(s: Sensitivity) -> tuple[str, ...]:
    """Today's case, how each input moves the verdict (largest move of the ratio first), and where it turns."""
    out = [f"Today: self-hosting {fmt_usd(s.base_monthly_usd)}/month on {s.deployment}; the reference API "
           f"({s.reference_api}) {fmt_usd(s.base_api_monthly_usd)}/month: {ratio_words(s.base_ratio)}. "
           f"Self-hosting needs the API to cost at least {s.margin:g}× the self-hosted bill; verdict: "
           f"{s.base_decision}.",
           "How each input moves the verdict (largest move first):"]
    for r in s.table.sort_values("ratio_swing", ascending=False, na_position="last", kind="stable").itertuples():
        low, high = ratio_words(r.low_ratio), ratio_words(r.high_ratio)
        if low.split(" costs ")[0] == high.split(" costs ")[0] and " costs " in high:  # same side dearer: say it once
            high = high.split(" costs ")[1].split(" ")[0]
        out.append(f"  {r.what}: {low} at {r.low}, {high} at {r.high}; {r.verdict}")
    out += [f"{f.what}: {f.sentence} (today {f.from_decision})" for f in s.flips] or \
        [f"No input turns the verdict ({s.base_decision}) within its range."]
    out += [f"{r.what}: not planned at one end: {r.note}" for r in s.table.itertuples() if r.note]
    return tuple(out)


__all__ = ["sensitivity", "Sensitivity", "Flip", "Point", "check_inputs", "sensitivity_lines", "ratio_words",
           "ALL", "INPUTS", "NO_PLAN", "BISECT_STEPS", "TABLE_COLUMNS"]
