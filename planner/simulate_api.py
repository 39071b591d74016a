"""Library call behind `inferplan simulate`: resolve names, build the step model, run the simulator.

Arrivals (one of):

- ``rate_per_s`` alone: Poisson at that rate (``cv`` ≠ 1: gamma inter-arrivals with that CV), for
  ``duration_s`` (default :data:`DEFAULT_DURATION_S`);
- ``rate_per_s`` with ``diurnal``: that rate is the daily *mean* of a 24-hour curve of hourly
  multipliers, ``"default"`` (:data:`DEFAULT_DIURNAL`) or a file of 24 numbers; the clock starts
  at ``start_hour``; default duration :data:`DIURNAL_DURATION_S` (the whole day);
- ``trace``: a CSV replayed as recorded (planner.simulate.trace); with ``duration_s``, only the
  requests arriving in its first ``duration_s``. A trace has its own lengths and timing, so
  ``input_tokens``, ``output_tokens``, ``sigma`` and ``cv`` must be left unset with it.

The replica runs the engine of planner.engines (``--engine vllm|trtllm`` and its limits; :func:`replica`).
Requests longer than the model's max context (or ``--max-model-len``) are refused before simulating (the engine
would refuse them all; planner.simulate.checks): a trace with any such row, or a --rate run whose mean
prompt + output, or whose p99 (more than the 1 % of requests a p99 SLO lets miss), is longer.
A finished run carries ``warnings`` (rejections and why, instability, a p99 of under 100 requests).

Size (planner.simulate.limits, with the timings behind each bound): a run takes at most MAX_SIM_REQUESTS
requests (a --rate run's expected rate x duration, a trace's rows after the --duration cut), checked before any is
drawn; prompts needing more than MAX_ENGINE_ITERATIONS steps at --max-num-batched-tokens a step are refused before
simulating, and the simulator stops any run past that many steps. Lengths are at most MAX_REQUEST_TOKENS, --cv at
most MAX_CV, --sigma at most MAX_SIGMA, --duration at most MAX_SIM_SECONDS.

:func:`load_curve` adds the SLO capacity (planner.simulate.find_slo_capacity, cached in
``$INFERPLAN_HOME/sim_capacity.json``) and the p50/p90/p99 latencies at offered loads around it,
each simulated as the capacity search probes (steady arrivals: a diurnal run's curve is swept at
steady rates with its CV).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from planner import engines
from planner import simulate as sim
from planner.defaults import DEFAULT_CV, DEFAULT_INPUT_TOKENS, DEFAULT_OUTPUT_TOKENS, DEFAULT_SIGMA
from planner.simulate import checks
from planner.simulate.arrivals import HOURS_PER_DAY, expected_arrivals
from planner.simulate.limits import (
    MAX_CURVE_BYTES,
    MAX_CV,
    MAX_ENGINE_ITERATIONS,
    MAX_PLOT_TRACE_REQUESTS,
    MAX_REQUEST_TOKENS,
    MAX_SIGMA,
    MAX_SIM_REQUESTS,
    MAX_SIM_SECONDS,
)
from planner.step_model import AnalyticStep, Deployment, ProfileStep
from profiler import catalogue
from profiler.analytic.efficiency import efficiency_for
from profiler.analytic.memory import BLOCK_TOKENS
from profiler.errors import InvalidValueError
from profiler.interop import ServingContext
from profiler.schema import read_profile
from profiler.specs import KvDtype

LOAD_POINTS = (0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5)  # offered load / SLO capacity, for --plot
BOUND_POINTS = (0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1, 1.2)  # / analytic bound, when no rate meets the SLOs
SWEEP_REQUESTS = 3000  # requests per probe of the load curve and of its capacity search
DEFAULT_DURATION_S = 600.0  # 10 min: thousands of requests at chat rates, seconds of wall time
DIURNAL_DURATION_S = 86_400.0  # a diurnal run covers its whole day
# The planner's default peak-to-average of 2 (planner/workload.py: traffic flat over a 12-hour
# working day, idle overnight) as a curve: 2x the daily mean from 08:00 to 20:00, nothing otherwise.
DEFAULT_DIURNAL = (0.0,) * 8 + (2.0,) * 12 + (0.0,) * 4


@dataclass(frozen=True)
class SimRequest:
    """What `inferplan simulate` asks for: one replica under a request stream (module docstring for the rules).

    Args:
        model: a catalogue model id, or a local model folder holding config.json, or a config.json path.
        gpu, quant, tp, kv_dtype: the replica (catalogue ids; ``native`` quant: the checkpoint's format).
        rate_per_s: arrivals [requests/s] (Poisson; gamma with ``cv``), or ``trace``: a CSV replayed as recorded.
        duration_s: simulated time [s]; diurnal / start_hour: a 24-hour curve and the clock at t = 0 [h].
        input_tokens, output_tokens: mean prompt and output lengths [tokens]; sigma: their lognormal spread.
        ttft_p99_s, tpot_p99_s: the SLO targets [s]. seed: the random stream (the same seed, the same run).
        profile: a measured profile for the step times instead of the analytic model.
        engine, capacity_policy, max_num_seqs, max_num_batched_tokens, max_model_len: the engine and its limits
            (None: the engine's default); gpu_memory_utilization a fraction in (0, 1].
    """

    model: str
    gpu: str = "h100-sxm"
    quant: str = "bf16"
    tp: int = 1
    kv_dtype: str = "bf16"
    rate_per_s: float | None = None
    trace: Path | None = None
    duration_s: float | None = None  # None: DEFAULT_DURATION_S, DIURNAL_DURATION_S, or the whole trace
    diurnal: str | None = None  # "default" or a file of 24 hourly multipliers (with rate_per_s)
    start_hour: float | None = None  # clock hour at t = 0 of a diurnal run (default 0)
    # None: the DEFAULT_* above for a --rate run; a trace has its own lengths and timing (leave them None)
    input_tokens: float | None = None
    output_tokens: float | None = None
    sigma: float | None = None
    cv: float | None = None
    ttft_p99_s: float = 2.0
    tpot_p99_s: float = 0.05
    profile: Path | None = None
    seed: int = 0
    # catalogue extensions (YAML in the catalogue's layout) and the engine's memory fraction (None: 0.9, vLLM's)
    models_file: Path | None = None
    gpus_file: Path | None = None
    quants_file: Path | None = None
    gpu_memory_utilization: float | None = None  # vLLM: share of HBM; trtllm: KvCacheConfig.free_gpu_memory_fraction
    config: Path | None = None  # a local Hugging Face config.json or model folder (model: its label, "" = folder name)
    # the engine (planner.engines; None: the engine's default)
    engine: str = "vllm"
    capacity_policy: str | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    max_model_len: int | None = None

    @property
    def knobs(self) -> engines.EngineKnobs:
        return engines.EngineKnobs(self.engine, self.capacity_policy, self.max_num_seqs, self.max_num_batched_tokens,
                                   self.max_model_len, self.gpu_memory_utilization)


@dataclass(frozen=True, eq=False)
class KeyedStep:
    """A step-time model with the KV capacity engine_config needs and a stable ``cache_identity``.

    ``identity`` names what fixes the step times: the roofline's parameters or the profile's hash,
    and the deployment (model, GPU, quant, KV dtype, TP, efficiency), hashed.
    """

    step: Callable[[int, int, int], float] = field(repr=False)
    kv_tokens: int
    identity: str

    def __call__(self, prefill_tokens: int, decode_seqs: int, context_tokens: int, *chunks: int) -> float:
        return self.step(prefill_tokens, decode_seqs, context_tokens, *chunks)

    @property
    def exact_prefill(self) -> bool:
        return getattr(self.step, "exact_prefill", False)  # the wrapped model takes the chunks' context and pairs

    def kv_capacity_tokens(self) -> int:
        return self.kv_tokens

    @property
    def decode_affine(self):
        return getattr(self.step, "decode_affine", None)  # closed-form decode stretches when the model has them

    @property
    def cache_identity(self) -> str:
        return f"{self.identity}|kv_tokens={self.kv_tokens}"


def profile_digest(profile: pd.DataFrame) -> str:
    """sha256 of a profile table's values (row order and values; the index ignored)."""
    return hashlib.sha256(pd.util.hash_pandas_object(profile, index=False).to_numpy().tobytes()).hexdigest()


def keyed_step(dep: Deployment, step, profile: pd.DataFrame | None) -> KeyedStep:
    """The step model for ``dep`` as the simulator runs it: the profile's interpolation when a
    profile is given (``step`` a ProfileStep), else the analytic kernel-sum step (decode stretches in closed
    form)."""
    if isinstance(step, ProfileStep) and profile is not None:
        inner, what = step, f"profile sha256:{profile_digest(profile)}"
    else:
        inner = step if isinstance(step, AnalyticStep) else AnalyticStep(dep)
        what = sim.fingerprint(inner)
    digest = hashlib.sha256(f"{what}\n{sim.fingerprint(dep)}".encode()).hexdigest()[:20]
    kind = "profile" if isinstance(inner, ProfileStep) else "analytic"
    return KeyedStep(inner, int(step.kv_capacity_tokens()), f"{kind}:{digest}")


def cache_labels(dep: Deployment) -> dict[str, object]:
    return {"model": dep.model.name, "gpu": dep.gpu.id, "quant": dep.quant.id, "kv": dep.kv_dtype.value,
            "tp": dep.tp}


@dataclass(frozen=True)
class SimResult:
    request: SimRequest
    metrics: sim.SimMetrics
    engine: dict[str, Any]
    shape: Any = field(repr=False)  # the WorkloadShape drawn from, or the (truncated) trace
    config: sim.EngineConfig = field(repr=False)
    step: KeyedStep = field(repr=False)
    labels: dict[str, object] = field(default_factory=dict, repr=False)
    warnings: tuple[str, ...] = ()  # planner.simulate.checks.run_warnings: what the table alone would hide


@dataclass(frozen=True)
class LoadCurve:
    """Latency vs offered load: ``sweep`` (one row per rate: ``offered_rps``, ``load`` = rate / capacity
    (or / the analytic bound when the capacity is 0), ``{ttft,tpot}_{p50,p90,p99}_s``, ``meets``)
    and the SLO ``capacity`` it is centred on."""

    sweep: pd.DataFrame
    capacity: sim.SloCapacity
    slo: sim.SloTargets


def deployment(model: str, gpu: str, quant: str, tp: int, kv_dtype: str, *, models_file: Path | None = None,
               gpus_file: Path | None = None, quants_file: Path | None = None,
               gpu_memory_utilization: float | None = None, config: Path | None = None) -> Deployment:
    """The Deployment the names describe (quant ``native``: the model's checkpoint format), user files included;
    with ``config`` the model comes from that local Hugging Face config.json or folder (``model`` labels it)."""
    from profiler.api import check_gpu_memory_utilization

    if not model and config is None:
        raise InvalidValueError("name a catalogue model (see `inferplan models`) or give --config PATH; a "
                                "model folder or config.json path works as the model too")
    if kv_dtype not in ("bf16", "fp8"):
        raise InvalidValueError(f"--kv-dtype must be bf16 or fp8, not '{kv_dtype}'")
    if not (isinstance(tp, int) and tp >= 1):
        raise InvalidValueError(f"--tp must be an integer >= 1 (GPUs per replica), got {tp!r}")
    check_gpu_memory_utilization(gpu_memory_utilization)
    m = catalogue.get_model(model, models_file, config_path=config)
    g, q = catalogue.get_gpu(gpu, gpus_file), catalogue.get_quant(catalogue.resolve_quant_id(quant, m), quants_file)
    catalogue.check_quants_for_model(m, [q])
    eff = efficiency_for(g.id, q.id, gpu_memory_utilization=gpu_memory_utilization)
    return Deployment(m, g, q, KvDtype(kv_dtype), tp, eff)


def engine_config(dep: Deployment, step, max_model_len: int | None = None) -> sim.EngineConfig:
    """vLLM's defaults for this GPU, with the KV capacity of the memory model (or the profile); requests
    longer than `max_model_len` (default: the model's context) are refused, as vLLM refuses them."""
    seqs, tokens = sim.vllm_default_limits(dep.gpu.hbm_bytes, dep.gpu.id)
    blocks = step.kv_capacity_tokens() // BLOCK_TOKENS if hasattr(step, "kv_capacity_tokens") else 0
    if blocks < 1:
        raise InvalidValueError(f"{dep.model.name} at {dep.quant.id} leaves no KV cache on {dep.tp}x {dep.gpu.id}; "
                                "try `inferplan profile` to see what fits")
    return sim.EngineConfig(kv_blocks=int(blocks), max_num_seqs=seqs, max_num_batched_tokens=tokens,
                            max_model_len=max_model_len or dep.model.max_context)


def read_hourly_curve(path: str | Path) -> tuple[float, ...]:
    """24 hourly multipliers (hour 0 first) from a text file: numbers separated by commas, spaces or
    new lines; ``#`` starts a comment. Relative values: only their ratios matter."""
    if not str(path).strip() or "\0" in str(path):
        raise InvalidValueError(f"--diurnal {str(path)!r}: give 'default' or the name of a file of 24 hourly "
                                "multipliers")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CURVE_BYTES + 1)
    except OSError as exc:
        raise InvalidValueError(f"{path}: cannot read the diurnal curve ({exc.strerror or exc})") from None
    if len(data) > MAX_CURVE_BYTES:
        raise InvalidValueError(f"{path}: larger than {MAX_CURVE_BYTES // 1024} KiB; the diurnal curve is 24 hourly "
                                "multipliers")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidValueError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start:,}); "
                                "the diurnal curve is 24 hourly multipliers in a UTF-8 text file") from None
    values = []
    for cell in (c for line in text.splitlines() for c in re.split(r"[,\s]+", line.split("#")[0]) if c):
        try:
            values.append(float(cell))
        except ValueError:
            shown = repr(cell) if len(cell) <= 40 else f"{cell[:40]!r}... ({len(cell):,} characters)"
            raise InvalidValueError(f"{path}: {shown} is not a number; the diurnal curve is 24 hourly "
                                    "multipliers") from None
    # max, not sum: only ratios matter, and 24 numbers near the float maximum are a curve whose sum overflows
    bad = next((h for h, v in enumerate(values) if not (math.isfinite(v) and v >= 0)), None)
    if len(values) != HOURS_PER_DAY or bad is not None or max(values) <= 0:
        found = (f"found {len(values)}" if len(values) != HOURS_PER_DAY else
                 f"hour {bad} is {values[bad]:g}" if bad is not None else "all are zero")
        raise InvalidValueError(f"{path}: the diurnal curve needs 24 numbers, finite and >= 0 (hour 0 first, not all "
                                f"zero), {found}")
    return tuple(values)


