"""PNG plots (matplotlib, from the `report` extra). Pure renderers of DataFrames made elsewhere."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from planner.simulate.metrics import SloTargets
from planner.units import fmt_tokens, fmt_usd
from planner.verdict import fmt_times
from profiler.errors import InferplanError


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise InferplanError("plots need matplotlib: pip install 'inferplan[report]'") from exc
    return plt


QUANTILE_STYLES = (("p50", ":"), ("p90", "--"), ("p99", "-"))


def _mark(ax, target: float | None, capacity_rps: float | None, label: str) -> None:
    if target is not None:
        ax.axhline(target, color="tab:red", lw=1.2, label=label)
    if capacity_rps is not None and math.isfinite(capacity_rps) and capacity_rps > 0:
        ax.axvline(capacity_rps, color="black", lw=1.0, ls="-.", label=f"SLO capacity {capacity_rps:.3g} req/s")


def latency_vs_load(sweep: pd.DataFrame, path: str | Path, slo: SloTargets | None = None,
                    capacity_rps: float | None = None, title: str = "") -> None:
    """TTFT and TPOT percentiles (p50/p90/p99) against offered load [requests/s].

    ``slo``: its p99 targets are drawn as horizontal red lines; ``capacity_rps``: the highest rate
    meeting them (planner.simulate.find_slo_capacity), a vertical dash-dot line.
    """
    slo = slo or SloTargets()
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.4))
    for q, style in QUANTILE_STYLES:
        ax1.plot(sweep["offered_rps"], sweep[f"ttft_{q}_s"], style, marker="o", label=q)
        ax2.plot(sweep["offered_rps"], sweep[f"tpot_{q}_s"] * 1e3, style, marker="o", label=q)
    ttft_label = f"TTFT p99 SLO {slo.ttft_p99_s:g} s" if slo.ttft_p99_s is not None else ""
    tpot_ms = slo.tpot_p99_s * 1e3 if slo.tpot_p99_s is not None else None
    _mark(ax1, slo.ttft_p99_s, capacity_rps, ttft_label)
    _mark(ax2, tpot_ms, capacity_rps, f"TPOT p99 SLO {tpot_ms:g} ms" if tpot_ms is not None else "")
    ax1.set(xlabel="offered load [requests/s]", ylabel="TTFT [s]", title="Time to first token", yscale="log")
    ax2.set(xlabel="offered load [requests/s]", ylabel="TPOT [ms]", title="Time per output token")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


MAX_LABELLED_APIS = 8  # other APIs named in the legend (muted); the rest are thin grey lines
REFERENCE_COLOUR = "tab:blue"  # the API the verdict compares with: strong and thick
VOLUME_COLOUR = "tab:red"  # the planned volume: a vertical line and a point on the self-hosted curve
MUTED_ALPHA = 0.45
_KEY_LABELS = ("self-hosted (full monthly bill)", "replicas added")
_KEY_PREFIXES = ("planned volume", "self-hosted there", "break-even with it")
REFERENCE_SAYS = "(the API the verdict compares with)"  # the second line of the reference's legend entry


def _labelled_apis(apis: list[str], crossovers: pd.DataFrame, curve: pd.DataFrame) -> list[str]:
    """Every API self-hosting crosses in range, then the cheapest, up to MAX_LABELLED_APIS."""
    hit = crossovers.dropna(subset=["crossover_tokens_per_day"])
    crossing = [a for a in hit.sort_values("crossover_tokens_per_day")["api"] if a in apis]
    cheapest = sorted(apis, key=lambda a: float(curve[a].iloc[-1]))
    out = list(dict.fromkeys(crossing + cheapest))
    return out[:MAX_LABELLED_APIS]


def _reference_of(crossovers: pd.DataFrame, apis: list[str]) -> str | None:
    """The verdict's rule (planner.api_costs.reference_row) read off the API table's ``comparison`` words, for a caller
    that names no reference: the cheapest same-weights row drawn, else the cheapest same-tier row; None if neither."""
    if "comparison" not in crossovers or "monthly_cost" not in crossovers:
        return None
    drawn = crossovers[crossovers["api"].isin(apis)]
    for words in ("same weights", "same tier"):
        rows = drawn[drawn["comparison"] == words]
        if len(rows):
            return str(rows.sort_values("monthly_cost", kind="stable")["api"].iloc[0])
    return None


def _crossover_of(crossovers: pd.DataFrame, api: str) -> float | None:
    hit = crossovers.loc[crossovers["api"] == api, "crossover_tokens_per_day"].dropna()
    return float(hit.iloc[0]) if len(hit) else None


def _on_line(x: pd.Series, y: pd.Series, v: float) -> float:
    """An API's monthly cost at volume `v`, interpolated on its line (linear in volume, so exact in range)."""
    return float(np.interp(v, x, y))


