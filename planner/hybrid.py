"""Hybrid serving (`plan --hybrid`): self-host the base load on n replicas of the planned configuration and send
what they cannot take, the peaks, to the reference API; the n with the lowest monthly total is the best split.

The day's load (:func:`load_curve`): the workload's 24 hourly multipliers of the mean rate (its hourly profile, or
a usage log's measured mean day), else the two-level day its peak-to-average stands for (planner.workload: peak p
is "busy 24/p hours at p x the mean, idle otherwise"; a fractional hour splits). A flat load is peak 1.

n replicas take ``C = n x replica_rps`` requests/s; each stretch of the day serves ``min(demand, C)`` and the API
gets the rest, at the same input/output mix. With ``h_i`` hours at ``m_i`` x the mean rate::

    self_host_token_share(n) = sum_i h_i min(m_i, C / mean_rps) / sum_i h_i m_i     (1 when C covers the peak)
    self_host_usd(n) = Fleet.monthly_cost(n, the served traffic)                      (0 for n = 0)
    api_usd(n)       = slope x (1 - share) x tokens/day  [+ E(V) - E(share x V) under --compliance-on-api]
    monthly_usd(n)   = self_host_usd + api_usd

``Fleet.monthly_cost`` bills n replicas plus the spares the plan's redundancy policy gives n (redundancy for the
self-hosted part only), every line of the plan's bill, volume lines at the served volume and at the served peak
(min(peak demand, C)). ``slope``: the reference API's USD/month per token/day at the workload's mix, tier and cached
share (planner.api_costs.monthly_usd_per_token_per_day), so n = 0 is the plan's API row. E(v): the compliance lines
both sides pay (Plan.shared); the self-hosted bill holds them at its share, the API side adds their growth to the
full volume (E(V) at n = 0, as the plan's API table; nothing once self-hosting takes everything). n runs from 0
(API only) to N, the replicas the peak needs: self-host only, which with no overflow is the plan's
``monthly_total_cost`` exactly. Ties go to fewer replicas (less committed).

When is the best split all or nothing? On a flat load whose demand is exactly k replicas' rate, replicas 1..k each
serve a full replica's traffic, so ``monthly_usd(n) = S(n) + a x (k - n)`` (S: the self-hosted bill, a: the API
price of one replica's traffic). With ``d_j = S(j) - S(j - 1)`` what the j-th replica adds, an n in 1..k-1 beats
API only iff ``mean(d_1..d_n) < a`` and beats self-host only iff ``mean(d_n+1..d_k) > a``. So the best split is
all or nothing (n* in {0, k}) whenever the replicas up to any n cost at least as much on average as those after it
("front-loaded": true when S is concave, and whenever the first replica's fixed lines outweigh later bumps). It is
NOT so in general: S is not concave where the spares step up (the default policy's N+2 -> N+3 at 18 replicas) or a
new whole instance starts, and a split can then stop one replica short of the step. Demand that is not a multiple
adds the last replica's unused remainder, and a peaky day adds replicas that serve only the peak hours: both make
interior splits possible too.

Crossover of the split (:func:`split_crossover`): the smallest daily volume (same shape, mix and configuration) at
which the best split self-hosts anything (n* > 0), walking a log grid (planner.crossover.log_grid) from 10k to
1T tokens/day and bisecting geometrically between the last grid volume without and the first with; None when the
API alone stays cheapest across the range. A window narrower than a grid step can be missed.

Tables (money in USD/month):

- ``hybrid`` (the main table): one row each for "self-host only", "API only" and "best split": ``option,
  replicas, spare_replicas, gpus, self_host_token_share, api_token_share, self_host_usd, api_usd, monthly_usd``.
- ``split_by_replicas``: every n from 0 to N (thinned to about SHOWN_ROWS rows, the best and its neighbours kept,
  when N is larger): ``replicas, spare_replicas, gpus, self_host_token_share, api_token_share,
  self_host_tokens_per_day, api_tokens_per_day, self_host_usd, api_usd, monthly_usd``.

Token shares are fractions in [0, 1] of the day's input + output tokens; they sum to 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from planner import limits
from planner.api_costs import monthly_usd_per_token_per_day
from planner.crossover import MIN_TOKENS_PER_DAY, POINTS_PER_DECADE, REL_TOL, bisect_volume, log_grid
from planner.units import SECONDS_PER_DAY, fmt_tokens, fmt_usd
from planner.views import View
from planner.workload import HOURS_PER_DAY, Workload
from profiler.errors import InvalidValueError

SHOWN_ROWS = 40  # design choice: a split_by_replicas table longer than this is thinned (a terminal screen or so)
MAX_TOKENS_PER_DAY = limits.MAX_TOKENS_PER_DAY  # the crossover search's top: the largest volume a plan sizes
COLUMNS = ("option", "replicas", "spare_replicas", "self_host_token_share", "api_token_share", "self_host_usd",
           "api_usd", "monthly_usd")  # fits 100 columns (tests/cli/test_cli_hybrid.py); --wide adds gpus
SPLIT_COLUMNS = ("replicas", "spare_replicas", "self_host_token_share", "self_host_usd", "api_usd", "monthly_usd")
SPLIT_TABLE = ("replicas", "spare_replicas", "gpus", "self_host_token_share", "api_token_share",
               "self_host_tokens_per_day", "api_tokens_per_day", "self_host_usd", "api_usd", "monthly_usd")


@dataclass(frozen=True)
class LoadCurve:
    """The day's load as stretches: ``hours[i]`` hours at ``multipliers[i]`` x the mean request rate (hours sum to
    24, the hour-weighted mean of the multipliers is 1). ``source`` says where the shape comes from, in words."""

    hours: tuple[float, ...]
    multipliers: tuple[float, ...]
    source: str

    def served_share(self, capacity: np.ndarray | float) -> np.ndarray:
        """The share of the day's traffic a capacity of `capacity` x the mean rate serves (1 once it covers the
        peak: exact, not summed, so the self-host-only row bills the planned workload as it is)."""
        cap = np.atleast_1d(np.asarray(capacity, dtype=float))
        h, m = np.asarray(self.hours), np.asarray(self.multipliers)
        share = (h * np.minimum(m, cap[:, None])).sum(axis=1) / float((h * m).sum())
        return np.where(cap >= m.max(), 1.0, share)


def load_curve(workload: Workload) -> LoadCurve:
    """The workload's day (module docstring): its 24 hourly multipliers, else its peak-to-average's two levels."""
    if workload.hourly_profile is not None:
        return LoadCurve((1.0,) * HOURS_PER_DAY, workload.hourly_profile, "the workload's hourly profile")
    if workload.daily_curve is not None:
        return LoadCurve((1.0,) * HOURS_PER_DAY, workload.daily_curve, "the usage log's measured mean day")
    p = workload.peak_to_average
    if p <= 1.0:
        return LoadCurve((float(HOURS_PER_DAY),), (1.0,), "a flat load (peak-to-average 1)")
    busy = HOURS_PER_DAY / p
    return LoadCurve((busy, HOURS_PER_DAY - busy), (p, 0.0),
                     f"peak-to-average {p:g}: busy {busy:.3g} h a day at {p:g}x the mean, idle otherwise")


@dataclass(frozen=True)
class HybridSplit:
    """Every split of one workload between n self-hosted replicas and an API (module docstring).

    by_replicas: the ``split_by_replicas`` table, every n from 0 to ``self_host_replicas`` (N). best_replicas: the
    n with the lowest ``monthly_usd`` (fewest on a tie). api: the API's label. curve: the load shape used."""

    by_replicas: pd.DataFrame = field(compare=False)
    best_replicas: int
    self_host_replicas: int
    api: str
    curve: LoadCurve

    def row(self, replicas: int) -> pd.Series:
        """The split at `replicas` self-hosted replicas."""
        return self.by_replicas.iloc[replicas]

    @property
    def best(self) -> pd.Series:
        return self.row(self.best_replicas)

    @property
    def api_only(self) -> pd.Series:
        return self.row(0)

    @property
    def self_host_only(self) -> pd.Series:
        return self.row(self.self_host_replicas)


