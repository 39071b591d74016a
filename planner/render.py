"""The one rendering module: DataFrames and records -> rich tables, JSON, CSV, Markdown, XLSX.

Nothing else in inferplan prints or formats. Library code returns data; the CLI calls these.
Its pandas-free part (cell formats, JSON of plain values, tables of plain rows) is planner.render_rows, which
the quick commands (`inferplan models`, `gpus`) use alone.
Human formatting (GiB, %, thousands separators) happens only for ``table`` and ``md``; ``json`` and
``csv`` keep raw numbers in their documented units.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from planner.launch import LAUNCHERS, SEQS_FLAG
from planner.render_rows import PLAN_SUFFIXES, _fmt, console, current_view, dumps, jsonable, table_of, view_columns
from planner.units import DAYS_PER_MONTH, MONTHS_PER_YEAR, fmt_tokens


def rich_table(df: pd.DataFrame, title: str = "", columns: Sequence[str] | None = None,
               more: Sequence[str] = ()) -> Table:
    """A table of `columns` (default all; --wide: all), fitted to the terminal (render_rows.fit_columns); `more`:
    the other columns the caption names (those --wide would add)."""
    every = [str(c) for c in df.columns]
    view = current_view()
    cols = every if view.wide and not view.columns else [c for c in (columns or every) if c in df.columns]
    numeric = {c for c in cols if pd.api.types.is_numeric_dtype(df[c])}
    return table_of(df[cols].astype(object).to_dict(orient="records"), cols, numeric, title, more=more)


def emit(df: pd.DataFrame, fmt: str, title: str = "", columns: Sequence[str] | None = None,
         out: Console | None = None) -> None:
    """Print a table: a rich table, JSON rows (all columns, raw units) or CSV."""
    if fmt == "json":
        print(dumps(df))
    elif fmt == "csv":
        sys.stdout.write(df.to_csv(index=False))
    else:
        every = [str(c) for c in df.columns]
        (out or console()).print(rich_table(df, title, view_columns(columns or every, every), more=every))


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


# The profile's terminal columns (fit 100 columns; --wide shows the rest: kv_bytes_per_token, source, ...).
PROFILE_TABLE_COLUMNS = ("quant", "kv_dtype", "tp", "phase", "batch", "context", "latency_ms", "tokens_per_s",
                         "weights_bytes", "peak_bytes", "max_batch", "mbu", "mfu", "status")


# ------------------------------------------------------------------------------------------------
# Plans
# ------------------------------------------------------------------------------------------------


def plan_dict(plan: Any) -> dict[str, Any]:
    """The plan as plain JSON: the documented top-level keys first, then the detail tables."""
    d = plan.deployment
    api_cols = [c for c in ("provider", "model", "daily_cost", "monthly_cost", "usd_per_mtok_blended", "serves",
                            "tier", "comparison", "superseded_by", "as_of", "crossover_tokens_per_day",
                            "crossover_margin_tokens_per_day") if c in plan.api.columns]
    return {
        "model": plan.model, "gpu": d["gpu"], "quant": d["quant"], "kv_dtype": d["kv_dtype"], "tp": int(d["tp"]),
        "replicas": int(d["replicas"]), "spare_replicas": int(d["spare_replicas"]),
        "gpus_total": int(d["gpus_total"]), "pricing": d["pricing"], "provider": d.get("provider"),
        "usd_per_gpu_hour": d["usd_per_gpu_hour"], "monthly_gpu_cost": plan.monthly_gpu_cost,
        "monthly_total_cost": plan.monthly_total_cost, "annual_total_cost": plan.monthly_total_cost * MONTHS_PER_YEAR,
        "tco_multiplier": plan.tco_multiplier,
        "usd_per_mtok_self_host": plan.usd_per_mtok_self_host,
        "gpus_billed": int(d.get("gpus_billed", d["gpus_total"])), "region": d.get("region"), "as_of": d.get("as_of"),
        "capex": getattr(plan, "capex", None), "guard": getattr(plan, "guard", None),
        "line_items": [{"name": r["item"], "monthly_cost": r["monthly_usd"], "category": r.get("category"),
                        "basis": r.get("basis")} for r in jsonable(plan.line_items)],
        "api": jsonable(plan.api[api_cols]),
        "crossover_tokens_per_day": plan.crossover_tokens_per_day, "crossover_reference_api": plan.reference_api,
        "verdict": plan.verdict.decision, "verdict_reasons": list(plan.verdict.reasons),
        "comparison": getattr(plan.verdict, "comparison", ""), "tier": getattr(plan, "tier", ""),
        "margin": getattr(plan, "margin", 2.0), "parity_band_tokens_per_day": list(getattr(plan, "parity_band", ())),
        "warnings": list(getattr(plan, "warnings", ())),
        "not_for_production": getattr(plan, "not_for_production", None),  # a GeForce / Apple-silicon GPU: why
        "per_replica": {"batch": int(d["batch"]), "tpot_ms": d["tpot_ms"], "ttft_s": d["ttft_s"],
                        "requests_per_s": d["replica_rps"], "limited_by": d["limited_by"],
                        "utilisation_at_mean": d["utilisation"]},
        "redundancy": jsonable(plan.redundancy), "engine": plan.engine, "launch_args": plan.launch_args,
        "launch_notes": list(plan.launch_notes), "startup_log": list(getattr(plan, "startup_log", ())),
        # the vLLM line under its old key, for scripts that read it (None when planned for another engine)
        "vllm_args": plan.launch_args if plan.engine == "vllm" else None,
        "workload": jsonable(plan.workload), "simulated": plan.simulated, "p99": plan.p99,
        "alternatives": jsonable(_int_columns(plan.alternatives)),
        "framework": jsonable(_framework(plan)),
        "views": views_dict(getattr(plan, "views", ())),
    }


def views_dict(views: Sequence[Any]) -> dict[str, Any]:
    """Budget views (planner.views.View) as plain JSON: name -> {title, record, tables, lines}."""
    return {v.name: {"title": v.title, "record": jsonable(dict(v.record)),
                     "tables": {k: jsonable(df) for k, df in v.tables.items()}, "lines": list(v.lines)}
            for v in views}


def views_markdown(views: Sequence[Any], level: int = 2) -> list[str]:
    """Budget views as Markdown parts: a heading (of `level`) per view, a sub-heading and table per table, then its
    sentences as a list."""
    parts = []
    for v in views:
        parts.append(f"\n{'#' * level} {v.title}\n")
        for name, df in v.tables.items():
            parts += [f"\n{'#' * (level + 1)} {name.replace('_', ' ')}\n", markdown_table(df)]
        parts += [f"- {line}" for line in v.lines]
    return parts


def _framework_tables(plan: Any) -> dict[str, pd.DataFrame]:
    """The framework's steps, risks and price trends as tables (xlsx sheets, md sections); {} without one."""
    fw = getattr(plan, "framework", None)
    if fw is None:
        return {}
    steps = pd.DataFrame([{"step": s.number, "title": s.title, "outcome": s.outcome, "text": s.text}
                          for s in fw.steps])
    out = {"framework": steps}
    for name, df in (("risks", fw.risks), ("price_trends", fw.trends)):
        if df is not None and len(df):
            out[name] = df
    return out


