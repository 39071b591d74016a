"""Library entry points behind the profiler's commands: one call per command, no printing.

    profile(ProfileRequest) -> (Profile DataFrame, ProfileMeta)   analytic by default, measured on request
    calibrate(measured_file, output) -> (fit report DataFrame, calibration file written)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from profiler import catalogue
from profiler.analytic.efficiency import efficiency_for
from profiler.analytic.profile import Grid, analytic_profile, require_fit
from profiler.errors import InvalidValueError, UnsupportedQuantError
from profiler.schema import ProfileMeta, read_profile, write_profile
from profiler.specs import KvDtype


def tool_version() -> str:
    try:
        return version("inferplan")
    except PackageNotFoundError:  # running from a source tree
        return "0+source"


@dataclass(frozen=True)
class ProfileRequest:
    """What `inferplan profile` asked for (names, not specs: resolved by :func:`profile`)."""

    model: str
    gpu: str = "h100-sxm"
    quants: tuple[str, ...] = ("bf16",)
    kv_dtypes: tuple[KvDtype, ...] = (KvDtype.BF16,)
    tps: tuple[int, ...] = (1,)
    batches: tuple[int, ...] = (1, 8, 64)
    contexts: tuple[int, ...] = (1024, 8192)
    models_file: Path | None = None
    config: Path | None = None
    measure: bool = False
    device: str = "cuda"
    weights: Path | None = None
    calibration: Path | None = None
    output: Path | None = None
    command: str = ""


def profile(req: ProfileRequest, progress: bool = False) -> tuple[pd.DataFrame, ProfileMeta]:
    """Resolve the request against the catalogues and run the analytic (or measured) profile."""
    model = catalogue.get_model(req.model, models_file=req.models_file, config_path=req.config)
    if req.measure:
        from profiler.measure.sweep import run_measured_profile  # torch lives only there

        gpu_id = req.gpu if req.device != "cpu" else None
        return run_measured_profile(
            model, gpu_id, list(req.quants), list(req.kv_dtypes), list(req.batches), list(req.contexts),
            device=req.device, out=req.output, resume=True, weights_path=req.weights, progress=progress)
    gpu = catalogue.get_gpu(req.gpu)
    quants = tuple(catalogue.get_quant(q) for q in req.quants)
    if req.calibration and not Path(req.calibration).expanduser().is_file():
        raise InvalidValueError(f"calibration file {req.calibration} does not exist; write one with "
                                "`inferplan calibrate MEASURED.csv -o FILE` or leave --calibration out")
    lookup = partial(efficiency_for, calibration_path=req.calibration)
    grid = Grid(quants=quants, kv_dtypes=req.kv_dtypes, tps=req.tps, batches=req.batches, contexts=req.contexts)
    if min(req.contexts) > model.max_context:
        raise InvalidValueError(f"{model.name} supports at most {model.max_context:,} tokens of context "
                                f"(max_position_embeddings); asked for {min(req.contexts):,}")
    df = analytic_profile(model, gpu, grid, lookup)
    if (df["status"] == "unsupported").all():  # nothing could be profiled at all: say why, as an error
        raise UnsupportedQuantError("; ".join(dict.fromkeys(df["note"].astype(str))))
    if not (df["status"] == "ok").any() and (df["status"] == "oom").any():
        # Nothing can run at all: say why for the most generous configuration asked for, and what would fit.
        oom = df[df["status"] == "oom"]
        best = oom.loc[oom["weights_bytes"].idxmin()]
        require_fit(model, gpu, catalogue.get_quant(best["quant"]), KvDtype(best["kv_dtype"]), int(best["tp"]),
                    min(req.contexts), catalogue.load_gpus(), catalogue.load_quants(), lookup)
    meta = ProfileMeta(
        tool_version=tool_version(), catalogues=catalogue.catalogue_hashes(),
        environment={"gpu": gpu.id, "gpu_name": gpu.name, "machine": "analytic (no GPU used)"},
        efficiency={q.id: asdict(lookup(gpu.id, q.id)) for q in quants}, command=req.command)
    if req.output:
        write_profile(df, req.output, meta)
    return df, meta


def calibrate(measured_file: Path, output: Path | None = None) -> tuple[pd.DataFrame, Path]:
    """Fit efficiencies to a measured profile and store them in the user calibration file."""
    from profiler.analytic import calibration

    measured, _ = read_profile(measured_file)
    fits = calibration.fit_efficiency(measured)
    path = calibration.save_calibration(fits, output, source_file=str(measured_file))
    return calibration.fit_report(fits), path
