"""Spreadsheet formulas of a plan's bill: the Inputs block and one formula per line item (planner.workbook).

:class:`X` is an expression that carries its Excel text and its value together, so a formula and the number it
stands for are built by the same code. :class:`Inputs` collects the labelled input rows (label, value, unit,
source, key) and hands out absolute references to them. :func:`line_formula` writes the parameters a bill line
reads and returns its formula; a line is written as a formula only when that formula reproduces
the plan's ``monthly_usd`` (relative 1e-9, :data:`MATCH_RTOL`), else its amount becomes a labelled input
("as planned") that the bill references: the sheet never shows a formula that disagrees with the plan.

The formulas mirror planner.tco's bases (tco_defaults.yaml's header lists them); the inputs they read (workload,
deployment, constants, the reference API) are written by planner.workbook_inputs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from planner import tco as tco_mod

MATCH_RTOL = 1e-9  # design choice: a formula stands for a line only when it gives the plan's number to 1e-9
# planner.tco rounds counts up after subtracting 1e-9 (a count that is whole up to float noise stays whole)
CEIL_SLACK = 1e-9
USD = '"$"#,##0'  # whole dollars: bill lines and totals
USD_CENTS = '"$"#,##0.00##'  # prices and unit costs: cents, up to 4 decimals ($/GPU-h, $/GB)
PERCENT = "0.0##%"
NUMBER = None  # a count or quantity: whole numbers as #,##0, others General (Excel's "#,##0.##" leaves a trailing dot)
WHOLE = "#,##0"


def quote_sheet(name: str) -> str:
    """A sheet name as a formula writes it: bare when letters and underscores only, else in single quotes."""
    if re.fullmatch(r"[A-Za-z_]+", name):
        return name
    return "'" + name.replace("'", "''") + "'"


@dataclass(frozen=True)
class X:
    """An expression: its Excel text, its value, and its precedence (0 atom, 3 ^, 4 * /, 5 + -, 6 comparison)."""

    text: str
    value: Any
    prec: int = 0

    def _op(self, op: str, other: Any, prec: int, fn: Callable, swap: bool = False) -> X:
        a, b = (lit(other), self) if swap else (self, lit(other))
        left = f"({a.text})" if a.prec > prec else a.text
        right = f"({b.text})" if b.prec >= prec else b.text
        return X(f"{left}{op}{right}", fn(a.value, b.value), prec)

    def __add__(self, o): return self._op("+", o, 5, lambda a, b: a + b)  # noqa: E704
    def __radd__(self, o): return self._op("+", o, 5, lambda a, b: a + b, True)  # noqa: E704
    def __sub__(self, o): return self._op("-", o, 5, lambda a, b: a - b)  # noqa: E704
    def __rsub__(self, o): return self._op("-", o, 5, lambda a, b: a - b, True)  # noqa: E704
    def __mul__(self, o): return self._op("*", o, 4, lambda a, b: a * b)  # noqa: E704
    def __rmul__(self, o): return self._op("*", o, 4, lambda a, b: a * b, True)  # noqa: E704
    def __truediv__(self, o): return self._op("/", o, 4, lambda a, b: a / b)  # noqa: E704
    def __rtruediv__(self, o): return self._op("/", o, 4, lambda a, b: a / b, True)  # noqa: E704

    def ge(self, o) -> X:
        return self._op(">=", o, 6, lambda a, b: a >= b)


def lit(v: Any) -> X:
    """A number as a formula literal (an X passes through)."""
    if isinstance(v, X):
        return v
    v = float(v)
    text = str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v).upper().replace("E-0", "E-").replace(
        "E+0", "E+")
    return X(text, v)


def _call(name: str, args: tuple, value: Any) -> X:
    return X(f"{name}({','.join(lit(a).text for a in args)})", value)


def roundup(x: X) -> X:
    """Excel ROUNDUP(x, 0): away from zero, the ceiling of a count >= 0."""
    v = lit(x).value
    return X(f"ROUNDUP({lit(x).text},0)", math.ceil(v) if v >= 0 else math.floor(v))


def xmax(*args) -> X:
    return _call("MAX", args, max(lit(a).value for a in args))


def xmin(*args) -> X:
    return _call("MIN", args, min(lit(a).value for a in args))


def xif(cond: X, a, b) -> X:
    return _call("IF", (cond, a, b), lit(a).value if cond.value else lit(b).value)


def matches(value: float, want: float) -> bool:
    return math.isclose(value, want, rel_tol=MATCH_RTOL, abs_tol=1e-9)


@dataclass
class Inputs:
    """The input rows of a sheet (written by planner.workbook): label, value (number, text or X), unit, source,
    key; references are absolute (``'Sheet'!$B$7``). Rows added since :meth:`mark` can be dropped (a line whose
    formula did not reproduce the plan keeps no parameter rows)."""

    sheet: str
    first_row: int = 2  # row 1 holds the header
    rows: list = field(default_factory=list)  # (label, value, unit, source, key, number format, bold)
    refs: dict = field(default_factory=dict)

    def ref(self, row: int) -> str:
        return f"{quote_sheet(self.sheet)}!$B${row}"

    def section(self, title: str, source: str = "") -> None:
        self.rows.append((title, None, "", source, "", None, True))

    def add(self, key: str, label: str, value: Any, unit: str = "", source: str = "", fmt: str | None = None) -> X:
        """One input row; a number or an X (a derived input: its formula) returns its reference, text returns the
        text as an X (not referenced)."""
        row = self.first_row + len(self.rows)
        number = isinstance(value, X) or (isinstance(value, (int, float)) and not isinstance(value, bool))
        v = value.value if isinstance(value, X) else value
        auto = (WHOLE if float(v).is_integer() else "General") if number and isinstance(v, (int, float)) else None
        self.rows.append((label, value, unit, source, key, fmt or auto, False))
        if not number:
            return X(repr(value), value)
        x = X(self.ref(row), value.value if isinstance(value, X) else float(value))
        self.refs[key] = x
        return x

    def mark(self) -> int:
        return len(self.rows)

    def rollback(self, mark: int) -> None:
        for row in self.rows[mark:]:
            self.refs.pop(row[4], None)
        del self.rows[mark:]


# ---- the parameters of tco_defaults.yaml in words: name -> (label, unit, number format) ----
PARAM_WORDS = {
    "unit_usd": ("cost per unit", "USD/month", USD_CENTS),
    "versions_kept": ("model versions kept", "versions", NUMBER),
    "gb_per_version": ("size of a model version", "GB", NUMBER),
    "usd_per_gb_month": ("storage price", "USD/GB-month", USD_CENTS),
    "fraction": ("share of an engineer", "of a full-time engineer", PERCENT),
    "peak_tokens_per_s_per_unit": ("peak tokens/s one unit carries", "tokens/s", NUMBER),
    "fixed_usd": ("fixed cost", "USD/month", USD_CENTS),
    "usd_per_million_events": ("price per million log events", "USD/M events", USD_CENTS),
    "usd_per_gb_ingested": ("price per GB of logs ingested", "USD/GB", USD_CENTS),
    "bytes_per_token": ("bytes logged per token", "bytes", NUMBER),
    "events_per_year": ("upgrades per year", "per year", NUMBER),
    "engineer_weeks_per_event": ("engineer-weeks per upgrade", "weeks", NUMBER),
    "bytes_per_output_token": ("bytes streamed per output token", "bytes", NUMBER),
    "free_gb_per_month": ("egress free each month", "GB/month", NUMBER),
    "usd_per_gb": ("egress price", "USD/GB", USD_CENTS),
    "interruptions_per_gpu_day": ("incidents per GPU-day", "per GPU-day", "0.000000"),
    "engineer_hours_per_incident": ("engineer hours per incident", "hours", NUMBER),
    "covered_gpus": ("GPUs the MLOps share already covers", "GPUs", NUMBER),
    "fast_response_availability": ("availability that needs the 5-minute response tier", "", PERCENT),
    "oncall_premium_fast": ("on-call premium, 5-minute tier", "of the hourly cost", PERCENT),
    "oncall_premium_slow": ("on-call premium, 30-minute tier", "of the hourly cost", PERCENT),
}


# bases whose numeric parameters the formula reads, listed up front in the catalogue's order (the guard model's
# seed_unit_usd prices only the seed reproduction: its plan formula reads the guard's GPUs, an input of its own)
PARAMS_SHOWN = frozenset(tco_mod.BASES) - {"guard_model"}


class _NoFormula(Exception):
    """The line's basis has no spreadsheet formula here (its amount becomes an input)."""