def _arrivals(req: SimRequest) -> tuple[sim.Poisson | sim.Gamma | sim.Diurnal, float, str]:
    """The arrival process of a --rate run, its duration [s] and a description."""
    rate = req.rate_per_s
    if req.diurnal is None:
        if req.start_hour is not None:
            raise InvalidValueError("--start-hour sets the clock of a --diurnal run; add --diurnal or drop it")
        steady = sim.Poisson(rate) if req.cv == 1.0 else sim.Gamma(rate, cv=req.cv)
        what = f"poisson {rate:g}/s" if req.cv == 1.0 else f"gamma {rate:g}/s cv {req.cv:g}"
        return steady, req.duration_s or DEFAULT_DURATION_S, what
    start = 0.0 if req.start_hour is None else req.start_hour
    if not 0 <= start < 24:
        raise InvalidValueError(f"--start-hour must be in [0, 24), got {start:g}")
    curve = DEFAULT_DIURNAL if req.diurnal == "default" else read_hourly_curve(req.diurnal)
    what = f"diurnal, daily mean {rate:g}/s, curve {req.diurnal}, from {start:g} h"
    return sim.Diurnal(rate, curve, cv=req.cv, start_hour=start), req.duration_s or DIURNAL_DURATION_S, what


def _check_count(req: SimRequest, process, duration: float) -> None:
    """Refuse a --rate run of more than MAX_SIM_REQUESTS requests (planner.simulate.limits) before drawing any."""
    n = expected_arrivals(process, duration)
    if n > MAX_SIM_REQUESTS:
        dur = f"--duration {duration:g} s" + ("" if req.duration_s else " (the default)")
        raise InvalidValueError(f"--rate {req.rate_per_s:g}/s for {dur} is {_count(n)} requests, more than the "
                                f"{MAX_SIM_REQUESTS:,} one simulation takes (about two minutes of simulating): use a "
                                "shorter --duration or a lower --rate")


