"""Trace replay: read a request trace from CSV into a :class:`~planner.simulate.arrivals.Requests`.

File layout (one request per row, a header row first; extra columns are ignored, names are
case-insensitive)::

    timestamp,input_tokens,output_tokens
    0.000,812,164
    0.135,1540,92
    2025-03-01T12:00:01.250Z,230,311      # ISO 8601 also works (every row the same kind)

- ``timestamp``: seconds (a float, any origin) or an ISO 8601 date-time (``Z`` or an offset, or
  naive — but not a mix). Arrival times are taken relative to the earliest row; rows are sorted
  by time (stable, so equal times keep file order).
- ``input_tokens``, ``output_tokens``: integers ≥ 1.

A bad file raises :class:`TraceError` naming the file, the line and the column.
"""

from __future__ import annotations

import csv
import math
import os
from datetime import datetime
from pathlib import Path

import numpy as np

from planner.simulate.arrivals import LengthDist, Requests, sample_lengths, validate_lengths
from profiler.errors import InvalidValueError

TRACE_COLUMNS = ("timestamp", "input_tokens", "output_tokens")


class TraceError(InvalidValueError):
    """A request trace that cannot be read. The message names file, line and column."""

    def __init__(self, message: str, *, file: str, line: int | None = None, column: str | None = None):
        where = f"{file}:{line}" if line else file
        if column:
            where += f": column '{column}'"
        super().__init__(f"{where}: {message}")
        self.file, self.line, self.column = file, line, column


def _parse_time(text: str) -> float | datetime:
    try:
        return float(text)
    except ValueError:
        pass
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    return datetime.fromisoformat(iso)  # ValueError if neither


def _parse_tokens(text: str) -> int:
    value = float(text)
    if not math.isfinite(value) or value != int(value) or value < 1:
        raise ValueError(text)
    return int(value)


def _header_positions(header: list[str], file: str) -> list[int]:
    names = [h.strip().lower() for h in header]
    missing = [c for c in TRACE_COLUMNS if c not in names]
    if missing:
        raise TraceError(f"missing column(s) {', '.join(missing)}; the header must name "
                         f"{', '.join(TRACE_COLUMNS)} (found: {', '.join(header) or 'nothing'}).",
                         file=file, line=1)
    return [names.index(c) for c in TRACE_COLUMNS]


def _seconds(times: list[float | datetime], lines: list[int], file: str) -> np.ndarray:
    """Timestamps to seconds since the earliest one; refuses a mix of numbers and date-times."""
    kinds = {type(t) is datetime for t in times}
    if len(kinds) > 1:
        first_dt = next(i for i, t in enumerate(times) if isinstance(t, datetime))
        raise TraceError("mixes numeric and ISO timestamps; use one kind throughout.",
                         file=file, line=lines[first_dt], column="timestamp")
    if kinds == {True}:
        aware = {t.tzinfo is not None for t in times}  # type: ignore[union-attr]
        if len(aware) > 1:
            raise TraceError("mixes ISO timestamps with and without a time zone.", file=file,
                             line=lines[0], column="timestamp")
        t0 = min(times)  # type: ignore[type-var]
        return np.array([(t - t0).total_seconds() for t in times])  # type: ignore[operator]
    arr = np.asarray(times, dtype=float)
    bad = np.flatnonzero(~np.isfinite(arr))
    if len(bad):
        raise TraceError("timestamp is not finite.", file=file, line=lines[bad[0]], column="timestamp")
    return arr - arr.min()


def read_trace(path: str | os.PathLike[str]) -> Requests:
    """Read a ``timestamp, input_tokens, output_tokens`` CSV trace into a request stream."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise TraceError(f"cannot read the trace ({exc.strerror or exc}).", file=file) from None
    rows = csv.reader(text.splitlines())
    header = next(rows, None)
    if header is None:
        raise TraceError("the file is empty; it needs a header row and one row per request.", file=file)
    pos = _header_positions(header, file)
    times: list[float | datetime] = []
    ins: list[int] = []
    outs: list[int] = []
    lines: list[int] = []
    for lineno, row in enumerate(rows, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) <= max(pos):
            raise TraceError(f"expected at least {max(pos) + 1} fields, found {len(row)}.",
                             file=file, line=lineno)
        for name, parse, dest in zip(TRACE_COLUMNS, (_parse_time, _parse_tokens, _parse_tokens),
                                     (times, ins, outs), strict=True):
            cell = row[pos[TRACE_COLUMNS.index(name)]].strip()
            try:
                dest.append(parse(cell))
            except (ValueError, OverflowError):
                want = "seconds or an ISO 8601 date-time" if name == "timestamp" else "an integer >= 1"
                raise TraceError(f"expected {want}, got {cell!r}.", file=file, line=lineno,
                                 column=name) from None
        lines.append(lineno)
    if not times:
        raise TraceError("the trace has a header but no requests.", file=file)
    arrival = _seconds(times, lines, file)
    order = np.argsort(arrival, kind="stable")
    ins_a, outs_a = np.asarray(ins, dtype=np.int64), np.asarray(outs, dtype=np.int64)
    return Requests(arrival[order], ins_a[order], outs_a[order])


def with_lengths(requests: Requests, *, input_tokens: LengthDist | None = None,
                 output_tokens: LengthDist | None = None, seed: int = 0) -> Requests:
    """The same arrival times with input and/or output lengths redrawn from distributions."""
    in_rng, out_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    n = len(requests)
    ins, outs = requests.input_tokens, requests.output_tokens
    if input_tokens is not None:
        validate_lengths("input_tokens", input_tokens)
        ins = sample_lengths(input_tokens, in_rng, n)
    if output_tokens is not None:
        validate_lengths("output_tokens", output_tokens)
        outs = sample_lengths(output_tokens, out_rng, n)
    return Requests(requests.arrival_s, ins, outs)


def at_rate(requests: Requests, rate_per_s: float) -> Requests:
    """Replay a trace faster or slower: time scaled so the mean rate ``(n − 1) / span`` is ``rate_per_s``."""
    if not (isinstance(rate_per_s, (int, float)) and math.isfinite(rate_per_s) and rate_per_s > 0):
        raise InvalidValueError(f"rate_per_s must be a finite number > 0, got {rate_per_s!r}.")
    if len(requests) < 2 or requests.duration_s == 0:
        raise InvalidValueError("A trace needs at least two distinct timestamps to be replayed at a rate.")
    factor = (len(requests) - 1) / requests.duration_s / rate_per_s
    t0 = requests.arrival_s[0]
    return Requests((requests.arrival_s - t0) * factor, requests.input_tokens, requests.output_tokens)
