"""The tornado chart of `inferplan sensitivity --plot` (matplotlib, from the `report` extra; imported when drawn).

One row per input, the largest swing at the top: two half-height bars from today's self-hosted monthly total to the
total at the low end (lower half) and at the high end (upper half) of the input's range, each end labelled with the
input's value and the total there; a line at today's total; a bar whose end turns the verdict is hatched and edged in
red, with a diamond at the total where it turns and the words "→ <verdict> at <value>". When the self-hosted total at
which the reference API would reach the margin (API cost ÷ margin) falls near the bars it is drawn as a dashed line.
"""

from __future__ import annotations

from pathlib import Path

from planner.plots import _pyplot
from planner.units import fmt_usd

LOW_COLOUR, HIGH_COLOUR, FLIP_COLOUR = "tab:blue", "tab:orange", "tab:red"
HALF = 0.36  # bar height: two per row (low below, high above), 0.72 of the row together (design choice)


def _money(x: float) -> str:
    """Axis and label money: $950, $12.6K, $1.2M."""
    for div, suffix in ((1e6, "M"), (1e3, "K")):
        if abs(x) >= div:
            return f"${x / div:,.3g}{suffix}"
    return fmt_usd(x)


def _tex(text: str) -> str:
    """`text` with its dollar signs escaped: two of them would start matplotlib's mathtext."""
    return text.replace("$", r"\$")


def _end(ax, y: float, base: float, total: float, text: str, colour: str, flip) -> None:
    """One half-bar from `base` to `total` and its label beyond its end (left of a bar that ends at or below today
    for the low end, right otherwise)."""
    if total != total:  # NaN: no configuration at this end
        ax.text(base, y, _tex(f"  {text}: no plan"), va="center", fontsize=8, color="0.35")
        return
    ax.barh(y, total - base, left=base, height=HALF, color=colour, alpha=0.85,
            hatch="///" if flip else None, edgecolor=FLIP_COLOUR if flip else colour, lw=1.2 if flip else 0.5)
    right = total > base or (total == base and colour == HIGH_COLOUR)
    words = f"{text}: {_money(total)}" + (f"   → {flip.to_decision} at {flip.label}" if flip else "")
    ax.annotate(_tex(words), (total, y), xytext=(4 if right else -4, 0), textcoords="offset points", va="center",
                ha="left" if right else "right", fontsize=8, color=FLIP_COLOUR if flip else "0.15",
                bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8}, zorder=6)  # over lines
    if flip and flip.monthly_usd == flip.monthly_usd:
        ax.plot([flip.monthly_usd], [y], "D", color=FLIP_COLOUR, mec="black", ms=6, zorder=5)


def tornado_figure(s, title: str = ""):
    """The figure for a planner.sensitivity.Sensitivity (rows in its table's order, the first at the top)."""
    plt = _pyplot()
    t = s.table
    n = len(t)
    fig, ax = plt.subplots(figsize=(11, 1.6 + 0.62 * n))
    flips = {(f.input, f.side): f for f in s.flips}
    for i, r in enumerate(t.itertuples()):
        y = n - 1 - i
        _end(ax, y - HALF / 2, s.base_monthly_usd, r.low_monthly_usd, r.low, LOW_COLOUR, flips.get((r.input, "low")))
        _end(ax, y + HALF / 2, s.base_monthly_usd, r.high_monthly_usd, r.high, HIGH_COLOUR,
             flips.get((r.input, "high")))
    ax.axvline(s.base_monthly_usd, color="black", lw=1.2, zorder=4)
    totals = [v for v in (*t["low_monthly_usd"], *t["high_monthly_usd"], s.base_monthly_usd) if v == v]
    lo, hi = min(totals), max(totals)
    pad = max(hi - lo, 0.02 * s.base_monthly_usd) * 0.45  # room for the end labels either side
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(-0.7, n - 0.3)
    pays = s.base_api_monthly_usd / s.margin if s.margin else float("nan")
    if lo - pad <= pays <= hi + pad:
        ax.axvline(pays, color=FLIP_COLOUR, ls="--", lw=1.0, zorder=3)
        words = f"self-hosting pays below {_money(pays)}\n(today's API cost ÷ {s.margin:g})"
        ax.annotate(_tex(words), (pays, n - 0.35), xytext=(4, 0), textcoords="offset points", fontsize=8,
                    color=FLIP_COLOUR, va="top")
    ax.set_yticks(range(n), [_tex(f"{w}\n(today: {b})") for w, b in zip(t["what"][::-1], t["base"][::-1], strict=True)],
                  fontsize=9)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: _money(x)))
    ax.set_xlabel("self-hosted cost, USD per month (full bill)")
    ax.grid(axis="x", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=LOW_COLOUR), plt.Rectangle((0, 0), 1, 1, color=HIGH_COLOUR),
               plt.Line2D([], [], color="black", lw=1.2)]
    labels = ["low end of the range", "high end of the range", f"today: {fmt_usd(s.base_monthly_usd)}/month"]
    if s.flips:
        handles.append(plt.Line2D([], [], marker="D", color=FLIP_COLOUR, mec="black", ls=""))
        labels.append(f"verdict turns (today: {s.base_decision})")
    ax.legend(handles, [_tex(x) for x in labels], fontsize=8, loc="lower right")
    note = (f"Today: {s.deployment}; verdict {s.base_decision}. Reference API {s.reference_api}: "
            f"{fmt_usd(s.base_api_monthly_usd)}/month; self-hosting needs it to cost {s.margin:g}× the bill.")
    if not lo - pad <= pays <= hi + pad:
        note += f" Self-hosting would pay only below {_money(pays)}/month (that ÷ {s.margin:g}), off this chart."
    fig.text(0.01, 0.005, _tex(note), fontsize=8, color="0.3", va="bottom", wrap=True)
    ax.set_title(title or f"{s.model}: what moves the monthly cost of self-hosting")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def tornado_plot(s, path: str | Path, title: str = "") -> None:
    """Save :func:`tornado_figure` to `path` (.png, .svg or .pdf)."""
    plt = _pyplot()
    fig = tornado_figure(s, title)
    fig.savefig(path, dpi=120)
    plt.close(fig)


__all__ = ["tornado_figure", "tornado_plot"]