def _trace(req: SimRequest) -> tuple[sim.Requests, str]:
    trace = sim.read_trace(req.trace)
    if req.duration_s is None:
        return trace, f"trace {req.trace}"
    keep = trace.arrival_s < req.duration_s
    if not keep.any():  # pragma: no cover - the first request arrives at 0
        raise InvalidValueError(f"{req.trace}: no request arrives in the first {req.duration_s:g} s")
    cut = sim.Requests(trace.arrival_s[keep], trace.input_tokens[keep], trace.output_tokens[keep])
    return cut, f"trace {req.trace}, first {req.duration_s:g} s ({int(keep.sum())} of {len(trace)} requests)"


def _count(n: float) -> str:
    """A request count for a message: digits grouped, or 3 significant digits when it is astronomical."""
    return f"{n:,.0f}" if n < 1e12 else f"{n:.3g}" if math.isfinite(n) else "over 1e308"


def _check_trace_count(req: SimRequest, trace: sim.Requests, plot: bool) -> None:
    """Refuse replaying more than MAX_SIM_REQUESTS requests (planner.simulate.limits) of a trace, or more than
    MAX_PLOT_TRACE_REQUESTS when a load curve will replay it at a dozen rates or more."""
    first = f" in its first {req.duration_s:g} s" if req.duration_s is not None else ""
    if len(trace) > MAX_SIM_REQUESTS:
        raise InvalidValueError(f"{req.trace}: {len(trace):,} requests to replay{first}, more than the "
                                f"{MAX_SIM_REQUESTS:,} one simulation takes (about two minutes of simulating): "
                                "replay a shorter stretch with --duration, or split the trace")
    if plot and len(trace) > MAX_PLOT_TRACE_REQUESTS:
        raise InvalidValueError(f"{req.trace}: {len(trace):,} requests to replay{first}; --plot replays them at "
                                f"every rate its capacity search probes and at {len(LOAD_POINTS)} loads, so it takes "
                                f"at most {MAX_PLOT_TRACE_REQUESTS:,} (a minute or two): replay a shorter stretch "
                                "with --duration, or drop --plot")


