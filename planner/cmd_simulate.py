"""`inferplan simulate`: one replica under load, continuous batching, p50/p90/p99 latencies."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from planner.defaults import DEFAULT_CV, DEFAULT_INPUT_TOKENS, DEFAULT_OUTPUT_TOKENS, DEFAULT_SIGMA
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
from planner.simulate.limits import (
    MAX_CV,
    MAX_PLOT_TRACE_REQUESTS,
    MAX_REQUEST_TOKENS,
    MAX_SIGMA,
    MAX_SIM_REQUESTS,
    MAX_TRACE_ROWS,
)
from profiler.cli import MODEL_HELP, GpusFileOpt, ModelsFileOpt, QuantsFileOpt
from profiler.errors import InvalidValueError

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table, json or csv")]

# The terminal's latency table (fits 100 columns): one row per latency, its mean and percentiles in ms. The samples
# behind each row (count) show with --wide; --format csv / json carry every metric in its raw unit (seconds).
TABLE_COLUMNS = ("metric", "mean_ms", "p50_ms", "p90_ms", "p99_ms")
LATENCIES = (("ttft", "TTFT"), ("tpot", "TPOT"), ("itl", "ITL"), ("e2e", "E2E"), ("queue_wait", "queue wait"))
# Significant figures shown for simulated numbers: the step-time model behind them is good to a few per cent
# (the analytic roofline's calibration, profiler/analytic), so a fourth figure would be noise.
SIG = 3


def simulate_cmd(
    model: Annotated[str, typer.Argument(help=f"{MODEL_HELP} (with --config: a label, default the folder's "
                                              "name)")] = "",
    gpu: Annotated[str, typer.Option(help="GPU id")] = "h100-sxm",
    quant: Annotated[str, typer.Option(help="weight quant id (native = the model's checkpoint format)")] = "bf16",
    tp: Annotated[int, typer.Option(help="tensor-parallel degree")] = 1,
    kv_dtype: Annotated[str, typer.Option("--kv-dtype", help="bf16 or fp8")] = "bf16",
    rate: Annotated[str | None, typer.Option(help="arrival rate, e.g. 5/s, 300/min (with --diurnal: the daily "
                                                  f"mean); rate x duration at most {MAX_SIM_REQUESTS:,} "
                                                  "requests")] = None,
    trace: Annotated[Path | None, typer.Option(
        help="replay a CSV trace (UTF-8): timestamp,input_tokens,output_tokens; at most "
             f"{MAX_TRACE_ROWS:,} rows, {MAX_SIM_REQUESTS:,} replayed, {MAX_REQUEST_TOKENS:,} tokens a "
             "request")] = None,
    duration: Annotated[str | None, typer.Option(
        help="simulated time, e.g. 10m, 1h (default 10m; 24h with --diurnal); with --trace, replay only the "
             "requests arriving in the trace's first DURATION; at most 1e9 s")] = None,
    diurnal: Annotated[str | None, typer.Option(
        help="vary --rate over a 24-hour curve: 'default' (2x the mean 08:00-20:00, idle at night: the "
             "planner's peak-to-average of 2) or a file of 24 hourly multipliers")] = None,
    start_hour: Annotated[float | None, typer.Option("--start-hour", help="clock hour at the start of a "
                                                                          "--diurnal run (default 0)")] = None,
    input_tokens: Annotated[str | None, typer.Option(
        "--input-tokens", help=f"mean prompt length of a --rate run (default {DEFAULT_INPUT_TOKENS:g}; at most "
                               f"{MAX_REQUEST_TOKENS:,})")] = None,
    output_tokens: Annotated[str | None, typer.Option(
        "--output-tokens", help=f"mean output length of a --rate run (default {DEFAULT_OUTPUT_TOKENS:g}; at most "
                                f"{MAX_REQUEST_TOKENS:,})")] = None,
    sigma: Annotated[float | None, typer.Option(
        help=f"lognormal sigma of lengths, >= 0 and <= {MAX_SIGMA:g} (0 = fixed lengths; default "
             f"{DEFAULT_SIGMA:g})")] = None,
    cv: Annotated[float | None, typer.Option(
        help=f"inter-arrival coefficient of variation, > 0 and <= {MAX_CV:g} (1 = Poisson, >1 bursty, near 0 evenly "
             f"spaced; default {DEFAULT_CV:g})")] = None,
    ttft_p99: Annotated[str, typer.Option("--ttft-p99", help="TTFT target for goodput")] = "2s",
    tpot_p99: Annotated[str, typer.Option("--tpot-p99", help="TPOT target for goodput")] = "50ms",
    profile: Annotated[Path | None, typer.Option(help="measured/calibrated profile to take step times from, or a "
                                                      "`vllm bench serve` / guidellm JSON report")] = None,
    seed: Annotated[int, typer.Option(help="random seed (runs are reproducible)")] = 0,
    models_file: ModelsFileOpt = None,
    gpus_file: GpusFileOpt = None,
    quants_file: QuantsFileOpt = None,
    gpu_memory_utilization: EngineGpuMemOpt = None,
    config: ConfigOpt = None,
    engine: EngineOpt = "vllm",
    capacity_policy: PolicyOpt = None,
    max_num_seqs: MaxSeqsOpt = None,
    max_num_batched_tokens: MaxTokensOpt = None,
    max_model_len: MaxLenOpt = None,
    plot: Annotated[Path | None, typer.Option(help="PNG of latency percentiles vs offered load, with the SLOs and "
                                                   "the SLO capacity marked (runs a capacity search; with --trace, "
                                                   f"at most {MAX_PLOT_TRACE_REQUESTS:,} requests)")] = None,
    fmt: FormatOpt = "table",
) -> None:
    """Simulate one replica under load (vLLM V1, TensorRT-LLM or SGLang scheduling): TTFT/TPOT/ITL/E2E percentiles.

    Continuous batching step by step; --engine picks the scheduler, --rate or --trace the arrivals.

    Limits: one run simulates at most 500,000 requests and 10,000,000 engine steps (about two minutes).

    A larger run is refused (before simulating, when its size shows in the options) with what to change."""
    from planner import units
    from planner.cmd_plan import check_plot_path

    check_plot_path(plot)  # a bad suffix or a missing matplotlib fails before the simulation, not after it

    flags = dict(  # parsed first: a bad flag fails before the simulator (and pandas) loads
        model=model, gpu=gpu, quant=quant, tp=tp, kv_dtype=kv_dtype,
        rate_per_s=_rate(rate) if rate else None, trace=trace,
        duration_s=units.parse_duration_s(duration, "--duration") if duration is not None else None,
        diurnal=diurnal, start_hour=start_hour,
        input_tokens=units.parse_tokens(input_tokens, "--input-tokens") if input_tokens is not None else None,
        output_tokens=units.parse_tokens(output_tokens, "--output-tokens") if output_tokens is not None else None,
        sigma=sigma, cv=cv,
        ttft_p99_s=units.parse_duration_s(ttft_p99, "--ttft-p99"),
        tpot_p99_s=units.parse_duration_s(tpot_p99, "--tpot-p99"),
        profile=profile, seed=seed, models_file=models_file, gpus_file=gpus_file, quants_file=quants_file,
        gpu_memory_utilization=gpu_memory_utilization, config=config,
        **knob_values(engine, capacity_policy, max_num_seqs, max_num_batched_tokens, max_model_len))
    from planner import render
    from planner.simulate_api import SimRequest, load_curve, run_simulation

    req = SimRequest(**flags)
    with _busy(f"simulating {model or config} on {tp}x {gpu} ({quant}), one replica ..."):
        result = run_simulation(req, plot=plot is not None)
    model, quant = result.request.model, result.request.quant  # a --config label and `native` resolved
    curve = None
    if plot:
        with _busy("searching the SLO capacity and simulating the loads around it, for --plot ..."):
            curve = load_curve(result)
    if fmt == "json":
        extra = {"capacity": curve.capacity, "load_sweep": curve.sweep} if curve else {}
        print(render.dumps({"request": result.request, "metrics": result.metrics.to_dict(), "engine": result.engine,
                            "warnings": list(result.warnings), **extra}))
    elif fmt == "csv":
        render.emit(result.metrics.to_frame(), fmt)  # every metric, raw units (seconds, req/s, fractions)
    else:
        m = result.metrics
        render.emit(latency_frame(m), fmt, f"{model} on {tp}x {gpu} ({quant}), one replica: latency of "
                                           f"{m.requests_measured:,} requests (ms)", columns=TABLE_COLUMNS)
        render.emit_record(run_record(result), fmt, "Run")
    _warn(result.warnings, fmt)
    if curve:
        _plot(curve, plot, fmt, f"{model} on {tp}x {gpu} ({quant}), one replica")


def _rate(text: str) -> float:
    """--rate, with the rate forms in the message (units.parse_rate_per_s reads a bare number as a count and
    would otherwise suggest token suffixes)."""
    from planner import units

    try:
        return units.parse_rate_per_s(text, "--rate")
    except InvalidValueError as exc:
        if "must be" in str(exc):  # a readable rate that is out of range: that message is already right
            raise
        raise InvalidValueError(f"--rate: cannot read {text!r}; use a rate such as 5/s, 300/min or 1000/h "
                                "(a bare number is per second)") from None


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def _busy(message: str):
    """A spinner on stderr while a run computes, only when stderr is a terminal (stdout may be JSON or CSV)."""
    if not _stderr_is_terminal():
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True, force_terminal=True).status(message)


def _warn(warnings: tuple[str, ...], fmt: str) -> None:
    """Each warning on its own line: under the table, or on stderr beside JSON / CSV (also in the JSON)."""
    from rich.markup import escape

    from planner import render

    out = render.console(stderr=fmt != "table")
    for w in warnings:
        out.print(f"[bold yellow]warning:[/] {escape(w)}", soft_wrap=True)  # one line each, however long


def _plot(curve, path: Path, fmt: str, title: str) -> None:
    from planner import render
    from planner.plots import latency_vs_load

    cap = curve.capacity
    latency_vs_load(curve.sweep, path, slo=curve.slo, capacity_rps=cap.rate_per_s, title=title)
    if fmt == "table":
        render.console().print(f"SLO capacity: {cap.rate_per_s:.3g} req/s per replica (limited by {cap.limited_by}); "
                               f"wrote {path}")


def latency_frame(m):
    """The terminal's latency table: TTFT, TPOT, ITL, E2E and queue wait, mean and p50/p90/p99 in ms rounded to SIG
    significant figures (``count``: the samples behind each row)."""
    import pandas as pd

    from planner.units import round_sig

    rows = []
    for name, label in LATENCIES:
        s = getattr(m, name)
        rows.append({"metric": label, "count": s.count,
                     **{f"{q}_ms": round_sig(getattr(s, q) * 1e3, SIG) for q in ("mean", "p50", "p90", "p99")}})
    return pd.DataFrame(rows)


def run_record(result) -> dict[str, str]:
    """The run under the latency table, each value as text with its unit: the engine, the offered and achieved rates
    (a --diurnal run's window mean beside its daily mean and peak), the SLOs met, the KV cache and the queue."""
    from planner.units import fmt_ms, fmt_sig

    m, e = result.metrics, result.engine
    slo = m.slo
    targets = ", ".join(f"{what} p99 {fmt_sig(v)} s" if v >= 1 else f"{what} p99 {fmt_ms(v)}"
                        for what, v in (("TTFT", slo.ttft_p99_s), ("TPOT", slo.tpot_p99_s)) if v is not None)
    rec = {"engine": f"{e['engine']} (scheduling policy {e['policy']}); step times: {e['step_model']}",
           "limits": f"max_num_seqs {e['max_num_seqs']:,}, max_num_batched_tokens {e['max_num_batched_tokens']:,}, "
                     f"max_model_len {e['max_model_len']:,}",
           "arrivals": e["arrivals"],
           **_arrival_rates(result),
           "throughput": f"{fmt_sig(m.throughput_rps)} req/s, {fmt_sig(m.output_tokens_per_s)} output tokens/s",
           "goodput": f"{fmt_sig(m.goodput_rps)} req/s within the SLOs ({targets}): {_pct(m.goodput_fraction)} of "
                      "arrivals",
           "requests": f"{m.requests_measured:,} measured, {m.requests_rejected:,} rejected "
                       f"({_pct(m.rejected_fraction)})",
           "KV cache": f"{e['kv_tokens']:,} tokens ({e['kv_blocks']:,} blocks of {e['block_size']}); in use "
                       f"{_pct(m.kv_util_mean)} mean, {_pct(m.kv_util_max)} max",
           "batch": f"{fmt_sig(m.running_mean)} running on average; {fmt_sig(m.queue_mean)} waiting on average, "
                    f"{m.queue_max:,} at most",
           "preemptions": f"{m.preemptions:,}",
           "window": f"{fmt_sig(m.window_s)} s: t = {fmt_sig(m.window_start_s)}-{fmt_sig(m.window_end_s)} s "
                     "(earlier arrivals are warm-up, left out)",
           "stable": "yes" if m.stable else f"no: the queue grew by {fmt_sig(m.queue_growth)} requests"}
    return rec


def _pct(x: float) -> str:
    """A share as a percentage to SIG significant figures at most (``0.02756`` -> ``2.76%``, ``1.0`` -> ``100%``)."""
    from planner.units import fmt_sig

    return "–" if x != x else f"{fmt_sig(x * 100)}%"


def _arrival_rates(result) -> dict[str, str]:
    """The arrival rate measured over the window; for a --diurnal run also the daily mean (--rate) and the peak
    hour's rate, labelled, since a window in the busy hours measures up to the peak, not the mean."""
    from planner.units import fmt_sig

    m = result.metrics
    measured = f"{fmt_sig(m.arrival_rate_per_s)} req/s, mean over the measured window"
    arrival = getattr(getattr(result, "shape", None), "arrival", None)
    curve = getattr(arrival, "hourly_multipliers", None)
    if not curve:
        return {"arrival rate": measured}
    mean = sum(curve) / len(curve)
    peak = arrival.rate_per_s * max(curve) / mean
    start = (arrival.start_hour + m.window_start_s / 3600) % 24
    end = (arrival.start_hour + m.window_end_s / 3600) % 24
    when = "the whole day" if m.window_s >= 86_400 else f"clock {_clock(start)}-{_clock(end)}"
    return {"arrival rate": f"{fmt_sig(m.arrival_rate_per_s)} req/s, mean over the measured window ({when})",
            "daily mean rate": f"{fmt_sig(arrival.rate_per_s)} req/s (--rate: the mean over the 24-hour curve)",
            "peak rate": f"{fmt_sig(peak)} req/s, the curve's busiest hour ({fmt_sig(max(curve) / mean)}x the daily "
                         "mean)"}


def _clock(hour: float) -> str:
    minutes = round(hour * 60) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
