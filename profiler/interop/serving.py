"""Serving benchmark points -> Profile rows: the mechanism shared by the vLLM and guidellm readers.

A serving benchmark (``vllm bench serve``, ``guidellm``) measures a running server from outside: per load point
(a request rate or a concurrency level) the requests completed per second, the mean prompt and output lengths
(ISL, OSL), and latency summaries (TTFT, inter-token latency, end-to-end). It never sees one engine step, so each
point becomes rows of the profile schema (:mod:`profiler.schema`) by these rules:

- **decode row, one per point.** ``batch`` is the mean number of sequences decoding at once, by Little's law
  (L = lambda W) over the decode phase: request throughput [req/s] x the mean time a request spends decoding
  [s] (mean E2E - mean TTFT, where the report has E2E; else mean TPOT x (OSL - 1), exact for fixed output
  lengths), rounded, at least 1, at most the point's concurrency cap (vLLM ``--max-concurrency``, guidellm's
  concurrent streams; synchronous = 1). ``context`` = ISL + OSL/2, the mean context a decode step attends over
  the output. ``latency_ms`` = the median inter-token latency: vLLM's ``median_itl_ms`` (every gap between
  streamed tokens; ``median_tpot_ms`` when ITL is absent), guidellm's ``inter_token_latency_ms`` median (the
  per-request mean gap, weighted by its tokens). The median leaves out the gaps stretched by a prefill chunk
  sharing the step. ``tokens_per_s`` = batch / latency, as for every decode row.
- **prefill row, one per report.** At the lowest-load point (smallest mean concurrency, Little's law on E2E):
  ``batch`` 1, ``context`` = ISL, ``latency_ms`` = median TTFT. TTFT also holds HTTP, tokenisation and any
  queueing, so it is an upper bound of the prefill; the note gives the concurrency it was taken at.
- **memory columns** (weights, KV bytes per token, peak, KV capacity, max batch) are not measured by a client:
  they come from the analytic memory model of the same (model, GPU, quant, KV dtype, TP), with the engine's
  default memory share. ``max_batch`` is at least the batch measured. ``mbu`` / ``mfu`` are the analytic bytes
  and FLOPs of the step divided by the measured latency (and the datasheet peaks).
- ``source`` is the tool (``vllm-bench-serve`` or ``guidellm``), ``status`` ok; the note names the point. Every
  number read (rate, throughput, lengths, every TTFT/TPOT/ITL/E2E summary the file holds) is kept per point in
  the metadata, ``environment["points"]``, so nothing measured is lost.

Model, GPU, quant, KV dtype and TP come from the report where it names them (the model id; vLLM's
``--metadata gpu=... tp=... quantization=... kv_cache_dtype=...``), else from the command's own options
(:class:`ServingContext`); quant defaults to the checkpoint's format and KV to bf16, as ``vllm serve`` does
without ``--quantization`` / ``--kv-cache-dtype``. A GPU or TP named nowhere is one error saying which flag
to add.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from profiler.errors import CatalogueError, InvalidValueError
from profiler.schema import ProfileMeta, SchemaError, validate
from profiler.specs import GpuSpec, KvDtype, ModelSpec, QuantScheme

VLLM_SOURCE, GUIDELLM_SOURCE = "vllm-bench-serve", "guidellm"  # the rows' source values (schema.SERVING_SOURCES)


class ReportError(SchemaError):
    """A serving benchmark report that cannot be read as a profile; the message names the file and the field."""


@dataclass(frozen=True)
class ServingPoint:
    """One load point of a serving benchmark, in the units named (times in ms unless the name says s)."""

    label: str  # "rate 4/s", "concurrent 8", "synchronous", ...
    request_rate: float | None  # configured arrivals [req/s]; None: as fast as the cap allows
    max_concurrency: int | None  # cap on requests in flight; None: no cap
    completed: int
    failed: int
    input_tokens: float  # mean ISL of completed requests
    output_tokens: float  # mean OSL of completed requests
    request_throughput: float  # completed requests per second
    ttft_mean_ms: float
    ttft_median_ms: float
    step_ms: float  # median inter-token latency: one decode step
    step_from: str  # which field step_ms is
    decode_mean_s: float  # mean time a request spends decoding (after its first token)
    decode_from: str  # how decode_mean_s was obtained
    output_throughput: float = math.nan  # output tokens per second
    duration_s: float = math.nan
    stats: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # every latency summary, tool's names

    @property
    def concurrency(self) -> float:
        """Mean requests in flight (Little's law on E2E: throughput x (TTFT + decode time))."""
        return self.request_throughput * (self.ttft_mean_ms / 1e3 + self.decode_mean_s)

    @property
    def decode_batch(self) -> int:
        """Mean sequences decoding at once (Little's law on the decode phase), within [1, max_concurrency]."""
        batch = max(1, round(self.request_throughput * self.decode_mean_s))
        return min(batch, self.max_concurrency) if self.max_concurrency else batch

    @property
    def decode_context(self) -> int:
        """Mean context of a decode step: the prompt plus half the output."""
        return max(1, round(self.input_tokens + self.output_tokens / 2))

    def record(self) -> dict[str, Any]:
        """Everything read and derived, JSON-able, for the profile's metadata."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "stats"}
        out.update(concurrency=self.concurrency, decode_batch=self.decode_batch, decode_context=self.decode_context,
                   stats={k: dict(v) for k, v in self.stats.items()})
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}


@dataclass(frozen=True)
class Report:
    """A serving benchmark file, read: its load points and what it says about the deployment."""

    source: str  # the profile's source value: "vllm-bench-serve" or "guidellm"
    tool: str  # the tool as a person names it
    points: tuple[ServingPoint, ...]
    model: str | None = None  # the model as the file names it (a Hugging Face repo id, a path, a served name)
    gpu: str | None = None  # only where the file says (vLLM --metadata)
    quant: str | None = None
    kv_dtype: str | None = None
    tp: int | None = None
    info: Mapping[str, Any] = field(default_factory=dict)  # date, backend, tool version ...
    skipped: tuple[str, ...] = ()  # points left out (no completed request)


@dataclass(frozen=True)
class ServingContext:
    """What the command knows about the deployment a report measured: its options, used where the file is silent.

    ``None`` is "not given". The flags named in errors (--model, --gpu, --quant, --kv-dtype, --tp) are the same
    in `plan`, `simulate` and `calibrate`."""

    model: str | None = None
    gpu: str | None = None
    quant: str | None = None
    kv_dtype: str | None = None
    tp: int | None = None
    models_file: Path | None = None
    gpus_file: Path | None = None
    quants_file: Path | None = None
    config: Path | None = None
    model_spec: ModelSpec | None = None  # the command's model already resolved (a local folder's too)

    @classmethod
    def of(cls, model: ModelSpec, gpus: Sequence[str] = (), quants: Sequence[str] = (), kv_dtypes: Sequence[str] = (),
           tps: Sequence[int] = (), **files: Path | None) -> ServingContext:
        """From a command that resolved its model and takes lists (plan --gpu a,b): a value is known only when
        exactly one is given."""
        def one(values):
            return values[0] if len(values) == 1 else None

        return cls(model=model.name, gpu=one(gpus), quant=one(quants), kv_dtype=one(kv_dtypes), tp=one(tps),
                   model_spec=model, **files)

    def given(self) -> list[str]:
        """The deployment options set (for refusing them where no report is read)."""
        flags = (("--model", self.model), ("--gpu", self.gpu), ("--quant", self.quant),
                 ("--kv-dtype", self.kv_dtype), ("--tp", self.tp))
        return [flag for flag, value in flags if value is not None]


@dataclass(frozen=True)
class Target:
    """The deployment the rows describe, resolved against the catalogues, and where each part came from."""

    model: ModelSpec
    gpu: GpuSpec
    quant: QuantScheme
    kv_dtype: KvDtype
    tp: int
    origin: Mapping[str, str]


# ------------------------------------------------------------------------------------------------
# Which deployment
# ------------------------------------------------------------------------------------------------

# Checkpoint-name endings that leave the architecture unchanged (models.yaml: hf_repo is the chat checkpoint).
_CHAT_SUFFIXES = ("-instruct", "-it", "-chat")


def catalogue_model_id(name: str, models: Mapping[str, ModelSpec]) -> str | None:
    """The catalogue id a report's model name stands for: the id itself, or the entry whose ``hf_repo`` (models.yaml)
    it names, in full or by its last path part (a local folder of that checkpoint), with or without the chat
    suffix. None when no entry, or more than one, matches."""
    key = name.strip().rstrip("/").lower()
    if not key:
        return None
    by_id = {k.lower(): k for k in models}
    if key in by_id:
        return by_id[key]
    base = key.rsplit("/", 1)[-1]
    hits = []
    for mid, spec in models.items():
        repo = str(spec.hf_config.get("hf_repo") or "").lower()
        if not repo:
            continue
        repo_base = repo.rsplit("/", 1)[-1]
        stems = {repo_base} | {repo_base.removesuffix(s) for s in _CHAT_SUFFIXES}
        if key == repo or base in stems:
            hits.append(mid)
    return hits[0] if len(hits) == 1 else None


def _model(report: Report, ctx: ServingContext, file: str) -> tuple[ModelSpec, str]:
    from profiler import catalogue

    if ctx.config is not None:  # a model outside the catalogue: its config.json (--config), labelled as given
        return catalogue.get_model(ctx.model or "", ctx.models_file, config_path=ctx.config), "--config"
    found = catalogue_model_id(report.model, catalogue.load_models(ctx.models_file)) if report.model else None
    if found:
        return catalogue.get_model(found, ctx.models_file), f"the report's model '{report.model}'"
    if ctx.model_spec is not None:
        return ctx.model_spec, "the command's model"
    if ctx.model:
        return catalogue.get_model(ctx.model, ctx.models_file), "the command's model"
    said = f"names the model '{report.model}', which is" if report.model else "names no model;"
    raise InvalidValueError(f"{file}: the {report.tool} report {said} no catalogue id or hf_repo (inferplan models); "
                            "name the catalogue model with --model ID, or give its config.json with --config PATH")


def _pick(key: str, what: str, flag: str, in_file: Any, in_ctx: Any, file: str, report: Report,
          default: tuple[Any, str] | None = None) -> tuple[Any, str]:
    """(value, where it came from): the file's, else the command's option, else `default`, else an error naming
    the option to add (and, for vLLM, the --metadata `key` that records it in the file)."""
    if in_file is not None:
        return in_file, f"the report's {key}"
    if in_ctx is not None:
        return in_ctx, flag.split()[0]
    if default is not None:
        return default
    hint = (f" (`vllm bench serve --metadata {key}=...` records it in the file)" if report.source == VLLM_SOURCE
            else "")
    raise InvalidValueError(f"{file}: the {report.tool} report does not say {what}; name it with {flag}{hint}")


def resolve_target(report: Report, ctx: ServingContext, file: str) -> Target:
    """The (model, GPU, quant, KV dtype, TP) of the rows: the file's word first, then the command's options."""
    from profiler import catalogue

    try:
        model, model_from = _model(report, ctx, file)
        gpu_id, gpu_from = _pick("gpu", "which GPU served it", "--gpu ID", report.gpu, ctx.gpu, file, report)
        tp, tp_from = _pick("tp", "its tensor-parallel degree", "--tp N", report.tp, ctx.tp, file, report)
        quant_id, quant_from = _pick("quant", "", "--quant", report.quant, ctx.quant, file, report,
                                     default=("native", "the checkpoint's format (vllm serve's default)"))
        kv, kv_from = _pick("kv_cache_dtype", "", "--kv-dtype", report.kv_dtype, ctx.kv_dtype, file, report,
                            default=("bf16", "bf16 (vllm serve's --kv-cache-dtype auto)"))
        gpu = catalogue.get_gpu(gpu_id, ctx.gpus_file)
        quant = catalogue.get_quant(catalogue.resolve_quant_id(quant_id, model), ctx.quants_file)
    except CatalogueError as exc:  # a --models/--config/--gpus/--quants file's own problem, said as such
        raise InvalidValueError(str(exc)) from None
    if kv not in ("bf16", "fp8"):
        raise InvalidValueError(f"{file}: KV dtype '{kv}' ({kv_from}) is not bf16 or fp8")
    if isinstance(tp, bool) or not isinstance(tp, int) or tp < 1:
        raise InvalidValueError(f"{file}: TP '{tp}' ({tp_from}) is not a whole number of GPUs, 1 or more")
    catalogue.check_tp_in_node(gpu, tp)
    origin = {"model": model_from, "gpu": gpu_from, "quant": quant_from, "kv_dtype": kv_from, "tp": tp_from}
    return Target(model, gpu, quant, KvDtype(kv), tp, origin)


# ------------------------------------------------------------------------------------------------
# Rows
# ------------------------------------------------------------------------------------------------


def _analytic(target: Target, phase: str, batch: int, context: int) -> tuple[dict[str, Any], Any]:
    """The analytic row of one point (memory columns) and its step estimate (bytes and FLOPs for mbu/mfu)."""
    from profiler.analytic import timing
    from profiler.analytic.efficiency import efficiency_for
    from profiler.analytic.profile import Grid, analytic_profile

    t = target
    grid = Grid(quants=(t.quant,), kv_dtypes=(t.kv_dtype,), tps=(t.tp,), batches=(batch,), contexts=(context,),
                phases=(phase,))
    row = analytic_profile(t.model, t.gpu, grid).iloc[0].to_dict()
    if row["status"] == "unsupported":
        raise InvalidValueError(f"{t.model.name} on {t.gpu.id} at {t.quant.id}: {row['note']}")
    eff = efficiency_for(t.gpu.id, t.quant.id)
    step = (timing.prefill if phase == "prefill" else timing.decode_step)(
        t.model, t.gpu, t.quant, t.kv_dtype, t.tp, batch, context, eff)
    return row, step


def _row(target: Target, source: str, phase: str, batch: int, context: int, latency_ms: float,
         note: str) -> dict[str, Any]:
    row, step = _analytic(target, phase, batch, context)
    tokens = batch * context if phase == "prefill" else batch
    scale = step.latency_s / (latency_ms / 1e3)  # analytic bytes and FLOPs over the measured time
    max_batch = int(row["max_batch"])
    if batch > max_batch:
        note += f"; the analytic memory model holds {max_batch} such sequences, the server ran {batch}"
    return {**{k: row[k] for k in ("model", "gpu", "quant", "kv_dtype", "tp", "weights_bytes", "kv_bytes_per_token",
                                   "peak_bytes", "kv_capacity_tokens")},
            "phase": phase, "batch": batch, "context": context, "latency_ms": latency_ms,
            "tokens_per_s": tokens / (latency_ms / 1e3), "max_batch": max(max_batch, batch),
            "mbu": step.mbu * scale, "mfu": step.mfu * scale, "source": source, "status": "ok", "note": note}


def profile_rows(report: Report, target: Target) -> pd.DataFrame:
    """Decode rows for every point and a prefill row at the lowest load (module docstring), validated."""
    rows = []
    for p in report.points:
        capped = p.max_concurrency is not None and round(p.request_throughput * p.decode_mean_s) > p.max_concurrency
        note = (f"{report.tool} {p.label}: {p.request_throughput:.3g} req/s x {p.decode_mean_s:.3g} s decoding "
                f"({p.decode_from}) = batch {p.decode_batch}{' (capped)' if capped else ''} by Little's law; "
                f"ISL {p.input_tokens:.0f}, OSL {p.output_tokens:.0f}; step = {p.step_from}")
        rows.append(_row(target, report.source, "decode", p.decode_batch, p.decode_context, p.step_ms, note))
    low = min(report.points, key=lambda p: p.concurrency)
    note = (f"{report.tool} {low.label}: median TTFT at the lowest load ({low.concurrency:.2g} requests in flight); "
            "includes HTTP and queueing, an upper bound of the prefill")
    rows.append(_row(target, report.source, "prefill", 1, max(1, round(low.input_tokens)), low.ttft_median_ms, note))
    return validate(pd.DataFrame(rows))


def report_profile(report: Report, ctx: ServingContext | None, file: str) -> tuple[pd.DataFrame, ProfileMeta]:
    """The report as a profile: its rows and metadata (every point's numbers, where the deployment came from)."""
    from profiler import catalogue
    from profiler.api import tool_version

    ctx = ctx or ServingContext()
    target = resolve_target(report, ctx, file)
    df = profile_rows(report, target)
    user_files = [p for p in (ctx.models_file, ctx.gpus_file, ctx.quants_file) if p is not None]
    environment = {
        "gpu": target.gpu.id, "gpu_name": target.gpu.name,
        "machine": f"{report.tool} report {file} (a served deployment measured from its client)",
        "report": {"tool": report.tool, "source": report.source, "file": file, "model": report.model,
                   **dict(report.info)},
        "deployment_from": dict(target.origin), "points": [p.record() for p in report.points],
        "skipped_points": list(report.skipped)}
    meta = ProfileMeta(tool_version=tool_version(), catalogues=catalogue.catalogue_hashes(*user_files),
                       environment=environment, command=f"read from {report.tool} report {file}")
    return df, meta


# ------------------------------------------------------------------------------------------------
# Reading numbers out of a report (shared by both readers)
# ------------------------------------------------------------------------------------------------


def number(data: Mapping[str, Any], key: str, file: str, where: str, *, required: bool = True,
           positive: bool = False) -> float:
    """A finite number >= 0 (> 0 with `positive`) at ``data[key]``; NaN when absent and not `required`."""
    value = data.get(key) if isinstance(data, Mapping) else None
    if value is None:
        if required:
            raise ReportError(f"{file}: {where}: field '{key}' is missing; is this the tool's unedited JSON report?")
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ReportError(f"{file}: {where}: field '{key}' is {value!r}, not a finite number >= 0")
    if positive and value == 0:
        raise ReportError(f"{file}: {where}: field '{key}' is 0; it must be positive")
    return float(value)


# 1,000 load points: a guidellm sweep runs 10 by default, and vLLM appends one per run; each point costs one
# analytic evaluation (~1 ms), so a file of more is no benchmark but would take long.
MAX_POINTS = 1000
# The largest prompt/output and in-flight counts read as a serving run: the analytic profile's grid bounds
# (profiler.analytic.profile.GRID_LIMITS: 2^24-token contexts, 2^20 sequences).
MAX_TOKENS, MAX_IN_FLIGHT = 2**24, 2**20


def count(data: Mapping[str, Any], key: str, file: str, where: str) -> int:
    """A count that may be absent (0 then): failed or errored requests."""
    value = number(data, key, file, where, required=False)
    return 0 if math.isnan(value) else int(value)


def checked_points(points: list[ServingPoint], skipped: list[str], file: str, tool: str) -> tuple:
    """The points with completed requests; none at all is an error (nothing was measured)."""
    if len(points) + len(skipped) > MAX_POINTS:
        raise ReportError(f"{file}: {len(points) + len(skipped):,} load points, more than the {MAX_POINTS:,} "
                          "inferplan reads from one report; is it the right file?")
    if not points:
        what = f" ({'; '.join(skipped[:3])})" if skipped else ""
        raise ReportError(f"{file}: no load point of this {tool} report completed a request{what}, so nothing was "
                          "measured; rerun the benchmark against a server that answers")
    for p in points:
        if max(p.input_tokens, p.output_tokens) > MAX_TOKENS:
            raise ReportError(f"{file}: {p.label}: mean lengths of {p.input_tokens:g} prompt and {p.output_tokens:g} "
                              f"output tokens; more than {MAX_TOKENS:,} is no serving run")
        in_flight = p.request_throughput * (p.ttft_mean_ms / 1e3 + p.decode_mean_s)
        if not in_flight <= MAX_IN_FLIGHT:  # also catches an overflow to inf
            raise ReportError(f"{file}: {p.label}: {p.request_throughput:g} req/s for {p.decode_mean_s:g} s each "
                              f"would keep {in_flight:g} requests in flight; more than {MAX_IN_FLIGHT:,} is no "
                              "serving run")
        if p.output_tokens < 2:
            raise ReportError(f"{file}: {p.label}: requests produced {p.output_tokens:g} output tokens on average; a "
                              "decode step needs outputs of 2 tokens or more (set the output length)")
        if p.step_ms <= 0:
            raise ReportError(f"{file}: {p.label}: the inter-token latency is 0, so the server did not stream tokens; "
                              "benchmark a streaming endpoint")
    return tuple(points), tuple(skipped)
