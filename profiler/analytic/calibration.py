"""Fit the analytic model's efficiency factors to a measured profile, store them, read them back.

For each measured ``ok`` row the analytic twin (:mod:`profiler.analytic.timing`, same model, GPU, quant,
KV dtype, TP, batch and context; decode rows attend ``context + STATIC_CACHE_EXTRA_SLOTS`` tokens, as
the measured HF static cache does) gives, for every kernel ``j`` of the step, its memory time ``m_j`` (weights in
the quant's format) and ``k_j`` (KV, activations, bf16-kept weights) at datasheet bandwidth and its compute time
``c_j`` at datasheet FLOP/s, each with the kernel's shape factor, and the step's fixed time (launch floors, TP
all-reduces). Per (gpu, quant) the measured latency is fitted by least squares on the relative error to::

    t = overhead + sum_j max(m_j / eta_bw + k_j / eta_kv, c_j / eta_c) + t_fixed                [s]

The terms are arrays per row (one entry per kernel), so the fit sees which kernels each point spends its time
in. bf16/fp16 weights stream like the KV, so there ``eta_kv = eta_bw`` is one fitted factor. Other quants take
``eta_kv`` from the bf16 fit of the same GPU in the same profile when there is one (the attention kernels are
the same); without one it is fitted when the rows separate it (the design [1, m, k, c] has full rank), else
kept at its default.

A global start comes from a log grid over (eta_bw, eta_c) with the overhead solved in closed form for
each pair. Then each kernel of each row is assigned to the term that bounds it (starting from the phase: decode rows ->
eta_bw and overhead, prefill rows -> eta_c; and from the grid's and the defaults' bounds); with the
assignment fixed the model is linear in (overhead, 1/eta_bw, 1/eta_c) and solved by weighted least squares
(weights 1/t), kernels are reassigned by the fitted max and the fit repeated until the assignment is stable.
The candidate with the smallest relative squared error wins, the overhead kept within [0, shortest
latency]; the defaults win when nothing beats them. The report gives the median and max
absolute % error per phase before (the published defaults, :mod:`profiler.analytic.efficiency`) and after,
and two extrapolation bands (:mod:`profiler.analytic.calibration_bands`), p90 of the absolute % error as
± %: to other batch sizes and contexts (fit on the small points, scored on the others) and to other models
of the same family (fit without a model, scored on it).
The fits are merged atomically into a user file, ``$INFERPLAN_HOME/calibration.yaml``
(INFERPLAN_HOME defaults to ``~/.config/inferplan``), which :func:`load_calibration` reads for every later
analytic profile of that GPU and quant. Pure numpy/pandas/yaml: no torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from profiler import progress, userfile
from profiler.analytic import collective_store, timing
from profiler.analytic.collective_fit import CollectiveFit
from profiler.analytic.efficiency import default_efficiency
from profiler.errors import CatalogueError, ProfilerError
from profiler.home import inferplan_home
from profiler.schema import atomic_write_text
from profiler.specs import Efficiency, GpuSpec, KvDtype, ModelSpec, QuantScheme

STATIC_CACHE_EXTRA_SLOTS = 1  # = profiler.measure.STATIC_CACHE_EXTRA_SLOTS (not imported: keeps this torch-free
#   even if profiler.measure ever imports torch at package level); tests/profiler/analytic/test_calibration.py
#   checks equality
MIN_DECODE_POINTS = 2  # overhead and bandwidth efficiency need two decode points of different size
ETA_RANGE = (0.01, 2.0)  # accepted fitted efficiencies; above 1 only with L2-resident toy models (measurement §7.7)
MAX_ITERATIONS = 50
GRID_POINTS = 80  # per efficiency axis of the global start (log-spaced over ETA_RANGE: ~7 % steps)
FILE_VERSION = 1
# Unit efficiencies give each fitted term at datasheet peak. The per-layer floor and the TP all-reduce
# (kernel_efficiency's measured per-interconnect time) are known, unfitted terms carried in `comm`, so predict()
# equals timing's latency under the fit at any TP.
UNIT = Efficiency(bandwidth=1.0, compute=1.0, step_overhead_s=0.0, kv_bandwidth=1.0)
MIN_KV_FIT_POINTS = 4  # rows beyond the fitted factors before eta_kv is fitted freely rather than kept at default
TIED_QUANTS = ("bf16", "fp16")  # unquantised weights stream at the KV's rate: one bandwidth factor


def calibration_path(path: str | Path | None = None) -> Path:
    """`path`, or $INFERPLAN_HOME/calibration.yaml (INFERPLAN_HOME defaults to ~/.config/inferplan)."""
    if path:
        return Path(path).expanduser()
    return inferplan_home() / "calibration.yaml"


@dataclass(frozen=True)
class Fit:
    """One (gpu, quant) fit. Errors are fractions (0.05 = 5 %); NaN where a phase has no rows."""

    gpu: str
    quant: str
    efficiency: Efficiency
    fitted: tuple[str, ...]  # which of bandwidth, compute, step_overhead_s were fitted (others: defaults)
    decode_points: int
    prefill_points: int
    decode_error_before: float  # median |pred - measured| / measured with the defaults
    decode_error_after: float
    decode_error_max_before: float
    decode_error_max_after: float
    prefill_error_before: float
    prefill_error_after: float
    prefill_error_max_before: float
    prefill_error_max_after: float
    extrapolation_band: float  # p90 abs error of points held out of the fit
    extrapolation_method: str
    models: tuple[str, ...]
    model_band: float = float("nan")  # p90 abs error on a model held out of the fit (same family); NaN: one model
    model_band_method: str = ""


# ------------------------------------------------------------------------------------------------
# The analytic terms of measured rows
# ------------------------------------------------------------------------------------------------


def _machine(gpu_id: str, gpus: Mapping[str, GpuSpec], meta: Any) -> GpuSpec:
    if gpu_id in gpus:
        return gpus[gpu_id]
    env = getattr(meta, "environment", meta) or {}
    spec = env.get("machine_spec") if isinstance(env, dict) else None
    if spec and spec.get("id") == gpu_id:
        fields = {k: v for k, v in spec.items() if k in GpuSpec.__dataclass_fields__}
        return GpuSpec(**{**fields, "tdp_w": fields.get("tdp_w") or float("nan")})
    raise ProfilerError(f"GPU '{gpu_id}' is not in the catalogue and the profile's metadata does not describe it "
                        "(environment.machine_spec); calibrate with the .meta.json written beside the profile")


def analytic_terms(measured: pd.DataFrame, models: Mapping[str, ModelSpec] | None = None,
                   gpus: Mapping[str, GpuSpec] | None = None, meta: Any = None,
                   attended_extra: int = STATIC_CACHE_EXTRA_SLOTS,
                   quants: Mapping[str, QuantScheme] | None = None,
                   collectives: Mapping[str, tuple[tuple[int, float, float], ...]] | None = None) -> pd.DataFrame:
    """Per ok row: gpu, quant, phase, batch, context, m (weights), k (KV), c (arrays over the step's kernels,
    analytic s at unit efficiency), comm (fixed s: launch floors and all-reduces), t (measured s). `collectives`
    ({gpu: Efficiency.allreduce lines}, collective_fit.lines_by_gpu) prices a GPU's all-reduces on its fitted
    line instead of the catalogue's."""
    from profiler import catalogue

    models = models if models is not None else catalogue.load_models()
    gpus = gpus if gpus is not None else catalogue.load_gpus()
    quants = quants if quants is not None else catalogue.load_quants()
    ok = measured[(measured["status"] == "ok") & measured["latency_ms"].notna()]
    out = []
    for r in ok.itertuples(index=False):
        if r.model not in models:
            raise ProfilerError(f"model '{r.model}' of the measured profile is not in the catalogue; pass its "
                                "catalogue file (--models) so the analytic twin can be computed")
        if r.quant not in quants:
            raise ProfilerError(f"quant '{r.quant}' of the measured profile is not in the catalogue; pass its "
                                "catalogue file (--quants) so the analytic twin can be computed")
        unit = replace(UNIT, allreduce=collectives[r.gpu]) if collectives and r.gpu in collectives else UNIT
        args = (models[r.model], _machine(r.gpu, gpus, meta), quants[r.quant], KvDtype(r.kv_dtype), int(r.tp),
                int(r.batch), int(r.context), unit)
        if r.phase == "prefill":
            est = timing.prefill(*args)
        else:
            extra = attended_extra if r.source == "measured" else 0
            est = timing.decode_step(*args, attended=int(r.context) + extra)
        out.append({"gpu": r.gpu, "quant": r.quant, "model": r.model, "phase": r.phase, "batch": int(r.batch),
                    "context": int(r.context), "family": models[r.model].model_type,
                    "m": np.array([k.m for k in est.kernels]), "k": np.array([k.kv for k in est.kernels]),
                    "c": np.array([k.c for k in est.kernels]), "comm": sum(k.fixed_s for k in est.kernels),
                    "t": float(r.latency_ms) / 1e3})
    return pd.DataFrame(out, columns=["gpu", "quant", "model", "phase", "batch", "context", "family", "m", "k", "c",
                                      "comm", "t"])