class _Pricer:
    """Prices n replicas + the API overflow for one workload shape at any volume (the module docstring's sums)."""

    def __init__(self, fleet, workload: Workload, api_row: pd.Series, curve: LoadCurve,
                 shared: Callable[[float], float] | None):
        self.fleet, self.workload, self.curve, self.shared = fleet, workload, curve, shared
        self.slope = float(monthly_usd_per_token_per_day(workload, pd.DataFrame([api_row]))[0])
        self._floor: float | None = None  # per_replica_floor, priced once

    def shares(self, w: Workload, n: np.ndarray) -> np.ndarray:
        return self.curve.served_share(n * self.fleet.replica_rps / w.requests_per_s_mean)

    def served(self, w: Workload, n: int, share: float) -> Workload:
        """The traffic n replicas take: `share` of the volume, peaking at min(the demand's peak, their rate)."""
        if share >= 1.0:
            return w
        s = w.scaled_to(share * w.tokens_per_day)
        peak = min(w.requests_per_s_peak, n * self.fleet.replica_rps) / s.requests_per_s_mean
        return replace(s, hourly_profile=None, daily_curve=None, peak_to_average=min(max(1.0, peak),
                                                                                     w.peak_to_average))

    def api_usd(self, w: Workload, n: int, share: float) -> float:
        usd = self.slope * (1.0 - share) * w.tokens_per_day
        if self.shared is None or share >= 1.0:
            return usd
        full = self.shared(w.tokens_per_day)  # the compliance lines at the full volume, once
        # the self-hosted bill already holds them at its share; max(0, .): rounding of a flat line, never a credit
        return usd + (full if n == 0 else max(0.0, full - self.shared(share * w.tokens_per_day)))

    def row(self, w: Workload, n: int, share: float) -> dict:
        self_usd = self.fleet.monthly_cost(n, self.served(w, n, share)) if n else 0.0
        api_usd = self.api_usd(w, n, share)
        spares = self.fleet.spares(n)
        return {"replicas": n, "spare_replicas": spares, "gpus": self.fleet.gpus(n),
                "self_host_token_share": share, "api_token_share": 1.0 - share,
                "self_host_tokens_per_day": share * w.tokens_per_day,
                "api_tokens_per_day": (1.0 - share) * w.tokens_per_day,
                "self_host_usd": self_usd, "api_usd": api_usd, "monthly_usd": self_usd + api_usd}

    def per_replica_floor(self) -> float:
        """The primary GPU line(s) of one replica [USD/month]: linear in replicas (basis gpu_primary: the primary
        GPUs' rental x its existing-infra share), so n replicas' bill is at least n x this (other lines are >= 0)."""
        if self._floor is None:
            ids = {it.id for it in self.fleet.tco_defaults.items if it.basis == "gpu_primary"}
            items = self.fleet.line_items(1, self.workload)
            self._floor = float(items.loc[items["id"].isin(ids), "monthly_usd"].sum())
        return self._floor

    def self_hosts_any(self, v: float) -> bool:
        """Whether the best split at `v` tokens/day self-hosts anything: some n >= 1 strictly cheaper than none.
        Replicas are priced cheapest floor first (n x per_replica_floor + the API's tokens), only while the floor
        is below the API-only bill."""
        w = self.workload.scaled_to(v)
        api_only = self.api_usd(w, 0, 0.0)
        n = np.arange(1, self.fleet.replicas_for(w.requests_per_s_peak) + 1)
        shares = self.shares(w, n)
        floor = n * self.per_replica_floor() + self.slope * (1.0 - shares) * w.tokens_per_day
        for i in np.argsort(floor, kind="stable"):
            if floor[i] >= api_only:
                return False
            if self.row(w, int(n[i]), float(shares[i]))["monthly_usd"] < api_only:
                return True
        return False

    def never_self_hosts(self) -> bool:
        """True when no volume's split can self-host anything: a replica's full day of tokens costs no more on the
        API than its primary GPUs (n replicas then cost >= n x floor >= the API price of all they serve). Not
        claimed under --compliance-on-api (both sides' compliance lines are priced differently)."""
        w = self.workload
        tokens_per_replica = self.fleet.replica_rps * SECONDS_PER_DAY * w.tokens_per_day / w.requests_per_day
        return self.shared is None and self.slope * tokens_per_replica <= self.per_replica_floor()


