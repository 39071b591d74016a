"""`inferplan endpoint URL`: load-test a running OpenAI-compatible server and keep the result as a profile.

Parse -> :func:`profiler.endpoint.run.measure` -> render; a profile (``-o``) is written after every load point, so
Ctrl-C or a crash keeps every finished point. The API key is read from the environment variable named by
``--api-key-env`` and goes nowhere but the request headers.
"""

from __future__ import annotations

import math
import os
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from profiler.cli import (
    ConfigOpt,
    FormatOpt,
    GpusFileOpt,
    ModelsFileOpt,
    QuantsFileOpt,
    check_format,
    command_line,
    parse_count,
    parse_list,
)
from profiler.errors import InferplanError, InvalidValueError

# The terminal's default columns (fit 100 columns); --wide, --columns or --format csv/json show every column of
# profiler.endpoint.stats.summary.
TABLE_COLUMNS = {"point": "point", "completed": "ok", "failed": "failed", "request_throughput": "req/s",
                 "output_throughput": "out tok/s", "ttft_p50": "TTFT p50", "ttft_p99": "TTFT p99",
                 "itl_p50": "ITL p50", "itl_p99": "ITL p99", "tpot_p99": "TPOT p99", "e2e_p99": "E2E p99"}
SERVER_COLUMNS = {"point": "point", "server_kv_usage_mean": "KV used mean", "server_kv_usage_max": "KV used max",
                  "server_running_mean": "running mean", "server_running_max": "running max",
                  "server_waiting_max": "waiting max", "server_preemptions": "preempted"}
URL_HELP = "the server: http://host:8000, its /v1, or a full /v1/completions or /v1/chat/completions URL"


def _points(rates: str | None, concurrency: str | None, sweep: bool, arrivals: str, cap: int | None):
    from profiler.endpoint.load import ARRIVALS, LoadPoint

    if sum(x is not None and x is not False for x in (rates, concurrency, sweep or None)) != 1:
        raise InvalidValueError("give exactly one load: --rates 1,2,4 (requests/s), --concurrency 1,8,32 (streams) "
                                "or --sweep")
    if arrivals not in ARRIVALS:
        raise InvalidValueError(f"--arrivals must be {' or '.join(ARRIVALS)}, not '{arrivals}'")
    if rates is not None:
        values = parse_list(rates, "rates", float, "requests per second")
        if any(not (math.isfinite(r) and r > 0) for r in values):
            raise InvalidValueError(f"--rates: every rate must be a positive number of requests per second, got "
                                    f"{rates!r}")
        return tuple(LoadPoint("rate", rate=r, concurrency=cap, arrivals=arrivals) for r in values)
    if concurrency is not None:
        if cap is not None:
            raise InvalidValueError("--max-concurrency caps --rates and --sweep; --concurrency already fixes the "
                                    "streams in flight: drop one")
        return tuple(LoadPoint("concurrency", concurrency=c) for c in parse_list(concurrency, "concurrency",
                                                                               parse_count, "whole numbers"))
    return ()


def _api_key(var: str | None) -> str | None:
    if var is None:
        return None
    value = os.environ.get(var, "")
    if not value.strip():
        raise InvalidValueError(f"--api-key-env {var}: that environment variable is not set or is empty "
                                f"(export {var}=... first; the key is never printed or written)")
    return value.strip()


def _deployment(catalogue_model, gpu, quant, kv_dtype, tp, config, files) -> dict[str, Any]:
    """What served the endpoint, as far as the options say, checked against the catalogues now (not after the
    run)."""
    from profiler import catalogue

    if gpu is not None:
        catalogue.get_gpu(gpu, files["gpus_file"])
    if catalogue_model is not None and config is None:
        catalogue.get_model(catalogue_model, files["models_file"])
    if kv_dtype is not None and kv_dtype not in ("bf16", "fp8"):
        raise InvalidValueError(f"--kv-dtype must be bf16 or fp8, not '{kv_dtype}'")
    if tp is not None and tp < 1:
        raise InvalidValueError(f"--tp must be 1 or more, got {tp}")
    given = {"model": catalogue_model, "gpu": gpu, "quant": quant, "kv_dtype": kv_dtype, "tp": tp}
    return {k: v for k, v in given.items() if v is not None}


def _check_output(output: Path | None, deployment: dict) -> None:
    if output is None:
        return
    from profiler.schema import check_profile_path

    missing = [f for f, k in (("--gpu ID", "gpu"), ("--tp N", "tp")) if k not in deployment]
    if missing:
        raise InvalidValueError(f"-o writes a profile of the deployment: name {' and '.join(missing)} it runs on; "
                                "or keep the measurement with --format json > run.json, which plan, calibrate and "
                                "simulate read with --gpu/--tp later")
    check_profile_path(output)


def _profile(result, deployment: dict, ctx):
    """The result as profile rows and metadata (profiler.interop: the same reader plan --profile uses)."""
    from dataclasses import replace

    from profiler import interop

    doc = {**result.document(), "deployment": deployment}
    df, meta = interop.from_report(doc, result.url, ctx)
    return df, replace(meta, command=command_line())


