"""The profiler's commands (`models`, `gpus`, `profile`, `calibrate`): a typer sub-app that the planner's
app (planner/cli.py) mounts. Each command is parse -> one library call -> render. Domain errors are
turned into messages and exit codes in one place, planner/cli.py.

Text that comes from data or from the user (notes, sources, model names, paths) is passed through
``rich.markup.escape`` before rich prints it, so "[gpu]" in a note stays "[gpu]" instead of being read as markup.
"""

from __future__ import annotations

import shlex
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.markup import escape

from profiler.defaults import DEFAULT_CHUNK_TOKENS, DEFAULT_GPU, DEFAULT_MAX_NUM_SEQS
from profiler.errors import InvalidValueError

if TYPE_CHECKING:  # the commands import what they run when they run (`inferplan --help` loads no pandas)
    import pandas as pd

    from profiler.specs import KvDtype

app = typer.Typer(help="Profile models on GPUs: catalogue, analytic and measured profiles, calibration.")

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table (terminal), json (machine-readable) or csv")]
ModelsFileOpt = Annotated[Path | None, typer.Option("--models", help="extra model catalogue YAML (adds or overrides)")]
GpusFileOpt = Annotated[Path | None, typer.Option(
    "--gpus", help="extra GPU catalogue YAML, gpus.yaml's layout (adds GPUs or replaces one of the same id)")]
QuantsFileOpt = Annotated[Path | None, typer.Option(
    "--quants", help="extra quant catalogue YAML, quants.yaml's layout (adds schemes or replaces one of the same id)")]
GpuMemOpt = Annotated[float | None, typer.Option(
    "--gpu-memory-utilization", help="fraction of GPU memory the engine may use, in (0, 1] (vLLM default 0.9)")]
MODEL_HELP = "catalogue model id (see `inferplan models`), or a local model folder or config.json path"
ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", help="a local Hugging Face config.json or model folder to profile instead of a catalogue entry")]
# The columns `calibrate` shows on the terminal (json/csv carry every column of calibration.fit_report).
CALIBRATION_TABLE_COLUMNS = ("gpu", "quant", "bandwidth", "compute", "kv_bandwidth", "step_overhead_us",
                             "decode_points", "prefill_points", "decode_err_before_pct", "decode_err_after_pct",
                             "prefill_err_before_pct", "prefill_err_after_pct", "extrapolation_band_pct",
                             "model_band_pct")


def parse_list(text: str, what: str, cast=str, kind: str = "values") -> list:
    """'1,8,64' -> [1, 8, 64] with a clear error naming the option and the `kind` of value it takes."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise InvalidValueError(f"--{what} needs at least one value")
    try:
        return [cast(t) for t in items]
    except ValueError as exc:
        raise InvalidValueError(f"--{what}: cannot read '{text}' as a comma-separated list of {kind}") from exc


def parse_count(text: str) -> int:
    """An integer that may use k/K (x1024 for contexts like 8k) or plain digits."""
    t = text.strip().lower().replace("_", "")
    mult = 1024 if t.endswith("k") else 1
    return int(t[:-1] if t.endswith("k") else t) * mult


def check_format(fmt: str) -> str:
    from planner.render_rows import FORMATS

    if fmt not in FORMATS:
        raise InvalidValueError(f"--format must be one of {', '.join(FORMATS)}, not '{fmt}'")
    return fmt


def command_line() -> str:
    """The command as typed (program name and arguments, shell-quoted), recorded in the profile's metadata."""
    return shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "inferplan"


# The terminal tables' default columns, chosen to fit 100 columns; --wide, --columns or --format csv show the rest.
MODELS_TABLE_COLUMNS = ("name", "attention", "moe", "params_total", "params_active", "kv_bytes_per_token",
                        "max_context")
QUANTS_TABLE_COLUMNS = ("id", "bits_per_weight", "group_size", "compute_dtype", "vllm_quantization",
                        "tensor_formats", "keep")
GPUS_TABLE_COLUMNS = ("id", "name", "memory_gib", "hbm_tb_s", "bf16_tflops", "fp8_tflops", "int8_tflops",
                      "fp4_tflops")


