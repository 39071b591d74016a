"""`inferplan plan`, `compare` and `crossover`: parse -> one library call -> render."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from profiler.cli import MODEL_HELP, GpuMemOpt, GpusFileOpt, QuantsFileOpt

if TYPE_CHECKING:  # the commands import what they run when they run (`inferplan plan --help` loads no pandas)
    from planner.workload import Workload

DEFAULT_MODEL = "llama-3.3-70b"  # the seed scenario (seed_cost_model.md §1-2)

def _format(value: str) -> str:
    from planner.render_rows import FORMATS

    if value not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}")
    return value


FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table, json or csv", callback=_format)]
In = Annotated[str | None, typer.Option("--tokens-per-day-in", help="input tokens per day, e.g. 5M")]
Out = Annotated[str | None, typer.Option("--tokens-per-day-out", help="output tokens per day, e.g. 1M")]
Reqs = Annotated[str | None, typer.Option("--requests-per-day", help="requests per day (with mean lengths)")]
InLen = Annotated[str | None, typer.Option("--input-tokens", help="mean prompt length per request")]
OutLen = Annotated[str | None, typer.Option("--output-tokens", help="mean output length per request")]
Peak = Annotated[str | None, typer.Option("--peak-to-average", help="peak / mean request rate (default 2)")]
Ttft = Annotated[str | None, typer.Option("--ttft-p99", help="time-to-first-token p99 target, e.g. 2s")]
Tpot = Annotated[str | None, typer.Option("--tpot-p99", help="time-per-output-token p99 target, e.g. 50ms")]
Avail = Annotated[str | None, typer.Option("--availability", help="availability target, e.g. 99.9")]
Cached = Annotated[str | None, typer.Option("--cached-input", help="share of input served from a prompt cache: "
                                             "billed at APIs' cached price, and not prefilled by a self-hosted "
                                             "replica (vLLM prefix caching)")]
Resid = Annotated[bool, typer.Option("--residency", help="data residency forbids third-party APIs")]
Infra = Annotated[bool, typer.Option("--existing-infra", help="GPU platform, MLOps and monitoring already exist")]
Guard = Annotated[str | None, typer.Option("--guardrails", help="what the guard model screens: input-output "
                                           "(default), input or none; sized on the plan's GPU")]
ApiTier = Annotated[str | None, typer.Option("--api-tier", help="API service tier compared: standard (default), "
                                            "batch (~50% off, asynchronous) or priority (the SLA tier, ~1.7-2x)")]
Compliance = Annotated[bool, typer.Option("--compliance-on-api", help="evals, audit logging and guardrails are "
                                          "needed with an API too (a regulated product): bill them on both sides")]
Margin = Annotated[str | None, typer.Option("--margin", help="self-host only when the API costs at least this many "
                                            "times the self-host TCO (default 2, the hidden-cost write-up's rule)")]
Needs = Annotated[str | None, typer.Option("--needs", help="capabilities an API may not give: fine-tuning, "
                                          "air-gapped, compliance, full-stack-control (comma-separated); one no "
                                          "API meets makes the verdict self-host-for-capability")]
CoLocated = Annotated[bool, typer.Option("--co-located", help="the application needs the model beside it (latency): "
                                         "published API latencies are checked against the SLOs")]
UsageLog = Annotated[Path | None, typer.Option("--usage", "--usage-log", help="your traffic: a CSV of timestamp,"
                                              "input_tokens,output_tokens (the simulate --trace format): the measured "
                                              "volume, in/out mix, peak, length spread and diurnal curve")]
Hybrid = Annotated[bool, typer.Option("--hybrid", help="self-host the base load and send the peaks to an API: the "
                                      "cost-optimal split beside self-host-only and API-only; with a --workload file "
                                      "of routes, each route where it is cheapest")]
Growth = Annotated[str | None, typer.Option("--growth", help="volume growth per month, e.g. 8%/month: month-by-month "
                                            "replicas, cost and API cost, commitment risk")]
Months = Annotated[int | None, typer.Option("--months", help="months the --growth view covers (default 24)")]
Owned = Annotated[str | None, typer.Option("--owned", help="GPUs you already own, e.g. h100-sxm:8 (comma-separated): "
                                           "a cap and a sunk cost; power, hosting and people still billed")]
TalentRegion = Annotated[str | None, typer.Option("--talent-region", help="price engineer time at this region's "
                                                  "market compensation (planner/catalogues/risks.yaml)")]
OpportunityHours = Annotated[str | None, typer.Option("--opportunity-hours", help="engineer hours a month spent on "
                                                      "inference: shown as the opportunity cost beside the bill")]
RisksFile = Annotated[Path | None, typer.Option("--risks", help="risk YAML over planner/catalogues/risks.yaml "
                                               "(commitments, migration, spot, talent ranges)")]
TrendsFile = Annotated[Path | None, typer.Option("--price-trends", help="price-trend YAML replacing "
                                                "planner/catalogues/price_trends.yaml (annual API and GPU-hour "
                                                "price declines)")]
WorkloadFile = Annotated[Path | None, typer.Option("--workload", help="workload YAML (flags override it)")]
ApiPrices = Annotated[Path | None, typer.Option("--api-prices", help="API price YAML (adds/overrides rows)")]
DedicatedPrices = Annotated[Path | None, typer.Option("--dedicated-prices", help="dedicated/provisioned offer YAML "
                                                    "(adds/overrides rows; compared under --residency)")]
GpuPrices = Annotated[Path | None, typer.Option("--gpu-prices", help="GPU price YAML (adds/overrides rows)")]
KvOpt = Annotated[str, typer.Option("--kv-dtype", help="KV dtype(s): bf16, fp8")]
Spares = Annotated[int | None, typer.Option(help="explicit N+k spare replicas")]
HotStandby = Annotated[float | None, typer.Option("--hot-standby", help="hot-standby fraction at every fleet size "
                                                 "(default: the hidden-cost write-up's 0.5 up to 2 replicas, then N+k "
                                                 "from the availability target)")]
Zones = Annotated[int | None, typer.Option(help="spread over this many zones and survive losing one")]
NodeLoss = Annotated[bool, typer.Option("--node-loss", help="also survive losing the fullest GPU node")]
RegionOpt = Annotated[str | None, typer.Option(
        help="only GPU offers sold in this region: a name or its start, e.g. us, us-east-1, india (default: every "
             "region; the deployment line names the offer's region and price date)")]
TcoOpt = Annotated[Path | None, typer.Option("--tco", help="TCO line-item YAML overriding the defaults")]
QuantIdsOpt = Annotated[str | None, typer.Option(
    help="quant id(s) (default: bf16,fp8,int8,int4; see `inferplan quants`; native = the model's checkpoint)")]
GpuIdsOpt = Annotated[str | None, typer.Option("--gpu", help="GPU id(s) to consider, comma-separated (default: all)")]
TpIdsOpt = Annotated[str | None, typer.Option("--tp", help="TP degrees to consider (default: 1,2,4,8)")]
PricingOpt = Annotated[str, typer.Option(
    "--pricing", help="pricing model(s): on-demand, reserved-1y, reserved-3y, spot, buy")]
ProviderOpt = Annotated[str | None, typer.Option("--provider", help="only this GPU provider's prices")]


VOLUME_FLAGS = {"tokens_in_per_day": "--tokens-per-day-in", "tokens_out_per_day": "--tokens-per-day-out",
                "requests_per_day": "--requests-per-day", "mean_input_tokens": "--input-tokens",
                "mean_output_tokens": "--output-tokens"}


def workload_from(workload_file: Path | None, flags: dict[str, Any], usage_log: Path | None = None) -> Workload:
    """The workload: a file (or the default scenario), the flags over it, then a usage log's measured volumes;
    ``volume_source`` says which set the volume (the framework's step 1)."""
    from planner.workload import DEFAULT_WORKLOAD, build_workload, load_workload

    base = load_workload(workload_file) if workload_file else DEFAULT_WORKLOAD
    given = {k: v for k, v in flags.items() if v is not None and v is not False}
    volume = [VOLUME_FLAGS[k] for k in VOLUME_FLAGS if k in given]
    if usage_log is not None and volume:
        from profiler.errors import InvalidValueError

        raise InvalidValueError(f"--usage (--usage-log) measures the volume; drop {', '.join(volume)} (or the log)")
    source = (f"flags ({', '.join(volume)})" if volume else f"workload file {workload_file}" if workload_file
              else "")
    w = build_workload({**given, "volume_source": source}, base=base) if given or source else base
    if usage_log is not None:
        from planner.usage_log import workload_from_usage_log

        w = workload_from_usage_log(usage_log, w)
    return w


def _flags(tin, tout, reqs, inlen, outlen, peak, ttft, tpot, avail, cached, resid, infra,
           guard=None, api_tier=None, compliance=False, needs=None, co_located=False) -> dict[str, Any]:
    return {"tokens_in_per_day": tin, "tokens_out_per_day": tout, "requests_per_day": reqs,
            "mean_input_tokens": inlen, "mean_output_tokens": outlen, "peak_to_average": peak,
            "ttft_p99_s": ttft, "tpot_p99_s": tpot, "availability": avail, "cached_input_fraction": cached,
            "data_residency": resid, "existing_infra": infra, "guardrails": guard, "api_tier": api_tier,
            "compliance_on_api": compliance, "needs": needs, "co_located": co_located}


def _margin(text: str | None) -> float:
    """--margin: a number such as 2, 1.5 or 3x (API cost / self-host TCO); the seed's 2 when not given."""
    from planner.defaults import SELF_HOST_MARGIN
    from profiler.errors import InvalidValueError

    if text is None:
        return SELF_HOST_MARGIN
    try:
        value = float(text.strip().lower().removesuffix("x"))
    except ValueError:
        raise InvalidValueError(f"--margin: expected a number such as 2 or 1.5x (API cost / self-host TCO), "
                                f"got {text!r}") from None
    return value


def _hours(text: str | None) -> float | None:
    """--opportunity-hours: engineer hours a month, a finite number from 0 to 744 (every hour of a month)."""
    import math

    from profiler.errors import InvalidValueError

    if text is None:
        return None
    try:
        value = float(text.strip().lower().removesuffix("h"))
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= 744:
        raise InvalidValueError(f"--opportunity-hours: expected engineer hours a month from 0 to 744, got {text!r}")
    return value


def _no_flags_with_routes(path: Path, given: dict[str, Any]) -> None:
    """A routes file sets each route's workload and search: the plan flags that would be ignored are refused."""
    from profiler.errors import InvalidValueError

    named = [flag for flag, value in given.items() if value is not None and value is not False]
    if named:
        raise InvalidValueError(f"{path} lists routes, which set their own workload and search: set "
                                f"{', '.join(named)} in the file (at the top for every route, or per route), not "
                                "as flags")


def _growth(text: str | None) -> float | None:
    """--growth: volume growth per month as a fraction: 8%/month, 8%, 0.08 (-50% to +100% a month)."""
    import math

    from profiler.errors import InvalidValueError

    if text is None:
        return None
    t = text.strip().lower().replace(" ", "").removesuffix("/month").removesuffix("/mo")
    try:
        value = float(t.removesuffix("%")) / 100 if t.endswith("%") else float(t)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not -0.5 <= value <= 1.0:
        raise InvalidValueError(f"--growth: expected volume growth per month such as 8%/month or 0.08, from -50% "
                                f"to +100%, got {text!r}")
    return value


def _months(months: int | None, growth: str | None) -> int:
    """--months (with --growth): 1 to 120; default 24."""
    from profiler.errors import InvalidValueError

    if months is not None and growth is None:
        raise InvalidValueError("--months sets the span of the --growth view: give --growth too, e.g. --growth 8%")
    if months is not None and not 1 <= months <= 120:
        raise InvalidValueError(f"--months: expected 1 to 120 months, got {months}")
    return 24 if months is None else months


def _owned(text: str | None) -> tuple[tuple[str, int], ...]:
    """--owned gpu:count[,gpu:count]: GPUs already owned (ids checked by the planner)."""
    from profiler.errors import InvalidValueError

    out = []
    for part in _split(text, "--owned"):
        gpu, sep, count = part.partition(":")
        if not sep or not gpu.strip() or not (count.strip().isascii() and count.strip().isdigit()) \
                or int(count) < 1:
            raise InvalidValueError(f"--owned: expected gpu:count such as h100-sxm:8 (comma-separated), got {part!r}")
        out.append((gpu.strip(), int(count)))
    if len({g for g, _ in out}) < len(out):
        raise InvalidValueError(f"--owned: each GPU once, got {text!r}")
    return tuple(out)


def _split(text: str | None, flag: str | None = None) -> tuple[str, ...]:
    """The comma-separated values of an option; one given with no value in it (`--gpu ,`) is refused when `flag`
    names it, rather than read as "not given" (every GPU)."""
    values = tuple(t.strip() for t in text.split(",") if t.strip()) if text else ()
    if flag and text is not None and not values:
        from profiler.errors import InvalidValueError

        raise InvalidValueError(f"{flag}: give at least one value (comma-separated), got {text!r}")
    return values


def _ints(text: str | None, flag: str) -> tuple[int, ...]:
    from profiler.errors import InvalidValueError

    values = _split(text, flag)
    if not all(t.isascii() and t.isdigit() for t in values):  # int() would also read "٣" as 3
        raise InvalidValueError(f"{flag}: expected comma-separated integers such as 1,2,4, got {text!r}")
    values = tuple(int(t) for t in values)
    if any(v < 1 for v in values):
        raise InvalidValueError(f"{flag}: every value must be 1 or more, got {text!r}")
    return values


def _check_outputs(output: Path | None, plot: Path | None) -> None:
    from planner.render_rows import PLAN_SUFFIXES
    from profiler.errors import InvalidValueError

    if output is not None and output.suffix not in PLAN_SUFFIXES:
        raise InvalidValueError(f"{output}: plan files are {', '.join(PLAN_SUFFIXES)}")
    if output is not None and output.suffix == ".xlsx":
        _need("openpyxl", "writing .xlsx needs")
    if output is not None:  # a missing folder fails in a second, not after the plan
        from profiler.schema import check_writable

        check_writable(output)
    check_plot_path(plot)


def check_output_file(output: Path | None, suffixes: tuple[str, ...], what: str) -> None:
    """An -o path of a command other than plan: one of `suffixes` (`what` names the files, e.g. "seed report
    files"), openpyxl for .xlsx, and a folder that exists and takes files; checked before the work, not after."""
    from profiler.errors import InvalidValueError
    from profiler.schema import check_writable

    if output is None:
        return
    if output.suffix.lower() not in suffixes:
        raise InvalidValueError(f"-o {output}: {what} are {', '.join(suffixes)}")
    if output.suffix.lower() == ".xlsx":
        _need("openpyxl", "writing .xlsx needs")
    check_writable(output)


PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def check_plot_path(plot: Path | None) -> None:
    """A --plot path needs a suffix matplotlib writes, and matplotlib (the [report] extra)."""
    from profiler.errors import InvalidValueError

    if plot is None:
        return
    if plot.suffix.lower() not in PLOT_SUFFIXES:
        raise InvalidValueError(f"--plot {plot}: name a {', '.join(PLOT_SUFFIXES)} file")
    _need("matplotlib", "plots need")


def _need(module: str, what: str) -> None:
    import importlib.util

    from profiler.errors import InferplanError

    if importlib.util.find_spec(module) is None:
        raise InferplanError(f"{what} {module}: pip install 'inferplan[report]'")


def plan_cmd(
    model: Annotated[str, typer.Argument(help=MODEL_HELP)] = DEFAULT_MODEL,
    tokens_per_day_in: In = None, tokens_per_day_out: Out = None, requests_per_day: Reqs = None,
    input_tokens: InLen = None, output_tokens: OutLen = None, peak_to_average: Peak = None,
    ttft_p99: Ttft = None, tpot_p99: Tpot = None, availability: Avail = None, cached_input: Cached = None,
    residency: Resid = False, existing_infra: Infra = False, guardrails: Guard = None, margin: Margin = None,
    api_tier: ApiTier = None, compliance_on_api: Compliance = False, needs: Needs = None,
    co_located: CoLocated = False, usage_log: UsageLog = None, hybrid: Hybrid = False, growth: Growth = None,
    months: Months = None, owned: Owned = None, talent_region: TalentRegion = None,
    opportunity_hours: OpportunityHours = None, risks: RisksFile = None, price_trends: TrendsFile = None,
    workload: WorkloadFile = None,
    gpu: GpuIdsOpt = None,
    quant: QuantIdsOpt = None,
    tp: TpIdsOpt = None,
    kv_dtype: KvOpt = "bf16",
    pricing: PricingOpt = "reserved-1y",
    provider: ProviderOpt = None,
    region: RegionOpt = None,
    spares: Spares = None, hot_standby: HotStandby = None, zones: Zones = None, node_loss: NodeLoss = False,
    tco: TcoOpt = None,
    api_prices: ApiPrices = None, gpu_prices: GpuPrices = None, dedicated_prices: DedicatedPrices = None,
    profile: Annotated[Path | None, typer.Option(help="measured/calibrated profile instead of the analytic model; "
                                                      "or a `vllm bench serve` / guidellm JSON report (with one "
                                                      "--gpu and --tp)")]
    = None,
    simulate: Annotated[bool, typer.Option(help="size replicas with the continuous-batching simulator")] = False,
    engine: Annotated[str, typer.Option(help="serving engine to plan for: vllm, trtllm (TensorRT-LLM) or sglang; sets "
                                        "the KV cache, the simulated scheduler and the launch line")] = "vllm",
    sizing: Annotated[str, typer.Option(help="p99: replicas on the analytic p99s (queueing modelled); mean-value: "
                                        "the mean step time under an 80% load cap")] = "p99",
    models_file: Annotated[Path | None, typer.Option("--models", help="extra model catalogue YAML")] = None,
    gpus_file: GpusFileOpt = None, quants_file: QuantsFileOpt = None, gpu_memory_utilization: GpuMemOpt = None,
    top: Annotated[int, typer.Option(help="alternatives to list")] = 8,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write .json, .csv, .xlsx or .md")] = None,
    plot: Annotated[Path | None, typer.Option(help="PNG: monthly cost vs tokens/day with API lines (with --growth "
                                                  "or --hybrid also NAME-growth.png, NAME-hybrid.png)")] = None,
    fmt: FormatOpt = "table",
) -> None:
    """Plan serving MODEL: GPUs, replicas, redundancy, the full monthly bill, APIs, crossover and verdict.

    With no arguments: the built-in default scenario (llama-3.3-70b, 5M in + 1M out tokens/day, 99.9%).
    """
    growth_x, months_n, owned_gpus = _growth(growth), _months(months, growth), _owned(owned)
    if workload is not None and hybrid:
        from planner.routes import has_routes

        if has_routes(workload):  # a file of routes: each route where it is cheapest (planner.routes)
            from planner.cmd_routes import routes_cmd

            _no_flags_with_routes(workload, {
                "--tokens-per-day-in": tokens_per_day_in, "--tokens-per-day-out": tokens_per_day_out,
                "--requests-per-day": requests_per_day, "--input-tokens": input_tokens,
                "--output-tokens": output_tokens, "--peak-to-average": peak_to_average, "--ttft-p99": ttft_p99,
                "--tpot-p99": tpot_p99, "--availability": availability, "--cached-input": cached_input,
                "--residency": residency, "--existing-infra": existing_infra, "--gpu": gpu, "--quant": quant,
                "--tp": tp, "--pricing": pricing if pricing != "reserved-1y" else None, "--usage": usage_log,
                "--growth": growth, "--owned": owned, "--profile": profile, "--simulate": simulate, "--plot": plot,
                "--provider": provider, "--region": region})
            return routes_cmd(workload, model, output, fmt, api_prices=api_prices, gpu_prices=gpu_prices, tco=tco,
                              models_file=models_file)
    w = workload_from(workload, _flags(tokens_per_day_in, tokens_per_day_out, requests_per_day, input_tokens,
                                       output_tokens, peak_to_average, ttft_p99, tpot_p99, availability,
                                       cached_input, residency, existing_infra, guardrails, api_tier,
                                       compliance_on_api, needs, co_located), usage_log)
    # a bad flag fails before the planner (and pandas) loads
    margin_x, hours, tps = _margin(margin), _hours(opportunity_hours), _ints(tp, "--tp")
    from planner import render
    from planner.api import PlanRequest, plan

    req = PlanRequest(model=model, workload=w, gpus=_split(gpu, "--gpu"), quants=_split(quant, "--quant"),
                      margin=margin_x, talent_region=talent_region, opportunity_hours=hours, risks_file=risks,
                      price_trends_file=price_trends,
                      tps=tps, kv_dtypes=_split(kv_dtype, "--kv-dtype"),
                      pricing=_split(pricing, "--pricing"), provider=provider, region=region, spares=spares,
                      hot_standby=hot_standby,
                      zones=zones, node_loss=node_loss, tco=tco, api_prices=api_prices, gpu_prices=gpu_prices,
                      dedicated_prices=dedicated_prices,
                      profile=profile, simulate=simulate, engine=engine, sizing=sizing, models_file=models_file,
                      top=top, gpus_file=gpus_file, quants_file=quants_file,
                      gpu_memory_utilization=gpu_memory_utilization, hybrid=hybrid,
                      growth_per_month=growth_x, months=months_n, owned=owned_gpus)
    if top < 0:
        raise typer.BadParameter("must be 0 or more", param_hint="--top")
    _check_outputs(output, plot)  # a missing extra or a bad suffix fails before the work, not after
    from profiler import progress

    with progress.shown(f"plan {model}"):
        result = plan(req)
    render.emit_plan(result, fmt)
    if output:
        render.write_plan(result, output)
    pictures = []
    if plot:
        from planner.plot_views import view_plot, view_plot_paths
        from planner.plots import plan_cost_plot

        plan_cost_plot(result, plot, f"{result.model}: self-hosted vs APIs")
        views = {v.name: v for v in result.views}
        for name, path in view_plot_paths(plot, result.views).items():  # --growth, --hybrid: a picture each
            view_plot(views[name], path, result.model)
            pictures.append(path)
    if fmt == "table":
        for path in (output, plot, *pictures):
            if path:
                render.console().print(f"wrote {path}")


COMPARE_TABLE_COLUMNS = ("provider", "model", "monthly_cost", "usd_per_mtok_blended", "tier", "as_of")  # fit 100 cols


def compare_cmd(
    tokens_per_day_in: In = None, tokens_per_day_out: Out = None, requests_per_day: Reqs = None,
    input_tokens: InLen = None, output_tokens: OutLen = None, cached_input: Cached = None,
    workload: WorkloadFile = None, api_prices: ApiPrices = None, fmt: FormatOpt = "table",
) -> None:
    """The workload priced on every API in the catalogue: daily and monthly cost, $/M tokens."""
    w = workload_from(workload, _flags(tokens_per_day_in, tokens_per_day_out, requests_per_day, input_tokens,
                                       output_tokens, None, None, None, None, cached_input, False, False))
    from planner import render
    from planner.api_costs import api_costs
    from planner.prices import load_api_prices

    df = api_costs(w, load_api_prices(api_prices))
    from planner.units import fmt_tokens

    render.emit(df, fmt, f"{fmt_tokens(w.tokens_in_per_day, 3)} input + {fmt_tokens(w.tokens_out_per_day, 3)} output "
                "tokens/day", columns=COMPARE_TABLE_COLUMNS)


def crossover_cmd(
    model: Annotated[str, typer.Argument(help=MODEL_HELP)] = DEFAULT_MODEL,
    tokens_per_day_in: In = None, tokens_per_day_out: Out = None, requests_per_day: Reqs = None,
    input_tokens: InLen = None, output_tokens: OutLen = None, ttft_p99: Ttft = None, tpot_p99: Tpot = None,
    availability: Avail = None, peak_to_average: Peak = None, residency: Resid = False,
    existing_infra: Infra = False, guardrails: Guard = None, margin: Margin = None,
    api_tier: ApiTier = None, compliance_on_api: Compliance = False, workload: WorkloadFile = None,
    gpu: GpuIdsOpt = None,
    quant: QuantIdsOpt = None,
    tp: TpIdsOpt = None,
    kv_dtype: KvOpt = "bf16",
    pricing: PricingOpt = "reserved-1y",
    provider: ProviderOpt = None,
    region: RegionOpt = None,
    spares: Spares = None, hot_standby: HotStandby = None, zones: Zones = None, node_loss: NodeLoss = False,
    tco: TcoOpt = None, api_prices: ApiPrices = None, gpu_prices: GpuPrices = None,
    models_file: Annotated[Path | None, typer.Option("--models", help="extra model catalogue YAML")] = None,
    gpus_file: GpusFileOpt = None, quants_file: QuantsFileOpt = None, gpu_memory_utilization: GpuMemOpt = None,
    plot: Annotated[Path | None, typer.Option(help="PNG: monthly cost vs tokens/day")] = None,
    fmt: FormatOpt = "table",
) -> None:
    """Daily token volume at which self-hosting MODEL (full TCO, redundancy) breaks even with each API."""
    check_plot_path(plot)
    w = workload_from(workload, _flags(tokens_per_day_in, tokens_per_day_out, requests_per_day, input_tokens,
                                       output_tokens, peak_to_average, ttft_p99, tpot_p99, availability, None,
                                       residency, existing_infra, guardrails, api_tier,
                                       compliance_on_api))
    tps, margin_x = _ints(tp, "--tp"), _margin(margin)  # a bad flag fails before the planner (and pandas) loads
    from planner import render
    from planner.api import PlanRequest, plan
    from profiler import progress

    req = PlanRequest(model=model, workload=w, gpus=_split(gpu, "--gpu"), quants=_split(quant, "--quant"),
                      tps=tps, framework=False, margin=margin_x, crossovers="all",
                      kv_dtypes=_split(kv_dtype, "--kv-dtype"), pricing=_split(pricing, "--pricing"),
                      provider=provider, region=region, spares=spares,
                      hot_standby=hot_standby, zones=zones, node_loss=node_loss, tco=tco,
                      api_prices=api_prices, gpu_prices=gpu_prices, models_file=models_file,
                      gpus_file=gpus_file, quants_file=quants_file,
                      gpu_memory_utilization=gpu_memory_utilization)
    with progress.shown(f"crossover {model}"):
        result = plan(req)
    cols = ["provider", "model", "monthly_cost", "comparison", "crossover_tokens_per_day"]
    render.emit(result.api[[c for c in cols if c in result.api.columns]], fmt,
                f"{result.model}: break-even daily volume vs each API (self-hosted on {result.deployment['gpu']})")
    if fmt == "table":  # the volumes are rounded in the table only; --format csv/json carry them unrounded
        render.console().print("crossover_tokens_per_day: to 2 significant figures (--format csv or json: unrounded); "
                               "– = none within 10k-1T tokens/day")
    if plot:
        from planner.plots import plan_cost_plot

        plan_cost_plot(result, plot, f"{result.model}: crossover")


def register_all(app: typer.Typer) -> None:
    from planner.cmd_simulate import simulate_cmd
    from planner.cmd_throughput import throughput_cmd

    app.command("plan")(plan_cmd)
    app.command("compare")(compare_cmd)
    app.command("crossover")(crossover_cmd)
    app.command("simulate")(simulate_cmd)
    app.command("throughput")(throughput_cmd)
    from planner.cmd_scenarios import scenarios_cmd
    from planner.cmd_seed import seed_cmd
    from planner.cmd_sensitivity import sensitivity_cmd

    app.command("seed")(seed_cmd)
    app.command("sensitivity")(sensitivity_cmd)
    app.command("scenarios")(scenarios_cmd)

