"""Rendering of the decision framework (planner.framework) for the plan's table output; part of planner.render,
split out for size. Returns lines of rich markup; planner.render prints them."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.markup import escape

from planner.units import fmt_tokens
from planner.verdict import WRITE_UP

MARK = {"pass": "[green]pass[/]", "fail": "[red]fail[/]", "info": "info", "skipped": "skipped"}


def framework_lines(plan: Any) -> list[str]:
    fw = getattr(plan, "framework", None)
    if fw is None:
        return []
    lines = [f"[bold]Decision framework[/] (the {WRITE_UP}'s five steps, its §4)"]
    for s in fw.steps:
        lines.append(f"  {s.number}. {escape(s.title)} \\[{MARK[s.outcome]}]: {escape(s.text)}")
    lines += _needs_lines(fw) + _latency_lines(fw) + _trend_lines(fw) + _risk_lines(fw)
    if fw.middle_ground:
        lines.append(f"  [yellow]Warning:[/] {escape(fw.middle_ground)}")
    return lines


def _needs_lines(fw) -> list[str]:
    if not fw.needs:
        return ["  Needs: none named (--needs fine-tuning,air-gapped,compliance,full-stack-control: a need no API "
                "meets makes self-hosting a capability decision)"]
    return [f"  Need {escape(n.need)}: {'no API meets it' if n.api_can_meet == 'no' else 'APIs meet it in part'}"
            for n in fw.needs]


def _latency_lines(fw) -> list[str]:
    lat = fw.latency
    if not lat:
        return []
    if not lat.get("required"):
        return [f"  Latency: {escape(' '.join(lat.get('sentences', [])))}"]
    meets = {True: "an API meets it", False: "no API meets it", None: "not confirmed from published figures"}
    return [f"  Latency (co-located requirement): {meets[lat.get('any_api_meets')]}; self-hosted: "
            f"{escape(str(lat.get('self_host', '')))}"]


def _trend_lines(fw) -> list[str]:
    t = fw.trends
    if t is None or not len(t):
        return []
    cells = []
    for _, r in t.iterrows():
        v = r["crossover_tokens_per_day"]
        cells.append(f"{int(r['months'])} mo: {'never' if pd.isna(v) else '~' + fmt_tokens(v, 2)}")
    return [f"  Price trends, break-even with the reference API: {'; '.join(cells)}"]


def _risk_lines(fw) -> list[str]:
    r = fw.risks
    if r is None or not len(r):
        return []
    return [f"  Risk, {escape(str(row['risk']))}: {escape(str(row['what_it_means']))}" for _, row in r.iterrows()]


__all__ = ["framework_lines"]
