"""The measured volume: a workload from a usage log (the framework's step 1, issue 19 item 1; issue 14 item 8).

The seed's framework starts from "the actual monthly token volume (measured, not projected)". A usage log is the
request trace layout of ``simulate --trace`` (planner.simulate.trace.read_trace): a UTF-8 CSV with a header row
naming ``timestamp,input_tokens,output_tokens`` (any order, case-insensitive, extra columns ignored) and one row per
request, e.g. an export of your API provider's or gateway's usage::

    timestamp,input_tokens,output_tokens
    1767225600.0,812,164          # seconds: Unix epoch seconds, or seconds from any origin
    1767225600.4,1540,92          # (or ISO 8601 date-times such as 2026-01-01T00:00:00Z, every row the same kind)

``input_tokens`` and ``output_tokens`` are integers >= 1. A missing column, a bad number, an empty file or a
header without rows is refused in one line naming the file, line and column (planner.simulate.trace.TraceError).

The time base of the clock hours (:func:`clock_origin`):

- numeric timestamps from 946,684,800 (2000-01-01 UTC) up to 4,102,444,800 (2100-01-01) are Unix epoch seconds:
  hours are UTC clock hours (design choice: a log counted from its own start would have to run 30 years to
  reach 2000-01-01, so no relative log is mistaken for one); the same range x 1,000 is refused as epoch
  milliseconds (the log needs seconds);
- ISO 8601 date-times with a zone: UTC clock hours; without a zone: the clock hours as written;
- any other numbers (seconds from the first request, say): hours counted from the first request.

From it::

    span_days          = (last arrival - first arrival) / 86,400 s; a log shorter than a day is taken as one
                         day's traffic (said in the source text: a partial day would otherwise be scaled up)
    tokens_in_per_day  = sum(input_tokens) / max(span_days, 1)         (output likewise)
    requests_per_day   = requests / max(span_days, 1)
    hour slots         = the clock hours from the one holding the first request to the one holding the last (an
                         arrival exactly on an hour boundary closes the slot before it); requests counted per slot
    peak_to_average    = the busiest slot's requests / the mean requests per slot (only for logs of at least a
                         day; else the workload's default 2). The busiest single hour: conservative sizing
    daily_curve        = the mean day: for each clock hour 0-23, the mean requests over the slots at that clock
                         hour, normalised to mean 1 (logs of at least a day; else None). Partial days: each clock
                         hour is averaged over the times it occurs in the log (a 2.5-day log sees some hours 3
                         times, others 2), so no hour weighs more for being seen more often; the first and last
                         slots count as whole hours though the log may cover only part of them (at most 2 of the
                         >= 24 slots read low)
    input/output sigma = standard deviation of ln(length) (the lognormal LengthDist the p99 sizing uses)

The curve is by request count, the unit the peak sizes in (request lengths are taken not to depend on the hour).
Everything else (SLOs, availability, needs) comes from the base workload and the flags.
"""

from __future__ import annotations

import csv
import math
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from planner.units import SECONDS_PER_DAY
from planner.workload import Workload
from profiler.errors import InvalidValueError

SECONDS_PER_HOUR = 3600.0
HOURS_PER_DAY = 24
# Unix epoch seconds of 2000-01-01T00:00:00Z and 2100-01-01T00:00:00Z: the range read as epoch seconds (docstring)
EPOCH_FIRST_S = 946_684_800.0
EPOCH_LAST_S = 4_102_444_800.0
MS_PER_S = 1000.0


def _sigma(lengths: np.ndarray) -> float:
    logs = np.log(lengths.astype(float))
    return float(logs.std()) if len(logs) > 1 else 0.0