def _framework(plan: Any) -> dict | None:
    fw = getattr(plan, "framework", None)
    if fw is None:
        return None
    from planner.framework import framework_dict

    return framework_dict(fw)


def _int_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Counts as integers (pandas keeps them float where a row has NaN): nullable Int64 for the JSON."""
    out = df.copy()
    for c in _INT_FIELDS + ("gpus_billed",):
        if c in out:
            out[c] = pd.array([None if pd.isna(v) else int(v) for v in out[c]], dtype="Int64")
    return out


_INT_FIELDS = ("replicas", "spare_replicas", "gpus_total", "tp", "batch")


def _offer_label(d: Mapping) -> str:
    region = d.get("region")
    where = f", {region}" if isinstance(region, str) and region else ""
    as_of = d.get("as_of")
    when = f", price as of {as_of}" if isinstance(as_of, str) and as_of else ""
    return f"{d.get('provider')}{where}{when}"


def guard_text(plan: Any) -> str:
    """The guard model's GPUs, for the deployment line: '; guardrails: Llama Guard 3 8B fp8 on 0.5 h100-sxm'."""
    g = getattr(plan, "guard", None)
    if not g:
        return ""
    if g["scope"] == "none":
        return "; no guardrails (--guardrails none)"
    gpu = plan.deployment["gpu"]
    share = f"{g['gpus']:.3g} {gpu} GPU(s){' in MIG slices' if g.get('mig') else ''}"
    return f"; guardrails ({g['scope']}): {g['model'].split(' on ')[0]} on {share}, spare included"


