"""`plan`'s default sizing: replicas sized on the p99 TTFT and TPOT the analytic tail model predicts.

The mean-value search (planner.search, planner.capacity) bounds every (GPU, quant, KV dtype, TP)'s rate from
above; the tail model (planner.tail) then sizes, cheapest bound first, the ones that can still be among the
cheapest (planner.plan, ``keys_at``: a branch and bound; the cost curve and the crossover do the same at every
volume): the highest Poisson rate one replica serves with both p99s within the SLOs, as it is (no utilisation
cap: the queueing the 80 % headroom stood in for is modelled). The engine it models is the one the launch line
starts: vLLM V1 with ``--max-num-batched-tokens`` CHUNK_TOKENS, ``--max-model-len`` from
planner.capacity.launch_max_model_len and ``--max-num-seqs`` the smaller of MAX_NUM_SEQS_CAP and the mean-length
sequences the KV cache holds.

``Plan.p99`` holds the capacity edge (``rate_per_replica_rps`` and the p99s there, what limits it, the mean
running batch), the operating point at the plan's per-replica peak load (``at_peak``), and the replicas the
mean-value model would have run (``mean_value_replicas``, ``replicas_differ`` when they differ by more than one).
``benchmarks/p99_sizing.py`` compares this sizing with the simulator's on a grid of workloads.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import asdict, replace

from planner import capacity_store
from planner.capacity import CHUNK_TOKENS, MAX_NUM_SEQS_CAP, Capacity, capacity_shape, max_model_len
from planner.resize import dep_key, row_key, same_row
from planner.step_model import AnalyticStep, Deployment
from planner.tail import ReplicaTail, TailCapacity, TailPoint, resident_context
from planner.workload import Workload
from profiler.analytic import memory

_MEMO: OrderedDict = OrderedDict()  # (deployment, step, workload shape) -> (Capacity, ReplicaTail, TailCapacity)
_MEMO_SIZE = 256


def engine_cap(mean_value: Capacity, workload: Workload, engine: str = "vllm") -> int:
    """--max-num-seqs of the modelled engine, at most MAX_NUM_SEQS_CAP: the running sequences its KV cache admits.
    vLLM (and SGLang) admit on the prompt's blocks and grow with the output, so the cache holds sequences of the
    mean resident context (planner.tail.resident_context: the prompt and half a size-biased output); TensorRT-LLM's
    GUARANTEED_NO_EVICT reserves each request's prompt + output, so it holds the mean-length sequences beside
    one longest request (`mean_value.max_batch_memory`)."""
    if engine == "trtllm" or not mean_value.kv_capacity_tokens:
        return max(1, min(mean_value.max_batch_memory or 1, MAX_NUM_SEQS_CAP))
    return max(1, min(int(mean_value.kv_capacity_tokens // resident_context(workload)), MAX_NUM_SEQS_CAP))


def _trtllm_memory(dep: Deployment, workload: Workload, mv: Capacity) -> Capacity:
    """`mv` with TensorRT-LLM's KV cache (free_gpu_memory_fraction of what weights and activations leave,
    profiler.analytic.memory.trtllm_kv_capacity_tokens) in place of vLLM's: its token count and the mean-length
    sequences it holds beside one longest request; infeasible when one longest request does not fit."""
    longest = max_model_len(workload.longest_request_tokens, dep.model.max_context)
    kv = memory.trtllm_kv_capacity_tokens(dep.model, dep.gpu, dep.quant, dep.kv_dtype, dep.tp,
                                          max_num_tokens=CHUNK_TOKENS, max_seq_len=longest)
    if kv < longest:
        return Capacity(False, limited_by="memory", reason=f"TensorRT-LLM's KV cache ({kv:,} tokens) cannot hold one "
                        f"{longest:,}-token sequence beside the weights; use more TP, a smaller quant or a larger GPU")
    mean = math.ceil(workload.mean_input_tokens + workload.mean_output_tokens)
    return replace(mv, max_batch_memory=max(1, kv // mean - math.ceil(longest / mean) + 1), kv_capacity_tokens=kv)


def p99_capacity(step, workload: Workload, engine: str = "vllm", dep: Deployment | None = None
                 ) -> tuple[Capacity, ReplicaTail | None, TailCapacity | None]:
    """One replica's capacity at the p99 SLOs (planner.tail), with the model and its answer (None when the
    replica is infeasible before any load: memory, or the SLOs missed by one sequence alone). Under ``trtllm``
    (`dep` given) the KV cache is TensorRT-LLM's; vLLM's otherwise (SGLang is sized like vLLM, planner.engines)."""
    mv, tail, cap = _tail(step, workload, engine, dep)
    if tail is None:
        return mv, None, None
    tc = tail.capacity()
    return _capacity(mv, cap, tc, workload), tail, tc


def _tail(step, workload: Workload, engine: str, dep: Deployment | None) -> tuple[Capacity, ReplicaTail | None, int]:
    """The mean-value capacity (engine memory applied), the tail model built on it (None when infeasible) and the
    engine's --max-num-seqs."""
    from planner.search import mean_value_capacity  # memoised: the search sized the same deployment

    mv = mean_value_capacity(step, workload)
    if mv.feasible and engine == "trtllm" and dep is not None:
        mv = _trtllm_memory(dep, workload, mv)
    if not mv.feasible:
        return mv, None, 0
    cap = engine_cap(mv, workload, engine)
    return mv, ReplicaTail.build(step, workload, cap, CHUNK_TOKENS), cap