@app.command("models")
def models_cmd(fmt: FormatOpt = "table", models_file: ModelsFileOpt = None) -> None:
    """List catalogue models with exact parameter counts and KV bytes per token."""
    from planner.render_rows import emit_rows
    from profiler import catalogue
    from profiler.tables import models_rows

    check_format(fmt)
    rows = models_rows(catalogue.load_models(models_file))
    if fmt == "table":  # the long source text stays in json/csv
        rows = [{k: v for k, v in row.items() if k != "source"} for row in rows]
    emit_rows(rows, fmt, "Models", columns=MODELS_TABLE_COLUMNS)


@app.command("quants")
def quants_cmd(fmt: FormatOpt = "table", quants_file: QuantsFileOpt = None) -> None:
    """List quantisation schemes: bits per weight with scales, groups, tensors and layers kept bf16, compute dtype."""
    from planner.render_rows import emit_rows
    from profiler import catalogue
    from profiler.tables import quants_rows

    check_format(fmt)
    rows = quants_rows(catalogue.load_quants(quants_file))
    if fmt == "table":  # the source text stays in json/csv
        rows = [{k: v for k, v in row.items() if k != "source"} for row in rows]
    emit_rows(rows, fmt, "Quantisation schemes (base format's bits at 4,096 inputs; tensor_formats: rules that "
                         "store some tensors in another format)", columns=QUANTS_TABLE_COLUMNS)


SourcesOpt = Annotated[bool, typer.Option(
    "--sources", help="each row's source in words, then who published each source, which document and its date")]


@app.command("gpus")
def gpus_cmd(fmt: FormatOpt = "table", gpus_file: GpusFileOpt = None, sources: SourcesOpt = False) -> None:
    """List catalogue GPUs with memory, bandwidth, dense TFLOP/s per dtype and interconnect (--sources: where each
    row's figures come from)."""
    from planner.render_rows import console, emit_rows
    from profiler import catalogue
    from profiler.tables import gpus_rows, gpus_terminal_rows

    check_format(fmt)
    rows = gpus_rows(catalogue.load_gpus(gpus_file))
    if sources:
        return _gpu_sources(rows, fmt)
    if fmt != "table":
        return emit_rows(rows, fmt)  # every column, source included, memory_bytes in bytes
    shown = [{k: v for k, v in row.items() if k != "source"} for row in gpus_terminal_rows(rows)]  # --sources
    emit_rows(shown, fmt, "GPUs (dense TFLOP/s; – = no such path)", columns=GPUS_TABLE_COLUMNS)
    console().print("Where each row's figures come from (publisher, document, date): inferplan gpus --sources")


def _gpu_sources(rows: list[dict], fmt: str) -> None:
    """Each row's source with its keys spelled out (profiler/catalogues/source_keys.yaml), then the keys used."""
    from planner.render_rows import console, emit_rows
    from profiler.catalogue import source_in_words

    said = [(str(row["id"]), *source_in_words(str(row["source"]))) for row in rows]
    if fmt != "table":
        return emit_rows([{"id": gpu, "source": text, "published_by": "; ".join(
            f"{k.name}: {k.publisher}, {k.document}, {k.date}" for k in used)} for gpu, text, used in said], fmt)
    out = console()
    out.print("[bold]Where each GPU row's figures come from[/]")
    for gpu, text, _ in said:
        out.print(f"  {escape(gpu)}: {escape(text)}")
    named = {k.key: k for _, _, used in said for k in used}
    if named:
        out.print("[bold]Who published those sources, the document and its date[/]")
        for k in named.values():
            out.print(f"  {escape(k.name[:1].upper() + k.name[1:])}: {escape(k.publisher)}; {escape(k.document)}; "
                      f"{escape(k.date)}")


GpuOpt = Annotated[str | None, typer.Option(
    help=f"GPU id (see `inferplan gpus`); default {DEFAULT_GPU} for an analytic profile, and with --measure the card "
         "detected from the device name (an explicit id that contradicts it is refused)")]