def _check_prefill_steps(req: SimRequest, config: sim.EngineConfig, n_requests: float, input_tokens: float) -> None:
    """Refuse a run whose prompts alone need more engine steps than MAX_ENGINE_ITERATIONS (planner.simulate.limits):
    each step prefills at most max_num_batched_tokens tokens, so the prompts need at least their sum / that."""
    steps = input_tokens / config.max_num_batched_tokens
    if steps > MAX_ENGINE_ITERATIONS:
        what = f"{req.trace}'s {n_requests:,.0f} prompts" if req.trace is not None else \
            f"{_count(n_requests)} prompts of {req.input_tokens:,.0f} tokens on average"
        raise InvalidValueError(f"{what} at {config.max_num_batched_tokens:,} tokens a step (--max-num-batched-tokens)"
                                f" need {steps:,.0f} engine steps, more than the {MAX_ENGINE_ITERATIONS:,} one "
                                "simulation takes (about two minutes of simulating): raise --max-num-batched-tokens, "
                                "or simulate fewer or shorter requests")


def _lengths(mean: float, sigma: float):
    return sim.Fixed(int(round(mean))) if sigma <= 0 else sim.LogNormal(mean=mean, sigma=sigma)


_TRACE_IGNORES = (("input_tokens", "--input-tokens"), ("output_tokens", "--output-tokens"), ("sigma", "--sigma"),
                  ("cv", "--cv"))


