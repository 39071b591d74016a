"""The ``collectives:`` section of the calibration file and its use by an Efficiency.

Beside ``calibrations: {gpu: {quant: ...}}`` the file written by ``inferplan calibrate`` holds::

    collectives:
      h100-sxm:
        2: {latency_s: 1.2e-05, busbw_bytes_per_s: 1.5e+11, points: 24, sizes: 8, fitted_at: ..., source_file: ...,
            error_after: {median: 0.02, max: 0.06}, error_before: {median: 0.3, max: 0.5}}

(:mod:`profiler.analytic.collective_fit`). Code that reads only ``calibrations:`` ignores it. Each entry is
checked when its GPU is looked up: a bad value is a CatalogueError naming the file, entry and field.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from profiler.analytic.collective_fit import CollectiveFit
from profiler.errors import CatalogueError
from profiler.specs import Efficiency

SECTION = "collectives"
# Accepted stored values. Design choice: wide sanity bounds, not physics: a latency of a second or more, or a bus
# bandwidth outside 1 kB/s .. 1 PB/s (NVLink 5 is 0.9 TB/s per direction), is a broken file, not a measurement.
LATENCY_RANGE = (0.0, 1.0)  # s
BUSBW_RANGE = (1e3, 1e15)  # B/s


def _rounded(x: float) -> float | None:
    return None if x != x else round(float(x), 5)


def entry(fit: CollectiveFit, stamp: str, source_file: str) -> dict[str, Any]:
    """The stored form of one (gpu, tp) fit (6 significant digits: what later profiles compute with)."""
    return {"latency_s": float(f"{fit.latency_s:.6g}"), "busbw_bytes_per_s": float(f"{fit.busbw_bytes_per_s:.6g}"),
            "points": fit.points, "sizes": fit.sizes, "fitted_at": stamp, "source_file": source_file,
            "error_after": {"median": _rounded(fit.error_after), "max": _rounded(fit.error_max_after)},
            "error_before": {"median": _rounded(fit.error_before), "max": _rounded(fit.error_max_before)}}


def check_section(section: Any, path: Path) -> dict:
    """The section's shape, {gpu: {tp: {...}}} with integer tp >= 2; {} when absent."""
    if section is None:
        return {}
    shape = "expected 'collectives: {gpu: {tp: {latency_s: ..., busbw_bytes_per_s: ...}}}'"
    if not isinstance(section, dict) or not all(isinstance(v, dict) for v in section.values()):
        raise CatalogueError(shape, file=str(path), entry=SECTION)
    for gpu, by_tp in section.items():
        for tp, fields in by_tp.items():
            if isinstance(tp, bool) or not isinstance(tp, int) or tp < 2:
                raise CatalogueError(f"tp keys are integers >= 2, got {tp!r}", file=str(path),
                                     entry=f"{SECTION}/{gpu}")
            if not isinstance(fields, dict):
                raise CatalogueError(shape, file=str(path), entry=f"{SECTION}/{gpu}/{tp}")
    return section


def _number(fields: dict, key: str, path: Path, where: str, low: float, high: float) -> float:
    value = fields.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise CatalogueError(f"must be a number in [{low:g}, {high:g}], got {value!r}", file=str(path), entry=where,
                             field=key)
    return float(value)


def lines(section: dict, gpu_id: str, path: Path) -> tuple[tuple[int, float, float], ...]:
    """The checked (tp, latency_s, busbw_bytes_per_s) lines of `gpu_id`, sorted by tp; () when it has none."""
    out = []
    for tp, fields in (section.get(gpu_id) or {}).items():
        where = f"{SECTION}/{gpu_id}/{tp}"
        out.append((int(tp), _number(fields, "latency_s", path, where, *LATENCY_RANGE),
                    _number(fields, "busbw_bytes_per_s", path, where, *BUSBW_RANGE)))
    return tuple(sorted(out))


def apply(eff: Efficiency, gpu_id: str, section: dict, path: Path) -> Efficiency:
    """`eff` with the file's all-reduce lines for `gpu_id` (Efficiency.allreduce) and a note in its source."""
    found = lines(section, gpu_id, path)
    if not found:
        return eff
    first = section[gpu_id][found[0][0]]
    text = ", ".join(f"tp {tp}: {lat * 1e6:.3g} us + busbw {bw / 1e9:.3g} GB/s" for tp, lat, bw in found)
    note = (f"collective: calibrated {path} ({text}; {first.get('fitted_at', '?')} from "
            f"{first.get('source_file') or 'a measured profile'})")
    return replace(eff, allreduce=found, source=f"{eff.source}; {note}" if eff.source else note)