@dataclass
class LineContext:
    """What a line's formula reads: the Inputs, the shared refs (workload, deployment, constants) and the item."""

    inputs: Inputs
    item: tco_mod.TcoItem | None
    line_id: str
    title: str = ""
    headed: bool = False

    def __getitem__(self, key: str) -> X:
        return self.inputs.refs[key]

    def add(self, name: str, label: str, value: float, unit: str, source: str, fmt: str) -> X:
        """An input of this line, under a heading naming the line (written before its first input)."""
        if not self.headed:
            self.inputs.section(self.title, self.item.source if self.item is not None else "")
            self.headed = True
        return self.inputs.add(f"{self.line_id}.{name}", label, value, unit, source, fmt)

    def p(self, name: str) -> X:
        """The item's parameter `name` as an input row (written once per item)."""
        key = f"{self.line_id}.{name}"
        if key not in self.inputs.refs:
            label, unit, fmt = PARAM_WORDS.get(name, (name.replace("_", " "), "", NUMBER))
            self.add(name, label, float(self.item.params[name]), unit, "", fmt)
        return self.inputs.refs[key]


def _f_gpu_primary(c: LineContext) -> X:
    return c["gpus_primary"] * c["usd_per_gpu_hour"] * c["hours_per_month"]


def _f_gpu_spare(c: LineContext) -> X:
    return c["gpus_spare"] * c["usd_per_gpu_hour"] * c["hours_per_month"]