def _matrix(terms: pd.DataFrame, column: str) -> np.ndarray:
    """A per-kernel term as a [row, kernel] matrix, rows with fewer kernels padded with zeros."""
    arrays = [np.atleast_1d(np.asarray(v, dtype=float)) for v in terms[column]]
    width = max((len(a) for a in arrays), default=1)
    out = np.zeros((len(arrays), width))
    for i, a in enumerate(arrays):
        out[i, :len(a)] = a
    return out


def _memory_s(terms: pd.DataFrame, eff: Efficiency) -> np.ndarray:
    return _matrix(terms, "m") / eff.bandwidth + _matrix(terms, "k") / eff.kv_bandwidth


def predict(terms: pd.DataFrame, eff: Efficiency) -> np.ndarray:
    """Modelled latency (s) of each row of `terms` under `eff`."""
    busy = np.maximum(_memory_s(terms, eff), _matrix(terms, "c") / eff.compute).sum(axis=1)
    return eff.step_overhead_s + busy + terms["comm"].to_numpy(dtype=float)


def phase_errors(terms: pd.DataFrame, eff: Efficiency, phase: str) -> tuple[float, float]:
    """(median, max) absolute relative error of `phase` rows; NaN when there are none."""
    rows = terms[terms["phase"] == phase]
    if rows.empty:
        return float("nan"), float("nan")
    err = np.abs(predict(rows, eff) - rows["t"].to_numpy()) / rows["t"].to_numpy()
    return float(np.median(err)), float(np.max(err))


