"""Fit the tensor-parallel all-reduce line to measured TP rows: ``t = latency + 2 (tp - 1) / tp x bytes / busbw``.

A measured row with ``tp > 1`` carries ``allreduce_bytes`` (one of its step's all-reduces, per GPU) and
``allreduce_ms`` (the median time of one all-reduce of that size over the TP group, timed alone). Per (gpu, tp)
the two parameters are fitted by weighted least squares on the relative error (weights 1 / t), ``latency >= 0``
(a negative optimum is refitted with latency 0) and ``busbw > 0`` (a time that does not grow with the message
size is refused). ``2 (tp - 1) / tp x bytes / busbw`` is the ring all-reduce's bandwidth term and busbw NCCL's
bus bandwidth (NVIDIA/nccl-tests@03a204a1f38aaea17f1a777885bb2d9600ba7eff:doc/PERFORMANCE.md, "AllReduce":
``t = (S / B) x (2 (n - 1) / n)``, ``busbw = algbw x 2 (n - 1) / n``), so busbw compares across TP sizes and
with ``all_reduce_perf``. The error before is that of the catalogue's per-interconnect time
(:func:`profiler.analytic.kernel_efficiency.allreduce_time_s`), n/a for a machine outside the GPU catalogue
(the CPU/gloo runs: gpu 'cpu'). Pure numpy/pandas: no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from profiler.analytic import kernel_efficiency as ke
from profiler.specs import GpuSpec

NCCL_BUSBW = "NVIDIA/nccl-tests@03a204a1f38aaea17f1a777885bb2d9600ba7eff:doc/PERFORMANCE.md (AllReduce busbw)"
MIN_SIZES = 2  # two unknowns (latency, busbw): at least two distinct message sizes
COLUMNS = ("allreduce_bytes", "allreduce_ms")
REPORT_COLUMNS = ("gpu", "tp", "points", "sizes", "latency_us", "busbw_gb_s", "err_before_pct", "err_before_max_pct",
                  "err_after_pct", "err_after_max_pct")


def ring_factor(tp: int) -> float:
    """2 (tp - 1) / tp: bytes each GPU sends per byte of message in a ring all-reduce (NCCL_BUSBW)."""
    return 2.0 * (tp - 1) / tp


def ring_time_s(message_bytes: float, tp: int, latency_s: float, busbw_bytes_per_s: float) -> float:
    """One all-reduce of `message_bytes` over `tp` GPUs on a fitted line [s]; 0 at tp = 1."""
    if tp <= 1:
        return 0.0
    return latency_s + ring_factor(tp) * float(message_bytes) / busbw_bytes_per_s


@dataclass(frozen=True)
class CollectiveFit:
    """One (gpu, tp) line. Errors are fractions of the measured time (0.05 = 5 %); NaN before: no catalogue time."""

    gpu: str
    tp: int
    latency_s: float
    busbw_bytes_per_s: float
    points: int
    sizes: int  # distinct message sizes
    error_before: float  # median |catalogue - measured| / measured
    error_max_before: float
    error_after: float
    error_max_after: float


def collective_points(measured: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """(gpu, tp, bytes, t_s) of every measured TP row that carries both columns, and a line per GPU whose TP rows
    lack them (profiles from before the TP runner, or analytic rows)."""
    tp_rows = measured[pd.to_numeric(measured["tp"]).fillna(1).to_numpy(dtype=float) > 1]
    have = tp_rows.reindex(columns=list(COLUMNS)).apply(pd.to_numeric, errors="coerce")
    ok = (have["allreduce_bytes"] > 0) & (have["allreduce_ms"] > 0)
    notes = []
    for gpu, rows in tp_rows[~ok].groupby("gpu", sort=True):
        tps = ",".join(str(t) for t in sorted(set(rows["tp"].astype(int))))
        notes.append(f"{len(rows)} TP row(s) of {gpu} (tp {tps}) lack {' / '.join(COLUMNS)}: no all-reduce fit "
                     "from them, their efficiency fit prices the all-reduce from the catalogue (or a smaller TP fit); "
                     "measure with `profile --measure --tp N` under torchrun to fit it")
    points = pd.DataFrame({"gpu": tp_rows.loc[ok, "gpu"].astype(str), "tp": tp_rows.loc[ok, "tp"].astype(int),
                           "bytes": have.loc[ok, "allreduce_bytes"].astype(float),
                           "t_s": have.loc[ok, "allreduce_ms"].astype(float) / 1e3})
    return points.reset_index(drop=True), notes


def fit_line(message_bytes: np.ndarray, tp: int, t_s: np.ndarray) -> tuple[float, float] | None:
    """(latency_s, busbw B/s) minimising the squared relative error, latency >= 0; None when busbw <= 0."""
    x = ring_factor(tp) * np.asarray(message_bytes, dtype=float)
    t = np.asarray(t_s, dtype=float)
    a = np.column_stack([1.0 / t, x / t])  # rows of (latency, 1 / busbw) / t ~ 1
    (latency, slope), *_ = np.linalg.lstsq(a, np.ones_like(t), rcond=None)
    if latency < 0:  # constrained: the optimum with latency 0
        latency, slope = 0.0, float(np.sum(x / t) / np.sum((x / t) ** 2))
    if slope <= 0:
        return None
    return float(latency), float(1.0 / slope)


def _errors(pred: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    err = np.abs(pred - t) / t
    return float(np.median(err)), float(np.max(err))


def fit_collectives(measured: pd.DataFrame, gpus: Mapping[str, GpuSpec] | None = None
                    ) -> tuple[dict[tuple[str, int], CollectiveFit], list[str]]:
    """One CollectiveFit per (gpu, tp) of the measured rows with both columns, and warning lines: TP rows without
    them, (gpu, tp) groups timed at fewer than MIN_SIZES message sizes or whose time does not grow with size.
    `gpus` gives each GPU's interconnect for the error before (a GPU not in it: n/a)."""
    points, notes = collective_points(measured)
    fits: dict[tuple[str, int], CollectiveFit] = {}
    for (gpu, tp), rows in points.groupby(["gpu", "tp"], sort=True):
        b, t = rows["bytes"].to_numpy(), rows["t_s"].to_numpy()
        sizes = len(np.unique(b))
        if sizes < MIN_SIZES:
            notes.append(f"{gpu} tp {tp}: all-reduce timed at {sizes} message size ({int(b[0]):,} B) in {len(b)} "
                         f"row(s); the latency + bytes / busbw line needs at least {MIN_SIZES} sizes: no all-reduce "
                         "fit (measure more batch sizes or both phases)")
            continue
        line = fit_line(b, int(tp), t)
        if line is None:
            notes.append(f"{gpu} tp {tp}: the measured all-reduce time does not grow with the message size "
                         f"({len(b)} rows, {sizes} sizes), so no positive bus bandwidth fits: no all-reduce fit "
                         "(a busy machine? remeasure on an idle one)")
            continue
        after = np.array([ring_time_s(x, int(tp), *line) for x in b])
        spec = (gpus or {}).get(gpu)
        before = (_errors(np.array([ke.allreduce_time_s(x, int(tp), spec.interconnect) for x in b]), t)
                  if spec is not None else (float("nan"), float("nan")))
        fits[(gpu, int(tp))] = CollectiveFit(gpu, int(tp), line[0], line[1], len(b), sizes, *before, *_errors(after, t))
    return fits, notes


