"""`inferplan seed`: the hidden-cost write-up's worked example reproduced, then re-planned today (parse -> one
library call, planner.seed.seed_report -> render).

Output: the table shows the four sections (planner.seed's views); ``--format json`` is one object with keys bill, api,
slips and replan, each ``{title, record, tables, lines}`` like a plan's views; ``--format csv`` (and ``-o
seed.csv``) is one table, every section's rows under a ``table`` column naming it (planner.seed.report_csv_table);
``-o seed.xlsx`` has a sheet per table, ``-o seed.md`` a report.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from planner.cmd_plan import FormatOpt

if TYPE_CHECKING:  # imported when the command runs (`inferplan seed --help` loads no pandas)
    from planner.seed import SeedReport

SEED_SUFFIXES = (".json", ".csv", ".md", ".xlsx")  # what write_seed writes


def seed_cmd(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="also write the report: .json (every "
                                                "section), .csv (one table), .md (a report) or .xlsx (a sheet per "
                                                "table)")] = None,
    fmt: FormatOpt = "table",
) -> None:
    """The hidden-cost write-up's worked example: its $13,275/month bill (2.6x the $5,100 GPU bill) reproduced,
    its API table for 5M input + 1M output tokens/day with its arithmetic slips corrected, and the same scenario
    planned with today's prices.

    --format json: one object with keys bill, api, slips and replan.
    --format csv (and -o seed.csv): one table of every section's rows;
    its `table` column names the section (bill, api, slips, replan, today_bill).
    """
    _check_output(output)  # a bad -o fails before the work
    from planner import render
    from planner.seed import seed_report
    from profiler import progress

    with progress.shown("seed: re-planning the write-up's scenario with today's prices"):
        report = seed_report()
    emit_seed(report, fmt)
    if output:
        write_seed(report, output)
        if fmt == "table":
            render.console().print(f"wrote {output}")


def _check_output(output: Path | None) -> None:
    from planner.cmd_plan import check_output_file

    check_output_file(output, SEED_SUFFIXES, "seed report files")


def seed_dict(report: SeedReport) -> dict[str, Any]:
    """The report as plain JSON: one key per section (planner.seed.SECTIONS), each {title, record, tables, lines}."""
    from planner.render import views_dict

    return views_dict(report.views)


def emit_seed(report: SeedReport, fmt: str) -> None:
    import sys

    from planner import render
    from planner.render_rows import dumps
    from planner.seed import report_csv_table

    if fmt == "json":
        print(dumps(seed_dict(report)))
    elif fmt == "csv":
        sys.stdout.write(report_csv_table(report).to_csv(index=False))
    else:
        render.emit_views(report.views, render.console())


def seed_markdown(report: SeedReport) -> str:
    from planner.render import views_markdown

    parts = ["# The hidden-cost write-up's worked example, reproduced and re-planned\n", *views_markdown(report.views)]
    return "\n".join(parts) + "\n"


def write_seed(report: SeedReport, path: Path) -> None:
    """-o: .json (seed_dict), .csv (the one-table form), .md (seed_markdown) or .xlsx (a sheet per table)."""
    from planner import render
    from planner.render_rows import dumps
    from planner.seed import report_csv_table, report_tables
    from profiler.schema import atomic_write_text

    if path.suffix == ".json":
        atomic_write_text(path, dumps(seed_dict(report)))
    elif path.suffix == ".csv":
        atomic_write_text(path, report_csv_table(report).to_csv(index=False))
    elif path.suffix == ".md":
        atomic_write_text(path, seed_markdown(report))
    else:
        render.write_xlsx(path, report_tables(report))


__all__ = ["seed_cmd", "seed_dict", "emit_seed", "write_seed", "seed_markdown", "SEED_SUFFIXES"]