# ------------------------------------------------------------------------------------------------
# The fit
# ------------------------------------------------------------------------------------------------


def _solve(terms: pd.DataFrame, memory: np.ndarray, base: Efficiency) -> tuple[Efficiency, tuple[str, ...]]:
    """Weighted least squares of t - comm on [1, sum of m and of k over memory-bound kernels, sum of c over
    compute-bound ones], the assignment (a [row, kernel] boolean) fixed. A term no row is assigned to keeps its
    default (eta_kv too, unless enough memory-bound rows vary KV
    independently of the weights); a negative overhead is refitted as 0 (constrained)."""
    y = (terms["t"] - terms["comm"]).to_numpy(dtype=float)
    w = 1.0 / terms["t"].to_numpy(dtype=float)
    kv = np.where(memory, _matrix(terms, "k"), 0.0).sum(axis=1)
    cols = {"step_overhead_s": np.ones(len(y)), "bandwidth": np.where(memory, _matrix(terms, "m"), 0.0).sum(axis=1),
            "compute": np.where(~memory, _matrix(terms, "c"), 0.0).sum(axis=1), "kv_bandwidth": kv}
    tied = _kv_tied(base)
    if tied:
        cols["bandwidth"] = cols["bandwidth"] + cols.pop("kv_bandwidth")
    elif not (_kv_free(base) and _full_rank(cols)):
        y = y - kv / base.kv_bandwidth
        cols.pop("kv_bandwidth")
    use = [n for n, col in cols.items() if np.any(col)]
    values = _lstsq(cols, use, y, w)
    if values["step_overhead_s"] < 0:
        values = {**_lstsq(cols, [n for n in use if n != "step_overhead_s"], y, w), "step_overhead_s": 0.0}
    eff = replace(base, step_overhead_s=float(values["step_overhead_s"]), source="")
    for n in ("bandwidth", "compute", "kv_bandwidth"):
        if values.get(n, 0.0) > 0:  # the fitted slope is 1 / efficiency
            eff = replace(eff, **{n: float(np.clip(1.0 / values[n], *ETA_RANGE))})
    if tied:
        eff = replace(eff, kv_bandwidth=eff.bandwidth)
    return eff, tuple(n for n in ("bandwidth", "compute", "kv_bandwidth", "step_overhead_s") if n in use)


