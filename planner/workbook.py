"""A plan (or a set of scenarios) as a workbook finance can use: inputs, a bill of formulas, a summary.

:func:`write_plan_workbook` (``inferplan plan -o plan.xlsx``) writes, in this order:

- ``Inputs``: one row per input: ``input, value, unit, source, key`` (workload volumes and SLOs, the GPU offer and
  its date and source, the deployment's replicas and GPUs, the engineer cost, the constants, each bill line's own
  parameters, the reference API's prices). Change a value and the bill follows.
- ``Bill``: ``item, category, monthly_usd, annual_usd, basis, source``, one row per line item; ``monthly_usd`` is a
  formula of Inputs cells that gives the plan's amount (planner.workbook_formulas; a line no formula reproduces
  references its amount, an "as planned" input), ``annual_usd`` = monthly x months per year; a Total row of SUMs.
- ``Summary``: monthly and annual totals, the raw GPU cost, the cost multiplier, the reference API's monthly cost
  (a formula of the volumes and its prices), the ratio, the margin, the verdict and its reasons.
- every detail table by its name (line_items, redundancy, api, alternatives, cost_curve, and the framework's
  tables), then one sheet per table of each budget view, ``<view> <table>`` (planner.views). A view table whose
  rows are periods (first column in :data:`TOTAL_KEYS`) gets a Total row of SUMs under its money columns;
  money amounts held rather than spent (book values, balances) are not summed. The growth view's ``tokens_per_day``
  is a formula of the month before and a "growth per month" cell.

:func:`write_scenarios_workbook` writes a ``Comparison`` sheet (the comparison table; a planned scenario's
monthly_total_usd, annual_total_usd, monthly_gpu_usd, tco_multiplier and api_monthly_usd are formulas of its own
sheets) and, per planned scenario, ``<name> inputs`` and ``<name> bill``.

Money columns (names ending ``_usd`` or ``_cost``, or starting ``monthly_``/``annual_``/``daily_``) are shown in
dollars, prices (``usd_per_...``) in cents; header rows are frozen. Files are written atomically. Needs openpyxl
(the ``report`` extra). Formulas carry no cached values: Excel and LibreOffice compute them on opening.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from planner import workbook_formulas as wf
from planner import workbook_inputs as wi

# design choice: a view table gets a Total row when its rows are periods (first column one of these): a month's or a
# year's amounts add up; rows that are options, or parts with their own total rows (capex), do not
TOTAL_KEYS = ("month", "year", "quarter", "week", "day", "hour")
RATIO = '0.00##"x"'  # 6.16x, 0.0025x
STOCK_WORDS = ("book", "balance", "cumulative", "remaining", "residual")  # amounts held, not spent: never summed
MAX_WIDTH = 60  # design choice: a column wider than 60 characters wraps rather than pushes the money off-screen
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def _openpyxl():
    try:
        import openpyxl
    except ImportError as exc:
        from profiler.errors import InferplanError

        raise InferplanError("writing .xlsx needs openpyxl: pip install 'inferplan[report]'") from exc
    return openpyxl


@dataclass(frozen=True)
class BillRefs:
    """Where a written bill's totals are: absolute references (``'Bill'!$C$15``)."""

    monthly: str
    annual: str
    gpu_primary: str | None
    api: wf.X | None


# ---------------------------------------------------------------------------------------------------------------
# Cells and sheets
# ---------------------------------------------------------------------------------------------------------------