ForceGpuOpt = Annotated[bool, typer.Option(
    "--force-gpu", help="with --measure --gpu ID: label the rows ID even though the device reports another card")]


@app.command("profile")
def profile_cmd(
    model: Annotated[str, typer.Argument(help=MODEL_HELP)] = "",
    gpu: GpuOpt = None,
    quant: Annotated[str, typer.Option(help="comma-separated quant ids (see `inferplan quants`); native = the "
                                            "model's checkpoint format")] = "bf16",
    batch: Annotated[str, typer.Option(help="comma-separated batch sizes")] = "1,8,64",
    context: Annotated[str, typer.Option(help="comma-separated context lengths (tokens; 8k = 8192)")] = "1024,8192",
    tp: Annotated[str, typer.Option(help="tensor-parallel degree(s), comma-separated; with --measure one degree, "
                                         "run as that many processes under torchrun (NCCL on cuda, gloo on "
                                         "cpu)")] = "1",
    kv_dtype: Annotated[str, typer.Option("--kv-dtype", help="KV-cache dtype(s): bf16, fp8")] = "bf16",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write the profile (.csv or .json)")] = None,
    fmt: FormatOpt = "table",
    models_file: ModelsFileOpt = None,
    config: ConfigOpt = None,
    measure: Annotated[bool, typer.Option(help="measure on this machine instead of the analytic model")] = False,
    device: Annotated[str | None, typer.Option(
        help="with --measure: cuda (default), cuda:N, mps (a Mac's Apple-silicon GPU) or cpu")] = None,
    weights: Annotated[Path | None, typer.Option(
        help="with --measure: real weights from this local folder (its config.json must match the model)")] = None,
    calibration: Annotated[Path | None, typer.Option(
        help="analytic only: calibration file to use (default: the user file)")] = None,
    force_gpu: ForceGpuOpt = False,
    gpus_file: GpusFileOpt = None,
    quants_file: QuantsFileOpt = None,
    gpu_memory_utilization: GpuMemOpt = None,
    breakdown: Annotated[bool, typer.Option(
        "--breakdown", help="analytic only: per-kernel time of each point (QKV, attention, O, MLP, experts, "
                            "all-reduce, lm_head...), to hold against your own kernel profile")] = False,
    engine_log: Annotated[bool, typer.Option(
        "--engine-log", help="analytic only: also print the startup lines vLLM would log for each quant, KV dtype "
                             "and TP (model loading, available KV cache memory, KV cache size in tokens, maximum "
                             "concurrency), to hold against your real log; json adds an engine_log list")] = False,
    max_model_len: Annotated[str | None, typer.Option(
        "--max-model-len", help="with --engine-log: vLLM --max-model-len (default: the model's max context; "
                                "32k = 32768)")] = None,
    max_num_batched_tokens: Annotated[str | None, typer.Option(
        "--max-num-batched-tokens", help="with --engine-log: vLLM --max-num-batched-tokens, the profile run's "
                                         f"chunk (default {DEFAULT_CHUNK_TOKENS:,})")] = None,
    max_num_seqs: Annotated[str | None, typer.Option(
        "--max-num-seqs", help=f"with --engine-log: vLLM --max-num-seqs (default {DEFAULT_MAX_NUM_SEQS})")] = None,
    vllm_version: Annotated[str | None, typer.Option(
        "--vllm-version", help="with --engine-log: the vLLM release whose memory accounting to predict, 0.8 or "
                               "later (0.8.5, 0.9.2, 0.10.1.1, 0.21.0...); default latest (v0.21+)")] = None,
    enforce_eager: Annotated[bool, typer.Option(
        "--enforce-eager", help="with --engine-log: vLLM --enforce-eager (no CUDA graphs)")] = False,
) -> None:
    """Profile MODEL: weights, KV bytes per token, peak memory, prefill/decode latency, max batch, MBU/MFU."""
    from profiler.specs import KvDtype

    check_format(fmt)
    if not model and config is None:
        raise InvalidValueError("name a catalogue model (see `inferplan models`) or give --config PATH; a "
                                "model folder or config.json path works as the model too")
    grid = dict(  # parsed first: a bad flag fails before the profiler (and pandas) loads
        quants=tuple(parse_list(quant, "quant")),
        kv_dtypes=tuple(KvDtype(k) if k in ("bf16", "fp8") else _bad_kv(k) for k in parse_list(kv_dtype, "kv-dtype")),
        tps=tuple(parse_list(tp, "tp", int, "integers")),
        batches=tuple(parse_list(batch, "batch", parse_count, "integers")),
        contexts=tuple(parse_list(context, "context", parse_count, "integers (8k = 8192)")))
    from profiler import api

    request = api.ProfileRequest(
        model=model, gpu=gpu, **grid,
        models_file=models_file, config=config, measure=measure, device=device, weights=weights,
        calibration=calibration, output=output, command=command_line(), force_gpu=force_gpu,
        gpus_file=gpus_file, quants_file=quants_file, gpu_memory_utilization=gpu_memory_utilization,
    )
    engine_args = {"--max-model-len": max_model_len, "--max-num-batched-tokens": max_num_batched_tokens,
                   "--max-num-seqs": max_num_seqs, "--vllm-version": vllm_version, "--enforce-eager": enforce_eager}
    logs = _engine_logs(request, engine_args, fmt, breakdown) if engine_log else None
    if not engine_log and any(v not in (None, False) for v in engine_args.values()):
        given = next(k for k, v in engine_args.items() if v not in (None, False))
        raise InvalidValueError(f"{given} sets up the predicted vLLM startup lines; add --engine-log, or drop it")
    if breakdown:
        from planner import render

        table = api.breakdown(request)
        keys = [k for k in ("quant", "kv_dtype", "tp") if table[k].nunique() > 1]  # the terminal shows what varies
        shown = [*keys, "phase", "batch", "context", "op", "time_ms", "time_per_layer_us", "share", "bound"]
        return render.emit(table, fmt, "Per-kernel step time (one GPU of the TP group; bytes and FLOPs: "
                                       "--format csv/json)", columns=shown if fmt == "table" else None)
    try:
        df, meta = api.profile(request, progress=fmt == "table")
    except KeyboardInterrupt as exc:
        if not measure:
            raise  # an analytic profile takes a second: Ctrl-C exits as usual (130)
        _stopped(exc)
    _render_profile(df, meta, fmt, output, measured=measure, engine_logs=logs)