# Where eta_kv comes from in a fit (see the module docstring); set on the base Efficiency's source.
KV_TIED, KV_GIVEN = "kv tied to weights", "kv from the bf16 fit"


def _kv_tied(base: Efficiency) -> bool:
    return base.source == KV_TIED


def _kv_free(base: Efficiency) -> bool:
    return base.source not in (KV_TIED, KV_GIVEN)


def _full_rank(cols: dict[str, np.ndarray]) -> bool:
    """Whether the used columns of the design, each scaled to max |1|, are linearly independent (tol 1e-3)."""
    used = [c / np.abs(c).max() for c in cols.values() if np.any(c)]
    if len(cols["step_overhead_s"]) < MIN_KV_FIT_POINTS + len(used):
        return False
    return bool(np.linalg.matrix_rank(np.column_stack(used), tol=1e-3) == len(used))


def _lstsq(cols: dict[str, np.ndarray], use: list[str], y: np.ndarray, w: np.ndarray) -> dict[str, float]:
    a = np.column_stack([cols[n] for n in use]) * w[:, None]
    coef, *_ = np.linalg.lstsq(a, y * w, rcond=None)
    return {"step_overhead_s": 0.0, **dict(zip(use, map(float, coef), strict=True))}


def _objective(terms: pd.DataFrame, eff: Efficiency) -> float:
    return float(np.sum(((predict(terms, eff) - terms["t"]) / terms["t"]) ** 2))


def _grid_start(terms: pd.DataFrame, base: Efficiency) -> Efficiency:
    """Global search over (eta_bw, eta_c) on a log grid, the overhead solved in closed form for each pair
    (weighted mean of the residual, clipped to [0, shortest latency]): a start the local fit cannot miss."""
    etas = np.geomspace(*ETA_RANGE, GRID_POINTS)
    t = terms["t"].to_numpy(dtype=float)
    r = t - terms["comm"].to_numpy(dtype=float)
    m, k = _matrix(terms, "m"), _matrix(terms, "k")
    if _kv_tied(base):
        mem = (m + k)[None, None] / etas[:, None, None, None]
    else:
        mem = m[None, None] / etas[:, None, None, None] + (k / base.kv_bandwidth)[None, None]
    comp = _matrix(terms, "c")[None, None] / etas[None, :, None, None]
    busy = np.maximum(mem, comp).sum(-1)  # [eta_bw, eta_c, row]
    w2 = 1.0 / t**2
    overhead = np.clip(((r - busy) * w2).sum(-1) / w2.sum(), 0.0, t.min())
    score = ((((overhead[..., None] + busy) - r) / t) ** 2).sum(-1)
    i, j = np.unravel_index(np.argmin(score), score.shape)
    kv = float(etas[i]) if _kv_tied(base) else base.kv_bandwidth
    return replace(base, bandwidth=float(etas[i]), compute=float(etas[j]), step_overhead_s=float(overhead[i, j]),
                   kv_bandwidth=kv, source="")


def _polish(terms: pd.DataFrame, memory: np.ndarray, base: Efficiency) -> tuple[Efficiency, tuple[str, ...]]:
    """Alternate: least squares with the bound of each row fixed, then reassign rows by the fitted max."""
    best: tuple[float, Efficiency, tuple[str, ...]] | None = None
    for _ in range(MAX_ITERATIONS):
        eff, fitted = _solve(terms, memory, base)
        score = _objective(terms, eff)
        if best is None or score < best[0]:
            best = (score, eff, fitted)
        again = _bound_by(terms, eff)
        if np.array_equal(again, memory):
            break
        memory = again
    return best[1], best[2]


def _bound_by(terms: pd.DataFrame, eff: Efficiency) -> np.ndarray:
    """[row, kernel]: True where the kernel is memory-bound under `eff`."""
    return _memory_s(terms, eff) >= _matrix(terms, "c") / eff.compute