def _server_check(deployment: dict, ctx):
    """After /v1/models answered and before any load: the served model must map to a catalogue model (or
    --catalogue-model / --config name it), so -o cannot fail after the run."""
    def check(server: dict) -> None:
        from profiler import catalogue
        from profiler.interop import catalogue_model_id

        if "model" in deployment or ctx.config is not None:
            return
        models = catalogue.load_models(ctx.models_file)
        if not any(catalogue_model_id(n, models) for n in (server.get("root"), server.get("model")) if n):
            said = f"'{server.get('model')}'" + (f" (root '{server['root']}')" if server.get("root") else "")
            raise InvalidValueError(f"the server's model {said} is no catalogue id or hf_repo, so -o cannot "
                                    "name its architecture: add --catalogue-model ID (see `inferplan models`) or "
                                    "--config PATH")
    return check


def endpoint_cmd(
    url: Annotated[str, typer.Argument(help=URL_HELP)],
    model: Annotated[str | None, typer.Option(
        "--model", help="the served model name sent in requests (default: the one /v1/models lists)")] = None,
    api: Annotated[str, typer.Option(help="completions (/v1/completions) or chat (/v1/chat/completions)")]
    = "completions",
    api_key_env: Annotated[str | None, typer.Option(
        "--api-key-env", metavar="VAR", help="read the API key (Bearer) from this environment variable; never "
                                             "printed or written")] = None,
    input_tokens: Annotated[str, typer.Option("--input-tokens", help="prompt length of every request (ISL)")]
    = "1000",
    output_tokens: Annotated[str, typer.Option("--output-tokens", help="max_tokens of every request (OSL)")] = "250",
    rates: Annotated[str | None, typer.Option(help="load points as request rates (req/s), comma-separated")] = None,
    concurrency: Annotated[str | None, typer.Option(
        help="load points as fixed streams in flight, comma-separated (1 = synchronous)")] = None,
    sweep: Annotated[bool, typer.Option(
        "--sweep", help="synchronous, then all at once (the server's maximum), then --sweep-rates rates between "
                        "(guidellm's sweep)")] = False,
    sweep_rates: Annotated[int, typer.Option("--sweep-rates", help="rates a --sweep tries between the two")] = 6,
    arrivals: Annotated[str, typer.Option(help="rate points: poisson (vllm bench serve's default) or constant")]
    = "poisson",
    max_concurrency: Annotated[int | None, typer.Option(
        "--max-concurrency", help="rate points and --sweep: at most this many requests in flight")] = None,
    requests: Annotated[str, typer.Option(help="at most this many requests per load point")] = "100",
    duration: Annotated[float, typer.Option(help="seconds per load point: no request is sent after it")] = 300.0,
    timeout: Annotated[float, typer.Option(help="seconds one request may take, end to end")] = 300.0,
    ttft_p99: Annotated[float | None, typer.Option("--ttft-p99", help="SLO on TTFT, ms: goodput and the SLO "
                                                                      "line")] = None,
    tpot_p99: Annotated[float | None, typer.Option("--tpot-p99", help="SLO on TPOT, ms")] = None,
    ignore_eos: Annotated[bool, typer.Option(
        "--ignore-eos", help="ask for exactly --output-tokens (vLLM/SGLang's ignore_eos)")] = False,
    tokenizer: Annotated[Path | None, typer.Option(
        help="a local tokenizer folder to size prompts exactly (default: the server's own count)")] = None,
    metrics: Annotated[bool, typer.Option(help="scrape the server's Prometheus /metrics during the run")] = True,
    seed: Annotated[int, typer.Option(help="seed of the prompts and Poisson arrivals")] = 0,
    catalogue_model: Annotated[str | None, typer.Option(
        "--catalogue-model", help="profile: the catalogue model served (default: matched from /v1/models)")] = None,
    gpu: Annotated[str | None, typer.Option(help="profile: the GPU id that serves it")] = None,
    tp: Annotated[int | None, typer.Option(help="profile: its tensor-parallel degree")] = None,
    quant: Annotated[str | None, typer.Option(help="profile: the weight quant served (default: native)")] = None,
    kv_dtype: Annotated[str | None, typer.Option("--kv-dtype", help="profile: the KV dtype (default bf16)")] = None,
    config: ConfigOpt = None,
    models_file: ModelsFileOpt = None,
    gpus_file: GpusFileOpt = None,
    quants_file: QuantsFileOpt = None,
    fmt: FormatOpt = "table",
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="write the result as a profile (.csv or .json; needs --gpu and --tp), after every "
                               "point")] = None,
) -> None:
    """Load-test a running OpenAI-compatible server (vLLM, SGLang, TGI, trtllm-serve, a hosted API).

    Streams requests at each load point and reports throughput, TTFT / ITL / TPOT / E2E p50, p90, p99, goodput
    and the saturation point, with vllm bench serve's definitions. -o keeps the result as a profile (source
    endpoint) for plan --profile, calibrate and simulate --profile."""
    from profiler.endpoint import run
    from profiler.endpoint.stats import Slo
    from profiler.interop import ServingContext

    check_format(fmt)
    points = _points(rates, concurrency, sweep, arrivals, max_concurrency)
    req = run.EndpointRequest(
        url=url, model=model, api=api, input_tokens=_count(input_tokens, "--input-tokens"),
        output_tokens=_count(output_tokens, "--output-tokens"), points=points,
        sweep=sweep_rates if sweep else 0, requests=_count(requests, "--requests"), duration_s=duration,
        timeout_s=timeout, slo=Slo(ttft_p99, tpot_p99), seed=seed, ignore_eos=ignore_eos, tokenizer=tokenizer,
        metrics=metrics, api_key=_api_key(api_key_env), max_concurrency=max_concurrency)
    if sweep and not 1 <= sweep_rates <= 50:
        raise InvalidValueError(f"--sweep-rates must be between 1 and 50, got {sweep_rates}")
    if max_concurrency is not None and not 1 <= max_concurrency <= run.MAX_CONCURRENCY:
        raise InvalidValueError(f"--max-concurrency must be between 1 and {run.MAX_CONCURRENCY:,}")
    run.check_request(req)
    files = {"models_file": models_file, "gpus_file": gpus_file, "quants_file": quants_file}
    deployment = _deployment(catalogue_model, gpu, quant, kv_dtype, tp, config, files)
    _check_output(output, deployment)
    ctx = ServingContext(config=config, **files)
    failures: list[str] = []

    def on_point(result, i: int, n: int) -> None:
        if output is None or not any(r["completed"] for r in result.rows):
            return
        try:
            df, meta = _profile(result, deployment, ctx)
            from profiler.schema import write_profile

            write_profile(df, output, meta)
        except InferplanError as exc:  # a point the profile cannot hold (e.g. 1-token outputs): said at the end
            if str(exc) not in failures:
                failures.append(str(exc))

    with _progress(fmt, req) as on_record:
        result = run.measure(req, on_point=on_point, on_record=on_record,
                             on_server=_server_check(deployment, ctx) if output is not None else None)
    _render(result, fmt, output if not failures else None)
    warn = _console(stderr=True)
    for line in failures:
        warn.print(f"[yellow]warning:[/] the profile was not written: {escape(line)}", highlight=False)
    if result.interrupted:
        kept = sum(r["completed"] for r in result.rows)
        where = f"; {output} holds them" if output is not None and kept and not failures else ""
        typer.echo(f"stopped by Ctrl-C: {len(result.rows)} load point(s) kept, {kept} requests finished{where}",
                   err=True)
        raise typer.Exit(code=130)
    if not any(r["completed"] for r in result.rows):
        raise typer.Exit(code=1)


