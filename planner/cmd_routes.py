"""`inferplan plan --hybrid --workload routes.yaml`: each route where it is cheapest (planner.routes).

parse -> one library call (planner.routes.route_split) -> render. ``--format table`` prints the view's tables
and sentences; ``json`` prints ``{"views": {"routes": {title, record, tables, lines}}}`` (the shape of a plan's
``views`` entry, planner.render.plan_dict); ``csv`` the main table (one row per route). ``-o`` writes .json, .csv,
.md or .xlsx (a sheet per table).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def view_dict(view: Any) -> dict[str, Any]:
    """The split as plain JSON: ``{"views": {"routes": ...}}``, as planner.render.plan_dict nests a plan's views."""
    from planner.render import views_dict

    return {"views": views_dict([view])}


def _markdown(view: Any) -> str:
    from planner.render import views_markdown

    return "\n".join(views_markdown([view], level=1)).lstrip("\n") + "\n"


def write_routes(view: Any, path: Path) -> None:
    """The split to a file: .json (everything), .csv (the routes table), .md (a report), .xlsx (a sheet a table)."""
    from planner import render
    from profiler.schema import atomic_write_text

    if path.suffix == ".xlsx":
        render.write_xlsx(path, view.tables)
    else:
        text = {".json": lambda: render.dumps(view_dict(view)), ".csv": lambda: view.main.to_csv(index=False),
                ".md": lambda: _markdown(view)}[path.suffix]()
        atomic_write_text(path, text)


def routes_cmd(workload_path: Path, model: str, output: Path | None, fmt: str, *, api_prices: Path | None = None,
               gpu_prices: Path | None = None, tco: Path | None = None, models_file: Path | None = None) -> None:
    """Print (and with `output`, write) the per-route split of the routes file `workload_path`; `model` serves
    the routes that name no model."""
    from planner.cmd_plan import _check_outputs

    _check_outputs(output, None)  # a bad suffix or a missing extra fails before the work, not after
    from planner import render
    from planner.routes import route_split
    from profiler import progress

    with progress.shown(f"routes {Path(workload_path).name}"):
        view = route_split(workload_path, model, api_prices=api_prices, gpu_prices=gpu_prices, tco=tco,
                           models_file=models_file)
    if fmt == "json":
        render.emit_record(view_dict(view), "json")
    elif fmt == "csv":
        render.emit(view.main, "csv")
    else:
        render.emit_views([view], render.console())
    if output:
        write_routes(view, Path(output))
        if fmt == "table":
            render.console().print(f"wrote {output}")


__all__ = ["routes_cmd", "view_dict", "write_routes"]