def _f_idle(c: LineContext) -> X:
    return xmax(0, c["gpus_billed"] - c["gpus_primary"] - c["gpus_spare"]) * c["usd_per_gpu_hour"] * c[
        "hours_per_month"]


def _orchestrators(c: LineContext) -> X:
    return roundup((c["replicas"] + c["spare_replicas"]) / c["replicas_per_orchestrator"])


def _f_per_host(c: LineContext) -> X:
    return (c["replicas"] + c["spare_replicas"] + _orchestrators(c)) * c.p("unit_usd")


def _f_per_traffic_unit(c: LineContext) -> X:
    peak = (c["tokens_in_per_day"] + c["tokens_out_per_day"]) / c["seconds_per_day"] * c["peak_to_average"]
    return xmax(1, roundup(peak / c.p("peak_tokens_per_s_per_unit") - CEIL_SLACK)) * c.p("unit_usd")


def _f_per_request(c: LineContext) -> X:
    requests = c["requests_per_day"] * c["days_per_month"]
    tokens = c["tokens_in_per_day"] / c["requests_per_day"] + c["tokens_out_per_day"] / c["requests_per_day"]
    gb = requests * tokens * c.p("bytes_per_token") / 1e9
    return c.p("fixed_usd") + (requests / 1e6 * c.p("usd_per_million_events") + gb * c.p("usd_per_gb_ingested"))


def _f_egress(c: LineContext) -> X:
    gb = c["tokens_out_per_day"] * c["days_per_month"] * c.p("bytes_per_output_token") / 1e9
    return c.p("unit_usd") + xmax(0, gb - c.p("free_gb_per_month")) * c.p("usd_per_gb")


