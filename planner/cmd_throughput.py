"""`inferplan throughput`: the offline maximum of one replica (N fixed-length requests at t = 0), per ISL/OSL case."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from planner.engine_options import (
    ConfigOpt,
    EngineGpuMemOpt,
    EngineOpt,
    MaxLenOpt,
    MaxSeqsOpt,
    MaxTokensOpt,
    PolicyOpt,
    knob_values,
)
from profiler.cli import MODEL_HELP, GpusFileOpt, ModelsFileOpt, QuantsFileOpt
from profiler.errors import InvalidValueError

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table, json or csv")]
OUTPUT_SUFFIXES = (".csv", ".json")
# The columns the terminal shows, under shorter names (json/csv carry every column of
# planner.throughput_api.TABLE_COLUMNS under its own name); per-GPU only when TP > 1 (else it is output_tok_s).
# Short headers so the table fits a 100-column terminal (never folded mid-word or mid-number).
TERMINAL_COLUMNS = {"input_tokens": "ISL", "output_tokens": "OSL", "output_tokens_per_s": "out tok/s",
                    "total_tokens_per_s": "all tok/s", "requests_per_s": "req/s", "steady_batch": "batch",
                    "mean_kv_util_fraction": "KV used", "preemptions": "preempt",
                    "output_tokens_per_s_per_gpu": "tok/s/GPU", "status": "status"}


def throughput_cmd(
    model: Annotated[str, typer.Argument(help=f"{MODEL_HELP} (with --config: a label, default the folder's "
                                              "name)")] = "",
    gpu: Annotated[str, typer.Option(help="GPU id")] = "h100-sxm",
    quant: Annotated[str, typer.Option(help="weight quant id (native = the model's checkpoint format)")] = "bf16",
    tp: Annotated[int, typer.Option(help="tensor-parallel degree")] = 1,
    kv_dtype: Annotated[str, typer.Option("--kv-dtype", help="bf16 or fp8")] = "bf16",
    input_tokens: Annotated[str | None, typer.Option(
        "--input-tokens", help="prompt length of every request (ISL), or a comma list, one per case (e.g. 128,1000)")]
    = None,
    output_tokens: Annotated[str | None, typer.Option(
        "--output-tokens", help="output length of every request (OSL), a comma list as long as --input-tokens")]
    = None,
    grid: Annotated[bool, typer.Option(
        "--grid", help="the usual ISL/OSL grid: 128/128, 128/2048, 1000/1000, 2048/2048, 5000/500, 20000/2000")]
    = False,
    requests: Annotated[str, typer.Option(
        "--requests", help="requests per case, all queued at t = 0 (1000: vllm bench throughput's "
                           "--num-prompts default)")] = "1000",
    engine: EngineOpt = "vllm",
    capacity_policy: PolicyOpt = None,
    max_num_seqs: MaxSeqsOpt = None,
    max_num_batched_tokens: MaxTokensOpt = None,
    max_model_len: MaxLenOpt = None,
    gpu_memory_utilization: EngineGpuMemOpt = None,
    config: ConfigOpt = None,
    models_file: ModelsFileOpt = None,
    gpus_file: GpusFileOpt = None,
    quants_file: QuantsFileOpt = None,
    fmt: FormatOpt = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="also write the cases to a .csv or .json "
                                                                     "file")] = None,
) -> None:
    """Offline maximum throughput of one replica, as vllm bench throughput / trtllm-bench report it.

    N requests of exactly ISL prompt and OSL output tokens queued at t = 0; output tokens/s = N x OSL / the time
    to the last token."""
    from profiler.cli import check_format

    check_format(fmt)
    if output is not None and output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InvalidValueError(f"-o {output}: write a {' or '.join(OUTPUT_SUFFIXES)} file")
    # a bad flag fails before the simulator (and pandas) loads
    cases = None if _grid(grid, input_tokens, output_tokens) else _cases(input_tokens, output_tokens)
    n = _requests(requests)
    knobs = knob_values(engine, capacity_policy, max_num_seqs, max_num_batched_tokens, max_model_len)
    from planner.throughput_api import GRID, ThroughputRequest, offline_throughput

    req = ThroughputRequest(
        model=model, gpu=gpu, quant=quant, tp=tp, kv_dtype=kv_dtype, cases=GRID if cases is None else cases,
        requests=n, gpu_memory_utilization=gpu_memory_utilization, config=config,
        models_file=models_file, gpus_file=gpus_file, quants_file=quants_file, **knobs)
    _check_names(req)  # unknown names end in their one line before a progress bar starts
    with _progress(len(req.cases)) as on_case:
        result = offline_throughput(req, on_case=on_case)
    _emit(result, fmt, output)


def _check_names(req) -> None:
    from profiler import catalogue

    if req.config is None and req.model:
        catalogue.get_model(req.model, req.models_file)
    catalogue.get_gpu(req.gpu, req.gpus_file)


def _grid(grid: bool, input_tokens: str | None, output_tokens: str | None) -> bool:
    if grid and (input_tokens is not None or output_tokens is not None):
        raise InvalidValueError("--grid runs its own ISL/OSL cases: drop --input-tokens/--output-tokens, or --grid")
    return grid


def _lengths(text: str | None, option: str) -> tuple[int, ...]:
    from planner import units

    if text is None:
        raise InvalidValueError("give --input-tokens and --output-tokens (comma lists of equal length), or --grid")
    values = []
    for cell in (c.strip() for c in text.split(",")):
        n = units.parse_tokens(cell, option) if cell else 0.0
        if not (n >= 1 and float(n).is_integer()):
            raise InvalidValueError(f"{option}: every length must be a whole number of tokens >= 1 (e.g. 128,2k), "
                                    f"got {cell!r} in {text!r}")
        values.append(int(n))
    return tuple(values)


def _cases(input_tokens: str | None, output_tokens: str | None) -> tuple[tuple[int, int], ...]:
    isl, osl = _lengths(input_tokens, "--input-tokens"), _lengths(output_tokens, "--output-tokens")
    if len(isl) != len(osl):
        raise InvalidValueError(f"--input-tokens has {len(isl)} lengths and --output-tokens {len(osl)}: give one "
                                "output length per input length (case i is ISL i / OSL i)")
    return tuple(zip(isl, osl, strict=True))


def _requests(text: str) -> int:
    from planner import units

    n = units.parse_tokens(text, "--requests")
    if not (n >= 1 and float(n).is_integer()):
        raise InvalidValueError(f"--requests must be a whole number >= 1, got {text!r}")
    return int(n)


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def _progress(n: int):
    """A progress bar on stderr for several cases, only when stderr is a terminal (stdout may be JSON or CSV);
    yields the ``on_case`` callback (or None)."""
    if n < 2 or not _stderr_is_terminal():
        return nullcontext(None)
    from contextlib import contextmanager

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    @contextmanager
    def bar():
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=Console(stderr=True, force_terminal=True), transient=True) as progress:
            task = progress.add_task("simulating", total=n)

            def on_case(i: int, total: int, case: tuple[int, int]) -> None:
                progress.update(task, completed=i, description=f"simulating ISL {case[0]:,} / OSL {case[1]:,}")

            yield on_case
            progress.update(task, completed=n)

    return bar()


def _document(result) -> dict:
    return {"request": result.request, "engine": result.engine, "cases": result.table(),
            "warnings": list(result.warnings)}


def _emit(result, fmt: str, output: Path | None) -> None:
    from rich.markup import escape

    from planner import render
    from planner.engines import ENGINE_NAMES

    table = result.table()
    if fmt == "json":
        print(render.dumps(_document(result)))
    elif fmt == "csv":
        render.emit(table, "csv")
    else:
        lab, e = result.labels, result.engine
        title = (f"{lab['model']} on {lab['tp']}x {lab['gpu']} ({lab['quant']}, KV {lab['kv_dtype']}): offline "
                 f"throughput, {result.request.requests:,} requests per case queued at t = 0")
        shown = [c for c in TERMINAL_COLUMNS if c != "output_tokens_per_s_per_gpu" or lab["tp"] > 1]
        view = table[shown].assign(mean_kv_util_fraction=[f"{v:.1%}" if v == v else "–"  # formatted before the
                                                          for v in table["mean_kv_util_fraction"]])  # short name
        out = render.console()
        out.print(escape(title), highlight=False)
        render.emit(view.rename(columns=TERMINAL_COLUMNS), "table")

        tuned = {int(v) for v in table["max_num_seqs"]} != {e["max_num_seqs"]} or \
            {int(v) for v in table["max_num_batched_tokens"]} != {e["max_num_batched_tokens"]}
        limits = ("max_batch_size / max_num_tokens tuned per case as trtllm-bench does (json/csv: max_num_seqs, "
                  "max_num_batched_tokens)" if tuned else f"max_num_seqs {e['max_num_seqs']:,}, "
                  f"max_num_batched_tokens {e['max_num_batched_tokens']:,}")
        out.print(f"engine: {ENGINE_NAMES[e['engine']]}, policy {e['policy']}, {limits}, max_model_len "
                  f"{e['max_model_len']:,}, "
                  f"KV cache {e['kv_tokens']:,} tokens ({e['block_size']}-token blocks)",
                  highlight=False)
        for note in table.loc[table["status"] != "ok", "note"]:
            out.print(f"[yellow]note:[/] {escape(str(note))}")
    warn = render.console(stderr=fmt != "table")
    for w in result.warnings:
        warn.print(f"[bold yellow]warning:[/] {escape(w)}", highlight=False)  # one line each when piped
    if output is not None:
        if output.suffix.lower() == ".json":
            output.write_text(render.dumps(_document(result)) + "\n", encoding="utf-8")
        else:
            output.write_text(table.to_csv(index=False), encoding="utf-8")
        if fmt == "table":
            render.console().print(f"wrote {escape(str(output))}")
