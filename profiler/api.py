"""Library entry points behind the profiler's commands: one call per command, no printing.

    profile(ProfileRequest) -> (Profile DataFrame, ProfileMeta)   analytic by default, measured on request
    engine_log(model, gpu, quant, ...) -> EngineLog                the vLLM startup lines predicted for one config
    calibrate(measured_file, output, ...) -> Calibration (fit report, calibration file written, warnings)

A walk-through with a worked example: docs/python_api.md; the profile table's columns: docs/profile_schema.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from profiler import catalogue
from profiler.analytic import memory, timing
from profiler.analytic.efficiency import efficiency_for
from profiler.analytic.profile import Grid, analytic_profile, require_fit
from profiler.defaults import DEFAULT_GPU
from profiler.errors import InvalidValueError, UnsupportedQuantError
from profiler.schema import (
    MEASURED_SOURCES,
    ProfileMeta,
    check_profile_path,
    check_writable,
    read_profile,
    write_profile,
)
from profiler.specs import GpuSpec, KvDtype, ModelSpec, QuantScheme

if TYPE_CHECKING:
    from profiler.interop import ServingContext


def tool_version() -> str:
    try:
        return version("inferplan")
    except PackageNotFoundError:  # running from a source tree
        return "0+source"


@dataclass(frozen=True)
class ProfileRequest:
    """What `inferplan profile` asked for (names, not specs: resolved by :func:`profile`).

    Args:
        model: a catalogue model id (``inferplan models``), or a local model folder holding config.json, or a
            config.json path (the rows are labelled with the folder's name). With ``config``, only a label.
        gpu: a catalogue GPU id (``inferplan gpus``).
        quants, kv_dtypes, tps: the grid's quant ids, KV dtypes (KvDtype.BF16 / KvDtype.FP8) and TP degrees.
        batches: concurrent sequences per step [count]; contexts: tokens of context per sequence [tokens].
        config: a local Hugging Face config.json or model folder, ``model`` then being the rows' label.
        models_file: a models YAML (catalogue layout) adding or replacing models.
        measure: measure on this machine (needs the ``gpu`` extra: torch, transformers) instead of the analytic
            model; ``device``, ``weights`` and ``force_gpu`` apply to measured profiles only.
        calibration: a calibration file (``inferplan calibrate``) whose efficiencies replace the defaults.
        output: also write the table (.csv or .json; a .csv gets its metadata in NAME.meta.json beside it).
        command: the command line recorded in the metadata ("" from Python).

    ``gpu`` None: :data:`DEFAULT_GPU` for an analytic profile, the detected card for a measured one.
    ``force_gpu``: label measured rows with ``gpu`` even when the device reports another catalogue card.
    ``device`` None: "cuda" for a measured profile; naming one without ``measure`` is refused (nothing would use it).
    ``quants`` may name ``native``: the model's checkpoint format (catalogue.resolve_quant_id); rows show the id.
    ``gpus_file`` / ``quants_file``: YAML in the catalogue's layout adding or replacing GPUs / quant schemes.
    ``gpu_memory_utilization`` None: the engine default (Efficiency.gpu_memory_utilization); else in (0, 1].
    """

    model: str
    gpu: str | None = None
    quants: tuple[str, ...] = ("bf16",)
    kv_dtypes: tuple[KvDtype, ...] = (KvDtype.BF16,)
    tps: tuple[int, ...] = (1,)
    batches: tuple[int, ...] = (1, 8, 64)
    contexts: tuple[int, ...] = (1024, 8192)
    models_file: Path | None = None
    config: Path | None = None
    measure: bool = False
    device: str | None = None
    weights: Path | None = None
    calibration: Path | None = None
    output: Path | None = None
    command: str = ""
    force_gpu: bool = False
    gpus_file: Path | None = None
    quants_file: Path | None = None
    gpu_memory_utilization: float | None = None


# The schemes a "does not fit" message suggests: the general-purpose ones (not every group-size or checkpoint
# variant of them, which would repeat each suggestion), plus whatever the request or its --quants file named.
SUGGESTED_QUANTS = ("bf16", "fp16", "fp8", "int8", "int4", "mxfp4")


def _suggested_quants(req: ProfileRequest, asked) -> dict:
    quants = catalogue.load_quants(req.quants_file)
    user = catalogue.load_file("quants", req.quants_file) if req.quants_file is not None else {}
    return {k: q for k, q in quants.items() if k in SUGGESTED_QUANTS or k in asked or k in user}


def check_gpu_memory_utilization(value: float | None) -> float | None:
    """A --gpu-memory-utilization value: a fraction of the GPU's memory in (0, 1], or None for the default."""
    if value is not None and not 0 < value <= 1:
        raise InvalidValueError(f"--gpu-memory-utilization must be a fraction in (0, 1] (vLLM's default is 0.9; "
                                f"people run 0.95-0.98), got {value:g}")
    return value


def _check_measure_request(req: ProfileRequest) -> None:
    """Refuse the options a measured run cannot honour, instead of silently producing other rows."""
    if len(req.tps) > 1:
        raise InvalidValueError(f"--tp {','.join(map(str, req.tps))} with --measure: one TP degree per measured run "
                                "(each is its own group of processes); run once per degree")
    if req.tps[0] > 1 and req.weights is not None:
        raise InvalidValueError("--weights with --tp: a measured TP run builds each rank's shard with random "
                                "weights (the numbers depend on shapes, not values); drop --weights")
    if req.calibration:
        raise InvalidValueError("--calibration applies to analytic profiles; a measured profile uses no efficiency "
                                "factors. Fit them from it with `inferplan calibrate MEASURED.csv`")
    if req.device == "cpu" and req.gpu:
        raise InvalidValueError(f"--gpu {req.gpu} with --device cpu: rows measured on the CPU are labelled 'cpu' "
                                "(its bandwidth and FLOP/s are measured, not a catalogue GPU's); drop --gpu")
    if req.force_gpu and not req.gpu:
        raise InvalidValueError("--force-gpu needs --gpu ID (the catalogue GPU to label the rows with)")
    analytic_only = [name for name, given in (("--gpus", req.gpus_file), ("--quants", req.quants_file),
                                              ("--gpu-memory-utilization", req.gpu_memory_utilization)) if given]
    if analytic_only:
        raise InvalidValueError(f"{analytic_only[0]} applies to analytic profiles: a measured profile runs on the "
                                "card in this machine with the built-in quant schemes and measures its memory; "
                                "drop it, or drop --measure")


def _measured(req: ProfileRequest, model: ModelSpec, progress: bool) -> tuple[pd.DataFrame, ProfileMeta]:
    from profiler.measure.sweep import run_measured_profile  # torch lives only there

    _check_measure_request(req)
    if req.tps[0] > 1:
        return _measured_tp(req, model, progress)
    return run_measured_profile(
        model, req.gpu, [catalogue.resolve_quant_id(q, model) for q in req.quants], list(req.kv_dtypes),
        list(req.batches), list(req.contexts),
        device=req.device or "cuda", out=req.output, resume=True, weights_path=req.weights, progress=progress,
        command=req.command, force_gpu=req.force_gpu)


def _measured_tp(req: ProfileRequest, model: ModelSpec, progress: bool) -> tuple[pd.DataFrame, ProfileMeta]:
    """A measured TP sweep: this process is one rank when torchrun started it, else it starts torchrun
    (profiler.measure.tp_launch, tp_run)."""
    from profiler.measure import tp_launch, tp_run  # torch lives only there
    from profiler.measure.tp_shard import check_shardable

    tp = req.tps[0]
    check_shardable(model, tp)  # before any process starts: one line, not one per rank
    quants = [catalogue.resolve_quant_id(q, model) for q in req.quants]
    run = dict(model=model, gpu_id=req.gpu, quants=quants, kv_dtypes=list(req.kv_dtypes), batches=list(req.batches),
               contexts=list(req.contexts), device=req.device or "cuda", out=req.output, tp=tp,
               command=req.command, force_gpu=req.force_gpu)
    if tp_run.world() is not None:
        return tp_run.run_tp_profile(**run)
    points = len(quants) * len(req.kv_dtypes) * 2 * len(req.batches) * len(req.contexts)
    return tp_launch.measure_tp({**run, "points": points}, progress)


def profile(req: ProfileRequest, progress: bool = False) -> tuple[pd.DataFrame, ProfileMeta]:
    """Resolve the request against the catalogues and run the analytic (or measured) profile.

    Returns:
        ``(table, meta)``: the profile table, one row per (quant, kv_dtype, tp, phase, batch, context) with
        ``latency_ms`` [ms per prefill or decode step], ``tokens_per_s``, ``weights_bytes``, ``kv_bytes_per_token``,
        ``peak_bytes`` [bytes], ``kv_capacity_tokens``, ``max_batch``, ``mbu`` / ``mfu`` [0-1], ``source`` and
        ``status`` ("ok", "oom", "unsupported"): every column in docs/profile_schema.md; and its
        :class:`ProfileMeta` (tool version, catalogue hashes, environment, efficiencies used). ``progress``:
        show a progress bar while measuring.

    Raises:
        UnknownNameError: an unknown model, GPU or quant id. CatalogueError: a bad models file or config.json.
        DoesNotFitError: no point fits the GPU (the message names what would). UnsupportedQuantError: the GPU
        cannot run any quant asked for. InvalidValueError: an impossible option (e.g. ``device`` without
        ``measure``). ModuleNotFoundError: ``measure=True`` without torch (install ``inferplan[gpu]``).
    """
    model = catalogue.get_model(req.model, models_file=req.models_file, config_path=req.config)
    if req.output:
        check_profile_path(req.output)  # before the work: a bad -o fails now, not after the sweep
    if req.measure:
        return _measured(req, model, progress)
    measured_only = [name for name, given in (("--weights", req.weights is not None), ("--force-gpu", req.force_gpu),
                                              (f"--device {req.device}", req.device is not None)) if given]
    if measured_only:
        raise InvalidValueError(f"{measured_only[0]} applies to measured profiles only; add --measure, or drop it "
                                "for the analytic profile (which runs nowhere: it is computed from the catalogue)")
    check_gpu_memory_utilization(req.gpu_memory_utilization)
    gpu = catalogue.get_gpu(req.gpu or DEFAULT_GPU, req.gpus_file)
    for tp in req.tps:
        catalogue.check_tp_in_node(gpu, tp)
    quant_ids = dict.fromkeys(catalogue.resolve_quant_id(q, model) for q in req.quants)  # `native` resolved once
    quants = tuple(catalogue.get_quant(q, req.quants_file) for q in quant_ids)
    catalogue.check_quants_for_model(model, quants)
    if req.calibration and not Path(req.calibration).expanduser().is_file():
        raise InvalidValueError(f"calibration file {req.calibration} does not exist; write one with "
                                "`inferplan calibrate MEASURED.csv -o FILE` or leave --calibration out")
    lookup = partial(efficiency_for, calibration_path=req.calibration,
                     gpu_memory_utilization=req.gpu_memory_utilization)
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
                    min(req.contexts), catalogue.load_gpus(req.gpus_file), _suggested_quants(req, quant_ids), lookup)
    user_files = [p for p in (req.models_file, req.gpus_file, req.quants_file) if p is not None]
    meta = ProfileMeta(
        tool_version=tool_version(), catalogues=catalogue.catalogue_hashes(*user_files),
        environment={"gpu": gpu.id, "gpu_name": gpu.name, "machine": "analytic (no GPU used)"},
        efficiency={q.id: asdict(lookup(gpu.id, q.id)) for q in quants}, command=req.command)
    if req.output:
        write_profile(df, req.output, meta)
    return df, meta