def rerun_command() -> str:
    """The command as typed, to run again from the same folder (a measured sweep resumes from its -o file): the
    console script by its bare name when that is the one on PATH (else the path it was started by), and
    ``python -m planner.cli`` for a module run (whose argv[0] is planner/cli.py)."""
    import shutil

    argv = sys.argv or ["inferplan"]
    script = Path(argv[0])
    if script.parts[-2:] == ("planner", "cli.py"):
        prog = [sys.executable, "-m", "planner.cli"]
    else:
        found = shutil.which(script.name)
        prog = [script.name if found and Path(found).resolve() == script.resolve() else argv[0]]
    return shlex.join([*prog, *argv[1:]])


def _stopped(exc: KeyboardInterrupt) -> NoReturn:
    """Ctrl-C during `profile --measure`: one line on stderr (stopped, points kept, the command that resumes) and
    exit 130; never a traceback. The sweep stopped at a safe point (profiler.measure.interrupt)."""
    from profiler.measure.interrupt import SIGINT_EXIT_CODE, SweepInterrupted

    command = rerun_command()
    if isinstance(exc, SweepInterrupted):
        line = exc.line(command)
    else:  # before the sweep began (torch still loading): nothing was measured or written
        line = f"stopped by Ctrl-C before the sweep began: 0 points kept; to start it again: {command}"
    typer.echo(line, err=True)
    raise typer.Exit(code=SIGINT_EXIT_CODE)