def _self_host_at(curve: pd.DataFrame, v: float) -> float:
    """The self-hosted step curve at volume `v` (the last point at or below it)."""
    below = curve[curve["tokens_per_day"] <= v]
    return float((below if len(below) else curve.head(1))["self_host_monthly"].iloc[-1])


def _note(ax, xy: tuple[float, float], text: str, colour: str, offset: tuple[int, int]) -> None:
    """A boxed label `offset` points from `xy` (a negative x offset puts the text to the left, right-aligned)."""
    ax.annotate(text, xy, xytext=offset, textcoords="offset points", fontsize=8.5, color=colour, zorder=7,
                ha="right" if offset[0] < 0 else "left", va="bottom" if offset[1] > 0 else "top",
                bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": colour, "lw": 0.8, "alpha": 0.9},
                arrowprops={"arrowstyle": "-", "color": colour, "lw": 0.8})


def _side(x: pd.Series, v: float) -> int:
    """-1: put a label left of volume `v` (it sits in the right half of the log axis), +1: right of it."""
    lo, hi = math.log(x.min()), math.log(x.max())
    return -1 if hi > lo and (math.log(v) - lo) / (hi - lo) > 0.5 else 1


def _other_apis(ax, plt, curve: pd.DataFrame, crossovers: pd.DataFrame, others: list[str]) -> int:
    """The APIs the verdict does not rest on, muted; returns how many are left unnamed (thin grey)."""
    x, lo, hi = curve["tokens_per_day"], curve["tokens_per_day"].min(), curve["tokens_per_day"].max()
    named = _labelled_apis(others, crossovers, curve)
    colours = plt.get_cmap("tab10").colors[1:]  # tab10 without its blue, which the reference uses
    for api in others:
        if api not in named:
            ax.plot(x, curve[api], lw=0.6, color="0.82", zorder=1)
    for i, api in enumerate(named):
        colour = colours[i % len(colours)]
        ax.plot(x, curve[api], lw=1.0, color=colour, alpha=MUTED_ALPHA, label=api, zorder=2)
        xv = _crossover_of(crossovers, api)
        if xv is not None and lo <= xv <= hi:
            ax.plot([xv], [_on_line(x, curve[api], xv)], "o", color=colour, alpha=0.7, ms=5, zorder=2)
    return len(others) - len(named)


def _reference_api(ax, curve: pd.DataFrame, crossovers: pd.DataFrame, ref: str, volume: float | None) -> None:
    x = curve["tokens_per_day"]
    ax.plot(x, curve[ref], lw=3.0, color=REFERENCE_COLOUR, zorder=5, label=f"{ref}\n{REFERENCE_SAYS}")
    xv = _crossover_of(crossovers, ref)
    if xv is not None and x.min() <= xv <= x.max():
        yv = _on_line(x, curve[ref], xv)
        ax.plot([xv], [yv], "D", color=REFERENCE_COLOUR, ms=9, mec="black", zorder=6,
                label=f"break-even with it: ~{fmt_tokens(xv, 2)} tokens/day")
        _note(ax, (xv, yv), f"break-even ~{fmt_tokens(xv, 2)} tokens/day", REFERENCE_COLOUR, (22 * _side(x, xv), -40))
    if volume and x.min() <= volume <= x.max():
        yr = _on_line(x, curve[ref], volume)
        ax.plot([volume], [yr], "o", color=REFERENCE_COLOUR, ms=8, mec="black", zorder=6)
        _note(ax, (volume, yr), f"API {fmt_usd(yr)}/month", REFERENCE_COLOUR, (14 * _side(x, volume), -20))


