"""The measured volume: a workload from a usage log (the framework's step 1, issue 19 item 1).

The seed's framework starts from "the actual monthly token volume (measured, not projected)". A usage log is the
request trace layout (planner.simulate.trace: ``timestamp,input_tokens,output_tokens``, one row per request; an
export of your API provider's or gateway's usage). From it::

    span_days          = (last arrival - first arrival) / 86,400 s; a log shorter than a day is taken as one
                         day's traffic (said in the source text: a partial day would otherwise be scaled up)
    tokens_in_per_day  = sum(input_tokens) / max(span_days, 1)         (output likewise)
    requests_per_day   = requests / max(span_days, 1)
    peak_to_average    = the busiest clock hour's requests / the mean requests per hour over the whole hours
                         the log covers (only for logs of at least a day; else the workload's default 2)
    input/output sigma = standard deviation of ln(length) (the lognormal LengthDist the p99 sizing uses)

Everything else (SLOs, availability, needs) comes from the base workload and the flags.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from planner.units import SECONDS_PER_DAY
from planner.workload import Workload

SECONDS_PER_HOUR = 3600.0


def _sigma(lengths: np.ndarray) -> float:
    logs = np.log(lengths.astype(float))
    return float(logs.std()) if len(logs) > 1 else 0.0


def _peak_to_average(arrival_s: np.ndarray, span_s: float) -> float | None:
    if span_s < SECONDS_PER_DAY:
        return None
    hours = max(1, math.ceil(span_s / SECONDS_PER_HOUR))
    counts = np.bincount(np.minimum((arrival_s // SECONDS_PER_HOUR).astype(int), hours - 1), minlength=hours)
    return max(1.0, float(counts.max() / counts.mean()))


def workload_from_usage_log(path: str | Path, base: Workload) -> Workload:
    """`base` with its volumes, request count, peak and length spreads measured from the log (module docstring)."""
    from planner.simulate.trace import read_trace

    req = read_trace(path)
    span = float(req.arrival_s[-1] - req.arrival_s[0]) if len(req) else 0.0
    days = max(span / SECONDS_PER_DAY, 1.0)
    t_in, t_out = float(req.input_tokens.sum()) / days, float(req.output_tokens.sum()) / days
    peak = _peak_to_average(req.arrival_s - req.arrival_s[0], span)
    cover = (f"{span / SECONDS_PER_DAY:.3g} days" if span >= SECONDS_PER_DAY else
             f"{span / SECONDS_PER_HOUR:.3g} h, taken as one day's traffic")
    source = (f"usage log {path}: {len(req):,} requests over {cover} (measured"
              f"{'' if peak is None else f'; peak hour {peak:.3g}x the mean'})")
    return replace(base, tokens_in_per_day=t_in, tokens_out_per_day=t_out, requests_per_day=len(req) / days,
                   input_dist=replace(base.input_dist, kind="lognormal", sigma=_sigma(req.input_tokens)),
                   output_dist=replace(base.output_dist, kind="lognormal", sigma=_sigma(req.output_tokens)),
                   peak_to_average=peak if peak is not None else base.peak_to_average, hourly_profile=None,
                   volume_source=source, name=Path(path).stem)


__all__ = ["workload_from_usage_log"]