def resolved(req: SimRequest) -> SimRequest:
    """``req`` checked, with the DEFAULT_* lengths and shapes filled in for a --rate run. Every message
    names the command-line option, says what is allowed and why."""
    if (req.rate_per_s is None) == (req.trace is None):
        raise InvalidValueError("give exactly one of --rate (e.g. 5/s) or --trace FILE")
    if req.seed < 0:
        raise InvalidValueError(f"--seed must be an integer >= 0, got {req.seed}")
    if req.trace is not None:
        if req.diurnal is not None:
            raise InvalidValueError("--diurnal shapes a --rate run; a --trace has its own timing (drop one)")
        given = [flag for name, flag in _TRACE_IGNORES if getattr(req, name) is not None]
        if given:
            raise InvalidValueError(f"--trace replays each request's own arrival time, prompt and output length, so "
                                    f"{' and '.join(given)} would be ignored: drop {'them' if len(given) > 1 else 'it'}"
                                    " (or use --rate to draw requests with those lengths)")
        return req
    r = replace(req, input_tokens=DEFAULT_INPUT_TOKENS if req.input_tokens is None else req.input_tokens,
                output_tokens=DEFAULT_OUTPUT_TOKENS if req.output_tokens is None else req.output_tokens,
                sigma=DEFAULT_SIGMA if req.sigma is None else req.sigma, cv=DEFAULT_CV if req.cv is None else req.cv)
    if not (math.isfinite(r.rate_per_s) and r.rate_per_s > 0):
        raise InvalidValueError(f"--rate must be > 0 requests per unit time (e.g. 5/s), got {r.rate_per_s!r}")
    for flag, v in (("--input-tokens", r.input_tokens), ("--output-tokens", r.output_tokens)):
        if not (math.isfinite(v) and v >= 1):
            raise InvalidValueError(f"{flag} must be at least 1 token (a mean length), got {v:g}")
        if v > MAX_REQUEST_TOKENS:
            raise InvalidValueError(f"{flag} must be at most {MAX_REQUEST_TOKENS:,} tokens (10x the longest context "
                                    f"window published, Llama 4 Scout's 10M), got {v:g}")
    if not (math.isfinite(r.sigma) and 0 <= r.sigma <= MAX_SIGMA):
        raise InvalidValueError(f"--sigma must be >= 0 and at most {MAX_SIGMA:g} (the lognormal spread of the lengths;"
                                " 0 = every request the mean length; past 4.65 even the p99 length is below the mean)"
                                f", got {r.sigma:g}")
    if r.duration_s is not None and r.duration_s > MAX_SIM_SECONDS:
        raise InvalidValueError(f"--duration must be at most {MAX_SIM_SECONDS:.0e} s (31.7 years: the simulator's "
                                f"float clock keeps microseconds up to there), got {r.duration_s:g} s")
    if not (math.isfinite(r.cv) and 0 < r.cv <= MAX_CV):
        raise InvalidValueError(f"--cv must be > 0 and at most {MAX_CV:g} (the inter-arrival coefficient of "
                                f"variation: 1 = Poisson, > 1 bursty, < 1 more regular, near 0 evenly spaced), "
                                f"got {r.cv:g}")
    return r