def hybrid_split(fleet, workload: Workload, api_row: pd.Series, curve: LoadCurve | None = None,
                 shared: Callable[[float], float] | None = None, replicas: int | None = None) -> HybridSplit:
    """Every split of `workload` between n = 0..N replicas of `fleet` (planner.fleet.Fleet) and the API priced by
    `api_row` (one row of an API price table: provider, model, usd_per_mtok_in/out[, cached, tier multipliers]).
    `curve`: the day's shape (default :func:`load_curve`); `shared`: the compliance lines both sides pay at a
    volume (Plan.shared; None: none). `replicas`: N, self-host only (default: the replicas the workload's peak
    needs; a plan passes its own)."""
    pricer = _Pricer(fleet, workload, api_row, curve or load_curve(workload), shared)
    top = fleet.replicas_for(workload.requests_per_s_peak) if replicas is None else int(replicas)
    n = np.arange(0, top + 1)
    shares = pricer.shares(workload, n)
    shares[0] = 0.0
    rows = [pricer.row(workload, int(k), float(s)) for k, s in zip(n, shares, strict=True)]
    table = pd.DataFrame(rows, columns=SPLIT_TABLE)
    best = int(np.argmin(table["monthly_usd"].to_numpy()))  # argmin: the first, i.e. fewest replicas, on a tie
    return HybridSplit(table, best, top, f"{api_row['provider']} / {api_row['model']}", pricer.curve)


