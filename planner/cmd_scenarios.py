"""`inferplan scenarios FILE`: named what-ifs from one YAML file, planned and compared side by side.

parse -> planner.scenarios (load_scenarios, run_scenarios) -> render: a comparison table (compact columns at 100
columns; --wide shows all), JSON (the comparison rows and each scenario's full plan, planner.render.plan_dict) or
CSV (the comparison); ``-o`` writes .xlsx (a sheet per scenario and a Comparison sheet, planner.workbook), .csv,
.json or .md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from planner.cmd_plan import FormatOpt

if TYPE_CHECKING:
    from planner.scenarios import ScenarioResults

# the terminal's default columns (fit 100 columns); --wide or --columns show the rest (planner.scenarios docstring)
TABLE_COLUMNS = ("scenario", "gpus_total", "gpu", "pricing", "monthly_total_usd", "api_monthly_usd", "verdict")
SUFFIXES = (".xlsx", ".csv", ".json", ".md")


def scenarios_cmd(
    file: Annotated[Path, typer.Argument(help="scenarios YAML: `defaults:` and a `scenarios:` list, each with a name "
                                              "and plan keys (see examples/scenarios.yaml)")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write .xlsx (a sheet per scenario and a "
                                                "Comparison sheet), .csv, .json or .md")] = None,
    fmt: FormatOpt = "table",
) -> None:
    """Plan several named scenarios (volume, pricing, region, buying, ...) and compare their bills side by side."""
    _check_output(output)
    from planner.scenarios import load_scenarios, run_scenarios
    from profiler import progress

    scenarios = load_scenarios(file)
    with progress.shown(f"scenarios {file.name}"):
        results = run_scenarios(scenarios)
    _emit(results, fmt, file)
    if output:
        write_scenarios(results, output)
        if fmt == "table":
            from planner import render

            render.console().print(f"wrote {output}")


def _check_output(output: Path | None) -> None:
    """A bad suffix or folder, or .xlsx without openpyxl, fails before any planning."""
    from planner.cmd_plan import check_output_file

    check_output_file(output, SUFFIXES, "scenario files")


def scenarios_dict(results: ScenarioResults) -> dict[str, Any]:
    """JSON: the comparison rows, then each scenario's full plan (planner.render.plan_dict; null with no plan)."""
    from planner.render import jsonable, plan_dict

    return {"comparison": jsonable(results.comparison),
            "plans": {name: (plan_dict(p) if p is not None else None) for name, p, _ in results.plans}}


def _emit(results: ScenarioResults, fmt: str, file: Path) -> None:
    from rich.markup import escape

    from planner import render

    df = results.comparison
    if fmt == "json":
        print(render.dumps(scenarios_dict(results)))
        return
    if fmt == "csv":
        render.emit(df, "csv")
        return
    n, done = len(df), len(df) - len(results.not_planned)
    render.emit(df, "table", f"{n} scenarios from {file.name}: the monthly self-hosting bill side by side",
                columns=TABLE_COLUMNS)
    c = render.console()
    c.print("monthly_total_usd: the full self-hosting bill a month (GPUs, spares, people, hosting, ...; "
            "annual_total_usd with --wide); api_monthly_usd: the same workload a month on the like-for-like API "
            "(reference_api)")
    for name, reason in results.not_planned:
        c.print(f"[yellow]No plan[/] for '{escape(name)}': {escape(reason)}")
    if done < n:
        c.print(f"{done} of {n} scenarios planned; the others are shown without a bill (the reason above).")


def scenarios_markdown(results: ScenarioResults) -> str:
    """A report: the comparison table, then each scenario's verdict, deployment and bill."""
    from planner.render import markdown_table

    parts = ["# Scenarios side by side\n", markdown_table(results.comparison)]
    for name, p, note in results.plans:
        parts.append(f"\n## {name}\n")
        if p is None:
            parts.append(f"No plan: {note}\n")
            continue
        d = p.deployment
        parts.append(f"**Verdict: {p.verdict.decision}**. {int(d['replicas'])} + {int(d['spare_replicas'])} spare "
                     f"replica(s) of {int(d['tp'])}x {d['gpu']} ({d['quant']}, {d['pricing']}); "
                     f"${p.monthly_total_cost:,.0f}/month ({p.tco_multiplier:.2f}x the GPU cost).\n")
        parts.append(markdown_table(p.line_items, ["item", "category", "monthly_usd", "basis"]))
    return "\n".join(parts)


def write_scenarios(results: ScenarioResults, path: Path) -> None:
    """-o: .xlsx (planner.workbook.write_scenarios_workbook), .json (scenarios_dict), .csv (the comparison) or .md."""
    from planner.render import dumps
    from profiler.schema import atomic_write_text

    if path.suffix == ".xlsx":
        from planner.workbook import write_scenarios_workbook

        write_scenarios_workbook(results, path)
    elif path.suffix == ".json":
        atomic_write_text(path, dumps(scenarios_dict(results)))
    elif path.suffix == ".csv":
        atomic_write_text(path, results.comparison.to_csv(index=False))
    else:
        atomic_write_text(path, scenarios_markdown(results))