def _value(v: Any) -> Any:
    """A table value as a cell value: NaN blank, numpy scalars as Python, containers as text."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            v = v.item()
        except (ValueError, TypeError):
            pass
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (bool, int, float, pd.Timestamp)):
        return v
    if isinstance(v, (list, tuple, set)):
        v = ", ".join(str(x) for x in v)
    return ILLEGAL_CHARACTERS_RE.sub("", str(v))


def _put(ws, row: int, col: int, v: Any, fmt: str | None = None, bold: bool = False):
    """Write a cell: text is text even when it starts with '=' (a formula is passed as wf.X)."""
    from openpyxl.styles import Font

    cell = ws.cell(row=row, column=col)
    if isinstance(v, wf.X):
        cell.value = "=" + v.text
    else:
        cell.value = _value(v)
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"
    if fmt:
        cell.number_format = fmt
    if bold:
        cell.font = Font(bold=True)
    return cell


def _finish(ws, widths: Mapping[int, int] | None = None) -> None:
    """Bold frozen header; each column as wide as its longest entry (formulas count as 12), at most MAX_WIDTH."""
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws.freeze_panes = "A2"
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for col in ws.iter_cols(min_row=1, max_row=ws.max_row):
        n = max((12 if isinstance(c.value, str) and c.data_type == "f" else len(str(c.value)))
                for c in col if c.value is not None) if any(c.value is not None for c in col) else 8
        letter = get_column_letter(col[0].column)
        ws.column_dimensions[letter].width = (widths or {}).get(col[0].column, min(MAX_WIDTH, max(10, n + 2)))


def sheet_name(wb, name: str) -> str:
    """`name` as a sheet name: no []:*?/\\, at most 31 characters, unique in `wb` (case-insensitive, as Excel)."""
    base = _BAD_SHEET_CHARS.sub(" ", name).strip("' ")[:31] or "sheet"
    taken = {s.lower() for s in wb.sheetnames}
    out, n = base, 2
    while out.lower() in taken:
        out = f"{base[:31 - len(str(n)) - 1]} {n}"
        n += 1
    return out


def money_format(col: str) -> str | None:
    c = col.lower()
    if "usd_per" in c or c.startswith("usd_"):
        return wf.USD_CENTS
    if c.endswith(("_usd", "_cost")) or c.startswith(("monthly_", "annual_", "daily_")):
        return wf.USD
    return None


def _summable(col: str) -> bool:
    c = col.lower()
    flow = (money_format(col) == wf.USD and "_per_" not in c) or c.endswith("_hours")
    return flow and not any(w in c for w in STOCK_WORDS)


def table_sheet(wb, name: str, df: pd.DataFrame, totals: bool = False):
    """A DataFrame as a sheet: header, values, money formats; with `totals` a Total row of SUMs under the columns
    that add up (money amounts and hours). Returns the worksheet."""
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(sheet_name(wb, name))
    cols = [str(c) for c in df.columns]
    for j, col in enumerate(cols, 1):
        _put(ws, 1, j, col)
    numeric = {col: pd.api.types.is_numeric_dtype(df[c]) for col, c in zip(cols, df.columns, strict=True)}
    for i, row in enumerate(df.itertuples(index=False), 2):
        for j, (col, v) in enumerate(zip(cols, row, strict=True), 1):
            _put(ws, i, j, v, money_format(col) if numeric[col] else None)
    last = len(df) + 1
    if totals and len(df) > 1:
        _put(ws, last + 1, 1, "Total", bold=True)
        for j, col in enumerate(cols[1:], 2):
            if numeric[col] and _summable(col):
                letter = get_column_letter(j)
                _put(ws, last + 1, j, wf.X(f"SUM({letter}2:{letter}{last})", None), money_format(col), bold=True)
    _finish(ws)
    return ws


# ---------------------------------------------------------------------------------------------------------------
# Inputs, Bill, Summary
# ---------------------------------------------------------------------------------------------------------------


def _inputs_sheet(wb, inp: wf.Inputs) -> None:
    ws = wb.create_sheet(inp.sheet)
    for j, head in enumerate(("input", "value", "unit", "source", "key"), 1):
        _put(ws, 1, j, head)
    for i, (label, value, unit, source, key, fmt, bold) in enumerate(inp.rows, inp.first_row):
        _put(ws, i, 1, label, bold=bold)
        _put(ws, i, 2, value, fmt if not isinstance(value, str) else None)
        _put(ws, i, 3, unit)
        _put(ws, i, 4, source)
        _put(ws, i, 5, key)
    _finish(ws, {1: 44, 2: 16, 3: 16, 4: MAX_WIDTH, 5: 28})


def bill_sheets(wb, plan, inputs_name: str = "Inputs", bill_name: str = "Bill", defaults=None) -> BillRefs:
    """The Inputs and Bill sheets of `plan` (module docstring); `defaults`: the TCO defaults the plan was billed
    with (None: the plan's own, Plan.tco_defaults, else the packaged catalogue's; a line they do not reproduce
    becomes an "as planned" input)."""
    from planner.plan import load_catalogues

    defaults = (defaults if defaults is not None else getattr(plan, "tco_defaults", None)
                or load_catalogues().tco_defaults)  # the plan's own (planner.plan.Plan.tco_defaults), else packaged
    inputs_name, bill_name = sheet_name(wb, inputs_name), sheet_name(wb, bill_name)
    inp = wf.Inputs(inputs_name)
    wi.workload_inputs(inp, plan.workload)
    wi.deployment_inputs(inp, plan, wi.offer_source(plan.deployment), wi.engineer_cost(plan, defaults),
                         float(defaults.globals["replicas_per_orchestrator"]))
    wi.constants(inp)
    lines = [(row, wf.line_formula(inp, row, defaults, plan.workload.existing_infra))
             for row in plan.line_items.to_dict("records")]
    api = wi.api_formula(inp, plan)
    _inputs_sheet(wb, inp)
    ws = wb.create_sheet(bill_name)
    for j, head in enumerate(("item", "category", "monthly_usd", "annual_usd", "basis", "source"), 1):
        _put(ws, 1, j, head)
    months, gpu_primary = inp.refs["months_per_year"].text, None
    for i, (row, x) in enumerate(lines, 2):
        _put(ws, i, 1, row["item"])
        _put(ws, i, 2, row["category"])
        _put(ws, i, 3, x, wf.USD)
        _put(ws, i, 4, wf.X(f"C{i}*{months}", None), wf.USD)
        _put(ws, i, 5, row.get("basis", ""))
        _put(ws, i, 6, row.get("source", ""))
        if row.get("id") == "gpu_primary":
            gpu_primary = f"{wf.quote_sheet(bill_name)}!$C${i}"
    total = len(lines) + 2
    _put(ws, total, 1, "Total", bold=True)
    _put(ws, total, 3, wf.X(f"SUM(C2:C{total - 1})", None), wf.USD, bold=True)
    _put(ws, total, 4, wf.X(f"SUM(D2:D{total - 1})", None), wf.USD, bold=True)
    _finish(ws, {1: 40, 2: 16, 3: 14, 4: 14, 5: MAX_WIDTH, 6: MAX_WIDTH})
    q = wf.quote_sheet(bill_name)
    return BillRefs(f"{q}!$C${total}", f"{q}!$D${total}", gpu_primary, api)


def _summary_rows(plan, refs: BillRefs) -> list[tuple[str, Any, str | None]]:
    d, v = plan.deployment, plan.verdict
    total = wf.X(refs.monthly, plan.monthly_total_cost)
    raw = wf.X(refs.gpu_primary, plan.monthly_gpu_cost) if refs.gpu_primary else None
    rows = [("model", plan.model, None),
            ("configuration", f"{int(d['replicas'])} + {int(d['spare_replicas'])} spare replica(s) of {int(d['tp'])}x "
                              f"{d['gpu']} ({d['quant']}), {d['pricing']} pricing", None),
            ("monthly total", total, wf.USD),
            ("annual total", wf.X(refs.annual, None), wf.USD)]
    if raw is not None:
        rows += [("raw GPU cost (primary GPUs, monthly)", raw, wf.USD),
                 ("cost multiplier (total / raw GPU cost)", total / raw, RATIO)]
    rows.append(("reference API", plan.reference_api, None))
    if refs.api is not None:
        ratio = refs.api / total
        cents = refs.api.value is not None and refs.api.value < 100  # house style: whole dollars from $100
        rows += [("reference API, monthly cost", refs.api, wf.USD_CENTS if cents else wf.USD),
                 ("API cost / self-hosted cost", ratio, RATIO),
                 ("margin self-hosting needs", plan.margin, RATIO),
                 ("self-hosting clears the margin", None, None)]  # its formula reads the two rows above
    rows.append(("verdict", v.decision, None))
    rows += [(f"reason {i}", reason, None) for i, reason in enumerate(v.reasons, 1)]
    return rows


def summary_sheet(wb, plan, refs: BillRefs, name: str = "Summary"):
    """The Summary sheet: label and value rows, totals and ratios as formulas of the Bill and Inputs."""
    from openpyxl.styles import Alignment

    ws = wb.create_sheet(sheet_name(wb, name))
    _put(ws, 1, 1, "summary")
    _put(ws, 1, 2, "value")
    rows = _summary_rows(plan, refs)
    at = {label: i for i, (label, _, _) in enumerate(rows, 2)}
    for i, (label, value, fmt) in enumerate(rows, 2):
        if label == "self-hosting clears the margin":
            ratio, margin = at["API cost / self-hosted cost"], at["margin self-hosting needs"]
            value = wf.X(f'IF(B{ratio}>=B{margin},"yes","no")', None)
        _put(ws, i, 1, label, bold=label in ("monthly total", "verdict"))
        cell = _put(ws, i, 2, value, fmt, bold=label in ("monthly total", "verdict"))
        if label.startswith("reason"):
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    _finish(ws, {1: 40, 2: 100})
    return ws


# ---------------------------------------------------------------------------------------------------------------
# Views, growth
# ---------------------------------------------------------------------------------------------------------------


def _growth_rate(view, df: pd.DataFrame) -> float | None:
    """The growth per month the view's tokens_per_day follow (its record, else the first two months), or None
    when the rows do not follow one rate."""
    t = [float(x) for x in df["tokens_per_day"]]
    g = view.record.get("growth_per_month") if hasattr(view.record, "get") else None
    g = float(g) if isinstance(g, (int, float)) and not isinstance(g, bool) else (t[1] / t[0] - 1 if len(t) > 1
                                                                                     and t[0] else None)
    if g is None or not all(wf.matches(t[i - 1] * (1 + g), t[i]) for i in range(1, len(t))):
        return None
    return g


def _growth_formulas(ws, view, df: pd.DataFrame) -> None:
    """tokens_per_day as month-1 x (1 + growth per month), the growth in a cell right of the table."""
    from openpyxl.utils import get_column_letter

    cols = [str(c) for c in df.columns]
    if "tokens_per_day" not in cols or len(df) < 2:
        return
    g = _growth_rate(view, df)
    if g is None:
        return
    gcol = get_column_letter(len(cols) + 2)
    _put(ws, 1, len(cols) + 2, "growth per month", bold=True)
    _put(ws, 2, len(cols) + 2, g, wf.PERCENT)
    ws.column_dimensions[gcol].width = 18
    t = get_column_letter(cols.index("tokens_per_day") + 1)
    for r in range(3, len(df) + 2):
        _put(ws, r, cols.index("tokens_per_day") + 1, wf.X(f"{t}{r - 1}*(1+${gcol}$2)", None), wf.WHOLE)


def view_sheets(wb, views) -> None:
    for view in views:
        for tname, df in view.tables.items():
            totals = len(df.columns) > 0 and str(df.columns[0]).lower() in TOTAL_KEYS
            ws = table_sheet(wb, f"{view.name} {tname}", df, totals=totals)
            if view.name == "growth" and df is view.main:
                _growth_formulas(ws, view, df)


# ---------------------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------------------


def _save(wb, path: str | Path) -> None:
    """Save to a temporary file beside `path`, then replace it: a reader never sees half a workbook. A path that
    cannot be written raises profiler's OutputPathError naming it (one line on the command line)."""
    from profiler.schema import OutputPathError, check_writable

    path = check_writable(path)
    wb.calculation.fullCalcOnLoad = True  # no cached values: the reader computes every formula on opening
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        wb.save(tmp)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600; give the file the mode open() would have
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputPathError(f"cannot write {path}: {exc.strerror or exc}", exc.errno) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_plan_workbook(plan, path: str | Path, tables: Mapping[str, pd.DataFrame], defaults=None) -> None:
    """`plan` as a workbook at `path` (module docstring); `tables`: the detail tables by sheet name."""
    openpyxl = _openpyxl()
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    refs = bill_sheets(wb, plan, defaults=defaults)
    summary = summary_sheet(wb, plan, refs)
    for name, df in tables.items():
        table_sheet(wb, name, df)
    view_sheets(wb, getattr(plan, "views", ()))
    wb.active = wb.sheetnames.index(summary.title)
    _save(wb, path)