def capex_line(plan: Any) -> str:
    """Buying: the upfront capital and what owning costs a month, apart from the monthly bill's GPU lines."""
    k = getattr(plan, "capex", None)
    if not k:
        return ""
    return (f"Capex (buying {k['gpus']} GPUs): ${k['upfront_usd']:,.0f} upfront (chips ${k['chip_usd']:,.0f}, rest of "
            f"the servers ${k['server_usd']:,.0f}, network ${k['network_usd']:,.0f}), resale ${k['residual_usd']:,.0f} "
            f"at end of life; owning costs ${k['monthly_usd']:,.0f}/month (capital ${k['monthly_capital_usd']:,.0f}, "
            f"support ${k['monthly_support_usd']:,.0f}, energy ${k['monthly_energy_usd']:,.0f}, hosting "
            f"${k['monthly_hosting_usd']:,.0f}), the GPU lines of the bill")


def emit_plan(plan: Any, fmt: str, out: Console | None = None) -> None:
    if fmt == "json":
        print(dumps(plan_dict(plan)))
        return
    if fmt == "csv":
        sys.stdout.write(plan_csv(plan))
        return
    c = out or console()
    w = plan.workload
    d = {k: (int(v) if k in _INT_FIELDS and v == v else v) for k, v in plan.deployment.items()}
    c.print(f"[bold]{plan.model}[/]: {w.tokens_in_per_day:,.0f} input + {w.tokens_out_per_day:,.0f} output "
            f"tokens/day, TTFT p99 {w.ttft_p99_s:g} s, TPOT p99 {w.tpot_p99_s * 1e3:g} ms, "
            f"availability {w.availability * 100:.6g}%")
    c.print(f"Deployment: {d['replicas']} replica(s) + {d['spare_replicas']} spare of {d['tp']}x {d['gpu']} "
            f"({d['quant']}, KV {d['kv_dtype']}) = {d['gpus_total']} GPUs, {d['pricing']} at "
            f"${d['usd_per_gpu_hour']:.2f}/GPU-h ({_offer_label(d)}); per replica batch {d['batch']}, "
            f"{'p99 ' if plan.p99 or plan.simulated else ''}TPOT {d['tpot_ms']:.1f} ms, "
            f"{d['replica_rps']:.2f} req/s at most"
            f"{_rate_basis(plan)}; "
            f"utilisation at mean load {d['utilisation']:.0%} of full capacity{guard_text(plan)}")
    if getattr(plan, "not_for_production", None):
        c.print(f"[bold red]Not for production:[/] {escape(plan.not_for_production)}")
    c.print(rich_table(plan.redundancy, "Redundancy", ["line", "replicas", "gpus", "used", "basis"]))
    items = plan.line_items.assign(annual_usd=plan.line_items["monthly_usd"] * MONTHS_PER_YEAR)
    c.print(rich_table(items, "Monthly bill", ["item", "category", "monthly_usd", "annual_usd", "basis"]))
    c.print(f"Total ${plan.monthly_total_cost:,.0f}/month, ${plan.monthly_total_cost * MONTHS_PER_YEAR:,.0f}/year = "
            f"{plan.tco_multiplier:.3g}× the raw GPU cost (${plan.monthly_gpu_cost:,.0f}/month)")
    if capex_line(plan):
        c.print(capex_line(plan))
    cols = ["provider", "model", "monthly_cost", "usd_per_mtok_blended", "comparison", "crossover_tokens_per_day"]
    api = plan.api.sort_values("monthly_cost", kind="stable")
    like = like_for_like(api)
    tier = f"tier {plan.tier}" if getattr(plan, "tier", "") else "its tier"
    c.print(rich_table(api[like], f"Same workload on APIs, like for like (same weights, {tier})", cols))
    others = api[~like]
    if len(others):
        cheapest = others.iloc[0]
        c.print(f"{len(others)} other API rows (other tiers, superseded or stale; not compared): the cheapest is "
                f"{cheapest['label']} at ${cheapest['monthly_cost']:,.0f}/month ({cheapest['comparison']}); all "
                "rows with --format json or -o plan.xlsx")
    c.print(f"Self-hosted: ${plan.usd_per_mtok_self_host:,.2f} per million tokens (full monthly TCO / "
            f"{w.tokens_per_day * DAYS_PER_MONTH / 1e6:,.0f}M tokens a month) vs usd_per_mtok_blended above")
    for warning in getattr(plan, "warnings", ()):
        c.print(f"[yellow]Warning:[/] {escape(warning)}")
    line = break_even_line(plan)
    if line:
        c.print(line)
    c.print("crossover_tokens_per_day: the daily volume from which self-hosting (full TCO, redundancy, re-planned "
            "at each volume) costs no more than that API, to 2 significant figures; – = not within 10k-1T tokens/day")
    if plan.p99 and not plan.simulated:
        for line in p99_lines(plan):
            c.print(line)
    if plan.simulated:
        s = plan.simulated
        c.print(f"Simulated per replica: {s['rate_per_replica_rps']:.2f} req/s at p99 TTFT {s['ttft_p99_s']:.2f} s, "
                f"p99 TPOT {s['tpot_p99_s'] * 1e3:.1f} ms, limited by {s['limited_by']} ({_analytic_name(plan)}: "
                f"{s['analytic_rate_per_replica_rps']:.2f} req/s{'' if plan.p99 else ' before its 80% headroom'}; "
                f"capacity cache {s.get('cache', '?')})")
        if s.get("replicas_differ"):
            c.print(f"[yellow]Sizing differs:[/] the {_analytic_name(plan)} would run {s['analytic_replicas']} "
                    f"replica(s) of this deployment, the simulator {plan.deployment['replicas']}; the plan uses the "
                    "simulator's p99s (without --simulate, plans use the analytic p99 model)")
        p = s.get("at_peak") or {}
        if p:
            c.print(f"Simulated at this plan's peak ({p['rate_per_s']:.3g} req/s per replica): p99 TTFT "
                    f"{p['ttft_p99_s']:.3f} s, p99 TPOT {p['tpot_p99_s'] * 1e3:.1f} ms, goodput "
                    f"{p['goodput_fraction']:.1%}, rejected {p['rejected_fraction']:.1%}, "
                    f"{p['preemptions']} preemptions")
    from planner.render_framework import framework_lines

    for line in framework_lines(plan):
        c.print(line)
    c.print(f"[bold]Verdict: {plan.verdict.decision}[/]")
    for r in plan.verdict.reasons:
        c.print(f"  - {r}")
    c.print(f"{LAUNCHERS[plan.engine]}: " + " ".join(plan.launch_args))
    for note in plan.launch_notes:
        c.print(f"  note: {escape(note)}")
    if plan.startup_log:
        c.print("vLLM should log at start-up, on each GPU (check the plan against your server's log):")
        for line in plan.startup_log:
            c.print(f"  {escape(line)}", highlight=False)
    alt = ["gpu", "quant", "tp", "pricing", "replicas", "spare_replicas", "gpus_total", "monthly_total_cost"]
    c.print(rich_table(plan.alternatives[plan.alternatives["feasible"]], "Alternatives (cheapest first)", alt))
    emit_views(getattr(plan, "views", ()), c)


