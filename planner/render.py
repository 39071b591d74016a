"""The one rendering module: DataFrames and records -> rich tables, JSON, CSV, Markdown, XLSX.

Nothing else in inferplan prints or formats. Library code returns data; the CLI calls these.
Human formatting (GiB, %, thousands separators) happens only for ``table`` and ``md``; ``json`` and
``csv`` keep raw numbers in their documented units.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "json", "csv")
GIB = 2**30


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, soft_wrap=False, width=None if sys.stdout.isatty() else 200)


def jsonable(obj: Any) -> Any:
    """Plain JSON types from dataclasses, DataFrames, enums, numpy scalars and NaN (-> null)."""
    if isinstance(obj, pd.DataFrame):
        return [jsonable(r) for r in obj.astype(object).to_dict(orient="records")]
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: jsonable(v) for k, v in asdict(obj).items()}
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, Enum):
        return obj.value
    if obj is None or obj is pd.NA:
        return None
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):  # numpy scalar
        obj = obj.item()
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return obj


def dumps(obj: Any) -> str:
    return json.dumps(jsonable(obj), indent=2, default=str)


def _fmt(col: str, v: Any) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
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
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def rich_table(df: pd.DataFrame, title: str = "", columns: Sequence[str] | None = None) -> Table:
    cols = [c for c in (columns or df.columns) if c in df.columns]
    table = Table(title=title or None, show_lines=False, header_style="bold")
    for c in cols:
        numeric = pd.api.types.is_numeric_dtype(df[c])
        table.add_column(c, justify="right" if numeric else "left", overflow="fold")
    for rec in df[cols].astype(object).to_dict(orient="records"):
        table.add_row(*(_fmt(c, rec[c]) for c in cols))
    return table


def emit(df: pd.DataFrame, fmt: str, title: str = "", columns: Sequence[str] | None = None,
         out: Console | None = None) -> None:
    """Print a table: a rich table, JSON rows (all columns, raw units) or CSV."""
    if fmt == "json":
        print(dumps(df))
    elif fmt == "csv":
        sys.stdout.write(df.to_csv(index=False))
    else:
        (out or console()).print(rich_table(df, title, columns))


def emit_record(obj: Any, fmt: str, title: str = "", out: Console | None = None) -> None:
    """Print one record (dataclass or mapping): JSON, or a two-column key/value table."""
    if fmt == "json":
        print(dumps(obj))
        return
    data = jsonable(obj)
    df = pd.DataFrame({"field": list(data), "value": [_short(v) for v in data.values()]})
    if fmt == "csv":
        sys.stdout.write(df.to_csv(index=False))
    else:
        (out or console()).print(rich_table(df, title))


def _short(v: Any) -> str:
    if isinstance(v, (list, dict)):
        text = json.dumps(v, default=str)
        return text if len(text) < 120 else text[:117] + "..."
    return str(v)


def markdown_table(df: pd.DataFrame, columns: Iterable[str] | None = None) -> str:
    cols = [c for c in (columns or df.columns) if c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for rec in df[cols].astype(object).to_dict(orient="records"):
        lines.append("| " + " | ".join(_fmt(c, rec[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def write_xlsx(path: str | Path, sheets: Mapping[str, pd.DataFrame]) -> None:
    """One sheet per table (needs openpyxl, in the `report` extra)."""
    try:
        import openpyxl  # noqa: F401
    except ImportError as exc:
        from profiler.errors import InferplanError

        raise InferplanError("writing .xlsx needs openpyxl: pip install 'inferplan[report]'") from exc
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, df in sheets.items():
            df.to_excel(writer, sheet_name=name[:31], index=False)


PROFILE_TABLE_COLUMNS = ("quant", "kv_dtype", "tp", "phase", "batch", "context", "latency_ms", "tokens_per_s",
                         "weights_bytes", "kv_bytes_per_token", "peak_bytes", "max_batch", "mbu", "mfu",
                         "source", "status")
