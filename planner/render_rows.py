"""The light half of planner.render: cell formatting, JSON of plain values, and tables of plain rows — no pandas.

planner.render (plans, DataFrames, xlsx, Markdown) imports everything here and builds on it; commands whose data
is a few plain rows (`inferplan models`, `gpus`, `quants`) print through :func:`emit_rows` without importing
pandas, so they answer at once. Their output is what ``planner.render.emit`` prints for ``pd.DataFrame(rows)``:
:func:`frame_kinds` infers each column's type as pandas does (ints with a gap become floats, ...), so the JSON,
CSV and terminal table are the same text either way.
"""

from __future__ import annotations

import contextvars
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

FORMATS = ("table", "json", "csv")
PLAN_SUFFIXES = (".json", ".csv", ".xlsx", ".md")  # what planner.render.write_plan writes
GIB = 2**30


PIPED_WIDTH = 100  # width of tables written to a pipe or file without COLUMNS: an ordinary terminal's (issue 13)
WIDE_WIDTH = 100_000  # --wide: no width limit, every table at its natural width (lines may run past the terminal)
MIN_WIDTH = 40  # a narrower COLUMNS (or terminal) is read as this: below it no table of ours is legible


@dataclass(frozen=True)
class View:
    """How tables are shown in a terminal: `wide` = every column at its natural width; `columns` = the user's
    choice of columns for a single-table command (None: the command's compact default set)."""

    wide: bool = False
    columns: tuple[str, ...] | None = None


DEFAULT_VIEW = View()  # frozen: safe as the ContextVar's default
_VIEW: contextvars.ContextVar[View] = contextvars.ContextVar("inferplan_view", default=DEFAULT_VIEW)


def set_view(view: View) -> None:
    """Set the table view for this command (the CLI's --wide / --columns, planner.cli)."""
    _VIEW.set(view)


def current_view() -> View:
    return _VIEW.get()


def view_columns(default: Sequence[str], available: Sequence[str]) -> list[str]:
    """The columns a table shows: the user's --columns (each checked against `available`, the columns of the
    command's --format csv), every column under --wide, else the command's compact `default`."""
    view = _VIEW.get()
    if view.columns:
        unknown = [c for c in view.columns if c not in available]
        if unknown:
            from profiler.errors import InvalidValueError

            raise InvalidValueError(f"--columns: this table has no column {unknown[0]!r}; its columns are "
                                    f"{', '.join(map(str, available))}")
        return list(view.columns)
    if view.wide:
        return list(available)
    return [c for c in default if c in available]


def _columns_env() -> int | None:
    text = os.environ.get("COLUMNS", "").strip()
    return max(int(text), MIN_WIDTH) if text.isascii() and text.isdigit() and int(text) > 0 else None


def terminal_width(stderr: bool = False) -> int:
    """The width tables are laid out at: COLUMNS when set (piped or not), else the terminal's, else 100; --wide
    lifts the limit."""
    if _VIEW.get().wide:
        return WIDE_WIDTH
    env = _columns_env()
    if env is not None:
        return env
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        import shutil

        return max(shutil.get_terminal_size((PIPED_WIDTH, 24)).columns, MIN_WIDTH)
    return PIPED_WIDTH


def console(stderr: bool = False) -> Console:
    """The console commands print with. Tables are laid out at :func:`terminal_width`. Prose lines are
    word-wrapped at that width in a terminal (or when COLUMNS is set); written to a pipe they stay one line each,
    so `grep` finds a sentence whole."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    wrap = not _VIEW.get().wide and (_columns_env() is not None or stream.isatty())
    return Console(stderr=stderr, soft_wrap=not wrap, width=terminal_width(stderr))


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
    if col in ("mbu", "mfu", "utilisation", "utilization") or col.endswith(("_fraction", "_share", "_pct")):
        return f"{v:.1%}" if not col.endswith("_pct") else f"{v:.1f}%"
    if col.startswith("params"):
        return f"{v / 1e9:,.3f} B"
    if col.endswith(("_usd", "_cost")) or col.startswith(("monthly", "daily", "usd")):
        sign, v = ("-", -v) if v < 0 else ("", v + 0.0)  # -$27,857, not $-27,857 (+ 0.0: no -0.00)
        return f"{sign}${v:,.2f}" if v < 100 else f"{sign}${v:,.0f}"  # cents below $100, whole dollars (fmt_usd)
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
             title: str = "", width: int | None = None, more: Sequence[str] = ()) -> Table:
    """A rich table of ``columns``: numeric ones right-aligned, every cell through :func:`_fmt`, laid out to fit
    ``width`` (default :func:`terminal_width`) by :func:`fit_columns` — numbers and ids are never folded. `more`:
    the table's other columns, not in the view; the caption names them with the columns left out for width."""
    from rich.table import Table
    from rich.text import Text

    cells = {c: [_fmt(c, rec[c]) for rec in records] for c in columns}
    width = width or terminal_width()
    layout = fit_columns({c: (_header(c), cells[c], c in numeric) for c in columns}, width)
    hidden = [c for c in columns if c not in layout.columns] + [c for c in more if c not in columns]
    caption = (f"Not shown{f' at {width} columns' if len(layout.columns) < len(columns) else ''}: "
               f"{', '.join(hidden)} (--wide, --columns or --format csv show them)") if hidden else None
    table = Table(title=title or None, show_lines=False, header_style="bold", caption=caption,
                  caption_justify="left", caption_style="dim")
    for c in layout.columns:
        w = layout.widths.get(c)
        table.add_column(layout.headers[c], justify="right" if c in numeric else "left", width=w,
                         no_wrap=c in layout.unbroken, overflow="fold")
    for i in range(len(records)):
        table.add_row(*(Text(cells[c][i]) for c in layout.columns))  # Text: data is never read as rich markup
    return table


