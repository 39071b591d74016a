"""PNG of simulated latency percentiles against offered load, with the SLOs and the SLO capacity marked.

A renderer of the DataFrame :func:`planner.simulate_api.load_curve` makes (``offered_rps`` and
``{ttft,tpot}_{p50,p90,p99}_s``). It sits here rather than in ``planner/plots.py`` only because that
module belongs to another part of the tree; it uses the same matplotlib loader.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from planner.simulate.metrics import SloTargets

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
    from planner.plots import _pyplot

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