def emit_views(views: Sequence[Any], c: Console) -> None:
    """Each budget view (planner.views.View): its title, its tables (default columns), then its sentences."""
    for v in views:
        c.print(f"[bold]{escape(v.title)}[/]")
        for name, df in v.tables.items():
            every = [str(col) for col in df.columns]
            cols = view_columns(v.columns.get(name) or every, every)
            c.print(rich_table(df, name.replace("_", " ").capitalize(), cols, more=every))
        for line in v.lines:
            c.print(escape(line))


def like_for_like(api: pd.DataFrame) -> pd.Series:
    """Rows compared with the planned model (same weights, its tier, or added when the tier has too few)."""
    if "comparison" not in api:
        return pd.Series(True, index=api.index)
    words = api["comparison"].fillna("")
    return words.str.startswith(("same weights", "same tier")) | words.str.contains("compared:", regex=False)


def break_even_line(plan: Any) -> str:
    """Break-even with the reference API to 2 significant figures, its parity band and the margin's break-even."""
    if not plan.crossover_tokens_per_day:
        return ""
    from planner.crossover import PARITY_BAND

    text = f"Break-even vs {plan.reference_api}: ~{fmt_tokens(plan.crossover_tokens_per_day, 2)} tokens/day"
    lo, hi = getattr(plan, "parity_band", (None, None))
    if lo and hi:
        text += (f" (parity band {fmt_tokens(lo, 2)}-{fmt_tokens(hi, 2)}: the API within +-{PARITY_BAND:.0%} of "
                 f"self-hosting; a {PARITY_BAND:.0%} price change moves the break-even across it)")
    rows = plan.api[plan.api["provider"] + " / " + plan.api["model"] == plan.reference_api]
    vm = rows["crossover_margin_tokens_per_day"].iloc[0] if len(rows) and "crossover_margin_tokens_per_day" in rows \
        else math.nan
    margin = getattr(plan, "margin", 2.0)
    text += (f"; self-hosting clears the {margin:g}x margin at ~{fmt_tokens(vm, 2)} tokens/day" if pd.notna(vm)
             else f"; self-hosting never clears the {margin:g}x margin within 10k-1T tokens/day")
    return text


