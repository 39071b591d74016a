"""PNG plots of the budget views (planner.views): the growth view's months and the hybrid view's splits.

`plan --plot cost.png` draws the cost curve (planner.plots.plan_cost_plot); with ``--growth`` or ``--hybrid`` it also
draws ``cost-growth.png`` and ``cost-hybrid.png`` beside it (:func:`view_plot_paths`). Pure renderers of the views'
tables (columns documented in planner.growth and planner.hybrid).
"""

from __future__ import annotations

from pathlib import Path

from planner.units import fmt_usd
from planner.views import View

PLOTTED = ("growth", "hybrid")  # the views with a picture


def view_plot_paths(plot: Path, views) -> dict[str, Path]:
    """The extra PNG per plotted view beside `plot`: cost.png -> cost-growth.png, cost-hybrid.png."""
    return {v.name: plot.with_name(f"{plot.stem}-{v.name}{plot.suffix}") for v in views if v.name in PLOTTED}


def growth_plot(view: View, path: str | Path, title: str = "") -> None:
    """Monthly cost over the months: this configuration re-sized, the cheapest re-planned, the reference API; the
    replicas (with spares' GPUs) on a second axis, stepping where the volume needs another replica."""
    from planner.plots import _pyplot

    plt = _pyplot()
    df = view.main.astype({"gpus": float})  # months past the planner's limits hold no value (NaN: not drawn)
    fig, ax = plt.subplots(figsize=(10, 5))
    ax.plot(df["month"], df["self_host_usd"], color="black", lw=2.2, drawstyle="steps-post",
            label="self-hosted, this configuration re-sized")
    if df["replanned_usd"].notna().any():
        ax.plot(df["month"], df["replanned_usd"], color="tab:gray", lw=1.4, ls="--", drawstyle="steps-post",
                label="self-hosted, cheapest configuration re-planned")
    api = view.record.get("reference_api", "reference")
    ax.plot(df["month"], df["api_usd"], color="tab:blue", lw=2.2, label=f"API ({api})")
    g = view.record.get("growth_per_month")
    heading = f"monthly cost as the volume grows {g:+.1%} a month" if g is not None else view.title
    ax.set(xlabel="month", ylabel="USD per month", yscale="log", title=f"{title}: {heading}" if title else heading)
    ax.grid(alpha=0.3, which="both")
    _dollars(ax)
    ax2 = ax.twinx()
    ax2.plot(df["month"], df["gpus"], color="tab:orange", lw=1.2, drawstyle="steps-post", label="GPUs (with spares)")
    ax2.set_ylabel("GPUs (with spares)", color="tab:orange")
    ax2.set_ylim(0, max(1.0, float(df["gpus"].max(skipna=True) or 1.0)) * 1.15)
    lines = ax.get_legend_handles_labels()
    more = ax2.get_legend_handles_labels()
    fig.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))  # room below the axes for the legend
    fig.savefig(path, dpi=120)
    plt.close(fig)


def hybrid_plot(view: View, path: str | Path, title: str = "") -> None:
    """The monthly bill at each self-hosted replica count, split into its self-hosted and API parts (stacked
    bars), the API-only and self-host-only ends and the best split marked."""
    from planner.plots import _pyplot

    plt = _pyplot()
    df = view.tables["split_by_replicas"]
    best = int(view.record["best_replicas"])
    fig, ax = plt.subplots(figsize=(10, 5))
    x = df["replicas"].to_numpy()
    ax.bar(x, df["self_host_usd"], color="0.25", label="self-hosted part (replicas + their spares, full bill)")
    ax.bar(x, df["api_usd"], bottom=df["self_host_usd"], color="tab:blue", alpha=0.8,
           label="API part (what the replicas cannot serve)")
    row = df[df["replicas"] == best]
    if len(row):
        total = float(row["monthly_usd"].iloc[0])
        share = float(row["self_host_token_share"].iloc[0])
        ax.annotate(f"best split: {best} replica(s), {share:.0%} of tokens self-hosted, {fmt_usd(total)}/month",
                    (best, total), xytext=(0.5, 0.93), textcoords="axes fraction", ha="center", fontsize=9,
                    arrowprops={"arrowstyle": "->", "color": "tab:red"}, color="tab:red",
                    bbox={"boxstyle": "round", "fc": "white", "ec": "tab:red"})
    from matplotlib.ticker import MaxNLocator

    heading = f"the day's tokens split between self-hosted replicas\nand {view.record.get('api', 'the API')}"
    ax.set(xlabel="self-hosted replicas (0 = API only; the last = self-host only)", ylabel="USD per month",
           title=f"{title}: {heading}" if title else heading)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, float(df["monthly_usd"].max()) * 1.3)  # headroom for the best split's label
    _dollars(ax)
    ax.grid(alpha=0.3, axis="y")
    fig.legend(*ax.get_legend_handles_labels(), fontsize=8, loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))  # room below the axes for the legend
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _dollars(ax) -> None:
    """The y axis in dollars ($12,588), as the tables print them."""
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: fmt_usd(y)))


def view_plot(view: View, path: str | Path, title: str = "") -> None:
    """The picture of `view` (PLOTTED views only)."""
    {"growth": growth_plot, "hybrid": hybrid_plot}[view.name](view, path, title)


__all__ = ["PLOTTED", "view_plot_paths", "growth_plot", "hybrid_plot", "view_plot"]