def count_option(text: str | None, option: str, kind: str) -> int | None:
    """A whole-number option (--max-model-len, --max-num-seqs, ...): digits, or k for x1024 (32k = 32768); None
    when not given; anything else one line naming the option."""
    if text is None:
        return None
    try:
        return parse_count(text)
    except ValueError:
        raise InvalidValueError(f"{option}: cannot read '{text}' as a whole number of {kind} (32k = 32768)") from None


def _engine_logs(request, engine_args: dict, fmt: str, breakdown: bool) -> list:
    """The predicted vLLM startup lines for every (quant, KV dtype, TP) of the request; checked before the profile."""
    from profiler import api

    if fmt == "csv":
        raise InvalidValueError("--engine-log prints text blocks (table) or an engine_log list (json); csv holds the "
                                "profile rows only: use --format table or json, or drop --engine-log")
    if breakdown:
        raise InvalidValueError("--engine-log and --breakdown are separate views of the profile; pick one")
    return api.engine_logs(
        request, max_model_len=count_option(engine_args["--max-model-len"], "--max-model-len", "tokens"),
        max_num_batched_tokens=count_option(engine_args["--max-num-batched-tokens"], "--max-num-batched-tokens",
                                            "tokens"),
        max_num_seqs=count_option(engine_args["--max-num-seqs"], "--max-num-seqs", "sequences"),
        vllm_version=engine_args["--vllm-version"] or "", enforce_eager=engine_args["--enforce-eager"])


# How each way vLLM stops is flagged after the lines it printed (EngineLog.error_kind).
ENGINE_STOP_LABELS = {"no-cache-memory": "vLLM would stop with",
                      "max-model-len": "vLLM would stop with (its error, paraphrased)",
                      "startup-headroom": "predicted failure", "load-oom": "predicted failure",
                      "cuda-graph-capture": "predicted failure"}


def engine_log_title(log) -> str:
    """'vLLM v0.21+ startup, predicted (llama-3.1-8b, h100-sxm, bf16, TP1):' - the release asked for, else the
    accounting of the latest; the KV dtype shows when it is not bf16."""
    version = log.engine if log.vllm_version == "latest" else log.vllm_version
    kv = "" if log.kv_dtype == "bf16" else f", KV {log.kv_dtype}"
    return f"vLLM {version} startup, predicted ({log.model}, {log.gpu}, {log.quant}{kv}, TP{log.tp}):"


def _print_engine_logs(logs: list, out) -> None:
    """Each block: its title, the lines (indented 2), and how vLLM would stop, wrapped at words (indented 4)."""
    from rich.padding import Padding
    from rich.text import Text

    def indented(text: str, by: int, style: str = "") -> Padding:
        return Padding(Text(text, style=style), (0, 0, 0, by), expand=False)  # no trailing spaces to copy

    for log in logs:
        out.print()
        out.print(Text(engine_log_title(log), style="bold"))
        for line in log.lines:
            out.print(indented(line, 2))
        if log.error:
            out.print(indented(f"{ENGINE_STOP_LABELS.get(log.error_kind, 'error')}:", 2, "red"))
            for part in textwrap.wrap(log.error, max(out.width - 4, 40), break_long_words=False,
                                      break_on_hyphens=False):  # at spaces only: numbers stay whole
                out.print(indented(part, 4))


