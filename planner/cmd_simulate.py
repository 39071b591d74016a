"""`inferplan simulate`: one replica under load, continuous batching, p50/p90/p99 latencies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner import units
from profiler.errors import InvalidValueError

FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table, json or csv")]


def simulate_cmd(
    model: Annotated[str, typer.Argument(help="catalogue model id")],
    gpu: Annotated[str, typer.Option(help="GPU id")] = "h100-sxm",
    quant: Annotated[str, typer.Option(help="weight quant id")] = "bf16",
    tp: Annotated[int, typer.Option(help="tensor-parallel degree")] = 1,
    kv_dtype: Annotated[str, typer.Option("--kv-dtype", help="bf16 or fp8")] = "bf16",
    rate: Annotated[str | None, typer.Option(help="Poisson arrival rate, e.g. 5/s, 300/min")] = None,
    trace: Annotated[Path | None, typer.Option(help="replay a CSV trace: timestamp,input_tokens,output_tokens")] = None,
    duration: Annotated[str, typer.Option(help="simulated time with --rate, e.g. 10m, 1h")] = "10m",
    input_tokens: Annotated[str, typer.Option("--input-tokens", help="mean prompt length")] = "1000",
    output_tokens: Annotated[str, typer.Option("--output-tokens", help="mean output length")] = "250",
    sigma: Annotated[float, typer.Option(help="lognormal sigma of lengths (0 = fixed lengths)")] = 0.6,
    cv: Annotated[float, typer.Option(help="inter-arrival coefficient of variation (1 = Poisson, >1 bursty)")] = 1.0,
    ttft_p99: Annotated[str, typer.Option("--ttft-p99", help="TTFT target for goodput")] = "2s",
    tpot_p99: Annotated[str, typer.Option("--tpot-p99", help="TPOT target for goodput")] = "50ms",
    profile: Annotated[Path | None, typer.Option(help="measured/calibrated profile to take step times from")] = None,
    seed: Annotated[int, typer.Option(help="random seed (runs are reproducible)")] = 0,
    plot: Annotated[Path | None, typer.Option(help="PNG of latency percentiles vs offered load")] = None,
    fmt: FormatOpt = "table",
) -> None:
    """Simulate one replica with vLLM-style continuous batching; print TTFT/TPOT/ITL/E2E percentiles."""
    from planner import render
    from planner.simulate_api import SimRequest, run_simulation

    if (rate is None) == (trace is None):
        raise InvalidValueError("give exactly one of --rate (e.g. 5/s) or --trace FILE")
    req = SimRequest(
        model=model, gpu=gpu, quant=quant, tp=tp, kv_dtype=kv_dtype,
        rate_per_s=units.parse_rate_per_s(rate, "--rate") if rate else None, trace=trace,
        duration_s=units.parse_duration_s(duration, "--duration"),
        input_tokens=units.parse_tokens(input_tokens, "--input-tokens"),
        output_tokens=units.parse_tokens(output_tokens, "--output-tokens"), sigma=sigma, cv=cv,
        ttft_p99_s=units.parse_duration_s(ttft_p99, "--ttft-p99"),
        tpot_p99_s=units.parse_duration_s(tpot_p99, "--tpot-p99"),
        profile=profile, seed=seed)
    result = run_simulation(req)
    if fmt == "json":
        print(render.dumps({"request": req, "metrics": result.metrics.to_dict(), "engine": result.engine}))
    else:
        render.emit(result.metrics.to_frame(), fmt, f"{model} on {tp}x {gpu} ({quant}), one replica")
        if fmt == "table":
            render.emit_record(result.summary(), "table", "Run")
    if plot:
        from planner.plots import latency_vs_load

        latency_vs_load(result.load_sweep(), plot)
        if fmt == "table":
            render.console().print(f"wrote {plot}")