def _beyond(dep: Deployment, limit: int | None = None) -> str:
    if limit is not None and limit != dep.model.max_context:
        return f"--max-model-len {limit:,} tokens (prompt + output)"
    return f"{dep.model.name}'s max context of {dep.model.max_context:,} tokens (prompt + output)"


def check_context(dep: Deployment, req: SimRequest, shape: sim.WorkloadShape | sim.Requests,
                  limit: int | None = None) -> None:
    """Refuse a run whose requests the model cannot take (module docstring): every row of a trace, and
    the mean and the p99 of prompt + output of a --rate run, must fit ``limit`` (default: the max context)."""
    limit = dep.model.max_context if limit is None else limit
    name = {"vllm": "vLLM", "sglang": "SGLang"}.get(req.engine, "TensorRT-LLM")
    if isinstance(shape, sim.Requests):
        total = shape.input_tokens + shape.output_tokens
        over = int((total > limit).sum())
        if over:
            raise InvalidValueError(f"{req.trace}: {over:,} of {len(total):,} requests (the longest "
                                    f"{int(total.max()):,} tokens) exceed {_beyond(dep, limit)}, and {name} refuses "
                                    "them: drop or shorten those rows, or use a model with a longer context")
        return
    mean = req.input_tokens + req.output_tokens
    if mean > limit:
        raise InvalidValueError(f"--input-tokens {req.input_tokens:,.0f} + --output-tokens {req.output_tokens:,.0f} = "
                                f"{mean:,.0f} tokens per request on average exceeds {_beyond(dep, limit)}, and {name} "
                                "refuses longer requests: use shorter ones or a model with a longer context")
    share, p99 = checks.overflow(shape.input_tokens, shape.output_tokens, limit)
    if share > sim.MAX_REJECTED_FRACTION:
        raise InvalidValueError(f"with --sigma {req.sigma:g}, {share:.1%} of requests (p99 prompt + output {p99:,.0f} "
                                f"tokens) would exceed {_beyond(dep, limit)} and be refused by {name}, more than the "
                                "1% a p99 SLO lets miss: lower --input-tokens/--output-tokens or --sigma")


