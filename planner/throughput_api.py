"""Library call behind `inferplan throughput`: the offline maximum of one replica, as the engines' benchmarks report it.

What it measures (the convention of ``vllm bench throughput``, vllm-project/vllm @0202831
vllm/benchmarks/throughput.py, formerly benchmarks/benchmark_throughput.py, and of ``trtllm-bench throughput``,
NVIDIA/TensorRT-LLM tensorrt_llm/bench/dataclasses/statistics.py): ``N`` requests of exactly ``ISL`` prompt and
``OSL`` output tokens (fixed lengths, like their synthetic/random datasets; output forced to ``OSL`` as
``ignore_eos`` does), all handed to the engine at ``t = 0``, run through the continuous-batching simulator
(planner.simulate) with the chosen engine (planner.engines) and the analytic kernel-sum step model; then, with
``T`` = the time from 0 to the last request's last token (vLLM: ``elapsed_time`` around ``llm.generate``;
trtllm-bench: ``total_latency``):

- **output tokens/s** = ``N x OSL / T`` (vLLM "output tokens/s"; trtllm-bench "Total Output Throughput");
- **total tokens/s** = ``N x (ISL + OSL) / T`` (vLLM "total tokens/s");
- **requests/s** = ``N / T``;
- **steady batch** = the time-weighted median of the running requests over ``[0, T]`` (the batch the engine
  holds most of the time; ramp-up and drain are short at the median);
- **mean KV utilisation** = KV blocks in use / the cache's blocks, time-weighted over ``[0, T]``;
- **preemptions** = preemption events (a preempted request is re-prefilled: recompute);
- **per-GPU output tokens/s** = output tokens/s / TP.

``N`` defaults to :data:`DEFAULT_REQUESTS` = 1,000, the default ``--num-prompts`` of ``vllm bench throughput``,
so a result compares with theirs. Like theirs it depends on ``N`` where ``N`` is not much larger than the batch
the engine can hold: the ramp-up (the first prefills) and the drain (the last, emptying batch) are then a large
share of ``T``. With 1,000 requests the steady stretch dominates for batches up to a few hundred.

A case the engine cannot run is one row saying why, not an error: ``ISL + OSL`` above ``max_model_len``
(``status`` = ``exceeds-max-model-len``) or ``ISL + OSL - 1`` above the whole KV cache (``exceeds-kv-cache``).

The table (:meth:`ThroughputResult.table`, one row per case; :data:`TABLE_COLUMNS`): ``model``, ``gpu``, ``quant``,
``kv_dtype``, ``tp``, ``engine``, ``policy``, ``input_tokens``, ``output_tokens``, ``requests`` [count], ``status``
("ok" or why not), ``makespan_s`` [s], ``output_tokens_per_s``, ``total_tokens_per_s`` [tokens/s],
``requests_per_s`` [1/s], ``steady_batch`` [requests], ``mean_kv_util_fraction`` [0-1], ``preemptions``
[count], ``output_tokens_per_s_per_gpu`` [tokens/s], ``note``. Metrics are NaN on rows that did not run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner import engines
from planner import simulate as sim
from planner.simulate.step_time import StepTimeModel
from profiler.errors import InvalidValueError

DEFAULT_REQUESTS = 1000  # vllm bench throughput --num-prompts default (vllm/benchmarks/throughput.py)
# The usual ISL/OSL grid of published offline benchmarks (NVIDIA's TensorRT-LLM performance overview and
# InferenceMAX-style tables): short chat, long generation, balanced, long balanced, summarisation, long context.
GRID = ((128, 128), (128, 2048), (1000, 1000), (2048, 2048), (5000, 500), (20000, 2000))
TABLE_COLUMNS = ("model", "gpu", "quant", "kv_dtype", "tp", "engine", "policy", "input_tokens", "output_tokens",
                 "requests", "status", "makespan_s", "output_tokens_per_s", "total_tokens_per_s", "requests_per_s",
                 "steady_batch", "mean_kv_util_fraction", "preemptions", "output_tokens_per_s_per_gpu", "note",
                 "max_num_seqs", "max_num_batched_tokens")
MAX_REQUESTS = 1_000_000  # beyond this the simulation takes minutes (our limit, not the engines')


@dataclass(frozen=True)
class ThroughputRequest:
    """What `inferplan throughput` asked for (names, resolved by :func:`offline_throughput`).

    ``model``: a catalogue model id, or a local model folder holding config.json, or a config.json path.
    ``cases``: ``(input_tokens, output_tokens)`` pairs [tokens]; ``requests``: N per case [count]. The engine fields
    are planner.engines.EngineKnobs' (``None``: the engine's default).
    """

    model: str = ""
    gpu: str = "h100-sxm"
    quant: str = "bf16"
    tp: int = 1
    kv_dtype: str = "bf16"
    cases: tuple[tuple[int, int], ...] = GRID
    requests: int = DEFAULT_REQUESTS
    engine: str = "vllm"
    capacity_policy: str | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    max_model_len: int | None = None
    gpu_memory_utilization: float | None = None
    config: Path | None = None
    models_file: Path | None = None
    gpus_file: Path | None = None
    quants_file: Path | None = None

    @property
    def knobs(self) -> engines.EngineKnobs:
        return engines.EngineKnobs(self.engine, self.capacity_policy, self.max_num_seqs, self.max_num_batched_tokens,
                                   self.max_model_len, self.gpu_memory_utilization)


@dataclass(frozen=True)
class CaseResult:
    """One ISL/OSL case (module docstring for the definitions; NaN where ``status`` is not "ok")."""

    input_tokens: int
    output_tokens: int
    requests: int
    status: str = "ok"  # "ok", "exceeds-max-model-len", "exceeds-kv-cache"
    note: str = ""
    makespan_s: float = math.nan
    output_tokens_per_s: float = math.nan
    total_tokens_per_s: float = math.nan
    requests_per_s: float = math.nan
    steady_batch: float = math.nan
    mean_kv_util_fraction: float = math.nan
    preemptions: int = 0
    output_tokens_per_s_per_gpu: float = math.nan
    max_num_seqs: int = 0  # the scheduler limits the case ran with (TensorRT-LLM: trtllm-bench's tuned ones)
    max_num_batched_tokens: int = 0


@dataclass(frozen=True)
class ThroughputResult:
    """The cases of one request on one engine: ``engine`` as planner.engines.describe shows it, ``labels`` the
    resolved names (model, gpu, quant, kv_dtype, tp), ``warnings`` what the numbers alone would hide."""

    request: ThroughputRequest
    engine: dict[str, Any]
    cases: tuple[CaseResult, ...]
    labels: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def table(self) -> pd.DataFrame:
        """One row per case, :data:`TABLE_COLUMNS` (module docstring)."""
        ids = {**self.labels, "engine": self.engine["engine"], "policy": self.engine["policy"]}
        rows = [{**ids, **asdict(c)} for c in self.cases]
        return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def check_cases(cases: tuple[tuple[int, int], ...], requests: int) -> None:
    """Whole token counts >= 1 and a request count in [1, MAX_REQUESTS], in the options' terms."""
    if not cases:
        raise InvalidValueError("give --input-tokens and --output-tokens (comma lists of equal length), or --grid")
    for isl, osl in cases:
        for option, v in (("--input-tokens", isl), ("--output-tokens", osl)):
            if not (isinstance(v, (int, np.integer)) and v >= 1):
                raise InvalidValueError(f"{option} must be whole numbers of tokens >= 1, got {v!r}")
    if not (isinstance(requests, (int, np.integer)) and 1 <= requests <= MAX_REQUESTS):
        raise InvalidValueError(f"--requests must be an integer from 1 to {MAX_REQUESTS:,}, got {requests!r}")


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value below and above which half the weight lies (the lower one at an exact tie)."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2)])


