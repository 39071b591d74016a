"""`inferplan simulate`: one replica under load, continuous batching, p50/p90/p99 latencies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner import units

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table, json or csv")]


def simulate_cmd(
    model: Annotated[str, typer.Argument(help="catalogue model id")],
    gpu: Annotated[str, typer.Option(help="GPU id")] = "h100-sxm",
    quant: Annotated[str, typer.Option(help="weight quant id")] = "bf16",
    tp: Annotated[int, typer.Option(help="tensor-parallel degree")] = 1,
    kv_dtype: Annotated[str, typer.Option("--kv-dtype", help="bf16 or fp8")] = "bf16",
    rate: Annotated[str | None, typer.Option(help="arrival rate, e.g. 5/s, 300/min (with --diurnal: the daily "
                                                  "mean)")] = None,
    trace: Annotated[Path | None, typer.Option(help="replay a CSV trace: timestamp,input_tokens,output_tokens")] = None,
    duration: Annotated[str | None, typer.Option(
        help="simulated time, e.g. 10m, 1h (default 10m; 24h with --diurnal); with --trace, replay only the "
             "requests arriving in the trace's first DURATION")] = None,
    diurnal: Annotated[str | None, typer.Option(
        help="vary --rate over a 24-hour curve: 'default' (2x the mean 08:00-20:00, idle at night: the "
             "planner's peak-to-average of 2) or a file of 24 hourly multipliers")] = None,
    start_hour: Annotated[float | None, typer.Option("--start-hour", help="clock hour at the start of a "
                                                                          "--diurnal run (default 0)")] = None,
    input_tokens: Annotated[str, typer.Option("--input-tokens", help="mean prompt length")] = "1000",
    output_tokens: Annotated[str, typer.Option("--output-tokens", help="mean output length")] = "250",
    sigma: Annotated[float, typer.Option(help="lognormal sigma of lengths (0 = fixed lengths)")] = 0.6,
    cv: Annotated[float, typer.Option(help="inter-arrival coefficient of variation (1 = Poisson, >1 bursty)")] = 1.0,
    ttft_p99: Annotated[str, typer.Option("--ttft-p99", help="TTFT target for goodput")] = "2s",
    tpot_p99: Annotated[str, typer.Option("--tpot-p99", help="TPOT target for goodput")] = "50ms",
    profile: Annotated[Path | None, typer.Option(help="measured/calibrated profile to take step times from")] = None,
    seed: Annotated[int, typer.Option(help="random seed (runs are reproducible)")] = 0,
    plot: Annotated[Path | None, typer.Option(help="PNG of latency percentiles vs offered load, with the SLOs and "
                                                   "the SLO capacity marked (runs a capacity search)")] = None,
    fmt: FormatOpt = "table",
) -> None:
    """Simulate one replica with vLLM-style continuous batching; print TTFT/TPOT/ITL/E2E percentiles."""
    from planner import render
    from planner.simulate_api import SimRequest, load_curve, run_simulation

    req = SimRequest(
        model=model, gpu=gpu, quant=quant, tp=tp, kv_dtype=kv_dtype,
        rate_per_s=units.parse_rate_per_s(rate, "--rate") if rate else None, trace=trace,
        duration_s=units.parse_duration_s(duration, "--duration") if duration is not None else None,
        diurnal=diurnal, start_hour=start_hour,
        input_tokens=units.parse_tokens(input_tokens, "--input-tokens"),
        output_tokens=units.parse_tokens(output_tokens, "--output-tokens"), sigma=sigma, cv=cv,
        ttft_p99_s=units.parse_duration_s(ttft_p99, "--ttft-p99"),
        tpot_p99_s=units.parse_duration_s(tpot_p99, "--tpot-p99"),
        profile=profile, seed=seed)
    result = run_simulation(req)
    curve = load_curve(result) if plot else None
    if fmt == "json":
        extra = {"capacity": curve.capacity, "load_sweep": curve.sweep} if curve else {}
        print(render.dumps({"request": req, "metrics": result.metrics.to_dict(), "engine": result.engine, **extra}))
    else:
        render.emit(result.metrics.to_frame(), fmt, f"{model} on {tp}x {gpu} ({quant}), one replica")
        if fmt == "table":
            render.emit_record(result.summary(), "table", "Run")
    if curve:
        _plot(curve, plot, fmt, f"{model} on {tp}x {gpu} ({quant}), one replica")


def _plot(curve, path: Path, fmt: str, title: str) -> None:
    from planner import render
    from planner.plots import latency_vs_load

    cap = curve.capacity
    latency_vs_load(curve.sweep, path, slo=curve.slo, capacity_rps=cap.rate_per_s, title=title)
    if fmt == "table":
        render.console().print(f"SLO capacity: {cap.rate_per_s:.3g} req/s per replica (limited by {cap.limited_by}); "
                               f"wrote {path}")