def cost_figure(curve: pd.DataFrame, crossovers: pd.DataFrame, title: str = "", volume: float | None = None,
                reference: str | None = None, self_host_at_volume: float | None = None):
    """The cost-vs-volume figure (a matplotlib Figure; :func:`cost_vs_volume` saves it). Arguments as there."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(12, 6.5))
    x = curve["tokens_per_day"]
    apis = [c for c in curve.columns if " / " in c]
    ref = reference if reference in apis else None if reference else _reference_of(crossovers, apis)
    unnamed = _other_apis(ax, plt, curve, crossovers, [a for a in apis if a != ref])
    ax.step(x, curve["self_host_monthly"], where="post", lw=2.5, color="black", label="self-hosted (full monthly bill)",
            zorder=4)
    if "replica_step" in curve:
        steps = curve[curve["replica_step"].astype(bool)]
        ax.plot(steps["tokens_per_day"], steps["self_host_monthly"], "|", color="black", ms=12, mew=1.5, zorder=4,
                label="replicas added")
    if ref is not None:
        _reference_api(ax, curve, crossovers, ref, volume)
    if volume:
        own = self_host_at_volume if self_host_at_volume is not None else _self_host_at(curve, volume)
        ax.axvline(volume, color=VOLUME_COLOUR, ls="--", lw=1.5, zorder=3,
                   label=f"planned volume: {fmt_tokens(volume)} tokens/day")
        ax.plot([volume], [own], "o", color=VOLUME_COLOUR, ms=10, mec="black", zorder=7,
                label=f"self-hosted there: {fmt_usd(own)}/month")
        api = _on_line(x, curve[ref], volume) if ref is not None else None
        versus = ("" if not api else f" ({fmt_times(own / api)} the API)" if own >= api else
                  f" (the API costs {fmt_times(api / own)} more)")
        _note(ax, (volume, own), f"self-hosted {fmt_usd(own)}/month{versus}", VOLUME_COLOUR,
              (14 * _side(x, volume), 22))
    ax.set(xscale="log", yscale="log", xlabel="tokens per day (input + output)", ylabel="USD per month",
           title=title or "Monthly cost vs volume")
    ax.grid(alpha=0.3, which="both")
    legend = "small dots: break-even with that API" + (f"; grey: {unnamed} other APIs" if unnamed else "")
    if reference and ref is None:  # under data residency the verdict compares with a dedicated offer
        legend += f"\nthe verdict compares with {reference}, billed per hour: not drawn"
    handles, labels = ax.get_legend_handles_labels()
    first = [i for i, lab in enumerate(labels)
             if lab in _KEY_LABELS or lab.startswith(_KEY_PREFIXES) or lab.endswith(REFERENCE_SAYS)]
    order = first + [i for i in range(len(labels)) if i not in first]  # self-hosted, reference, volume; then others
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=8, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), title=legend, title_fontsize=8)
    fig.tight_layout()
    return fig


def cost_vs_volume(curve: pd.DataFrame, crossovers: pd.DataFrame, path: str | Path, title: str = "",
                   volume: float | None = None, reference: str | None = None,
                   self_host_at_volume: float | None = None) -> None:
    """Monthly cost against tokens/day: self-hosting (a step where replicas are added) and one line per API.

    `curve`: :func:`planner.crossover.cost_curve` (tokens_per_day, self_host_monthly, self_host_replicas,
    replica_step, and one monthly-cost column per API, named "provider / model"); `crossovers`: columns api,
    crossover_tokens_per_day (NaN = none in range), and optionally comparison and monthly_cost (the plan's API table);
    `volume`: the planned tokens/day, a vertical line with a point on the self-hosted curve (at
    `self_host_at_volume`, the plan's bill, else the curve's value there); `reference`: the API the verdict compares
    with, drawn thick in a strong colour with its break-even marked (None: read off `crossovers`' comparison words).
    The other APIs are muted; their break-evens are small dots; replica steps are ticks on the self-hosted curve.
    """
    plt = _pyplot()
    fig = cost_figure(curve, crossovers, title, volume, reference, self_host_at_volume)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plan_cost_plot(plan, path: str | Path, title: str = "") -> None:
    """:func:`cost_vs_volume` for a :class:`planner.plan.Plan`: its curve, its reference API and its bill."""
    cost_vs_volume(plan.curve, plan.api.rename(columns={"label": "api"}), path,
                   title or f"{plan.model}: self-hosted vs APIs", volume=plan.workload.tokens_per_day,
                   reference=plan.reference_api, self_host_at_volume=plan.monthly_total_cost)