def _analytic_name(plan: Any) -> str:
    return "analytic p99 model" if plan.p99 else "mean-value model"


def _rate_basis(plan: Any) -> str:
    if plan.simulated:
        return " (simulated p99-SLO rate)"
    return " (p99-SLO rate, queueing modelled)" if plan.p99 else " (mean-value model, 80% load cap applied)"


def p99_lines(plan: Any) -> list[str]:
    """What the p99 sizing expects: the per-replica rate at the SLO edge and the p99s at this plan's peak."""
    q, d = plan.p99, plan.deployment
    lines = [f"Sized on p99s: one replica serves {q['rate_per_replica_rps']:.3g} req/s with p99 TTFT "
             f"{q['ttft_p99_s']:.2f} s and p99 TPOT {q['tpot_p99_s'] * 1e3:.1f} ms (limited by {q['limited_by']}; "
             f"{SEQS_FLAG[plan.engine]} {q['max_num_seqs']})"]
    p = q.get("at_peak") or {}
    if p.get("stable"):
        lines.append(f"At this plan's peak ({p['rate_per_s']:.3g} req/s per replica): p99 TTFT "
                     f"{p['ttft_p99_s']:.2f} s, "
                     f"p99 TPOT {p['tpot_p99_s'] * 1e3:.1f} ms, mean running batch {p['running_mean']:.1f}")
    if q.get("replicas_differ"):
        lines.append(f"[yellow]Sizing differs:[/] the mean-value model (mean step time, 80% load cap) would run "
                     f"{q['mean_value_replicas']} replica(s) of this deployment; the plan runs {int(d['replicas'])} "
                     "on the p99s (--sizing mean-value to plan on the mean)")
    return lines