def split_crossover(fleet, workload: Workload, api_row: pd.Series, curve: LoadCurve | None = None,
                    shared: Callable[[float], float] | None = None, *, lo: float = MIN_TOKENS_PER_DAY,
                    hi: float = MAX_TOKENS_PER_DAY, points_per_decade: int = POINTS_PER_DECADE,
                    rel_tol: float = REL_TOL) -> float | None:
    """The smallest daily volume (tokens/day) from which the best split of `workload`'s shape self-hosts anything
    (module docstring); `lo` when it already does there; None when it never does up to `hi`."""
    pricer = _Pricer(fleet, workload, api_row, curve or load_curve(workload), shared)
    if pricer.never_self_hosts():
        return None
    below = None
    for v in log_grid(lo, hi, points_per_decade):
        if pricer.self_hosts_any(float(v)):
            return float(v) if below is None else bisect_volume(pricer.self_hosts_any, below, float(v), rel_tol)
        below = float(v)
    return None


def reference_price_row(plan, cat) -> pd.Series:
    """The price row of the plan's reference API in `cat.api_prices` (the catalogue the plan priced with)."""
    labels = cat.api_prices["provider"] + " / " + cat.api_prices["model"]
    rows = cat.api_prices[labels == plan.reference_api]
    if plan.workload.data_residency or rows.empty:
        raise InvalidValueError(f"--hybrid sends the peaks to a per-token API, and this plan's reference "
                                f"({plan.reference_api}) is not one: data residency rules out shared APIs. Drop "
                                "--hybrid, or --data-residency if the data may leave")
    return rows.iloc[0]


def hybrid_view(plan, req, fleet, cat) -> View:
    """The ``hybrid`` budget view of `plan` (module docstring): the three options side by side, every split, the
    sentences and the record. `req` (PlanRequest) is not read: the plan holds the workload and the prices."""
    del req  # the signature every budget view shares (planner.api._views)
    row = reference_price_row(plan, cat)
    split = hybrid_split(fleet, plan.workload, row, shared=plan.shared, replicas=int(plan.deployment["replicas"]))
    cross = split_crossover(fleet, plan.workload, row, split.curve, plan.shared)
    main = pd.DataFrame([_option("self-host only", split.self_host_only), _option("API only", split.api_only),
                         _option("best split", split.best)])
    record = {"best_replicas": split.best_replicas, "best_spare_replicas": int(split.best["spare_replicas"]),
              "best_monthly_usd": float(split.best["monthly_usd"]),
              "self_host_token_share": float(split.best["self_host_token_share"]),
              "api_only_usd": float(split.api_only["monthly_usd"]),
              "self_host_only_usd": float(split.self_host_only["monthly_usd"]),
              "crossover_tokens_per_day": cross, "api": split.api, "load_shape": split.curve.source}
    return View("hybrid", f"Hybrid: self-host the base load, send the peaks to {split.api}",
                {"hybrid": main, "split_by_replicas": _shown(split)},
                {"hybrid": COLUMNS, "split_by_replicas": SPLIT_COLUMNS}, tuple(_lines(split, cross, plan.workload)),
                record)