def _render_profile(df: pd.DataFrame, meta, fmt: str, output: Path | None, measured: bool,
                    engine_logs: list | None = None) -> None:
    from planner import render
    from profiler.tables import environment_summary, unstable_timings

    if fmt == "json" and engine_logs is not None:
        print(render.dumps({"rows": df, "engine_log": engine_logs}))
    elif fmt != "table":
        render.emit(df, fmt)
    else:
        title = f"{df['model'].iloc[0]} on {df['gpu'].iloc[0]} ({df['source'].iloc[0]})" if len(df) else ""
        unavailable = ((meta.environment or {}).get("unavailable") or {}) if measured else {}
        gone = (df["status"] == "unsupported") & df["note"].isin(list(unavailable.values()))
        if not gone.all() or not len(df):
            render.emit(df[~gone], fmt, escape(title), columns=render.PROFILE_TABLE_COLUMNS)
    out = render.console(stderr=fmt != "table")  # json/csv: stdout stays machine-readable
    if fmt == "table":
        if gone.any():  # the sweep said why in one line before it began (profiler.measure.sweep.unavailable_line)
            labels = [k for k, v in unavailable.items() if v in set(df.loc[gone, "note"])]
            named = ", ".join(labels[:-1]) + " and " + labels[-1] if len(labels) > 1 else labels[0]
            out.print(f"left out of the table: the {int(gone.sum())} rows of {named}, not measurable "
                      "here (the line before the sweep says why; -o and --format csv/json keep them, status "
                      "unsupported)")
        for note in df.loc[(df["status"] != "ok") & ~gone, "note"].dropna().unique()[:5]:
            out.print(f"[yellow]note:[/] {escape(str(note))}")
    unstable = unstable_timings(df)
    if len(unstable):
        worst = unstable["spread_pct"].max()
        out.print(f"[yellow]warning:[/] {len(unstable)} of {int((df['status'] == 'ok').sum())} measured points have "
                  f"unstable timings (spread up to {worst:.0f}% of the median; see their notes): the machine was "
                  "probably busy; rerun them on an idle machine before trusting or calibrating with them")
    over = df[(df["status"] == "ok") & df["note"].fillna("").str.contains("> 1, not a utilisation", regex=False)]
    if len(over):  # measured rows whose ratio exceeds the machine record (profiler.measure.rates)
        out.print(f"[yellow]warning:[/] {len(over)} of {int((df['status'] == 'ok').sum())} measured points have an MBU "
                  "or MFU above 1, which is not a utilisation: the rate it divides by is no peak for this device "
                  "(see their notes)")
    if measured:
        out.print(escape(environment_summary(meta.environment)))
    if engine_logs and fmt == "table":
        _print_engine_logs(engine_logs, out)
    if output and fmt == "table":
        out.print(f"wrote {escape(str(output))}")


def _bad_kv(k: str) -> KvDtype:
    raise InvalidValueError(f"--kv-dtype must be bf16 or fp8, not '{k}'")


# What a vllm bench serve / guidellm report may not say about the deployment it measured (profiler.interop).
ReportModelOpt = Annotated[str | None, typer.Option(
    "--model", help="report only: the catalogue model it served, when its model id names none")]
ReportGpuOpt = Annotated[str | None, typer.Option("--gpu", help="report only: the GPU id that served it")]
ReportQuantOpt = Annotated[str | None, typer.Option(
    "--quant", help="report only: the weight quant served (default: the checkpoint's format)")]
ReportKvOpt = Annotated[str | None, typer.Option("--kv-dtype", help="report only: the KV dtype (default bf16)")]
ReportTpOpt = Annotated[int | None, typer.Option("--tp", help="report only: the tensor-parallel degree served")]


def _serving(model: str | None, gpu: str | None, quant: str | None, kv_dtype: str | None, tp: int | None):
    from profiler.interop import ServingContext

    return ServingContext(model=model, gpu=gpu, quant=quant, kv_dtype=kv_dtype, tp=tp)


