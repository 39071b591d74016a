"""`inferplan sensitivity`: parse -> planner.sensitivity.sensitivity -> render (issue 14)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner.cmd_plan import (
    DEFAULT_MODEL,
    ApiPrices,
    ApiTier,
    Avail,
    Cached,
    CoLocated,
    Compliance,
    DedicatedPrices,
    FormatOpt,
    GpuIdsOpt,
    GpuPrices,
    Guard,
    HotStandby,
    In,
    Infra,
    InLen,
    KvOpt,
    Margin,
    Needs,
    NodeLoss,
    Out,
    OutLen,
    Owned,
    Peak,
    PricingOpt,
    ProviderOpt,
    QuantIdsOpt,
    RegionOpt,
    Reqs,
    Resid,
    RisksFile,
    Spares,
    TalentRegion,
    TcoOpt,
    TpIdsOpt,
    Tpot,
    Ttft,
    UsageLog,
    WorkloadFile,
    Zones,
)
from profiler.cli import MODEL_HELP, GpuMemOpt, GpusFileOpt, QuantsFileOpt

OUTPUT_SUFFIXES = (".csv", ".json", ".md", ".xlsx")
INPUT_NAMES = ("gpu-price, volume, peak, utilisation, people-cost, standby, api-price, cached-input, prompt-length, "
               "output-length")  # planner.sensitivity_inputs.ALL, spelled out so --help loads no pandas
MD_COLUMNS = ("rank", "what", "low", "base", "high", "low_monthly_usd", "high_monthly_usd", "swing_usd",
              "low_decision", "high_decision", "verdict", "range_basis")
Inputs = Annotated[str | None, typer.Option("--inputs", help=f"inputs to vary, comma-separated (default: all): "
                                            f"{INPUT_NAMES}")]


def sensitivity_cmd(
    model: Annotated[str, typer.Argument(help=MODEL_HELP)] = DEFAULT_MODEL,
    tokens_per_day_in: In = None, tokens_per_day_out: Out = None, requests_per_day: Reqs = None,
    input_tokens: InLen = None, output_tokens: OutLen = None, peak_to_average: Peak = None,
    ttft_p99: Ttft = None, tpot_p99: Tpot = None, availability: Avail = None, cached_input: Cached = None,
    residency: Resid = False, existing_infra: Infra = False, guardrails: Guard = None, margin: Margin = None,
    api_tier: ApiTier = None, compliance_on_api: Compliance = False, needs: Needs = None,
    co_located: CoLocated = False, usage_log: UsageLog = None, owned: Owned = None,
    talent_region: TalentRegion = None, risks: RisksFile = None, workload: WorkloadFile = None,
    gpu: GpuIdsOpt = None,
    quant: QuantIdsOpt = None,
    tp: TpIdsOpt = None,
    kv_dtype: KvOpt = "bf16",
    pricing: PricingOpt = "reserved-1y",
    provider: ProviderOpt = None,
    region: RegionOpt = None,
    spares: Spares = None, hot_standby: HotStandby = None, zones: Zones = None, node_loss: NodeLoss = False,
    tco: TcoOpt = None, api_prices: ApiPrices = None, gpu_prices: GpuPrices = None,
    dedicated_prices: DedicatedPrices = None,
    profile: Annotated[Path | None, typer.Option(help="measured/calibrated profile instead of the analytic model")]
    = None,
    engine: Annotated[str, typer.Option(help="serving engine to plan for: vllm, trtllm or sglang")] = "vllm",
    sizing: Annotated[str, typer.Option(help="p99 (default) or mean-value")] = "p99",
    models_file: Annotated[Path | None, typer.Option("--models", help="extra model catalogue YAML")] = None,
    gpus_file: GpusFileOpt = None, quants_file: QuantsFileOpt = None, gpu_memory_utilization: GpuMemOpt = None,
    inputs: Inputs = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="also write .csv, .json, .md or .xlsx")] = None,
    plot: Annotated[Path | None, typer.Option(help="PNG: a tornado chart of the monthly cost per input")] = None,
    fmt: FormatOpt = "table",
) -> None:
    """Which inputs move MODEL's plan: each over a stated range, re-planned, ranked by how far it moves the
    self-hosted monthly cost; how each moves the verdict, and the value where it turns."""
    from planner.cmd_plan import _flags, _ints, _margin, _owned, _split, check_plot_path, workload_from

    w = workload_from(workload, _flags(tokens_per_day_in, tokens_per_day_out, requests_per_day, input_tokens,
                                       output_tokens, peak_to_average, ttft_p99, tpot_p99, availability,
                                       cached_input, residency, existing_infra, guardrails, api_tier,
                                       compliance_on_api, needs, co_located), usage_log)
    margin_x, tps, owned_gpus = _margin(margin), _ints(tp, "--tp"), _owned(owned)
    _check_output(output)
    check_plot_path(plot)  # a bad suffix or a missing extra fails before the work, not after
    from planner.api import PlanRequest
    from planner.sensitivity import ALL, check_inputs, sensitivity
    from profiler import progress

    names = check_inputs(_split(inputs, "--inputs")) if inputs is not None else ALL
    req = PlanRequest(model=model, workload=w, gpus=_split(gpu, "--gpu"), quants=_split(quant, "--quant"), tps=tps,
                      kv_dtypes=_split(kv_dtype, "--kv-dtype"), pricing=_split(pricing, "--pricing"),
                      provider=provider, region=region, spares=spares, hot_standby=hot_standby, zones=zones,
                      node_loss=node_loss, tco=tco, api_prices=api_prices, gpu_prices=gpu_prices,
                      dedicated_prices=dedicated_prices, profile=profile, engine=engine, sizing=sizing,
                      margin=margin_x, models_file=models_file, gpus_file=gpus_file, quants_file=quants_file,
                      gpu_memory_utilization=gpu_memory_utilization, talent_region=talent_region, risks_file=risks,
                      owned=owned_gpus)
    with progress.shown(f"sensitivity {model}"):
        result = sensitivity(req, names)
    _emit(result, fmt)
    for path, write in ((output, _write), (plot, _plot)):
        if path is not None:
            write(result, path)
            if fmt == "table":
                from planner import render

                render.console().print(f"wrote {path}", highlight=False)


def _check_output(output: Path | None) -> None:
    from planner.cmd_plan import check_output_file

    check_output_file(output, OUTPUT_SUFFIXES, "sensitivity files")


def _title(s) -> str:
    from planner.units import fmt_usd

    return f"{s.model}: what moves the self-hosted monthly cost (today {fmt_usd(s.base_monthly_usd)}), largest first"


def _document(s) -> dict:
    from dataclasses import asdict

    return {"model": s.model, "deployment": s.deployment, "base_monthly_usd": s.base_monthly_usd,
            "base_api_monthly_usd": s.base_api_monthly_usd, "base_ratio": s.base_ratio,
            "base_decision": s.base_decision, "reference_api": s.reference_api, "margin": s.margin,
            "replans": s.replans, "inputs": s.table,
            "flips": [{**asdict(f), "sentence": f.sentence} for f in s.flips], "lines": list(s.lines)}


def _emit(s, fmt: str) -> None:
    from rich.markup import escape

    from planner import render
    from planner.sensitivity import TABLE_COLUMNS

    if fmt == "json":
        print(render.dumps(_document(s)))
    elif fmt == "csv":
        render.emit(s.table, "csv")
    else:
        out = render.console()
        render.emit(s.table, "table", _title(s), columns=TABLE_COLUMNS, out=out)
        for line in s.lines:
            out.print(escape(line), highlight=False)


def _write(s, path: Path) -> None:
    from planner import render

    suffix = path.suffix.lower()
    if suffix == ".json":
        path.write_text(render.dumps(_document(s)) + "\n", encoding="utf-8")
    elif suffix == ".csv":
        path.write_text(s.table.to_csv(index=False), encoding="utf-8")
    elif suffix == ".md":
        path.write_text(f"# {_title(s)}\n\n" + "\n".join(f"- {line.strip()}" for line in s.lines) + "\n\n"
                        + render.markdown_table(s.table, MD_COLUMNS), encoding="utf-8")
    else:
        import pandas as pd

        flips = pd.DataFrame([{**{k: getattr(f, k) for k in ("input", "what", "side", "from_decision",
                                                              "to_decision", "value", "label", "monthly_usd")},
                               "sentence": f.sentence} for f in s.flips])
        summary = pd.DataFrame({"line": list(s.lines)})
        render.write_xlsx(path, {"sensitivity": s.table, "verdict turns": flips, "summary": summary})


def _plot(s, path: Path) -> None:
    from planner.plot_tornado import tornado_plot

    tornado_plot(s, path)


__all__ = ["sensitivity_cmd"]