# ------------------------------------------------------------------------------------------------
# The engine's startup log
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineLog:
    """What vLLM would print at startup for one (model, GPU, quant, KV dtype, TP) and the settings it used.

    ``lines`` are the log lines it gets to print (profiler.analytic.memory.engine_startup): all four when it
    serves; when it stops, those before the stop. ``error`` is then why and ``error_kind`` which stop it is:
    "no-cache-memory" (vLLM's message verbatim), "max-model-len" (vLLM's message paraphrased, its numbers
    predicted), "startup-headroom", "load-oom" or "cuda-graph-capture" (our words); both "" when it starts.
    ``weights_gib`` / ``kv_cache_gib`` are rounded to 2 decimals as the log prints them; ``kv_cache_tokens``
    and ``max_concurrency`` are the engine's numbers even when it stops (0 tokens when no KV fits).
    ``vllm_version`` is the release asked for ("latest" by default), ``engine`` the accounting it used (an
    `EngineVersion` value).
    """

    model: str
    gpu: str
    quant: str
    kv_dtype: str
    tp: int
    vllm_version: str
    engine: str
    max_model_len: int
    max_num_batched_tokens: int
    max_num_seqs: int
    gpu_memory_utilization: float
    enforce_eager: bool
    weights_gib: float
    kv_cache_gib: float
    kv_cache_tokens: int
    max_concurrency: float
    starts: bool
    error_kind: str
    error: str
    lines: list[str]