@app.command("calibrate")
def calibrate_cmd(
    measured: Annotated[Path, typer.Argument(help="a measured profile (.csv or .json) from `profile --measure`, or "
                                                  "a `vllm bench serve` / guidellm JSON report")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="calibration file to write "
                                                "(default: $INFERPLAN_HOME/calibration.yaml)")] = None,
    fmt: FormatOpt = "table",
    models_file: ModelsFileOpt = None,
    config: ConfigOpt = None,
    gpus_file: GpusFileOpt = None,
    quants_file: QuantsFileOpt = None,
    force: Annotated[bool, typer.Option("--force", help="save a fit even when a factor sits at its clipping limit "
                                        "(an unreliable fit, refused otherwise)")] = False,
    model: ReportModelOpt = None, gpu: ReportGpuOpt = None, quant: ReportQuantOpt = None,
    kv_dtype: ReportKvOpt = None, tp: ReportTpOpt = None,
) -> None:
    """Fit bandwidth/compute efficiency and per-step overhead per (GPU, quant) to a measured sweep."""
    check_format(fmt)
    from planner import render
    from profiler import api, progress

    with progress.shown(f"calibrate {measured.name}"):
        result = api.calibrate(measured, output, models_file=models_file, config=config, gpus_file=gpus_file,
                               quants_file=quants_file, force=force,
                               serving=_serving(model, gpu, quant, kv_dtype, tp))
    if fmt != "table":
        _emit_calibration(result, fmt)
    else:
        render.emit(result.report, fmt, "Calibration fit (error before -> after)",
                    columns=CALIBRATION_TABLE_COLUMNS)
    out = render.console(stderr=fmt != "table")
    if fmt == "table":
        for r in result.report.itertuples(index=False):
            out.print(escape(_fit_line(r)))
        if len(result.collectives):
            render.emit(result.collectives, fmt, "TP all-reduce fit: latency + 2(tp-1)/tp x bytes / busbw "
                        "(error before -> after)")
            for r in result.collectives.itertuples(index=False):
                out.print(escape(_collective_line(r)))
    for warning in result.warnings:
        out.print(f"[yellow]warning:[/] {escape(warning)}")
    out.print(escape(_saved_line(result.path)))  # wrapped at spaces only (in a terminal): paths stay whole


def _emit_calibration(result, fmt: str) -> None:
    """json/csv: the efficiency rows, then the TP all-reduce rows, told apart by their `fit` column."""
    import pandas as pd

    from planner import render

    tables = [result.report.assign(fit="efficiency")]
    if len(result.collectives):
        tables.append(result.collectives.assign(fit="collective"))
    if fmt == "json":  # each row with its own table's fields only
        print(render.dumps([row for t in tables for row in render.jsonable(t)]))
    else:
        render.emit(pd.concat(tables, ignore_index=True), fmt)


def _collective_line(r) -> str:
    def pct(x: float) -> str:
        return "n/a" if x != x else f"{x:.1f}%"

    return (f"{r.gpu} tp {r.tp} all-reduce: {r.latency_us:.3g} us + 2(tp-1)/tp x bytes / {r.busbw_gb_s:.4g} GB/s "
            f"({r.points} points, {r.sizes} sizes); error (median abs) {pct(r.err_before_pct)} -> "
            f"{pct(r.err_after_pct)}, max {pct(r.err_before_max_pct)} -> {pct(r.err_after_max_pct)} (before: the "
            "catalogue's time for the GPU's interconnect; n/a off the catalogue)")


def _saved_line(path: Path) -> str:
    """Where the fit went and who reads it: only the default file is read by later profiles without asking."""
    from profiler.analytic.calibration import calibration_path

    default = calibration_path()
    if path.expanduser().resolve() == default.resolve():
        return f"saved to {path}; analytic profiles for these GPUs now use it"
    return (f"saved to {path}; nothing reads it by default: use it with `inferplan profile MODEL --calibration "
            f"{shlex.quote(str(path))}`, or copy it to {default} ($INFERPLAN_HOME/calibration.yaml) to make it the "
            "default")


def _fit_line(r) -> str:
    def pct(x: float) -> str:
        return "–" if x != x else f"{x:.1f}%"

    def points(n: int) -> str:
        return f"{n} point{'' if n == 1 else 's'}"

    return (f"{r.gpu}/{r.quant} fit error (median abs): decode {pct(r.decode_err_before_pct)} -> "
            f"{pct(r.decode_err_after_pct)} ({points(r.decode_points)}), prefill {pct(r.prefill_err_before_pct)} -> "
            f"{pct(r.prefill_err_after_pct)} ({points(r.prefill_points)}); extrapolation ±"
            f"{pct(r.extrapolation_band_pct)} to other batches/contexts, ±{pct(r.model_band_pct)} to other models "
            f"of the family ({r.model_extrapolation})")


def _register_endpoint() -> None:
    from profiler.cmd_endpoint import endpoint_cmd

    app.command("endpoint")(endpoint_cmd)


_register_endpoint()