def fit_terms(terms: pd.DataFrame, base: Efficiency) -> tuple[Efficiency, tuple[str, ...]]:
    """The fit of one (gpu, quant) group (see the module docstring): the best, by relative squared error, of
    a global grid start and of local least-squares fits started from the phase, from the grid and from the
    defaults; the defaults themselves win when nothing beats them (then nothing is reported as fitted)."""
    decode = terms[terms["phase"] == "decode"]
    sizes = (_matrix(decode, "m") + _matrix(decode, "k")).sum(axis=1) if len(decode) else np.array([])
    if len(decode) < MIN_DECODE_POINTS or len(np.unique(sizes)) < MIN_DECODE_POINTS:
        raise ProfilerError(f"calibration needs at least {MIN_DECODE_POINTS} memory-bound decode points of "
                            f"different sizes per GPU and quant (got {len(decode)}); measure more batch sizes or "
                            "contexts")
    grid = _grid_start(terms, base)
    by_phase = np.repeat((terms["phase"] == "decode").to_numpy()[:, None], _matrix(terms, "m").shape[1], axis=1)
    starts = (by_phase, _bound_by(terms, grid), _bound_by(terms, base))
    candidates = [(grid, _fitted_by(terms, grid)), *(_polish(terms, s, base) for s in starts)]
    t_min = float(terms["t"].min())
    candidates = [c for c in candidates if 0.0 <= c[0].step_overhead_s <= t_min]
    eff, fitted = min(candidates, key=lambda c: _objective(terms, c[0]))
    if _objective(terms, eff) >= _objective(terms, base):
        return replace(base, source=""), ()
    for name in ("bandwidth", "compute", "kv_bandwidth"):  # a factor the rows do not need keeps its default
        if not (name == "kv_bandwidth" and _kv_tied(base)):
            kept = replace(eff, **{name: getattr(base, name)})
            if _kv_tied(base) and name == "bandwidth":
                kept = replace(kept, kv_bandwidth=kept.bandwidth)
            if _objective(terms, kept) <= _objective(terms, eff) * (1 + 1e-9):
                eff, fitted = kept, tuple(n for n in fitted if n != name)
    return eff, fitted


def _fitted_by(terms: pd.DataFrame, eff: Efficiency) -> tuple[str, ...]:
    memory = _bound_by(terms, eff)
    names = ("bandwidth",) * bool(memory.any()) + ("compute",) * bool((~memory).any())
    return (*names, "step_overhead_s")


def fit_group(gpu: str, quant: str, terms: pd.DataFrame, kv_bandwidth: float | None = None) -> Fit:
    """Fit one (gpu, quant); `kv_bandwidth` is eta_kv from the bf16 fit of the same GPU, when there is one."""
    base = default_efficiency(gpu, quant)
    if quant in TIED_QUANTS:
        base = replace(base, source=KV_TIED)
    elif kv_bandwidth is not None:
        base = replace(base, kv_bandwidth=kv_bandwidth, source=KV_GIVEN)
    from profiler.analytic.calibration_bands import model_holdout, point_holdout  # they call fit_terms

    eff, fitted = fit_terms(terms, base)
    band, method = point_holdout(terms, base)
    model_band, model_method = model_holdout(terms, base)
    before = {ph: phase_errors(terms, base, ph) for ph in ("decode", "prefill")}
    after = {ph: phase_errors(terms, eff, ph) for ph in ("decode", "prefill")}
    return Fit(gpu, quant, eff, fitted, int((terms["phase"] == "decode").sum()),
               int((terms["phase"] == "prefill").sum()), before["decode"][0], after["decode"][0],
               before["decode"][1], after["decode"][1], before["prefill"][0], after["prefill"][0],
               before["prefill"][1], after["prefill"][1], band, method, tuple(sorted(terms["model"].unique())),
               model_band, model_method)


def fit_efficiency(measured: pd.DataFrame, meta: Any = None, models: Mapping[str, ModelSpec] | None = None,
                   gpus: Mapping[str, GpuSpec] | None = None,
                   attended_extra: int = STATIC_CACHE_EXTRA_SLOTS,
                   quants: Mapping[str, QuantScheme] | None = None,
                   collectives: Mapping[str, tuple[tuple[int, float, float], ...]] | None = None
                   ) -> dict[tuple[str, str], Fit]:
    """One Fit per (gpu, quant) of a measured profile's ok rows, at any TP. `meta` (ProfileMeta or its
    environment dict) describes a non-catalogue machine such as a CPU run; `models`, `gpus`, `quants` add entries
    outside the catalogue; `collectives` ({gpu: fitted all-reduce lines}) replaces the catalogue's all-reduce
    time of TP rows (before and after alike: the comm term is fixed, not fitted here)."""
    terms = analytic_terms(measured, models, gpus, meta, attended_extra, quants, collectives)
    if terms.empty:
        raise ProfilerError("the profile has no ok rows with a latency to calibrate against")
    groups = dict(iter(terms.groupby(["gpu", "quant"])))
    fits: dict[tuple[str, str], Fit] = {}
    for i, (g, q) in enumerate(sorted(groups, key=lambda k: k[1] not in TIED_QUANTS)):  # bf16 first: the others
        progress.report("fitting (GPU, quantisation) groups", i, len(groups))  # take its eta_kv
        tied = next((fits[(g, t)] for t in TIED_QUANTS if (g, t) in fits), None)
        fits[(g, q)] = fit_group(g, q, groups[(g, q)].reset_index(drop=True),
                                 tied.efficiency.kv_bandwidth if tied else None)
    return fits