def _f_upgrades(c: LineContext) -> X:
    weeks = c.p("events_per_year") * c.p("engineer_weeks_per_event")
    target = c.item.params.get("folded_into")
    if target:
        fraction = c.inputs.refs.get(f"{target}.fraction")
        if fraction is None:
            raise _NoFormula(target)
        weeks = xmax(0, weeks - fraction * c["weeks_per_year"])
    return weeks * (c["engineer_usd_per_year"] / c["weeks_per_year"]) / c["months_per_year"]


def _f_guard(c: LineContext) -> X:
    if "guard_gpus" not in c.inputs.refs:
        raise _NoFormula("guard")
    return c["guard_gpus"] * c["usd_per_gpu_hour"] * c["hours_per_month"]


def _f_incidents(c: LineContext) -> X:
    extra = xmax(0, c["gpus_primary"] + c["gpus_spare"] - c.p("covered_gpus"))
    per_month = extra * c.p("interruptions_per_gpu_day") * c["hours_per_month"] / 24
    premium = xif(c["availability"].ge(c.p("fast_response_availability")), c.p("oncall_premium_fast"),
                  c.p("oncall_premium_slow"))
    off_hours = 1 - c["business_hours_per_week"] / c["hours_per_week"]
    hourly = c["engineer_usd_per_year"] / c["hours_worked_per_year"]
    return per_month * c.p("engineer_hours_per_incident") * hourly * (1 + off_hours * premium)


FORMULAS: dict[str, Callable[[LineContext], X]] = {
    "gpu_primary": _f_gpu_primary,
    "gpu_spare": _f_gpu_spare,
    "fixed": lambda c: c.p("unit_usd"),
    "per_replica_group": lambda c: _orchestrators(c) * c.p("unit_usd"),
    "per_host": _f_per_host,
    "per_model_version": lambda c: c.p("versions_kept") * c.p("gb_per_version") * c.p("usd_per_gb_month"),
    "per_model": lambda c: c["models"] * c.p("unit_usd"),
    "fraction_of_engineer": lambda c: c.p("fraction") * c["engineer_usd_per_year"] / c["months_per_year"],
    "per_traffic_unit": _f_per_traffic_unit,
    "fixed_plus_per_request": _f_per_request,
    "fixed_plus_egress": _f_egress,
    "upgrade_events": _f_upgrades,
    "guard_model": _f_guard,
    "incident_response": _f_incidents,
}


def line_formula(inp: Inputs, line: Mapping, defaults: tco_mod.TcoDefaults, existing_infra: bool) -> X:
    """The formula of one bill line (a row of Plan.line_items), or its amount as an input when no formula here
    reproduces it (module docstring)."""
    want, line_id = float(line["monthly_usd"]), str(line["id"])
    mark = inp.mark()
    item = next((it for it in defaults.items if it.id == line_id), None)
    c = LineContext(inp, item, line_id, str(line["item"]))
    try:
        if line_id == "gpu_instance_rounding":
            x = _f_idle(c)
        elif item is None or item.basis not in FORMULAS:
            raise _NoFormula(line_id)
        else:
            for name in tco_mod.BASES[item.basis][1]:  # the parameters in the catalogue's order
                if isinstance(item.params.get(name), (int, float)) and item.basis in PARAMS_SHOWN:
                    c.p(name)
            x = FORMULAS[item.basis](c)
            if existing_infra and item.existing_infra_factor != 1.0:
                x = x * c.add("existing_infra_factor", "share kept with existing infrastructure",
                              item.existing_infra_factor, "", item.existing_infra_note, PERCENT)
        if matches(x.value, want):
            return x
    except (_NoFormula, KeyError, ZeroDivisionError):
        pass
    inp.rollback(mark)
    inp.section(str(line["item"]))
    return inp.add(f"{line_id}.as_planned", "amount as planned (no formula reproduces it here)", want,
                   "USD/month", f"planner: {line.get('basis', '')}", USD_CENTS)


__all__ = ["X", "Inputs", "lit", "roundup", "xmax", "xmin", "xif", "matches", "line_formula", "quote_sheet",
           "FORMULAS", "PARAM_WORDS", "USD", "USD_CENTS", "PERCENT", "NUMBER", "WHOLE", "MATCH_RTOL"]