def replica(model: str, gpu: str, quant: str, tp: int, kv_dtype: str, knobs: engines.EngineKnobs, *,
            models_file: Path | None = None, gpus_file: Path | None = None, quants_file: Path | None = None,
            config: Path | None = None, profile: Path | None = None) -> tuple[Deployment, KeyedStep, sim.EngineConfig]:
    """The deployment, step model and engine (planner.engines) of one replica. Under TensorRT-LLM
    --gpu-memory-utilization is its free-memory fraction, so it does not reach the vLLM memory model
    (Efficiency.gpu_memory_utilization); the step model is keyed by the KV capacity the engine has."""
    knobs = engines.check_knobs(knobs)
    vllm_share = knobs.gpu_memory_utilization if knobs.engine in ("vllm", "sglang") else None  # SGLang: vLLM's budget
    dep = deployment(model, gpu, quant, tp, kv_dtype, models_file=models_file, gpus_file=gpus_file,
                     quants_file=quants_file, gpu_memory_utilization=vllm_share, config=config)
    serving = ServingContext(dep.model.name, dep.gpu.id, dep.quant.id, dep.kv_dtype.value, dep.tp, models_file,
                             gpus_file, quants_file, model_spec=dep.model)  # the replica a vllm/guidellm report ran
    table = read_profile(profile, serving)[0] if profile else None
    step = keyed_step(dep, ProfileStep(table, dep) if table is not None else AnalyticStep(dep), table)
    engine = engines.engine_config(dep, step, knobs)
    if engine.kv_tokens != step.kv_tokens:  # TensorRT-LLM's cache: key cached results by the capacity simulated
        step = replace(step, kv_tokens=engine.kv_tokens)
    return dep, step, engine


def engine_setup(req: SimRequest) -> tuple[SimRequest, Deployment, KeyedStep, sim.EngineConfig]:
    """:func:`replica` for ``req``, which comes back with a --config model's label and ``native`` resolved."""
    dep, step, config = replica(req.model, req.gpu, req.quant, req.tp, req.kv_dtype, req.knobs,
                                models_file=req.models_file, gpus_file=req.gpus_file, quants_file=req.quants_file,
                                config=req.config, profile=req.profile)
    return replace(req, model=dep.model.name, quant=dep.quant.id), dep, step, config