def _comparison_formulas(ws, comparison: pd.DataFrame, refs: Mapping[str, BillRefs]) -> None:
    """A planned scenario's totals in the Comparison sheet as references to its bill (module docstring)."""
    from openpyxl.utils import get_column_letter

    cols = [str(c) for c in comparison.columns]
    at = {c: get_column_letter(j) for j, c in enumerate(cols, 1)}
    scen = comparison["scenario"].tolist() if "scenario" in comparison else []
    for i, name in enumerate(scen, 2):
        r = refs.get(name)
        if r is None:
            continue
        cells = {"monthly_total_usd": (r.monthly, wf.USD), "annual_total_usd": (r.annual, wf.USD),
                 "monthly_gpu_usd": (r.gpu_primary, wf.USD), "api_monthly_usd": (r.api and r.api.text, wf.USD)}
        if "monthly_total_usd" in at and "monthly_gpu_usd" in at and r.gpu_primary:
            cells["tco_multiplier"] = (f"{at['monthly_total_usd']}{i}/{at['monthly_gpu_usd']}{i}", RATIO)
        for col, (text, fmt) in cells.items():
            if col in at and text:
                _put(ws, i, cols.index(col) + 1, wf.X(text, None), fmt)


def write_scenarios_workbook(results, path: str | Path, defaults=None) -> None:
    """planner.scenarios.ScenarioResults as a workbook: ``Comparison`` first (its monthly_total_usd and
    annual_total_usd reference each scenario's bill), then ``<name> inputs`` and ``<name> bill`` per planned
    scenario."""
    openpyxl = _openpyxl()
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    comparison = results.comparison
    ws = table_sheet(wb, "Comparison", comparison)
    refs = {}
    for name, plan, _note in results.plans:
        if plan is not None:
            refs[name] = bill_sheets(wb, plan, f"{name[:24]} inputs", f"{name[:26]} bill", defaults)
    _comparison_formulas(ws, comparison, refs)
    wb.active = 0
    _save(wb, path)


__all__ = ["write_plan_workbook", "write_scenarios_workbook", "bill_sheets", "summary_sheet", "table_sheet",
           "view_sheets", "sheet_name", "money_format", "BillRefs", "TOTAL_KEYS"]
