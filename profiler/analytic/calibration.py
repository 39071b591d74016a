"""Fit the analytic model's efficiency factors to a measured profile, store them, read them back.

For every measured ``ok`` row the analytic model gives, at unit efficiency and no overhead, the
memory time ``m = bytes / BW`` and compute time ``c = flops / F`` of that step (same model, GPU,
quant, KV dtype, TP, batch and context). The measured latency is modelled as::

    t = overhead + max(m / eta_bw, c / eta_c)

Per (gpu, quant): decode rows that are memory-bound fix ``overhead`` and ``eta_bw`` by least squares
on ``t = overhead + m x (1 / eta_bw)``; prefill rows then fix ``eta_c`` as the median of
``c / (t - overhead)``. The report gives the median and max absolute % error per phase before (the
defaults) and after the fit, and an extrapolation band: the same fit on the smaller half of the
batches, scored on the larger half (how far the model carries beyond what was measured).

The fit is written to a user file (``$INFERPLAN_HOME/calibration.yaml``, INFERPLAN_HOME defaulting to
``~/.config/inferplan``) that :func:`load_calibration` reads, so every later analytic profile for that
GPU and quant uses it. Pure numpy/pandas: no torch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from profiler.analytic import timing
from profiler.analytic.efficiency import default_efficiency
from profiler.errors import ProfilerError
from profiler.schema import atomic_write_text
from profiler.specs import Efficiency, KvDtype

UNIT = Efficiency(bandwidth=1.0, compute=1.0, step_overhead_s=0.0, interconnect=1.0)
MIN_POINTS = 2  # decode points needed to fit a line (overhead and bandwidth)


def calibration_path(path: str | Path | None = None) -> Path:
    if path:
        return Path(path)
    home = os.environ.get("INFERPLAN_HOME") or Path.home() / ".config" / "inferplan"
    return Path(home) / "calibration.yaml"


@dataclass(frozen=True)
class Fit:
    gpu: str
    quant: str
    efficiency: Efficiency
    decode_points: int
    prefill_points: int
    decode_error_before: float  # median |pred - meas| / meas, defaults
    decode_error_after: float
    prefill_error_before: float
    prefill_error_after: float
    decode_error_max_after: float
    extrapolation_band: float  # hold-out median abs error (fit on small batches, scored on large)


def analytic_times(rows: pd.DataFrame) -> pd.DataFrame:
    """Add columns m (memory s), c (compute s) and t (measured s) from the analytic twin."""
    from profiler import catalogue

    gpus, quants = catalogue.load_gpus(), catalogue.load_quants()
    models = catalogue.load_models()
    out = []
    for r in rows.itertuples(index=False):
        if r.model not in models or r.gpu not in gpus or r.quant not in quants:
            continue  # a model given by --config, or a CPU run, has no catalogue twin
        args = (models[r.model], gpus[r.gpu], quants[r.quant], KvDtype(r.kv_dtype), int(r.tp), int(r.batch),
                int(r.context), UNIT)
        est = timing.prefill(*args) if r.phase == "prefill" else timing.decode_step(*args)
        out.append({"phase": r.phase, "batch": int(r.batch), "m": est.t_memory_s, "c": est.t_compute_s,
                    "comm": est.t_comm_s, "t": float(r.latency_ms) / 1e3})
    return pd.DataFrame(out, columns=["phase", "batch", "m", "c", "comm", "t"])


def predict(df: pd.DataFrame, eff: Efficiency) -> np.ndarray:
    return eff.step_overhead_s + np.maximum(df["m"] / eff.bandwidth, df["c"] / eff.compute) + df["comm"]


def _err(df: pd.DataFrame, eff: Efficiency) -> tuple[float, float]:
    if df.empty:
        return float("nan"), float("nan")
    e = np.abs(predict(df, eff) - df["t"]) / df["t"]
    return float(np.median(e)), float(np.max(e))


def _fit_one(df: pd.DataFrame, base: Efficiency) -> Efficiency:
    dec, pre = df[df["phase"] == "decode"], df[df["phase"] == "prefill"]
    mem = dec[dec["m"] / base.bandwidth >= dec["c"] / base.compute]
    if len(mem) < MIN_POINTS:
        raise ProfilerError(f"calibration needs at least {MIN_POINTS} memory-bound decode points per GPU and "
                            f"quant; got {len(mem)}. Measure more batch sizes or contexts.")
    comm = mem["t"] - mem["comm"]
    if mem["m"].nunique() > 1:
        slope, intercept = np.polyfit(mem["m"], comm, 1)
    else:
        slope, intercept = float(np.median(comm / mem["m"])), 0.0
    overhead = max(float(intercept), 0.0)
    if intercept < 0:  # no negative overhead: refit the slope through the origin
        slope = float(np.sum(mem["m"] * comm) / np.sum(mem["m"] ** 2))
    bw = float(np.clip(1.0 / slope, 0.01, 1.0)) if slope > 0 else base.bandwidth
    compute = base.compute
    if not pre.empty:
        busy = pre["t"] - overhead - pre["comm"]
        ok = busy > 0
        if ok.any():
            compute = float(np.clip(np.median(pre.loc[ok, "c"] / busy[ok]), 0.01, 1.0))
    return replace(base, bandwidth=bw, compute=compute, step_overhead_s=overhead)


def fit_efficiency(measured: pd.DataFrame) -> dict[tuple[str, str], Fit]:
    """One Fit per (gpu, quant) in a measured profile (rows with status ok)."""
    ok = measured[(measured["status"] == "ok") & measured["latency_ms"].notna()]
    if ok.empty:
        raise ProfilerError("the profile has no ok rows with a latency to calibrate against")
    fits = {}
    for (gpu, quant), rows in ok.groupby(["gpu", "quant"]):
        df = analytic_times(rows)
        if df.empty:
            raise ProfilerError(f"no rows for {gpu}/{quant} have a catalogue model and GPU to compare with; "
                                "calibration needs a catalogue GPU (not a CPU run)")
        base = default_efficiency(gpu, quant)
        eff = _fit_one(df, base)
        small = df[df["batch"] <= df["batch"].median()]
        large = df[df["batch"] > df["batch"].median()]
        try:
            band = _err(large, _fit_one(small, base))[0] if len(large) else float("nan")
        except ProfilerError:
            band = float("nan")
        dec, pre = df[df["phase"] == "decode"], df[df["phase"] == "prefill"]
        fits[(gpu, quant)] = Fit(
            gpu, quant, replace(eff, source=""), len(dec), len(pre), _err(dec, base)[0], _err(dec, eff)[0],
            _err(pre, base)[0], _err(pre, eff)[0], _err(dec, eff)[1], band)
    return fits


def fit_report(fits: dict[tuple[str, str], Fit]) -> pd.DataFrame:
    """One row per (gpu, quant): fitted factors and the error per phase before -> after."""
    return pd.DataFrame([{
        "gpu": f.gpu, "quant": f.quant, "bandwidth": f.efficiency.bandwidth, "compute": f.efficiency.compute,
        "step_overhead_us": f.efficiency.step_overhead_s * 1e6, "decode_points": f.decode_points,
        "prefill_points": f.prefill_points, "decode_err_before_pct": 100 * f.decode_error_before,
        "decode_err_after_pct": 100 * f.decode_error_after, "prefill_err_before_pct": 100 * f.prefill_error_before,
        "prefill_err_after_pct": 100 * f.prefill_error_after, "extrapolation_band_pct": 100 * f.extrapolation_band,
    } for f in fits.values()])


def _read(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ProfilerError(f"{path}: not a calibration file ({exc})") from exc
    return doc.get("calibrations", {}) if isinstance(doc, dict) else {}


def save_calibration(fits: dict[tuple[str, str], Fit], path: str | Path | None = None,
                     source_file: str = "") -> Path:
    """Merge the fits into the calibration file (atomically) and return its path."""
    target = calibration_path(path)
    entries = _read(target)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for (gpu, quant), f in fits.items():
        entries[f"{gpu}/{quant}"] = {
            "bandwidth": round(f.efficiency.bandwidth, 4), "compute": round(f.efficiency.compute, 4),
            "step_overhead_s": float(f"{f.efficiency.step_overhead_s:.6g}"), "fitted_at": stamp,
            "source_file": source_file, "decode_points": f.decode_points, "prefill_points": f.prefill_points,
            "decode_error_after": round(f.decode_error_after, 4),
            "extrapolation_band": None if np.isnan(f.extrapolation_band) else round(f.extrapolation_band, 4)}
    atomic_write_text(target, yaml.safe_dump({"calibrations": entries}, sort_keys=True))
    return target


def load_calibration(gpu_id: str, quant_id: str, path: str | Path | None = None) -> Efficiency | None:
    """The calibrated Efficiency for (gpu, quant), or None when the file has none."""
    target = calibration_path(path)
    entry = _read(target).get(f"{gpu_id}/{quant_id}")
    if not entry:
        return None
    base = default_efficiency(gpu_id, quant_id)
    return replace(base, bandwidth=float(entry["bandwidth"]), compute=float(entry["compute"]),
                   step_overhead_s=float(entry["step_overhead_s"]),
                   source=f"calibrated {target} ({entry.get('fitted_at', '')}, from {entry.get('source_file', '')})")