@dataclass(frozen=True)
class Layout:
    """The columns shown, the header text of each (wrapped at '_' or spaces to its width), the width set for the
    columns that had to be narrowed (others: their natural width), the unbroken ones (numbers, ids: one word per
    cell) and the columns left out because even their minimum widths did not fit."""

    columns: tuple[str, ...]
    headers: dict[str, str]
    widths: dict[str, int]
    unbroken: frozenset[str]
    left_out: tuple[str, ...]


PROSE_MIN = 16  # a wrapped text column is never narrowed below this (or its longest word, up to PROSE_WORD_MAX)
PROSE_WORD_MAX = 30  # a longer word (a URL) in a text column may be folded; a number or an id never is


def _cell_len(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.split("\n")), default=0)


def _header_lines(header: str, width: int) -> str:
    """`header` broken after '_' or at spaces into lines of at most `width` cells (a part longer stays whole)."""
    import re

    parts = [p for p in re.split(r"(?<=_)|(?<= )", header) if p]
    lines, line = [], ""
    for part in parts:
        if line and _cell_len(line + part.rstrip()) > width:
            lines.append(line.rstrip())
            line = ""
        line += part
    lines.append(line.rstrip())
    return "\n".join(lines)


def _header_min(header: str) -> int:
    import re

    return max(_cell_len(p.rstrip()) for p in re.split(r"(?<=_)|(?<= )", header) if p.strip())


def fit_columns(spec: Mapping[str, tuple[str, Sequence[str], bool]], width: int) -> Layout:
    """Widths that fit a table of ``spec`` (column -> (header, formatted cells, numeric)) into ``width`` cells.

    A cell with no space (a number, an id, a date) is never broken: its column keeps at least its widest cell.
    Columns of text with spaces wrap at words, never below PROSE_MIN (or their longest word). Headers wrap after
    '_'. The width left over goes to the text columns in proportion to what they would need unwrapped. When even
    the minimums do not fit, columns are left out from the right (the first, the row's key, always stays):
    :func:`table_of`'s caption names them (``--wide``, ``--columns`` or ``--format csv`` show them)."""
    cols = list(spec)
    unbroken = {c for c in cols if spec[c][2] or all(" " not in cell for cell in spec[c][1])}
    natural, minimum = {}, {}
    for c in cols:
        header, cells, _ = spec[c]
        widest = max((_cell_len(x) for x in cells), default=0)
        natural[c] = max(widest, _cell_len(header))
        if c in unbroken:
            minimum[c] = max(widest, _header_min(header))
        else:
            longest_word = max((len(w) for x in cells for w in x.split()), default=0)
            minimum[c] = max(min(longest_word, PROSE_WORD_MAX), min(natural[c], PROSE_MIN), _header_min(header))

    def overhead(n: int) -> int:
        return 3 * n + 1  # one space of padding each side of a cell, and n + 1 rules (rich's default box)

    shown = list(cols)
    while len(shown) > 1 and sum(minimum[c] for c in shown) + overhead(len(shown)) > width:
        shown.pop()
    hidden = [c for c in cols if c not in shown]
    widths: dict[str, int] = {}
    room = width - overhead(len(shown))
    if sum(natural[c] for c in shown) > room:
        widths = {c: minimum[c] for c in shown}
        spare = room - sum(widths.values())
        want = {c: natural[c] - minimum[c] for c in shown if natural[c] > minimum[c]}
        total = sum(want.values())
        for c in want:  # the spare width shared in proportion to what each column lacks
            widths[c] += min(want[c], int(spare * want[c] / total)) if total and spare > 0 else 0
    headers = {c: _header_lines(spec[c][0], widths.get(c, natural[c])) for c in shown}
    return Layout(tuple(shown), headers, widths, frozenset(unbroken), tuple(hidden))


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
        cols = view_columns(columns or list(kinds), list(kinds))
        numeric = {c for c in cols if kinds[c] != "object"}
        (out or console()).print(table_of(records, cols, numeric, title, more=list(kinds)))
