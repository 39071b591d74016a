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
- ``input_tokens``, ``output_tokens``: integers ≥ 1, at most
  :data:`~planner.simulate.limits.MAX_REQUEST_TOKENS` (10^8: 10x the longest context window published).

The file is UTF-8 text (a BOM is allowed) of at most :data:`~planner.simulate.limits.MAX_TRACE_BYTES` and
:data:`~planner.simulate.limits.MAX_TRACE_ROWS` requests. A bad file raises :class:`TraceError` naming the file,
the line and the column.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
from datetime import datetime

import numpy as np

from planner.simulate.arrivals import LengthDist, Requests, sample_lengths, validate_lengths
from planner.simulate.limits import MAX_REQUEST_TOKENS, MAX_SIM_SECONDS, MAX_TRACE_BYTES, MAX_TRACE_ROWS
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


class _TooLong(ValueError):
    """A token count above MAX_REQUEST_TOKENS (its own message: the count is a number, just too large)."""


def _parse_tokens(text: str) -> int:
    value = float(text)
    if not math.isfinite(value) or value != int(value) or value < 1:
        raise ValueError(text)
    if value > MAX_REQUEST_TOKENS:
        raise _TooLong(text)
    return int(value)


_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF16_LE, "UTF-16"),
         (codecs.BOM_UTF16_BE, "UTF-16"))


def _read_text(path: str | os.PathLike[str], file: str) -> str:
    """The file's text: at most MAX_TRACE_BYTES of UTF-8 (a BOM allowed), read without reading past that."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TRACE_BYTES + 1)
    except (OSError, ValueError) as exc:  # ValueError: a name with a NUL byte
        raise TraceError(f"cannot read the trace ({getattr(exc, 'strerror', None) or exc}).", file=file) from None
    if len(data) > MAX_TRACE_BYTES:
        raise TraceError(f"larger than {MAX_TRACE_BYTES:,} bytes, the most a trace may be (at most "
                         f"{MAX_TRACE_ROWS:,} requests); keep only the timestamp,input_tokens,output_tokens columns "
                         "or split the file.", file=file)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        encoding = next((name for bom, name in _BOMS if data.startswith(bom)), None)
        what = (f"is {encoding} text (it starts with a {encoding} byte-order mark)" if encoding else
                f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start:,})")
        line = data.count(b"\n", 0, exc.start) + 1
        raise TraceError(f"{what}; a trace must be a UTF-8 CSV file (timestamp,input_tokens,output_tokens): "
                         "save it as UTF-8.", file=file, line=None if encoding else line) from None


def _shown(cell: str, most: int = 40) -> str:
    """A cell for a message: quoted, and cut to its first `most` characters (with its length) when longer."""
    return repr(cell) if len(cell) <= most else f"{cell[:most]!r}... ({len(cell):,} characters)"


def _header_positions(header: list[str], file: str) -> list[int]:
    names = [h.strip().lower() for h in header]
    missing = [c for c in TRACE_COLUMNS if c not in names]
    if missing:
        found = ", ".join(h if h.isprintable() and len(h) <= 40 else _shown(h) for h in header[:6])
        found += f" and {len(header) - 6:,} more" if len(header) > 6 else ""
        raise TraceError(f"missing column(s) {', '.join(missing)}; the header must name "
                         f"{', '.join(TRACE_COLUMNS)} (found: {found or 'nothing'}).",
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
        secs = np.array([(t - t0).total_seconds() for t in times])  # type: ignore[operator]
        return _span_checked(secs, lines, file)
    arr = np.asarray(times, dtype=float)
    bad = np.flatnonzero(~np.isfinite(arr))
    if len(bad):
        raise TraceError("timestamp is not finite.", file=file, line=lines[bad[0]], column="timestamp")
    with np.errstate(over="ignore"):  # timestamps of opposite sign near the float maximum: an infinite span
        secs = arr - arr.min()
    return _span_checked(secs, lines, file)


def _span_checked(seconds: np.ndarray, lines: list[int], file: str) -> np.ndarray:
    """``seconds`` (from the earliest timestamp), refused if they span more than MAX_SIM_SECONDS."""
    if seconds.max() <= MAX_SIM_SECONDS:
        return seconds
    raise TraceError(f"the timestamps span more than {MAX_SIM_SECONDS:.0e} s (31.7 years; "
                     "planner.simulate.limits.MAX_SIM_SECONDS) from the earliest; are they in seconds?", file=file,
                     line=lines[int(np.argmax(seconds))], column="timestamp")


def read_trace(path: str | os.PathLike[str]) -> Requests:
    """Read a ``timestamp, input_tokens, output_tokens`` CSV trace into a request stream."""
    file = str(path)
    text = _read_text(path, file)
    n_lines = text.count("\n") + text.count("\r") - text.count("\r\n")  # as universal newlines reads them
    if n_lines > MAX_TRACE_ROWS + 1:  # counted before any line is split off: blank ones cost memory too
        raise TraceError(f"{n_lines:,} lines, more than the {MAX_TRACE_ROWS:,} requests (and a header) a trace may "
                         "hold (planner.simulate.limits.MAX_TRACE_ROWS); split the file.", file=file)
    rows = csv.reader(io.StringIO(text, newline=None))  # lines end at \n, \r\n or \r
    try:
        header = next(rows, None)
    except csv.Error as exc:
        raise TraceError(f"not a CSV header ({exc}).", file=file, line=1) from None
    if header is None:
        raise TraceError("the file is empty; it needs a header row and one row per request.", file=file)
    pos = _header_positions(header, file)
    times: list[float | datetime] = []
    ins: list[int] = []
    outs: list[int] = []
    lines: list[int] = []
    lineno = 1
    while True:
        try:
            row = next(rows, None)
        except csv.Error as exc:  # a field over csv.field_size_limit() (131,072 characters), a stray quote
            raise TraceError(f"not a CSV row ({exc}); a row is timestamp,input_tokens,output_tokens.", file=file,
                             line=rows.line_num) from None
        if row is None:
            break
        lineno = rows.line_num
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
            except _TooLong:
                raise TraceError(f"{cell} tokens is more than the {MAX_REQUEST_TOKENS:,} one request may have "
                                 "(10x the longest context window published, Llama 4 Scout's 10M).", file=file,
                                 line=lineno, column=name) from None
            except (ValueError, OverflowError):
                want = "seconds or an ISO 8601 date-time" if name == "timestamp" else "an integer >= 1"
                raise TraceError(f"expected {want}, got {_shown(cell)}.", file=file, line=lineno,
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
