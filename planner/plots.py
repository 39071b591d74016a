"""PNG plots (matplotlib, from the `report` extra). Pure renderers of DataFrames made elsewhere."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from planner.simulate.metrics import SloTargets
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


MAX_LABELLED_APIS = 12  # APIs named in the legend; the rest are drawn as thin grey lines


def _labelled_apis(apis: list[str], crossovers: pd.DataFrame, curve: pd.DataFrame) -> list[str]:
    """Every API self-hosting crosses in range, then the cheapest, up to MAX_LABELLED_APIS."""
    hit = crossovers.dropna(subset=["crossover_tokens_per_day"])
    crossing = [a for a in hit.sort_values("crossover_tokens_per_day")["api"] if a in apis]
    cheapest = sorted(apis, key=lambda a: float(curve[a].iloc[-1]))
    out = list(dict.fromkeys(crossing + cheapest))
    return out[:MAX_LABELLED_APIS]


def cost_vs_volume(curve: pd.DataFrame, crossovers: pd.DataFrame, path: str | Path, title: str = "",
                   volume: float | None = None) -> None:
    """Monthly cost against tokens/day: self-hosting (a step where replicas are added) and one line per API.

    `curve`: :func:`planner.crossover.cost_curve` (tokens_per_day, self_host_monthly, self_host_replicas,
    replica_step, and one monthly-cost column per API, named "provider / model"); `crossovers`: columns api,
    crossover_tokens_per_day (NaN = none in range); `volume`: the planned tokens/day, marked by a line.
    Crossovers are dots on the API's line; replica steps are ticks on the self-hosted curve.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(12, 6.5))
    x = curve["tokens_per_day"]
    apis = [c for c in curve.columns if " / " in c]
    named = _labelled_apis(apis, crossovers, curve)
    for api in apis:
        if api not in named:
            ax.plot(x, curve[api], lw=0.6, color="0.8", zorder=1)
    colours = plt.get_cmap("tab20").colors  # 20 distinct colours for at most MAX_LABELLED_APIS lines
    for i, api in enumerate(named):
        (line,) = ax.plot(x, curve[api], lw=1.2, label=api, zorder=2, color=colours[i % len(colours)])
        hit = crossovers[crossovers["api"] == api]["crossover_tokens_per_day"].dropna()
        if len(hit):  # the API's cost is linear in volume: its value at the crossover is slope x v
            xv = float(hit.iloc[0])
            yv = float(curve[api].iloc[-1] / x.iloc[-1] * xv)
            ax.plot([xv], [yv], "o", color=line.get_color(), ms=8, mec="black", zorder=4)
    ax.step(x, curve["self_host_monthly"], where="post", lw=2.5, color="black", label="self-hosted (full TCO)",
            zorder=3)
    if "replica_step" in curve:
        steps = curve[curve["replica_step"].astype(bool)]
        ax.plot(steps["tokens_per_day"], steps["self_host_monthly"], "|", color="black", ms=12, mew=1.5, zorder=3,
                label="replicas added")
    if volume:
        ax.axvline(volume, color="tab:red", ls="--", lw=1, label=f"planned volume ({volume:,.0f}/day)")
    ax.set(xscale="log", yscale="log", xlabel="tokens per day (input + output)", ylabel="USD per month",
           title=title or "Monthly cost vs volume")
    ax.grid(alpha=0.3, which="both")
    extra = len(apis) - len(named)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5),
              title=f"dots: crossover; grey: {extra} other APIs" if extra else "dots: crossover", title_fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
