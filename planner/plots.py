"""PNG plots (matplotlib, from the `report` extra). Pure renderers of DataFrames made elsewhere."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from profiler.errors import InferplanError


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise InferplanError("plots need matplotlib: pip install 'inferplan[report]'") from exc
    return plt


def latency_vs_load(sweep: pd.DataFrame, path: str | Path) -> None:
    """TTFT and TPOT percentiles (p50/p90/p99) against offered load (requests/s)."""
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for q, style in (("p50", ":"), ("p90", "--"), ("p99", "-")):
        ax1.plot(sweep["offered_rps"], sweep[f"ttft_{q}_s"], style, marker="o", label=q)
        ax2.plot(sweep["offered_rps"], sweep[f"tpot_{q}_s"] * 1e3, style, marker="o", label=q)
    ax1.set(xlabel="offered load [requests/s]", ylabel="TTFT [s]", title="Time to first token", yscale="log")
    ax2.set(xlabel="offered load [requests/s]", ylabel="TPOT [ms]", title="Time per output token")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def cost_vs_volume(curve: pd.DataFrame, crossovers: pd.DataFrame, path: str | Path, title: str = "") -> None:
    """Monthly cost against tokens/day: self-hosting (steps where replicas are added) and one line per API.

    `curve`: columns tokens_per_day, self_host_monthly, and one monthly-cost column per API (named
    "provider / model"); `crossovers`: columns api, crossover_tokens_per_day (NaN = none in range).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 6))
    x = curve["tokens_per_day"]
    ax.step(x, curve["self_host_monthly"], where="post", lw=2.5, color="black", label="self-hosted (full TCO)")
    apis = [c for c in curve.columns if c not in ("tokens_per_day", "self_host_monthly", "replicas")]
    for api in apis:
        (line,) = ax.plot(x, curve[api], lw=1, label=api)
        hit = crossovers[crossovers["api"] == api]["crossover_tokens_per_day"].dropna()
        if len(hit):
            xv = float(hit.iloc[0])
            yv = float(pd.Series(curve[api].values, index=x).reindex([xv], method="nearest").iloc[0])
            ax.plot([xv], [yv], "o", color=line.get_color(), ms=7)
    ax.set(xscale="log", yscale="log", xlabel="tokens per day (input + output)", ylabel="USD per month",
           title=title or "Monthly cost vs volume")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