def _capacity(mv: Capacity, cap: int, tc: TailCapacity, workload: Workload) -> Capacity:
    """The replica's Capacity at the tail model's answer `tc`."""
    if tc.rate_per_s <= 0:
        p = tc.point
        return Capacity(False, tpot_s=p.tpot_p99_s, ttft_s=p.ttft_p99_s, max_batch_memory=mv.max_batch_memory,
                        limited_by=f"p99 {tc.limited_by}",
                        reason=f"even near idle the p99s miss the SLOs (TTFT {p.ttft_p99_s:.2f} s, TPOT "
                               f"{p.tpot_p99_s * 1e3:.1f} ms): the longest prompts and output bursts set them; "
                               "more TP, a faster GPU or looser SLOs would help")
    rate = tc.rate_per_s
    return Capacity(True, batch=max(1, round(tc.point.running_mean)), tpot_s=tc.point.tpot_p99_s,
                    ttft_s=tc.point.ttft_p99_s, requests_per_s=rate,
                    tokens_out_per_s=rate * workload.mean_output_tokens,
                    max_batch_memory=mv.max_batch_memory, kv_capacity_tokens=mv.kv_capacity_tokens,
                    limited_by=f"p99 {tc.limited_by}", headroom=1.0, max_num_seqs=cap)


class _LazyTail:
    """The tail model of a capacity read back from planner.capacity_store, built on first use (the plan's summary
    reads one point of the chosen deployment's)."""

    def __init__(self, build):
        self._build, self._tail = build, None

    def __getattr__(self, name: str):
        if self._tail is None:
            self._tail = self._build()
        return getattr(self._tail, name)


def _stored(dep: Deployment, step, workload: Workload, engine: str):
    """The p99 capacity of an analytic step model: from planner.capacity_store, else computed and kept there."""
    k = capacity_store.key("p99", engine, dep, capacity_shape(workload))
    rec = capacity_store.get(k)
    if rec is not None:
        tc = rec["tail"] and TailCapacity(rec["tail"]["rate_per_s"], TailPoint(**rec["tail"]["point"]),
                                          rec["tail"]["limited_by"])
        tail = _LazyTail(lambda: _tail(step, workload, engine, dep)[1]) if tc else None
        return Capacity(**rec["capacity"]), tail, tc
    hit = p99_capacity(step, workload, engine, dep)
    capacity_store.put(k, {"capacity": capacity_store.as_record(hit[0]),
                           "tail": None if hit[2] is None else capacity_store.as_record(hit[2])})
    return hit


def _memo_key(dep: Deployment, step, workload: Workload, engine: str) -> tuple:
    return dep, "analytic" if isinstance(step, AnalyticStep) else id(step), capacity_shape(workload), engine


def p99_capacity_fn(workload: Workload, found: dict, engine: str = "vllm"):
    """``capacity_fn(dep, step) -> Capacity`` for planner.plan.make_plan (memoised per process); fills
    ``found[dep_key]`` with (Capacity, ReplicaTail, TailCapacity)."""
    def capacity(dep: Deployment, step) -> Capacity:
        key = _memo_key(dep, step, workload, engine)
        hit = _MEMO.get(key)
        if hit is None:
            hit = (_stored(dep, step, workload, engine) if isinstance(step, AnalyticStep)
                   else p99_capacity(step, workload, engine, dep))
            _MEMO[key] = hit
            while len(_MEMO) > _MEMO_SIZE:
                _MEMO.popitem(last=False)
        found.setdefault(dep_key(dep), hit)
        return hit[0]

    return capacity


def p99_summary(found: dict, chosen: dict, mean_value, workload: Workload, keys: list) -> dict:
    """``Plan.p99`` for the `chosen` row: the capacity edge, the point at the plan's per-replica peak, and the
    replicas the mean-value model (its `mean_value` candidates table) would have run."""
    cap, tail, tc = found[row_key(chosen)]
    replicas = int(chosen["replicas"])
    peak = tail.at(workload.requests_per_s_peak / replicas)
    mean_row = same_row(mean_value, chosen)
    mean_replicas = int(mean_row["replicas"]) if mean_row and mean_row.get("feasible") else None
    return {
        "rate_per_replica_rps": tc.rate_per_s, "ttft_p99_s": tc.point.ttft_p99_s, "tpot_p99_s": tc.point.tpot_p99_s,
        "running_mean_at_capacity": tc.point.running_mean, "limited_by": tc.limited_by,
        "max_num_seqs": cap.max_num_seqs, "max_num_batched_tokens": CHUNK_TOKENS,
        "at_peak": _point(peak), "mean_value_replicas": mean_replicas,
        "replicas_differ": mean_replicas is not None and abs(mean_replicas - replicas) > 1,
        "candidates": [f"{g}/{q}/KV {k}/TP{t}" for g, q, k, t in keys],
    }


def _point(p) -> dict:
    out = asdict(p)
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}