def lines_by_gpu(fits: Mapping[tuple[str, int], CollectiveFit]) -> dict[str, tuple[tuple[int, float, float], ...]]:
    """{gpu: ((tp, latency_s, busbw), ...)} sorted by tp: the Efficiency.allreduce of each GPU."""
    out: dict[str, list[tuple[int, float, float]]] = {}
    for f in fits.values():
        out.setdefault(f.gpu, []).append((f.tp, f.latency_s, f.busbw_bytes_per_s))
    return {g: tuple(sorted(v)) for g, v in out.items()}


def line_for(lines: tuple[tuple[int, float, float], ...], tp: int) -> tuple[int, float, float] | None:
    """The fitted line a step at `tp` uses: the largest fitted tp <= `tp`, None when there is none."""
    usable = [line for line in lines if line[0] <= tp]
    return max(usable) if usable else None


def collective_report(fits: Mapping[tuple[str, int], CollectiveFit]) -> pd.DataFrame:
    """One row per (gpu, tp) (REPORT_COLUMNS): points, distinct sizes, the line, % error before -> after."""
    rows = [{"gpu": f.gpu, "tp": f.tp, "points": f.points, "sizes": f.sizes, "latency_us": f.latency_s * 1e6,
             "busbw_gb_s": f.busbw_bytes_per_s / 1e9, "err_before_pct": 100 * f.error_before,
             "err_before_max_pct": 100 * f.error_max_before, "err_after_pct": 100 * f.error_after,
             "err_after_max_pct": 100 * f.error_max_after} for f in fits.values()]
    return pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