def run_simulation(req: SimRequest, *, plot: bool = False) -> SimResult:
    """Simulate ``req``. Its size is checked before anything is drawn or run (planner.simulate.limits): at most
    MAX_SIM_REQUESTS requests (MAX_PLOT_TRACE_REQUESTS of a trace when ``plot``: :func:`load_curve` will follow),
    and prompts that fit MAX_ENGINE_ITERATIONS steps; the simulator stops a run that passes MAX_ENGINE_ITERATIONS
    all the same.

    Returns a :class:`SimResult`: ``metrics`` (planner.simulate.SimMetrics: TTFT / TPOT / ITL / E2E latency
    percentiles [s], throughput [requests/s], KV use, preemptions; ``metrics.to_frame()`` as a table),
    ``summary()`` (a flat dict), ``request`` (resolved: the model's label, the quant ``native`` stands for) and
    ``warnings``. Raises UnknownNameError / CatalogueError for names and files, InvalidValueError for a run that
    is refused (too large, longer than the model's context, conflicting options)."""
    req = resolved(req)
    if req.trace is not None:  # the arrivals first: cheap checks of the size before the model and the engine
        shape, arrivals = _trace(req)
        _check_trace_count(req, shape, plot)
    else:
        process, duration, arrivals = _arrivals(req)
        _check_count(req, process, duration)
    req, dep, step, config = engine_setup(req)
    slo = sim.SloTargets(ttft_p99_s=req.ttft_p99_s, tpot_p99_s=req.tpot_p99_s)
    if req.trace is not None:
        check_context(dep, req, shape, config.max_model_len)
        _check_prefill_steps(req, config, len(shape), float(shape.input_tokens.sum()))
        requests = shape
    else:
        lengths = _lengths(req.input_tokens, req.sigma), _lengths(req.output_tokens, req.sigma)
        shape = sim.WorkloadShape(process, *lengths)
        check_context(dep, req, shape, config.max_model_len)
        n = expected_arrivals(process, duration)
        _check_prefill_steps(req, config, n, n * req.input_tokens)
        requests = sim.make_requests(shape, duration_s=duration, seed=req.seed, max_requests=MAX_SIM_REQUESTS)
        if not len(requests):
            raise InvalidValueError(f"no request arrives in the first {duration:g} s ({arrivals}); use a longer "
                                    "--duration")
    run, metrics = sim.simulate_workload(requests, config, step, slo=slo)
    engine = {**engines.describe(config, req.knobs), "arrivals": arrivals,
              "step_model": "profile" if req.profile else "analytic roofline"}
    warnings = checks.run_warnings(metrics, run.requests, config, trace=req.trace is not None)
    chunking = engines.chunking_warning(config, req.knobs, float(requests.input_tokens.max(initial=0)))
    return SimResult(req, metrics, engine, shape, config, step, cache_labels(dep),
                     tuple(warnings + ([chunking] if chunking else [])))


def _steady(shape):
    """What a load curve sweeps: a trace as it is, a diurnal shape as steady arrivals with its CV."""
    if isinstance(shape, sim.WorkloadShape) and isinstance(shape.arrival, sim.Diurnal):
        a = shape.arrival
        steady = sim.Poisson(a.rate_per_s) if a.cv == 1.0 else sim.Gamma(a.rate_per_s, cv=a.cv)
        return sim.WorkloadShape(steady, shape.input_tokens, shape.output_tokens)
    return shape


def load_curve(result: SimResult, cache: sim.CapacityCache | None = None) -> LoadCurve:
    """The SLO capacity of ``result``'s workload and the latencies at loads around it (module docstring)."""
    shape, slo = _steady(result.shape), result.metrics.slo
    search = sim.CapacitySearch(n_requests=SWEEP_REQUESTS, seed=result.request.seed)
    cap = sim.find_slo_capacity(shape, result.config, result.step, slo, search=search,
                                cache=cache if cache is not None else sim.shared_cache(), labels=result.labels)
    base, points = (cap.rate_per_s, LOAD_POINTS) if cap.rate_per_s > 0 else (cap.upper_bound_rate_per_s, BOUND_POINTS)
    rows = []
    for frac in points:
        p = sim.simulate_point(shape, base * frac, result.config, result.step, slo, search=search)
        rows.append({"offered_rps": p.rate_per_s, "load": frac, **{f"{m}_{q}_s": getattr(p, f"{m}_{q}_s")
                     for m in ("ttft", "tpot") for q in ("p50", "p90", "p99")}, "meets": p.meets})
    return LoadCurve(pd.DataFrame(rows), cap, slo)


__all__ = ["DEFAULT_CV", "DEFAULT_DIURNAL", "DEFAULT_INPUT_TOKENS", "DEFAULT_OUTPUT_TOKENS", "DEFAULT_SIGMA",
           "KeyedStep", "LoadCurve", "SimRequest", "SimResult", "cache_labels", "deployment",
           "check_context", "engine_config", "engine_setup", "keyed_step", "replica", "load_curve", "profile_digest",
           "read_hourly_curve", "resolved", "run_simulation"]