def _option(name: str, r: pd.Series) -> dict:
    keep = ("replicas", "spare_replicas", "gpus", "self_host_token_share", "api_token_share", "self_host_usd",
            "api_usd", "monthly_usd")
    return {"option": name, **{k: r[k] for k in keep}}


def _shown(split: HybridSplit) -> pd.DataFrame:
    """split_by_replicas as printed: every n up to SHOWN_ROWS rows, else evenly spaced n with both ends and the
    best split's neighbours."""
    t = split.by_replicas
    if len(t) <= SHOWN_ROWS:
        return t
    keep = set(np.linspace(0, len(t) - 1, SHOWN_ROWS - 3).round().astype(int))
    keep |= {max(0, split.best_replicas - 1), split.best_replicas, min(len(t) - 1, split.best_replicas + 1)}
    return t.iloc[sorted(keep)].reset_index(drop=True)


def _pct(x: float) -> str:
    """A share in words: whole percent, two decimals near 0 and 1 (so 99.6% does not read as everything)."""
    return f"{x:.0%}" if x in (0.0, 1.0) or 0.01 <= x <= 0.99 else f"{x:.2%}"


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _saving(best: float, other: float, name: str) -> str:
    if other <= best:
        return f"nothing against {name} ({fmt_usd(other)})"
    return f"{fmt_usd(other - best)} ({_pct((other - best) / other)}) against {name} ({fmt_usd(other)})"


def _lines(split: HybridSplit, cross: float | None, workload: Workload) -> list[str]:
    b, n = split.best, split.best_replicas
    spares = _count(int(b["spare_replicas"]), "spare")
    if n == 0:
        head = (f"Best split: the API alone ({split.api}), {fmt_usd(b['monthly_usd'])}/month; no replica pays for "
                "itself.")
    elif b["api_token_share"] == 0:
        head = (f"Best split: self-host everything on {_count(n, 'replica')} + {spares}, "
                f"{fmt_usd(b['monthly_usd'])}/month; sending the peaks to the API saves nothing.")
    else:
        head = (f"Best split: {_count(n, 'self-hosted replica')} + {spares} serve "
                f"{_pct(b['self_host_token_share'])} of the tokens, {split.api} the other "
                f"{_pct(b['api_token_share'])}: {fmt_usd(b['monthly_usd'])}/month.")
    saves = (f"It saves {_saving(b['monthly_usd'], split.self_host_only['monthly_usd'], 'self-hosting only')} and "
             f"{_saving(b['monthly_usd'], split.api_only['monthly_usd'], 'the API only')}.")
    shape = (f"Load shape: {split.curve.source}; spares are sized for the self-hosted replicas only, and the API "
             "takes whatever they cannot serve.")
    lo, hi = fmt_tokens(MIN_TOKENS_PER_DAY), fmt_tokens(MAX_TOKENS_PER_DAY)
    if cross is None:
        where = f"From {lo} to {hi} tokens/day (this shape, this configuration) the API alone stays cheapest."
    else:
        where = (f"The split self-hosts part of the traffic from about {fmt_tokens(cross, 2)} tokens/day (this shape, "
                 "this configuration); below that the API alone is cheapest.")
    lines = [head, saves, shape, where]
    top = max(split.curve.multipliers)
    if workload.peak_to_average > top * (1 + 1e-9):  # a usage log: sized for its busiest hour, priced on its mean day
        lines.append(f"Self-hosting only is sized for the busiest hour ({workload.peak_to_average:.3g}x the mean); the "
                     f"split is priced on the mean day, whose busiest hour is {top:.3g}x.")
    return lines


__all__ = ["LoadCurve", "HybridSplit", "load_curve", "hybrid_split", "split_crossover", "hybrid_view",
           "reference_price_row"]