def run_case(config: sim.EngineConfig, step_time: StepTimeModel, input_tokens: int, output_tokens: int,
             requests: int, gpus: int = 1) -> CaseResult:
    """``requests`` requests of exactly ``input_tokens`` / ``output_tokens``, all at t = 0, on one replica of
    ``gpus`` GPUs: the offline metrics of the module docstring (pure: any engine config and step-time model)."""
    base = {"input_tokens": int(input_tokens), "output_tokens": int(output_tokens), "requests": int(requests),
            "max_num_seqs": config.max_num_seqs, "max_num_batched_tokens": config.max_num_batched_tokens}
    total = input_tokens + output_tokens
    if config.max_model_len is not None and total > config.max_model_len:
        return CaseResult(**base, status="exceeds-max-model-len",
                          note=f"prompt + output {total:,} tokens exceeds max_model_len {config.max_model_len:,}")
    if total - 1 > config.kv_tokens:
        return CaseResult(**base, status="exceeds-kv-cache",
                          note=f"prompt + output {total:,} tokens exceeds the whole {config.kv_tokens:,}-token KV "
                               "cache")
    n = int(requests)
    reqs = sim.Requests(np.zeros(n), np.full(n, int(input_tokens), dtype=np.int64),
                        np.full(n, int(output_tokens), dtype=np.int64))
    run = sim.simulate(reqs, config, step_time)
    makespan = float(np.max(run.finish_s))
    dur = run.seg_duration_s
    out_tps = n * output_tokens / makespan
    return CaseResult(
        **base, makespan_s=makespan, output_tokens_per_s=out_tps, total_tokens_per_s=n * total / makespan,
        requests_per_s=n / makespan, steady_batch=_weighted_median(run.running.astype(float), dur),
        mean_kv_util_fraction=float(np.dot(run.kv_first + run.kv_last, dur) / 2 / makespan / config.kv_blocks),
        preemptions=int(run.preemptions.sum()), output_tokens_per_s_per_gpu=out_tps / gpus)