def _earliest_timestamp(path: str | Path) -> float | datetime:
    """The earliest timestamp cell of a log read_trace has accepted (numbers or ISO date-times, not mixed)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = csv.reader(f)
        col = [h.strip().lower() for h in next(rows)].index("timestamp")
        cells = [r[col].strip() for r in rows if r and any(c.strip() for c in r)]
    try:
        return min(float(c) for c in cells)
    except ValueError:  # ISO 8601 date-times (read_trace refuses a mix)
        return min(datetime.fromisoformat(c[:-1] + "+00:00" if c.endswith(("Z", "z")) else c) for c in cells)


def clock_origin(path: str | Path) -> tuple[float | None, str]:
    """(the first request's time in seconds on the clock the hours are read from, the time base in words); None
    when the timestamps are not on a clock (hours then count from the first request). See the module docstring."""
    t0 = _earliest_timestamp(path)
    if isinstance(t0, datetime):
        if t0.tzinfo is not None:
            return t0.timestamp(), "UTC clock hours"
        return t0.replace(tzinfo=timezone.utc).timestamp(), "clock hours as written"
    if EPOCH_FIRST_S <= t0 < EPOCH_LAST_S:
        return t0, "UTC clock hours"
    if EPOCH_FIRST_S * MS_PER_S <= t0 < EPOCH_LAST_S * MS_PER_S:
        raise InvalidValueError(f"{path}: column 'timestamp': {t0:.0f} looks like Unix epoch milliseconds; a usage "
                                "log needs seconds (divide by 1,000)")
    return None, "hours from the first request"


def hour_slots(arrival_s: np.ndarray, span_s: float, origin_s: float | None) -> tuple[np.ndarray, np.ndarray]:
    """(requests per hour slot, the clock hour 0-23 of each slot) for arrivals [s from the first request]."""
    offset = 0.0 if origin_s is None else origin_s % SECONDS_PER_HOUR
    first_hour = 0 if origin_s is None else int(origin_s // SECONDS_PER_HOUR)
    slots = max(1, math.ceil((span_s + offset) / SECONDS_PER_HOUR))
    index = np.minimum(((arrival_s + offset) // SECONDS_PER_HOUR).astype(int), slots - 1)
    counts = np.bincount(index, minlength=slots).astype(float)
    return counts, (first_hour + np.arange(slots)) % HOURS_PER_DAY


def daily_curve(counts: np.ndarray, clock_hours: np.ndarray) -> tuple[float, ...]:
    """The mean day's 24 multipliers (hour 0 first, mean 1): each clock hour's mean requests over its slots."""
    per_hour = np.bincount(clock_hours, weights=counts, minlength=HOURS_PER_DAY)
    seen = np.bincount(clock_hours, minlength=HOURS_PER_DAY)
    if seen.min() == 0:
        raise InvalidValueError("a daily curve needs every clock hour in the log (a log of at least a day)")
    mean_day = per_hour / seen
    return tuple(float(v) for v in mean_day / mean_day.mean())


def workload_from_usage_log(path: str | Path, base: Workload) -> Workload:
    """`base` with its volumes, request count, peak, daily curve and length spreads measured from the log (module
    docstring)."""
    from planner.simulate.trace import read_trace

    req = read_trace(path)
    span = float(req.arrival_s[-1] - req.arrival_s[0])
    days = max(span / SECONDS_PER_DAY, 1.0)
    t_in, t_out = float(req.input_tokens.sum()) / days, float(req.output_tokens.sum()) / days
    origin, base_text = clock_origin(path)
    peak, curve = None, None
    if span >= SECONDS_PER_DAY:
        counts, clock = hour_slots(req.arrival_s - req.arrival_s[0], span, origin)
        curve = daily_curve(counts, clock)
        peak = max(1.0, float(counts.max() / counts.mean()), max(curve))  # the busiest slot, never below the curve
    cover = (f"{span / SECONDS_PER_DAY:.3g} days" if span >= SECONDS_PER_DAY else
             f"{span / SECONDS_PER_HOUR:.3g} h, taken as one day's traffic")
    shape = ("" if curve is None else
             f"; {base_text}: busiest hour {peak:.3g}x the mean (sized for), the mean day's busiest hour "
             f"{max(curve):.3g}x and quietest {min(curve):.3g}x (the daily curve)")
    source = f"usage log {path}: {len(req):,} requests over {cover} (measured{shape})"
    return replace(base, tokens_in_per_day=t_in, tokens_out_per_day=t_out, requests_per_day=len(req) / days,
                   input_dist=replace(base.input_dist, kind="lognormal", sigma=_sigma(req.input_tokens)),
                   output_dist=replace(base.output_dist, kind="lognormal", sigma=_sigma(req.output_tokens)),
                   peak_to_average=peak if peak is not None else base.peak_to_average, hourly_profile=None,
                   daily_curve=curve, volume_source=source, name=Path(path).stem)


__all__ = ["workload_from_usage_log", "clock_origin", "hour_slots", "daily_curve"]
