"""The light half of planner.render: cell formatting, JSON of plain values, and tables of plain rows — no pandas.

planner.render (plans, DataFrames, xlsx, Markdown) imports everything here and builds on it; commands whose data
is a few plain rows (`inferplan models`, `gpus`, `quants`) print through :func:`emit_rows` without importing
pandas, so they answer at once. Their output is what ``planner.render.emit`` prints for ``pd.DataFrame(rows)``:
:func:`frame_kinds` infers each column's type as pandas does (ints with a gap become floats, ...), so the JSON,
CSV and terminal table are the same text either way.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

FORMATS = ("table", "json", "csv")
PLAN_SUFFIXES = (".json", ".csv", ".xlsx", ".md")  # what planner.render.write_plan writes
GIB = 2**30


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=False, width=None if sys.stdout.isatty() else 200)


def _pandas():
    """pandas if something already imported it, else None: a value can only be a DataFrame or pd.NA if it was."""
    return sys.modules.get("pandas")


def jsonable(obj: Any) -> Any:
    """Plain JSON types from dataclasses, DataFrames, enums, numpy scalars and NaN (-> null)."""
    pd = _pandas()
    if pd is not None and isinstance(obj, pd.DataFrame):
        return [jsonable(r) for r in obj.astype(object).to_dict(orient="records")]
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: jsonable(v) for k, v in asdict(obj).items()}
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Enum):
        return obj.value
    if obj is None or (pd is not None and obj is pd.NA):
        return None
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):  # numpy scalar
        obj = obj.item()
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return obj


def dumps(obj: Any) -> str:
    return json.dumps(jsonable(obj), indent=2, default=str)


def _fmt(col: str, v: Any) -> str:
    pd = _pandas()
    if v is None or (pd is not None and v is pd.NA) or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if col == "kv_bytes_per_token" or col.endswith("_bytes_per_token"):
        return f"{v / 1024:,.1f} KiB"
    if col.endswith("_bytes"):
        return f"{v / GIB:,.2f} GiB"
    if col in ("mbu", "mfu", "utilisation", "utilization") or col.endswith("_fraction") or col.endswith("_pct"):
        return f"{v:.1%}" if not col.endswith("_pct") else f"{v:.1f}%"
    if col.startswith("params"):
        return f"{v / 1e9:,.3f} B"
    if col.endswith(("_usd", "_cost")) or col.startswith(("monthly", "daily", "usd")):
        return f"${v:,.2f}"
    if col.startswith("crossover") and col.endswith("tokens_per_day"):
        from planner.units import fmt_tokens

        return fmt_tokens(v, 2)  # a break-even volume: 2 significant figures (break_even_line)
    if col.endswith("tokens_per_day") or col in ("tp", "replicas", "spare_replicas", "gpus_total", "gpus_billed",
                                                 "batch"):
        return f"{v:,.0f}"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return f"{v:,.0f}"
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _header(col: str) -> str:
    """The column name with the unit its cells are shown in, where :func:`_fmt` converts (JSON keeps raw units)."""
    if col.endswith("_bytes_per_token"):
        return f"{col.removesuffix('_bytes_per_token')}_per_token [KiB]"
    if col.endswith("_bytes"):
        return f"{col.removesuffix('_bytes')} [GiB]"
    return col


def table_of(records: Sequence[Mapping[str, Any]], columns: Sequence[str], numeric: set[str] | frozenset[str],
             title: str = "") -> Table:
    """A rich table of ``columns``: numeric ones right-aligned, every cell through :func:`_fmt`."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title or None, show_lines=False, header_style="bold")
    for c in columns:
        table.add_column(_header(c), justify="right" if c in numeric else "left", overflow="fold")
    for rec in records:
        table.add_row(*(Text(_fmt(c, rec[c])) for c in columns))  # Text: data is never read as rich markup
    return table


# ------------------------------------------------------------------------------------------------
# Plain rows (a list of dicts) printed as pandas would print pd.DataFrame(rows)
# ------------------------------------------------------------------------------------------------


def columns_of(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The columns of ``pd.DataFrame(rows)``: every key, in order of first appearance."""
    return list(dict.fromkeys(k for row in rows for k in row))


def frame_kinds(rows: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Each column (in order of first appearance) -> the kind pandas infers for it: 'int' (ints, no gap), 'float'
    (numbers with a float or a gap: a missing key or None is NaN), 'bool' (bools, no gap) or 'object'."""
    kinds = {}
    for c in columns_of(rows):
        values = [row.get(c) for row in rows]
        present = [v for v in values if v is not None]
        full = len(present) == len(values)
        if not present:
            kinds[c] = "object"
        elif full and all(isinstance(v, bool) for v in present):
            kinds[c] = "bool"
        elif any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in present):
            kinds[c] = "object"
        elif full and all(isinstance(v, int) for v in present):
            kinds[c] = "int"
        else:
            kinds[c] = "float"
    return kinds


def frame_records(rows: Sequence[Mapping[str, Any]], kinds: Mapping[str, str]) -> list[dict[str, Any]]:
    """The rows as ``pd.DataFrame(rows).astype(object).to_dict(orient="records")`` gives them back: every column,
    numbers of a float column as floats, their gaps NaN."""
    def cell(row: Mapping[str, Any], c: str) -> Any:
        v = row.get(c)
        if kinds[c] == "float":
            return math.nan if v is None else float(v)
        return v

    return [{c: cell(row, c) for c in kinds} for row in rows]


def _csv(records: list[dict[str, Any]], kinds: Mapping[str, str]) -> str:
    """``DataFrame.to_csv(index=False)``: gaps empty, floats as their shortest repr, minimal quoting."""
    import csv
    import io

    def cell(v: Any) -> Any:
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else v

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(kinds))
    writer.writerows([cell(rec[c]) for c in kinds] for rec in records)
    return buf.getvalue()


def emit_rows(rows: Sequence[Mapping[str, Any]], fmt: str, title: str = "", columns: Sequence[str] | None = None,
              out: Console | None = None) -> None:
    """``planner.render.emit(pd.DataFrame(rows), ...)`` without pandas: a rich table of ``columns`` (default all),
    JSON rows (all columns, raw units) or CSV."""
    kinds = frame_kinds(rows)
    records = frame_records(rows, kinds)
    if fmt == "json":
        print(dumps(records))
    elif fmt == "csv":
        sys.stdout.write(_csv(records, kinds))
    else:
        cols = [c for c in (columns or kinds) if c in kinds]
        numeric = {c for c in cols if kinds[c] != "object"}
        (out or console()).print(table_of(records, cols, numeric, title))