def _warnings(cases: tuple[CaseResult, ...], config: sim.EngineConfig, knobs: engines.EngineKnobs) -> list[str]:
    out = []
    ran = [c for c in cases if c.status == "ok"]
    pre = [c for c in ran if c.preemptions > 0]
    if pre:
        where = ", ".join(f"{c.input_tokens:,}/{c.output_tokens:,}: {c.preemptions:,}" for c in pre)
        out.append(engines.preemption_warning(knobs, sum(c.preemptions for c in pre), f" ({where})"))
    chunking = engines.chunking_warning(config, knobs, max((c.input_tokens for c in ran), default=0))
    if chunking:
        out.append(chunking)
    return out


def case_config(config: sim.EngineConfig, knobs: engines.EngineKnobs, isl: int, osl: int) -> sim.EngineConfig:
    """The engine one case runs on: under TensorRT-LLM with neither limit given, the limits ``trtllm-bench
    throughput`` tunes to a dataset of this ISL/OSL (planner.engines.trtllm_bench_limits), as the tool this command
    mirrors would; otherwise ``config`` as it is."""
    if knobs.engine != "trtllm" or knobs.max_num_seqs is not None or knobs.max_num_batched_tokens is not None:
        return config
    seqs, tokens = engines.trtllm_bench_limits(config.kv_tokens, isl, osl)
    return replace(config, max_num_seqs=seqs, max_num_batched_tokens=tokens)


def offline_throughput(request: ThroughputRequest, step_time: StepTimeModel | None = None,
                       on_case: Callable[[int, int, tuple[int, int]], None] | None = None) -> ThroughputResult:
    """Every case of ``request`` on one replica (module docstring). ``step_time``: a step-time model to use instead
    of the analytic one (the KV capacity and limits still come from the engine); ``on_case(i, n, (isl, osl))`` is
    called before case ``i`` of ``n`` (progress).

    Returns a :class:`ThroughputResult`; ``.table()`` is one row per case (:data:`TABLE_COLUMNS`, units in the
    module docstring). Raises UnknownNameError / CatalogueError for names and files, InvalidValueError for bad
    lengths, counts or engine options."""
    from planner.simulate_api import replica

    check_cases(request.cases, request.requests)
    knobs = request.knobs
    dep, step, config = replica(request.model, request.gpu, request.quant, request.tp, request.kv_dtype, knobs,
                                models_file=request.models_file, gpus_file=request.gpus_file,
                                quants_file=request.quants_file, config=request.config)
    model = step if step_time is None else step_time
    cases = []
    for i, (isl, osl) in enumerate(request.cases):
        if on_case is not None:
            on_case(i, len(request.cases), (isl, osl))
        cases.append(run_case(case_config(config, knobs, isl, osl), model, isl, osl, request.requests, dep.tp))
    labels = {"model": dep.model.name, "gpu": dep.gpu.id, "quant": dep.quant.id, "kv_dtype": dep.kv_dtype.value,
              "tp": dep.tp}
    resolved = ThroughputRequest(**{**asdict(request), "model": dep.model.name, "quant": dep.quant.id,
                                    "cases": tuple(request.cases)})
    return ThroughputResult(resolved, engines.describe(config, knobs), tuple(cases), labels,
                            tuple(_warnings(tuple(cases), config, knobs)))


__all__ = ["DEFAULT_REQUESTS", "GRID", "TABLE_COLUMNS", "CaseResult", "ThroughputRequest", "ThroughputResult",
           "check_cases", "offline_throughput", "run_case"]
