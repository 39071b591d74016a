"""Latency, throughput and occupancy of one simulated run, over a steady-state window.

Definitions (all times in seconds; a request's ``arrival`` is when it reaches the replica):

- **TTFT** (time to first token) = time the first output token is emitted − arrival.
- **TPOT** (time per output token) = (e2e − TTFT) / (output_tokens − 1): the mean gap after the
  first token, *excluding* it; undefined (left out) for 1-token outputs. Preemption stalls count.
- **ITL** (inter-token latency) = the gap between two consecutive tokens of one request, pooled over
  every token emitted in the window (token-weighted, as vLLM's benchmark reports it). A decode
  token's gap is the duration of the step that produced it; a token produced right after a
  preempted request is re-prefilled has the gap since the request's previous token.
- **E2E** (end-to-end latency) = time the last token is emitted − arrival.
- **Queue wait** = first admission into the running batch − arrival.
- Percentiles: p50/p90/p99 by linear interpolation (``numpy.percentile``) for per-request metrics;
  ITL by the inverted empirical CDF of the token-weighted step durations. Means are arithmetic.

Window: requests arriving in the first ``warmup_s`` (default: the first 10 % of the arrival span)
are excluded; the window runs from ``first arrival + warmup_s`` to the last arrival.
Per-request metrics cover the accepted requests that *arrive* in the window (each is followed to
completion). Rates and time averages cover what happens *during* the window:

- **Rejected** = requests arriving in the window that the engine refuses up front (prompt + output
  larger than the KV cache or ``max_model_len``, :func:`planner.simulate.engine.rejected_mask`);
  **rejected fraction** = rejected / requests arriving in the window (accepted + rejected).
  The latency percentiles are of the accepted requests only; a rejected request has no latency.
- **Throughput** = requests completing in the window / window length [req/s]; **output tokens/s** =
  tokens emitted in the window / window length.
- **Goodput** = requests *completing* in the window that met every SLO given (TTFT ≤ ``ttft_p99_s``
  and TPOT ≤ ``tpot_p99_s``; a 1-token request has no TPOT to miss) / window length [req/s]: the
  same requests as the throughput counts, so goodput ≤ throughput always. (Counting the good
  requests that *arrive* in the window instead would credit the window with completions that
  happen after it, and goodput could exceed throughput.)
  **Goodput fraction** = requests arriving in the window that meet every SLO / *all* requests
  arriving in the window (SLO attainment of the offered requests): a rejected request counts as
  missing every SLO.
- **Meets the SLOs** (:meth:`SimMetrics.meets`): p99 TTFT and p99 TPOT within the targets *and*
  the rejected fraction at most :data:`MAX_REJECTED_FRACTION` (a p99 objective lets 1 % of
  requests miss it; a refused request misses it).
- **KV utilisation** = KV blocks in use / ``kv_blocks``, time-weighted over the window (idle time
  counts as 0); max over steps.
- **Queue length** = requests that have arrived but not yet been admitted for the first time,
  integrated exactly over each request's ``[arrival, first admission)`` interval
  (:mod:`planner.simulate.occupancy`): time-weighted mean and max over the window. Little's law
  on the queue: queue_mean ≈ arrival rate × mean queue wait. **In system** = the same over
  ``[arrival, last token]`` (in_system_mean ≈ arrival rate × mean E2E). **Running** = requests in
  the running batch, time-weighted from the step records (exact: the batch is fixed within a
  step). in_system − queue − running = preempted requests waiting to resume.
- **Queue growth** = least-squares slope of the binned queue length over the window,
  times the window length [requests]. The run is **stable** when the growth is at most
  ``max(5, mean queue length)`` (a queue growing linearly from zero grows by twice its mean).
- **Preemptions** = preemption events among the measured requests.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from planner.simulate import occupancy
from planner.simulate.engine import EngineRun, expand_segments
from profiler.errors import InvalidValueError

DEFAULT_WARMUP_FRACTION = 0.1  # share of the arrival span left out as warm-up (our choice)
STABLE_MIN_GROWTH = 5.0  # requests: queue growth below this is noise, whatever the mean
PERCENTILES = (50, 90, 99)
ITL_EXPAND_MAX_STEPS = 1_000_000  # up to this many steps ITL is computed step by step; above, per segment
SLO_PERCENTILE = 99  # the latency objectives are p99s (SloTargets)
# A p99 objective lets 1 - 99/100 = 1 % of requests miss it; a request the engine refuses misses every
# objective, so a run refusing more than this share cannot meet a p99 SLO whatever its latencies.
MAX_REJECTED_FRACTION = 1 - SLO_PERCENTILE / 100


@dataclass(frozen=True)
class SloTargets:
    """Latency objectives [s]; ``None`` = no objective. Met at the run level when the p99 is below
    (and at most :data:`MAX_REJECTED_FRACTION` of the arrivals are refused, see :meth:`SimMetrics.meets`)."""

    ttft_p99_s: float | None = None
    tpot_p99_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("ttft_p99_s", "tpot_p99_s"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and v > 0):
                raise InvalidValueError(f"SloTargets.{name} must be > 0 seconds or None, got {v!r}.")


@dataclass(frozen=True)
class LatencyStats:
    """Mean and percentiles of one latency [s] over ``count`` samples (NaN when there are none)."""

    count: int
    mean: float
    p50: float
    p90: float
    p99: float

    @classmethod
    def of(cls, x: np.ndarray) -> LatencyStats:
        x = x[np.isfinite(x)]
        if not len(x):
            return cls(0, np.nan, np.nan, np.nan, np.nan)
        p = np.percentile(x, PERCENTILES)
        return cls(len(x), float(x.mean()), float(p[0]), float(p[1]), float(p[2]))

    @classmethod
    def weighted(cls, x: np.ndarray, w: np.ndarray) -> LatencyStats:
        """Stats of values ``x`` each repeated ``w`` times (inverted-CDF percentiles)."""
        keep = w > 0
        x, w = x[keep], w[keep]
        total = int(w.sum())
        if not total:
            return cls(0, np.nan, np.nan, np.nan, np.nan)
        order = np.argsort(x, kind="stable")
        x, cw = x[order], np.cumsum(w[order])
        idx = np.searchsorted(cw, np.array(PERCENTILES) / 100.0 * total, side="left")
        q = x[np.minimum(idx, len(x) - 1)]
        return cls(total, float(np.dot(x, w[order]) / total), float(q[0]), float(q[1]), float(q[2]))

    @classmethod
    def progressions(cls, a: np.ndarray, d: np.ndarray, n: np.ndarray, w: np.ndarray,
                     x: np.ndarray, xw: np.ndarray) -> LatencyStats:
        """Stats of values ``a + d · j`` (j < ``n``) weighted ``w``, plus values ``x`` weighted ``xw``.

        Percentiles by the inverted CDF (the smallest value whose cumulative weight reaches the
        share), found by bisection on the value, so the progressions are never expanded.
        """
        total = int(np.dot(w, n) + xw.sum())
        if not total:
            return cls(0, np.nan, np.nan, np.nan, np.nan)
        mean = (np.dot(w, n * a + d * n * (n - 1) / 2) + np.dot(xw, x)) / total
        flat = d <= 0

        def weight_upto(v: float) -> float:
            k = np.where(flat, np.where(a <= v, n, 0), np.floor((v - a) / np.where(flat, 1.0, d)) + 1)
            return float(np.dot(w, np.clip(k, 0, n)) + xw[x <= v].sum())

        lo = min(a.min(initial=np.inf), x.min(initial=np.inf))
        hi = max((a + d * (n - 1)).max(initial=-np.inf), x.max(initial=-np.inf))
        qs = []
        for p in PERCENTILES:
            target, lo_p, hi_p = p / 100.0 * total, lo, hi
            if weight_upto(lo_p) >= target:
                qs.append(lo_p)
                continue
            while hi_p - lo_p > 1e-9 * hi_p:  # invariant: weight_upto(lo_p) < target <= weight_upto(hi_p)
                mid = (lo_p + hi_p) / 2
                if weight_upto(mid) >= target:
                    hi_p = mid
                else:
                    lo_p = mid
            qs.append(hi_p)
        return cls(total, float(mean), float(qs[0]), float(qs[1]), float(qs[2]))


@dataclass(frozen=True)
class SimMetrics:
    """Metrics of one run (see the module docstring for every definition). Times [s], rates [1/s].

    ``series`` is a DataFrame with one row per time bin of the window: ``time_s`` (bin start),
    ``waiting`` (the queue, as ``queue_mean``) and ``running`` (time-weighted mean requests),
    ``kv_utilisation`` (mean fraction).
    """

    window_start_s: float
    window_end_s: float
    requests_measured: int
    requests_rejected: int
    rejected_fraction: float
    ttft: LatencyStats
    tpot: LatencyStats
    itl: LatencyStats
    e2e: LatencyStats
    queue_wait: LatencyStats
    throughput_rps: float
    output_tokens_per_s: float
    arrival_rate_per_s: float
    goodput_rps: float
    goodput_fraction: float
    kv_util_mean: float
    kv_util_max: float
    preemptions: int
    queue_mean: float
    queue_max: int
    running_mean: float
    in_system_mean: float
    queue_growth: float
    stable: bool
    slo: SloTargets = field(default_factory=SloTargets)
    series: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)

    @property
    def window_s(self) -> float:
        return self.window_end_s - self.window_start_s

    def meets(self, slo: SloTargets | None = None) -> bool:
        """True when the p99 TTFT and p99 TPOT are within ``slo`` (default: the run's own) and no more
        than :data:`MAX_REJECTED_FRACTION` of the arrivals were refused."""
        slo = slo or self.slo
        ok_ttft = slo.ttft_p99_s is None or self.ttft.p99 <= slo.ttft_p99_s
        ok_tpot = slo.tpot_p99_s is None or not self.tpot.count or self.tpot.p99 <= slo.tpot_p99_s
        return bool(ok_ttft and ok_tpot and not self.rejected_fraction > MAX_REJECTED_FRACTION)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the time series as lists under ``series``)."""
        d = {k: v for k, v in asdict(self).items() if k != "series"}
        d["window_s"] = self.window_s
        d["series"] = {c: self.series[c].tolist() for c in self.series.columns}
        return d

    def to_frame(self) -> pd.DataFrame:
        """Long table for rendering: columns ``metric``, ``stat``, ``value``, ``unit``."""
        rows: list[tuple[str, str, float, str]] = []
        for name in ("ttft", "tpot", "itl", "e2e", "queue_wait"):
            s = getattr(self, name)
            rows += [(name, stat, getattr(s, stat), "s") for stat in ("mean", "p50", "p90", "p99")]
        rows += [
            ("throughput", "mean", self.throughput_rps, "req/s"),
            ("output_tokens", "mean", self.output_tokens_per_s, "tok/s"),
            ("arrival_rate", "mean", self.arrival_rate_per_s, "req/s"),
            ("goodput", "mean", self.goodput_rps, "req/s"),
            ("goodput_fraction", "mean", self.goodput_fraction, "1"),
            ("kv_utilisation", "mean", self.kv_util_mean, "1"),
            ("kv_utilisation", "max", self.kv_util_max, "1"),
            ("queue_length", "mean", self.queue_mean, "req"),
            ("queue_length", "max", float(self.queue_max), "req"),
            ("running", "mean", self.running_mean, "req"),
            ("in_system", "mean", self.in_system_mean, "req"),
            ("preemptions", "count", float(self.preemptions), "events"),
            ("requests_measured", "count", float(self.requests_measured), "req"),
            ("requests_rejected", "count", float(self.requests_rejected), "req"),
            ("rejected_fraction", "mean", self.rejected_fraction, "1"),
            ("window", "length", self.window_s, "s"),
        ]
        return pd.DataFrame(rows, columns=["metric", "stat", "value", "unit"])


def measurement_window(run: EngineRun, warmup_s: float | None = None) -> tuple[float, float]:
    """``(start, end)`` [s]: first arrival + warm-up to the last arrival (whole run if degenerate)."""
    arr = run.requests.arrival_s
    if not len(arr):
        raise InvalidValueError("The run has no requests to measure.")
    span = float(arr[-1] - arr[0])
    if warmup_s is None:
        warmup_s = DEFAULT_WARMUP_FRACTION * span
    if not warmup_s >= 0:
        raise InvalidValueError(f"warmup_s must be >= 0, got {warmup_s}.")
    start, end = float(arr[0]) + warmup_s, float(arr[-1])
    if end > start:
        return start, end
    if warmup_s > 0 and span > 0:
        raise InvalidValueError(f"warmup_s ({warmup_s:g} s) leaves no window: the arrivals span {span:g} s.")
    finish = run.finish_s[np.isfinite(run.finish_s)]
    return float(arr[0]), max(float(finish.max()) if len(finish) else 0.0, float(arr[0]) + 1e-9)


@dataclass(frozen=True, eq=False)
class _Windowed:
    """Segment time inside the window: ``ov`` [s] per segment, and the share of its steps."""

    ov: np.ndarray
    share: np.ndarray
    seen: np.ndarray  # segments that overlap the window (or start in it, if zero-length)


def _windowed(run: EngineRun, w0: float, w1: float) -> _Windowed:
    dur = run.seg_duration_s
    start = run.seg_start_s
    ov = np.clip(np.minimum(start + dur, w1) - np.maximum(start, w0), 0.0, None)
    inside = (start >= w0) & (start <= w1)
    share = np.where(dur > 0, ov / np.where(dur > 0, dur, 1.0), inside.astype(float))
    return _Windowed(ov, share, (ov > 0) | inside)


def _series(run: EngineRun, win: _Windowed, w0: float, w1: float, bins: int) -> pd.DataFrame:
    """Time-weighted means per bin of the window: the queue integrated exactly per request, running and
    KV from the steps (a segment is attributed to the bin it starts in)."""
    edges = np.linspace(w0, w1, bins + 1)
    which = np.clip(np.searchsorted(edges, run.seg_start_s, side="right") - 1, 0, bins - 1)
    width = np.diff(edges)

    def binned(values: np.ndarray) -> np.ndarray:
        return np.bincount(which, weights=values * win.ov, minlength=bins) / width

    kv = (run.kv_first + run.kv_last) / 2 / run.config.kv_blocks
    arr, sched = _queue_intervals(run)
    return pd.DataFrame({"time_s": edges[:-1], "waiting": occupancy.binned_mean(arr, sched, edges),
                         "running": binned(run.running), "kv_utilisation": binned(kv)})


def _queue_intervals(run: EngineRun) -> tuple[np.ndarray, np.ndarray]:
    """``[arrival, first admission)`` of every accepted request [s]."""
    keep = ~run.rejected
    return run.requests.arrival_s[keep], run.first_scheduled_s[keep]


def _growth(series: pd.DataFrame, window_s: float) -> float:
    """Least-squares slope of the binned waiting queue times the window length [requests]."""
    if len(series) < 2:
        return 0.0
    slope = np.polyfit(series["time_s"].to_numpy(), series["waiting"].to_numpy(), 1)[0]
    return float(slope * window_s)


def _itl(run: EngineRun, w0: float, w1: float) -> LatencyStats:
    """Token-weighted inter-token gaps of every token emitted in the window.

    Segments wholly inside the window are used as arithmetic progressions of step durations
    (weight: decodes per step); the few that straddle a window edge are expanded step by step.
    """
    start, steps, dt0, ddt = run.seg_start_s, run.seg_steps, run.seg_dt_s, run.seg_ddt_s
    end = start + run.seg_duration_s
    inside = (start >= w0) & (end <= w1) & (run.decode_seqs > 0)
    if run.n_steps <= ITL_EXPAND_MAX_STEPS:  # small enough: expand everything (faster than bisecting)
        inside[:] = False
    edge = np.flatnonzero(~inside & (end >= w0) & (start <= w1) & (run.decode_seqs > 0))
    seg, j = expand_segments(steps[edge])
    seg = edge[seg]
    dt = dt0[seg] + ddt[seg] * j
    t_end = start[seg] + j * dt0[seg] + ddt[seg] * j * (j - 1) / 2 + dt
    ok = (t_end >= w0) & (t_end <= w1)
    rin = (run.resume_at_s >= w0) & (run.resume_at_s <= w1)
    x = np.concatenate([dt[ok], run.resume_gap_s[rin]])
    w = np.concatenate([run.decode_seqs[seg][ok], np.ones(int(rin.sum()), dtype=np.int64)])
    if not inside.any():
        return LatencyStats.weighted(x, w)
    return LatencyStats.progressions(dt0[inside], ddt[inside], steps[inside], run.decode_seqs[inside], x, w)


def _good(run: EngineRun, slo: SloTargets) -> np.ndarray:
    """Per request: accepted and within every SLO given (a 1-token output has no TPOT to miss)."""
    arr, out = run.requests.arrival_s, run.requests.output_tokens
    ttft, e2e = run.first_token_s - arr, run.finish_s - arr
    good = ~run.rejected & np.isfinite(run.finish_s)
    with np.errstate(invalid="ignore"):
        if slo.ttft_p99_s is not None:
            good &= ttft <= slo.ttft_p99_s
        if slo.tpot_p99_s is not None:
            good &= (out <= 1) | ((e2e - ttft) / np.maximum(out - 1, 1) <= slo.tpot_p99_s)
    return good


def _per_request(run: EngineRun, slo: SloTargets, w0: float, w1: float) -> dict[str, Any]:
    """Latency stats of the requests arriving in the window; good requests arriving and finishing in it."""
    arr, fin = run.requests.arrival_s, run.finish_s
    arrived = (arr >= w0) & (arr <= w1)
    measured = arrived & ~run.rejected
    ttft = (run.first_token_s - arr)[measured]
    e2e = (fin - arr)[measured]
    out = run.requests.output_tokens[measured]
    tpot = np.where(out > 1, (e2e - ttft) / np.maximum(out - 1, 1), np.nan)
    good = _good(run, slo)
    return {
        "requests_measured": int(measured.sum()), "requests_rejected": int((arrived & run.rejected).sum()),
        "ttft": LatencyStats.of(ttft), "tpot": LatencyStats.of(tpot), "e2e": LatencyStats.of(e2e),
        "queue_wait": LatencyStats.of((run.first_scheduled_s - arr)[measured]),
        "preemptions": int(run.preemptions[measured].sum()), "good": int((good & arrived).sum()),
        "good_finished": int((good & (fin >= w0) & (fin <= w1)).sum()),
    }


def summarize(run: EngineRun, slo: SloTargets | None = None, *, warmup_s: float | None = None,
              bins: int = 60) -> SimMetrics:
    """Metrics of ``run`` over its measurement window (definitions in the module docstring)."""
    slo = slo or SloTargets()
    w0, w1 = measurement_window(run, warmup_s)
    window = w1 - w0
    req = _per_request(run, slo, w0, w1)
    good, good_finished = req.pop("good"), req.pop("good_finished")
    win = _windowed(run, w0, w1)
    series = _series(run, win, w0, w1, max(1, int(bins)))
    q_arr, q_sched = _queue_intervals(run)
    queue_mean = occupancy.window_mean(q_arr, q_sched, w0, w1)
    growth = _growth(series, window)
    arr, fin = run.requests.arrival_s, run.finish_s
    arrived = req["requests_measured"] + req["requests_rejected"]
    return SimMetrics(
        window_start_s=w0, window_end_s=w1, **req, itl=_itl(run, w0, w1),
        throughput_rps=float(np.count_nonzero((fin >= w0) & (fin <= w1)) / window),
        output_tokens_per_s=float(np.dot(run.tokens_out * run.seg_steps, win.share) / window),
        arrival_rate_per_s=float(np.count_nonzero((arr >= w0) & (arr <= w1)) / window),
        goodput_rps=good_finished / window,
        goodput_fraction=good / arrived if arrived else math.nan,
        rejected_fraction=req["requests_rejected"] / arrived if arrived else 0.0,
        kv_util_mean=float(np.dot(run.kv_first + run.kv_last, win.ov) / 2 / window / run.config.kv_blocks),
        kv_util_max=float(run.kv_last[win.seen].max(initial=0) / run.config.kv_blocks),
        queue_mean=queue_mean, queue_max=occupancy.window_max(q_arr, q_sched, w0, w1),
        running_mean=float(np.dot(run.running, win.ov) / window),
        in_system_mean=occupancy.window_mean(arr[~run.rejected], fin[~run.rejected], w0, w1),
        queue_growth=growth, stable=bool(growth <= max(STABLE_MIN_GROWTH, queue_mean)),
        slo=slo, series=series,
    )