def fit_report(fits: Mapping[tuple[str, str], Fit]) -> pd.DataFrame:
    """One row per (gpu, quant): the fitted factors, points used, and % errors per phase before -> after."""
    rows = []
    for f in fits.values():
        rows.append({
            "gpu": f.gpu, "quant": f.quant, "bandwidth": f.efficiency.bandwidth, "compute": f.efficiency.compute,
            "kv_bandwidth": f.efficiency.kv_bandwidth,
            "step_overhead_us": f.efficiency.step_overhead_s * 1e6, "fitted": ",".join(f.fitted),
            "decode_points": f.decode_points, "prefill_points": f.prefill_points,
            "decode_err_before_pct": 100 * f.decode_error_before, "decode_err_after_pct": 100 * f.decode_error_after,
            "decode_err_max_after_pct": 100 * f.decode_error_max_after,
            "prefill_err_before_pct": 100 * f.prefill_error_before,
            "prefill_err_after_pct": 100 * f.prefill_error_after,
            "prefill_err_max_after_pct": 100 * f.prefill_error_max_after,
            "extrapolation_band_pct": 100 * f.extrapolation_band, "extrapolation": f.extrapolation_method,
            "model_band_pct": 100 * f.model_band, "model_extrapolation": f.model_band_method})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------
# The calibration file
# ------------------------------------------------------------------------------------------------


def _read(path: Path, *, required: bool = False) -> dict[str, dict]:
    """{"calibrations": {gpu: {quant: ...}}, "collectives": {gpu: {tp: ...}}} of the file at `path`. An absent file
    is no calibrations, unless `required` (a file the user named): then an absent, empty or entry-less file is
    refused rather than read as "uncalibrated"."""
    what = "a calibration file written by `inferplan calibrate`"
    if not path.exists():
        if required:
            raise CatalogueError(f"no such file; give the path of {what}", file=str(path))
        return {"calibrations": {}, "collectives": {}}
    doc = userfile.load_yaml(*userfile.read_text(path, what))
    if doc is None and not required:
        return {"calibrations": {}, "collectives": {}}  # an empty file: nothing to merge into
    if not isinstance(doc, dict) or "calibrations" not in doc:
        raise CatalogueError("is not a calibration file: expected 'calibrations: {gpu: {quant: {...}}}' as "
                             "`inferplan calibrate` writes it", file=str(path))
    entries = doc["calibrations"]
    if not isinstance(entries, dict) or not all(isinstance(v, dict) for v in entries.values()):
        raise CatalogueError("expected 'calibrations: {gpu: {quant: {...}}}'", file=str(path))
    collectives = collective_store.check_section(doc.get(collective_store.SECTION), path)
    if required and not entries and not collectives:
        raise CatalogueError("holds no calibrations; run `inferplan calibrate MEASURED.csv -o FILE` to fit some",
                             file=str(path))
    return {"calibrations": entries, "collectives": collectives}


def _number(entry: dict, key: str, path: Path, gpu: str, quant: str, low: float, high: float) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise CatalogueError(f"must be a number in [{low}, {high}], got {value!r}", file=str(path),
                             entry=f"{gpu}/{quant}", field=key)
    return float(value)


def _nan_to_none(x: float) -> float | None:
    return None if x != x else round(float(x), 5)