def bill_csv(plan: Any) -> str:
    """The plan as one CSV table: the monthly bill's line items, then a total row whose basis names the
    deployment and the verdict (.json and .xlsx hold every table)."""
    d = plan.deployment
    total = {"item": "Total", "category": "total", "monthly_usd": plan.monthly_total_cost,
             "basis": f"{int(d['replicas'])} + {int(d['spare_replicas'])} spare x {int(d['tp'])}x {d['gpu']} "
                      f"({d['quant']}, {d['pricing']}); {plan.tco_multiplier:.2f}x GPU cost; verdict "
                      f"{plan.verdict.decision}", "source": "", "id": "total"}
    return pd.concat([plan.line_items, pd.DataFrame([total])], ignore_index=True).to_csv(index=False)


def plan_csv(plan: Any) -> str:
    """--format csv of a plan: the bill (bill_csv); with one budget view, that view's main table; CSV holds one
    table, so several views are refused (JSON and -o plan.xlsx hold them all)."""
    views = [v for v in getattr(plan, "views", ()) if v.main is not None and v.name != "capex"]
    if not views:
        return bill_csv(plan)
    if len(views) > 1:
        from profiler.errors import InvalidValueError

        raise InvalidValueError(f"--format csv holds one table and this plan has {len(views)} views "
                                f"({', '.join(v.name for v in views)}): ask for one, or use --format json or "
                                "-o plan.xlsx")
    return views[0].main.to_csv(index=False)


def write_plan(plan: Any, path: str | Path) -> None:
    """A plan file: .json (everything), .csv (line items), .xlsx (one sheet per table) or .md (a report)."""
    from profiler.schema import atomic_write_text

    path = Path(path)
    tables = {"line_items": plan.line_items, "redundancy": plan.redundancy, "api": plan.api,
              "alternatives": plan.alternatives, "cost_curve": plan.curve, **_framework_tables(plan)}
    if path.suffix == ".json":
        atomic_write_text(path, dumps(plan_dict(plan)))
    elif path.suffix == ".csv":
        atomic_write_text(path, plan_csv(plan))
    elif path.suffix == ".xlsx":
        from planner.workbook import write_plan_workbook

        write_plan_workbook(plan, path, tables)
    elif path.suffix == ".md":
        atomic_write_text(path, plan_markdown(plan, tables))
    else:
        from profiler.errors import InvalidValueError

        raise InvalidValueError(f"{path}: plan files are {', '.join(PLAN_SUFFIXES)}")


def plan_markdown(plan: Any, tables: Mapping[str, pd.DataFrame]) -> str:
    d = plan_dict(plan)
    parts = [f"# Plan: {plan.model}\n", f"**Verdict: {d['verdict']}**\n"]
    parts += [f"- {r}" for r in d["verdict_reasons"]]
    parts.append(f"\n{d['replicas']} + {d['spare_replicas']} spare replica(s) of {d['tp']}x {d['gpu']} "
                 f"({d['quant']}); ${d['monthly_total_cost']:,.0f}/month ({d['tco_multiplier']:.2f}x GPU cost).\n")
    for name, df in tables.items():
        if name != "cost_curve":
            parts += [f"\n## {name.replace('_', ' ')}\n", markdown_table(df)]
    parts += views_markdown(getattr(plan, "views", ()))
    parts.append("\n```\n" + " ".join(plan.launch_args) + "\n```\n")
    return "\n".join(parts)
