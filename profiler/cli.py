"""The profiler's commands (`models`, `gpus`, `profile`, `calibrate`): a typer sub-app that the planner's
app (planner/cli.py) mounts. Each command is parse -> one library call -> render. Domain errors are
turned into messages and exit codes in one place, planner/cli.py.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from profiler import catalogue
from profiler.errors import InvalidValueError
from profiler.specs import KvDtype

app = typer.Typer(help="Profile models on GPUs: catalogue, analytic and measured profiles, calibration.")

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table (terminal), json (machine-readable) or csv")]
ModelsFileOpt = Annotated[Path | None, typer.Option("--models", help="extra model catalogue YAML (adds or overrides)")]
ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", help="a local Hugging Face config.json or model folder to profile instead of a catalogue entry")]


def parse_list(text: str, what: str, cast=str) -> list:
    """'1,8,64' -> [1, 8, 64] with a clear error naming the option."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise InvalidValueError(f"--{what} needs at least one value")
    try:
        return [cast(t) for t in items]
    except ValueError as exc:
        raise InvalidValueError(f"--{what}: cannot read '{text}' as a comma-separated list of {cast.__name__}") from exc


def parse_count(text: str) -> int:
    """An integer that may use k/K (x1024 for contexts like 8k) or plain digits."""
    t = text.strip().lower().replace("_", "")
    mult = 1024 if t.endswith("k") else 1
    return int(t[:-1] if t.endswith("k") else t) * mult


def check_format(fmt: str) -> str:
    from planner.render import FORMATS

    if fmt not in FORMATS:
        raise InvalidValueError(f"--format must be one of {', '.join(FORMATS)}, not '{fmt}'")
    return fmt


@app.command("models")
def models_cmd(fmt: FormatOpt = "table", models_file: ModelsFileOpt = None) -> None:
    """List catalogue models with exact parameter counts and KV bytes per token."""
    from planner import render
    from profiler.tables import models_table

    check_format(fmt)
    df = models_table(catalogue.load_models(models_file))
    render.emit(df, fmt, "Models", columns=[c for c in df.columns if c != "source"])


@app.command("gpus")
def gpus_cmd(fmt: FormatOpt = "table") -> None:
    """List catalogue GPUs with memory, bandwidth, dense TFLOP/s, interconnect and source."""
    from planner import render
    from profiler.tables import gpus_table

    check_format(fmt)
    df = gpus_table(catalogue.load_gpus())
    render.emit(df, fmt, "GPUs", columns=[c for c in df.columns if c != "source"])


@app.command("profile")
def profile_cmd(
    model: Annotated[str, typer.Argument(help="catalogue model id (see `inferplan models`)")] = "",
    gpu: Annotated[str, typer.Option(help="GPU id (see `inferplan gpus`)")] = "h100-sxm",
    quant: Annotated[str, typer.Option(help="comma-separated quant ids: bf16,fp8,int8,int4,mxfp4")] = "bf16",
    batch: Annotated[str, typer.Option(help="comma-separated batch sizes")] = "1,8,64",
    context: Annotated[str, typer.Option(help="comma-separated context lengths (tokens; 8k = 8192)")] = "1024,8192",
    tp: Annotated[str, typer.Option(help="tensor-parallel degree(s), comma-separated")] = "1",
    kv_dtype: Annotated[str, typer.Option("--kv-dtype", help="KV-cache dtype(s): bf16, fp8")] = "bf16",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write the profile (.csv or .json)")] = None,
    fmt: FormatOpt = "table",
    models_file: ModelsFileOpt = None,
    config: ConfigOpt = None,
    measure: Annotated[bool, typer.Option(help="measure on this machine instead of the analytic model")] = False,
    device: Annotated[str, typer.Option(help="with --measure: cuda or cpu")] = "cuda",
    weights: Annotated[Path | None, typer.Option(help="with --measure: real weights from this local folder")] = None,
    calibration: Annotated[Path | None, typer.Option(help="calibration file to use (default: the user file)")] = None,
) -> None:
    """Profile MODEL: weights, KV bytes per token, peak memory, prefill/decode latency, max batch, MBU/MFU."""
    from planner import render
    from profiler import api

    check_format(fmt)
    if not model and config is None:
        raise InvalidValueError("name a catalogue model (see `inferplan models`) or give --config PATH")
    request = api.ProfileRequest(
        model=model, gpu=gpu, quants=tuple(parse_list(quant, "quant")),
        kv_dtypes=tuple(KvDtype(k) if k in ("bf16", "fp8") else _bad_kv(k) for k in parse_list(kv_dtype, "kv-dtype")),
        tps=tuple(parse_list(tp, "tp", int)), batches=tuple(parse_list(batch, "batch", parse_count)),
        contexts=tuple(parse_list(context, "context", parse_count)), models_file=models_file, config=config,
        measure=measure, device=device, weights=weights, calibration=calibration, output=output,
        command=" ".join(shlex.quote(a) for a in sys.argv),
    )
    df, meta = api.profile(request, progress=fmt == "table")
    if fmt == "table":
        title = f"{df['model'].iloc[0]} on {df['gpu'].iloc[0]} ({df['source'].iloc[0]})" if len(df) else ""
        render.emit(df, fmt, title, columns=render.PROFILE_TABLE_COLUMNS)
        notes = df.loc[df["status"] != "ok", "note"].dropna().unique()
        for note in notes[:5]:
            render.console().print(f"[yellow]note:[/] {note}")
        if output:
            render.console().print(f"wrote {output}")
    else:
        render.emit(df, fmt)


def _bad_kv(k: str) -> KvDtype:
    raise InvalidValueError(f"--kv-dtype must be bf16 or fp8, not '{k}'")


@app.command("calibrate")
def calibrate_cmd(
    measured: Annotated[Path, typer.Argument(help="a measured profile (.csv or .json) from `profile --measure`")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="calibration file to write "
                                                "(default: $INFERPLAN_HOME/calibration.yaml)")] = None,
    fmt: FormatOpt = "table",
) -> None:
    """Fit bandwidth/compute efficiency and per-step overhead per (GPU, quant) to a measured sweep."""
    from planner import render
    from profiler import api

    check_format(fmt)
    report, path = api.calibrate(measured, output)
    render.emit(report, fmt, "Calibration fit (error before -> after)")
    if fmt == "table":
        render.console().print(f"saved to {path}; analytic profiles for these GPUs now use it")