def save_calibration(fits: Mapping[tuple[str, str], Fit], path: str | Path | None = None,
                     source_file: str = "", collectives: Mapping[tuple[str, int], CollectiveFit] | None = None) -> Path:
    """Merge `fits` and the all-reduce `collectives` into the calibration file (other GPUs, quants and TP sizes
    kept), atomically; return its path."""
    target = calibration_path(path)
    doc = _read(target)
    entries, lines = doc["calibrations"], doc["collectives"]
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for (gpu, quant), f in fits.items():
        entries.setdefault(gpu, {})[quant] = {
            "bandwidth": round(f.efficiency.bandwidth, 5), "compute": round(f.efficiency.compute, 5),
            "kv_bandwidth": round(f.efficiency.kv_bandwidth, 5),
            "step_overhead_s": float(f"{f.efficiency.step_overhead_s:.6g}"), "fitted": list(f.fitted),
            "fitted_at": stamp, "source_file": source_file, "models": list(f.models),
            "points": {"decode": f.decode_points, "prefill": f.prefill_points},
            "error_after": {"decode_median": _nan_to_none(f.decode_error_after),
                            "decode_max": _nan_to_none(f.decode_error_max_after),
                            "prefill_median": _nan_to_none(f.prefill_error_after),
                            "prefill_max": _nan_to_none(f.prefill_error_max_after)},
            "extrapolation_band": _nan_to_none(f.extrapolation_band), "extrapolation": f.extrapolation_method,
            "model_band": _nan_to_none(f.model_band), "model_extrapolation": f.model_band_method}
    for (gpu, tp), c in (collectives or {}).items():
        lines.setdefault(gpu, {})[int(tp)] = collective_store.entry(c, stamp, source_file)
    doc = {"schema_version": FILE_VERSION, "calibrations": entries}
    if lines:
        doc[collective_store.SECTION] = lines
    atomic_write_text(target, "# written by `inferplan calibrate`; analytic profiles of these GPUs use it\n"
                      + yaml.safe_dump(doc, sort_keys=True), create_folders=path is None)  # $INFERPLAN_HOME
    return target


def _entry(gpu_id: str, quant_id: str, path: str | Path | None) -> tuple[dict | None, Path, dict]:
    target = calibration_path(path)
    doc = _read(target, required=path is not None)
    entry = doc["calibrations"].get(gpu_id, {}).get(quant_id)
    if entry is not None and not isinstance(entry, dict):
        raise CatalogueError("each quant maps to its fitted fields", file=str(target), entry=f"{gpu_id}/{quant_id}")
    return entry, target, doc["collectives"]


def calibrated_collectives(eff: Efficiency, gpu_id: str, path: str | Path | None = None) -> Efficiency:
    """`eff` with the calibration file's all-reduce lines for `gpu_id` (unchanged when it has none)."""
    target = calibration_path(path)
    return collective_store.apply(eff, gpu_id, _read(target, required=path is not None)["collectives"], target)


def load_calibration(gpu_id: str, quant_id: str, path: str | Path | None = None) -> Efficiency | None:
    """The calibrated Efficiency for (gpu, quant) from the user file, or None when it has none; with the file's
    all-reduce lines for the GPU when it has them."""
    entry, target, collectives = _entry(gpu_id, quant_id, path)
    if entry is None:
        return None
    bw = _number(entry, "bandwidth", target, gpu_id, quant_id, *ETA_RANGE)
    fl = _number(entry, "compute", target, gpu_id, quant_id, *ETA_RANGE)
    ov = _number(entry, "step_overhead_s", target, gpu_id, quant_id, 0.0, 1.0)
    base = default_efficiency(gpu_id, quant_id)
    kv = (_number(entry, "kv_bandwidth", target, gpu_id, quant_id, *ETA_RANGE) if "kv_bandwidth" in entry
          else base.kv_bandwidth)  # files written before eta_kv was fitted keep the default
    band = entry.get("extrapolation_band")
    band_text = f", extrapolation ±{100 * band:.1f}%" if isinstance(band, (int, float)) else ""
    mband = entry.get("model_band")
    eff = replace(base, bandwidth=bw, compute=fl, step_overhead_s=ov, kv_bandwidth=kv,
                  latency_band=float(band) if isinstance(band, (int, float)) else None,
                  model_band=float(mband) if isinstance(mband, (int, float)) else None,
                  calibrated_models=tuple(str(m) for m in entry.get("models") or ()),
                  source=f"calibrated {target} ({entry.get('fitted_at', '?')} from "
                         f"{entry.get('source_file') or 'a measured profile'}{band_text})")
    return collective_store.apply(eff, gpu_id, collectives, target)
