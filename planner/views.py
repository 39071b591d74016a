"""Budget views: what `plan --hybrid`, `--growth`, `--owned` and `--pricing buy` add to a plan (issue 14).

A :class:`View` is data: named tables (DataFrames with documented columns, money in USD), the sentences that read
them, and a record of scalar results. planner.api.plan attaches them to ``Plan.views``; planner.render prints them
after the plan (table), nests them under ``"views"`` (JSON), writes their main table (CSV, one view) and gives each
table a sheet (planner.workbook, -o plan.xlsx).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class View:
    """One budget view of a plan.

    name: the JSON key and sheet-name prefix (hybrid, routes, growth, owned, capex). title: the heading printed.
    tables: table name -> DataFrame; the first is the view's main table (``--format csv``). columns: table name ->
    the columns the terminal shows by default (fit 100 columns; --wide shows all). lines: sentences printed after
    the tables. record: scalar results (JSON ``views.<name>.record``).
    """

    name: str
    title: str
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    lines: tuple[str, ...] = ()
    record: Mapping[str, Any] = field(default_factory=dict)

    @property
    def main(self) -> pd.DataFrame | None:
        """The view's first table (what ``--format csv`` writes), None without tables."""
        return next(iter(self.tables.values()), None)


def view_named(views, name: str) -> View | None:
    """The view called `name` among `views` (a Plan's), else None."""
    return next((v for v in views if v.name == name), None)


__all__ = ["View", "view_named"]