def _engine_count(value: int | None, option: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidValueError(f"{option} must be a positive whole number, got {value}")
    return value


def _kv_dtype(value: KvDtype | str) -> KvDtype:
    try:
        return KvDtype(value)
    except ValueError:
        raise InvalidValueError(f"--kv-dtype must be bf16 or fp8, not '{value}'") from None


def engine_log(model: str, gpu: str | None, quant: str, kv_dtype: KvDtype | str = "bf16", tp: int = 1,
               max_model_len: int | None = None, max_num_batched_tokens: int | None = None,
               max_num_seqs: int | None = None, gpu_memory_utilization: float | None = None,
               vllm_version: str = "", enforce_eager: bool = False, models_file: Path | None = None,
               config: Path | None = None, gpus_file: Path | None = None, quants_file: Path | None = None,
               calibration: Path | None = None) -> EngineLog:
    """The startup lines vLLM would print serving `model` on `gpu` (None: :data:`DEFAULT_GPU`) at `quant`.

    Defaults are vLLM's: max_model_len the model's max context (max_position_embeddings), max_num_batched_tokens
    memory.DEFAULT_CHUNK_TOKENS, max_num_seqs memory.DEFAULT_MAX_NUM_SEQS, utilisation the efficiency default
    (0.9), CUDA graphs on (``enforce_eager=False``). `vllm_version` picks the accounting (memory.engine_version).
    A quant the GPU cannot run raises UnsupportedQuantError; a configuration that does not fit is a result
    with ``starts=False``, not an error.
    """
    spec = catalogue.get_model(model, models_file=models_file, config_path=config)
    check_gpu_memory_utilization(gpu_memory_utilization)
    engine = memory.engine_version(vllm_version)
    gpu_spec = catalogue.get_gpu(gpu or DEFAULT_GPU, gpus_file)
    catalogue.check_tp_in_node(gpu_spec, tp)
    q = catalogue.get_quant(catalogue.resolve_quant_id(quant, spec), quants_file)
    catalogue.check_quants_for_model(spec, (q,))
    _check_runs(spec, gpu_spec, q)
    kv = _kv_dtype(kv_dtype)
    length = _engine_count(max_model_len, "--max-model-len", spec.max_context)
    if length > spec.max_context:
        raise InvalidValueError(f"--max-model-len {length:,} is longer than {spec.name}'s {spec.max_context:,} "
                                "tokens (max_position_embeddings); vLLM refuses it too")
    chunk = _engine_count(max_num_batched_tokens, "--max-num-batched-tokens", memory.DEFAULT_CHUNK_TOKENS)
    seqs = _engine_count(max_num_seqs, "--max-num-seqs", memory.DEFAULT_MAX_NUM_SEQS)
    if chunk < seqs:
        raise InvalidValueError(f"--max-num-batched-tokens ({chunk:,}) must be at least --max-num-seqs ({seqs:,}), "
                                "as vLLM requires")
    eff = efficiency_for(gpu_spec.id, q.id, calibration, gpu_memory_utilization)
    budget = memory.memory_budget(spec, gpu_spec, q, kv, tp, eff, chunk_tokens=chunk, max_num_seqs=seqs,
                                  engine=engine, cuda_graphs=not enforce_eager)
    lines, kind, error = memory.engine_startup(budget, spec, kv, tp, length, chunk)
    _, tokens, concurrency = memory.engine_kv_numbers(budget, spec, kv, tp, length, chunk)
    given = vllm_version.strip()
    return EngineLog(
        model=spec.name, gpu=gpu_spec.id, quant=q.id, kv_dtype=kv.value, tp=tp,
        vllm_version="latest" if given.lower() in ("", "latest") else "v" + given.lstrip("vV"),
        engine=engine.value, max_model_len=length, max_num_batched_tokens=chunk, max_num_seqs=seqs,
        gpu_memory_utilization=eff.gpu_memory_utilization, enforce_eager=enforce_eager,
        weights_gib=round(budget.weights_bytes / 2**30, 2), kv_cache_gib=round(budget.kv_budget_bytes / 2**30, 2),
        kv_cache_tokens=tokens, max_concurrency=concurrency, starts=not kind, error_kind=kind, error=error,
        lines=lines)


def _check_runs(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme) -> None:
    """Raise UnsupportedQuantError when the GPU cannot run `quant` or the scheme does not apply to the model."""
    timing.compute_dtype(gpu, quant)
    timing.check_applies(model, quant)


def engine_logs(req: ProfileRequest, max_model_len: int | None = None, max_num_batched_tokens: int | None = None,
                max_num_seqs: int | None = None, vllm_version: str = "",
                enforce_eager: bool = False) -> list[EngineLog]:
    """:func:`engine_log` for every (quant, KV dtype, TP) of an analytic profile request, in the profile's order.

    A quant the GPU cannot run has no entry (vLLM would not start it; the profile's rows say why); if none
    can run, the reason is raised.
    """
    if req.measure:
        raise InvalidValueError("--engine-log predicts vLLM's startup lines from the analytic memory model; "
                                "drop --measure")
    model = catalogue.get_model(req.model, models_file=req.models_file, config_path=req.config)
    quant_ids = dict.fromkeys(catalogue.resolve_quant_id(q, model) for q in req.quants)
    logs, skipped = [], None
    for q in quant_ids:
        for kv in req.kv_dtypes:
            for tp in req.tps:
                try:
                    logs.append(engine_log(
                        req.model, req.gpu, q, kv, tp, max_model_len=max_model_len,
                        max_num_batched_tokens=max_num_batched_tokens, max_num_seqs=max_num_seqs,
                        gpu_memory_utilization=req.gpu_memory_utilization, vllm_version=vllm_version,
                        enforce_eager=enforce_eager, models_file=req.models_file, config=req.config,
                        gpus_file=req.gpus_file, quants_file=req.quants_file, calibration=req.calibration))
                except UnsupportedQuantError as exc:
                    skipped = exc
    if not logs and skipped is not None:
        raise skipped
    return logs


# ------------------------------------------------------------------------------------------------
# Calibration
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """What `inferplan calibrate` did: the fit report (profiler.analytic.calibration.fit_report columns), the
    calibration file written, warnings about fits not to trust (a factor at its clipping limit, TP rows without
    all-reduce timings), and the TP all-reduce fits (profiler.analytic.collective_fit.collective_report columns:
    one row per (gpu, tp); empty without measured TP rows)."""

    report: pd.DataFrame
    path: Path
    warnings: tuple[str, ...]
    collectives: pd.DataFrame = field(default_factory=pd.DataFrame)


def _calibration_models(measured: pd.DataFrame, models_file: Path | None,
                        config: Path | None) -> dict[str, ModelSpec]:
    """The catalogue (plus --models), and a --config model under the profile's one non-catalogue model name."""
    models = dict(catalogue.load_models(models_file))
    if config is not None:
        unknown = sorted(set(measured["model"].astype(str)) - set(models))
        spec = catalogue.model_from_config(config, unknown[0] if len(unknown) == 1 else "")
        models[spec.name] = spec
    return models


def clipping_warnings(fits) -> list[str]:
    """A line per fitted efficiency factor that sits at a limit of calibration.ETA_RANGE: the least-squares
    optimum lies outside the accepted range, so the stored factor is the clip, not a measurement."""
    import math

    from profiler.analytic.calibration import ETA_RANGE

    out = []
    for f in fits.values():
        names = list(dict.fromkeys(n for n in f.fitted if n in ("bandwidth", "compute", "kv_bandwidth")))
        if "bandwidth" in names and math.isclose(f.efficiency.kv_bandwidth, f.efficiency.bandwidth):
            names = [n for n in names if n != "kv_bandwidth"]  # tied to the bandwidth factor: one warning
        for name in names:
            value = getattr(f.efficiency, name)
            limit = next((lim for lim in ETA_RANGE if math.isclose(value, lim, rel_tol=1e-6)), None)
            if limit is not None:
                out.append(f"{f.gpu}/{f.quant}: fitted {name} efficiency {value:g} sits at the clipping limit "
                           f"{limit:g} of ETA_RANGE {ETA_RANGE}; the data want a value outside the accepted range "
                           "(too few or too similar points, a toy model held in cache, or a wrong machine "
                           "record), so predictions with it are unreliable")
    return out


def calibrate(measured_file: Path, output: Path | None = None, models_file: Path | None = None,
              config: Path | None = None, gpus_file: Path | None = None,
              quants_file: Path | None = None, force: bool = False,
              serving: ServingContext | None = None) -> Calibration:
    """Fit efficiencies to a measured profile and store them in the user calibration file.

    Args: `measured_file` a measured profile (``inferplan profile --measure -o FILE``); `output` the calibration
    file to write (None: the user file under $INFERPLAN_HOME, used by every later analytic profile). Returns a
    :class:`Calibration` (its ``report`` DataFrame: the fitted factors and their errors per GPU and quant). Raises
    InvalidValueError for a profile without measured rows or an unreliable fit, CatalogueError for bad files.

    Measured TP rows carrying ``allreduce_bytes`` / ``allreduce_ms`` also fit each (gpu, tp)'s all-reduce line
    (:mod:`profiler.analytic.collective_fit`), stored beside the efficiencies and used by later analytic profiles
    at that GPU and TP; the efficiency fit prices those rows' all-reduces on it.

    A fit whose factors sit at a clipping limit (:func:`clipping_warnings`: unreliable) is refused, and nothing is
    saved, unless `force`: every later analytic profile of that GPU would use it.

    The profile's metadata travels with it: a CPU-measured profile's machine record (gpu 'cpu') is in
    ``meta.environment["machine_spec"]``. `models_file` / `config` describe models outside the catalogue;
    `gpus_file` GPUs outside it (the GpuSpec a row's gpu id names); `quants_file` quantisation schemes.
    `serving` (a :class:`profiler.interop.ServingContext`) names the deployment a ``vllm bench serve`` or guidellm
    report measured where the report does not; its options are refused for a profile, whose rows name their own."""
    from profiler import interop
    from profiler.analytic import calibration, collective_fit

    serving = serving or interop.ServingContext()
    profile_rows, meta = read_profile(measured_file, replace(serving, models_file=models_file, config=config,
                                                             gpus_file=gpus_file, quants_file=quants_file))
    if serving.given() and not interop.is_report_meta(meta):
        raise InvalidValueError(f"{serving.given()[0]} names the deployment a vllm bench serve or guidellm report "
                                f"measured; {measured_file} is a profile, whose rows name their own: drop it")
    measured, warnings = measured_rows(profile_rows, measured_file)
    check_writable(calibration.calibration_path(output), create_folders=output is None)  # before the fit
    models = _calibration_models(measured, models_file, config)
    gpus = catalogue.load_gpus(gpus_file) if gpus_file is not None else None
    quants = catalogue.load_quants(quants_file) if quants_file is not None else None
    lines, notes = collective_fit.fit_collectives(measured, gpus or catalogue.load_gpus())
    fits = calibration.fit_efficiency(measured, meta, models=models, gpus=gpus, quants=quants,
                                      collectives=collective_fit.lines_by_gpu(lines))
    unreliable = clipping_warnings(fits)
    if unreliable and not force:
        more = f" (and {len(unreliable) - 1} more)" if len(unreliable) > 1 else ""
        raise InvalidValueError(f"not saved: {unreliable[0]}{more}; measure more points, or pass --force to save it "
                                "anyway")
    path = calibration.save_calibration(fits, output, source_file=str(measured_file), collectives=lines)
    return Calibration(calibration.fit_report(fits), path,
                       (*warnings, *(f"{measured_file}: {n}" for n in notes), *unreliable),
                       collective_fit.collective_report(lines))


def measured_rows(df: pd.DataFrame, name: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """The ``source == "measured"`` rows a calibration may fit, and a warning when others were left out. Fitting
    an analytic (or calibrated) profile reproduces its own efficiency factors with 0 % error and would label
    every later profile of that GPU "calibrated" without a measurement behind it, so a file without measured rows
    is refused."""
    measured = df[df["source"].isin(MEASURED_SOURCES)].reset_index(drop=True)
    others = df.loc[~df["source"].isin(MEASURED_SOURCES), "source"].astype(str)
    if measured.empty:
        kinds = " and ".join(sorted(set(others))) or "no"
        raise InvalidValueError(f"{name} holds {kinds} rows; calibrate needs a measured profile: "
                                "inferplan profile MODEL --measure -o FILE")
    warnings = [f"{name}: left out {len(others)} {'/'.join(sorted(set(others)))} row(s); only measured rows are "
                "fitted"] if len(others) else []
    return measured, warnings


BREAKDOWN_KEYS = ("quant", "kv_dtype", "tp", "phase", "batch", "context")


def breakdown(req: ProfileRequest) -> pd.DataFrame:
    """Per-kernel time of every ok point of the analytic profile `req` asks for.

    Columns: BREAKDOWN_KEYS, then :data:`profiler.analytic.timing.BREAKDOWN_COLUMNS` (op, launches, time_ms,
    time_per_layer_us, share, bytes, flops, bound): one row per kernel of the step, plus its step overhead,
    to hold against a per-kernel profile (nsys, torch.profiler) of the same point."""
    from profiler.analytic import timing

    if req.measure:
        raise InvalidValueError("--breakdown shows the analytic model's kernels; drop --measure")
    df, _ = profile(req)
    model = catalogue.get_model(req.model, models_file=req.models_file, config_path=req.config)
    gpu = catalogue.get_gpu(req.gpu or DEFAULT_GPU, req.gpus_file)
    frames = []
    for r in df[df["status"] == "ok"].itertuples(index=False):
        quant = catalogue.get_quant(r.quant, req.quants_file)
        eff = efficiency_for(gpu.id, quant.id, req.calibration, req.gpu_memory_utilization)
        args = (model, gpu, quant, KvDtype(r.kv_dtype), int(r.tp), int(r.batch), int(r.context), eff)
        est = timing.prefill(*args) if r.phase == "prefill" else timing.decode_step(*args)
        table = timing.breakdown_table(est, model.num_layers)
        for key in reversed(BREAKDOWN_KEYS):
            table.insert(0, key, getattr(r, key))
        frames.append(table)
    if not frames:
        raise InvalidValueError("no point of the profile fits, so there is nothing to break down")
    return pd.concat(frames, ignore_index=True)