def _count(text: str, option: str) -> int:
    try:
        return parse_count(text)
    except ValueError:
        raise InvalidValueError(f"{option}: cannot read '{text}' as a whole number (1k = 1024)") from None


def _console(stderr: bool = False):
    from planner import render

    return render.console(stderr=stderr)


def _progress(fmt: str, req):
    """A progress bar of finished requests on stderr, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return nullcontext(None)

    @contextmanager
    def bar():
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("requests", total=None)
            done = [0]

            def on_record(response) -> None:  # a client.Response: parsed once its point is over
                done[0] += 1
                progress.update(task, completed=done[0], description=f"requests ({req.requests:,} per point)")

            yield on_record

    return bar()


def _render(result, fmt: str, output: Path | None) -> None:
    import pandas as pd

    from planner import render

    df = pd.DataFrame(result.rows)
    if fmt == "json":
        print(render.dumps(result.document()))
    elif fmt == "csv":
        render.emit(df, "csv")
    else:
        out = _console()
        s = result.server
        out.print(escape(f"{result.url}: model {s.get('model')}" + (f", server {s['version']}" if s.get("version")
                                                                      else "") +
                         f"; prompts sized by {result.settings.get('prompt_length', 'n/a')}"), highlight=False)
        if len(df):
            shown = df[[c for c in TABLE_COLUMNS if c in df]].rename(columns=TABLE_COLUMNS)
            render.emit(shown, "table", "Load points (times in ms; --format csv/json: every column)")
            server = [c for c in SERVER_COLUMNS if c in df and c != "point" and df[c].notna().any()]
            if server:
                said = df[["point", *server]].copy()
                for col in ("server_kv_usage_mean", "server_kv_usage_max"):
                    if col in said:
                        said[col] = [f"{v:.1%}" if v == v and v is not None else "–" for v in said[col]]
                render.emit(said.rename(columns=SERVER_COLUMNS), "table", "What the server said (Prometheus /metrics)")
            isl, osl = df["input_tokens"].mean(), df["output_tokens"].mean()
            out.print(escape(f"measured lengths: {isl:,.0f} prompt and {osl:,.0f} output tokens per request (mean)"),
                      highlight=False)
        for line in result.saturation():
            out.print(escape(line), highlight=False)
        for note in result.notes:
            out.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
        if output is not None and len(df) and df["completed"].sum():
            out.print(f"wrote {escape(str(output))}")
    warn = _console(stderr=True)
    for line in result.failures():
        warn.print(f"[yellow]failed:[/] {escape(line)}", highlight=False)
