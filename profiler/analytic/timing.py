"""Analytic step time as a sum of kernels, per GPU of a TP group.

A step is the kernels a serving engine launches (:mod:`profiler.analytic.kernels`: per layer the QKV GEMM,
attention, O GEMM, gate/up and down GEMMs or the router and grouped expert GEMMs, the small elementwise kernels
and the TP all-reduces; per step the embedding gather and the lm_head). Each kernel is timed by its own
roofline, and the step is their sum::

    t_kernel = fixed + max(W_q / (BW x eta_bw x s_bw) + B_plain / (BW x eta_kv x s_bw),
                           F_q / (P_q x eta_c x s_c) + F_plain / (P_bf16 x eta_c x s_c)) + t_allreduce   [s]
    t_step   = t_overhead + sum over kernels of t_kernel

``W_q``: weight bytes in the quant's format (streamed at the quant's GEMV efficiency ``eta_bw``); ``B_plain``:
KV cache, activations and tensors the scheme keeps bf16 (the plain-streaming efficiency ``eta_kv``); ``F``:
FLOPs at the quant's compute dtype (``P_q``) or at bf16; ``s_bw``, ``s_c``: the kernel's shape factors (a small
TP shard of a GEMM, a grouped expert GEMM with few tokens per expert, ... reach less of the peak;
:mod:`profiler.analytic.kernel_efficiency`); ``fixed``: the launch floor of the small kernels (attention and
four elementwise kernels a layer, ``eta.layer_overhead_s`` per layer). Kernels run one after another, so the
KV reads of attention never hide behind the GEMM math (the old ``max`` over the whole step did).

Decode of ``B`` sequences each attending ``L`` tokens: B query tokens, B x sum_layers(min(L, window)) KV reads;
MoE layers read only the experts the batch touches, ``E x (1 - (1 - k/E)^B)``. Prefill of ``B`` prompts of
``T`` tokens: B x T query tokens, causal attention pairs (MLA in the expanded form), logits for the last token.
MBU = bytes / t / datasheet BW; MFU = FLOPs / t / datasheet FLOP/s (gpt-fast ``generate.py``).
Units: bytes, FLOP, seconds. Efficiencies and their sources: :mod:`profiler.analytic.efficiency`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from profiler.analytic.kernels import (
    Kernel,
    StepShape,
    attention_kernels,
    expected_experts_touched,
    pair_flops,
    token_kernels,
)
from profiler.analytic.memory import attended_tokens, check_tp
from profiler.errors import InvalidValueError, UnsupportedQuantError
from profiler.specs import Efficiency, GpuSpec, KvDtype, LayerType, ModelSpec, QuantScheme

__all__ = ["StepEstimate", "KernelTime", "compute_dtype", "check_applies", "expected_experts_touched",
           "attention_flops_per_context_token", "kernel_time", "decode_step", "prefill", "mixed_step",
           "causal_attended", "breakdown_table"]



@dataclass(frozen=True)
class KernelTime:
    """One kernel of a step, timed. Seconds, bytes, FLOP; m, kv, c are its roofline terms at unit efficiency."""

    op: str
    launches: int
    bytes: float
    flops: float
    m: float  # weight bytes in the quant's format / (BW x s_bw)
    kv: float  # plain bytes (KV, activations, bf16-kept weights) / (BW x s_bw)
    c: float  # FLOPs / (peak x s_c)
    fixed_s: float  # launch floor + collective time (not scaled by an efficiency)
    time_s: float
    bound: str  # "memory", "compute", "communication" (all-reduce) or "latency" (launch floor only)


@dataclass(frozen=True)
class StepEstimate:
    """One step's predicted cost on one GPU, and its kernels. Seconds, bytes, FLOP."""

    latency_s: float
    bytes_moved: float
    flops: float
    t_memory_s: float  # time of the memory-bound kernels (their roofline part)
    t_compute_s: float  # time of the compute-bound kernels (their roofline part)
    t_comm_s: float  # all-reduces
    mbu: float
    mfu: float
    t_fixed_s: float = 0.0  # step overhead excluded: launch floors of the small kernels
    kernels: tuple[KernelTime, ...] = ()

    @property
    def bound(self) -> str:
        return "memory" if self.t_memory_s >= self.t_compute_s else "compute"


def compute_dtype(gpu: GpuSpec, quant: QuantScheme) -> str:
    """The GEMM dtype a quant runs in on this GPU; raises when the GPU lacks what the scheme needs."""
    if quant.requires and not gpu.supports(quant.requires):
        able = "bf16, int8 or int4" if quant.requires == "fp8" else "bf16"
        raise UnsupportedQuantError(f"{quant.id} needs native {quant.requires} support, which {gpu.name} "
                                    f"lacks; use {able} on this GPU")
    return quant.compute_dtype if gpu.supports(quant.compute_dtype) else "bf16"


def check_applies(model: ModelSpec, quant: QuantScheme) -> None:
    """Raise when a scheme would quantise nothing of this model (mxfp4 quantises MoE experts only)."""
    if model.moe is None and {"attention", "mlp"} <= quant.keep:
        raise UnsupportedQuantError(f"{quant.id} quantises MoE expert weights only and {model.name} has no experts, "
                                    "so every weight would stay bf16; use int4 (4.25 bits) or fp8 instead")


def attention_flops_per_context_token(model: ModelSpec, tp: int, absorbed: bool = True) -> float:
    """FLOPs per (query token, attended token, layer) on one GPU: QK^T and PV as multiply-adds.

    MLA is run two ways (vLLM ``vllm/v1/attention/backends/mla/common.py``, after the DeepSeek-V2 paper,
    arXiv 2405.04434, and FlashInfer PR #551): decode in the weight-absorbed, data-movement-friendly form
    (``absorbed=True``: scores over the ``kv_lora_rank`` latent + rope dims, values over the latent, per
    query head), prefill in the compute-friendly form (``absorbed=False``: the latent expanded by kv_b_proj
    into per-head keys of nope + rope dims and values of ``v_head_dim``, then ordinary multi-head
    attention). The expansion and absorption matmuls are kv_b_proj's parameters, counted once per token in
    the body either way.
    """
    return pair_flops(model, tp, absorbed)


def kernel_time(k: Kernel, gpu: GpuSpec, dtype: str, eff: Efficiency) -> KernelTime:
    """One kernel's roofline under `eff` (module docstring)."""
    bw = gpu.hbm_bandwidth_bytes_per_s * k.bw_scale
    m, kv = k.weight_bytes / bw, (k.plain_bytes + k.activation_bytes) / bw
    c = (k.flops / gpu.peak_flops(dtype) + k.plain_flops / gpu.peak_flops("bf16")) / k.compute_scale
    fixed = k.floor_layers * eff.layer_overhead_s + k.comm_s
    memory, compute = m / eff.bandwidth + kv / eff.kv_bandwidth, c / eff.compute
    bound = "latency" if memory == compute == 0.0 else "memory" if memory >= compute else "compute"
    return KernelTime(k.op, k.launches, k.bytes, k.total_flops, m, kv, c, fixed, fixed + max(memory, compute),
                      "communication" if k.comm_s else bound)


@lru_cache(maxsize=65536)
def _token_times(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme, tp: int, eff: Efficiency, tokens: int,
                 seqs: int) -> tuple[KernelTime, ...]:
    """The timed kernels that depend only on the step's tokens and sequences (memoised: a simulation asks for
    the same few token counts at many contexts)."""
    dtype = compute_dtype(gpu, quant)
    return tuple(kernel_time(k, gpu, dtype, eff)
                 for k in token_kernels(model, gpu, quant, tp, tokens, seqs, dtype, eff.allreduce))


def _estimate(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme, kv_dtype: KvDtype, tp: int, eff: Efficiency,
              shape: StepShape) -> StepEstimate:
    check_tp(model, tp)
    dtype = compute_dtype(gpu, quant)
    times = (*(kernel_time(k, gpu, dtype, eff) for k in attention_kernels(model, gpu, kv_dtype, tp, shape)),
             *_token_times(model, gpu, quant, tp, eff, shape.tokens, shape.seqs))
    latency = eff.step_overhead_s + sum(t.time_s for t in times)
    comm = sum(t.fixed_s for t in times if t.op == "allreduce")
    fixed = sum(t.fixed_s for t in times) - comm
    t_mem = sum(t.time_s - t.fixed_s for t in times if t.bound == "memory")
    t_comp = sum(t.time_s - t.fixed_s for t in times if t.bound == "compute")
    nbytes, flops = sum(t.bytes for t in times), sum(t.flops for t in times)
    return StepEstimate(latency_s=latency, bytes_moved=nbytes, flops=flops, t_memory_s=t_mem, t_compute_s=t_comp,
                        t_comm_s=comm, mbu=nbytes / latency / gpu.hbm_bandwidth_bytes_per_s,
                        mfu=flops / latency / gpu.peak_flops(dtype), t_fixed_s=fixed, kernels=times)


def _check(batch: int, tokens: int, what: str) -> None:
    if batch < 1 or tokens < 1:
        raise InvalidValueError(f"{what}: batch and length must be >= 1 (got batch={batch}, length={tokens})")


def decode_step(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme, kv_dtype: KvDtype, tp: int, batch: int,
                context: int, eff: Efficiency, attended: int | None = None) -> StepEstimate:
    """One decode step: `batch` sequences, each attending `context` tokens (or `attended`, e.g. an HF
    static cache's max_cache_len), one new token each."""
    _check(batch, context, "decode")
    pairs = batch * attended_tokens(model, attended or context)  # summed over layers
    return _estimate(model, gpu, quant, kv_dtype, tp, eff, StepShape(batch, batch, pairs, 0.0, 0.0))


def causal_attended(model: ModelSpec, prompt: int) -> float:
    """Sum over layers and query positions of attended tokens in a causal prefill of `prompt` tokens."""
    att = model.attention
    full = prompt * (prompt + 1) / 2
    total = 0.0
    for i in range(model.num_layers):
        w = att.sliding_window if att.layer_type(i) is LayerType.SLIDING else None
        if w and w < prompt:
            total += w * (w + 1) / 2 + (prompt - w) * w
        else:
            total += full
    return total


def prefill(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme, kv_dtype: KvDtype, tp: int, batch: int,
            prompt: int, eff: Efficiency) -> StepEstimate:
    """Prefill of `batch` prompts of `prompt` tokens from an empty cache, logits for the last position only."""
    _check(batch, prompt, "prefill")
    shape = StepShape(batch * prompt, batch, 0.0, batch * causal_attended(model, prompt), 0.0)
    return _estimate(model, gpu, quant, kv_dtype, tp, eff, shape)


def mixed_step(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme, kv_dtype: KvDtype, tp: int,
               eff: Efficiency, prefill_tokens: int, decode_seqs: int, context_tokens: int,
               prefill_context: int | None = None, prefill_pairs: float | None = None) -> StepEstimate:
    """A continuous-batching engine step: `prefill_tokens` chunked-prefill tokens plus `decode_seqs` decodes,
    `context_tokens` KV tokens in the step summed over its sequences (a decode counts its context including
    the new token, the prefill chunk its cached prefix plus itself), per layer, full-attention equivalent.

    When the caller knows the chunks (the simulator does), ``prefill_context`` is their share of
    `context_tokens` (each chunk's cached prefix plus itself) and ``prefill_pairs`` their causal (query, key)
    pairs, ``sum n_i c_i + n_i (n_i + 1) / 2`` for chunks of ``n_i`` tokens after ``c_i`` cached ones: exact for
    any mix of chunks (a prompt's tail and the next prompt's head in one step attend their own prefixes only).
    Without them only the total is known, so the chunks are taken as one holding the mean share
    ``context / seqs`` (counting as one sequence): its cached prefix ``C = share - P`` (>= 0) and causal pairs
    ``P x C + P (P + 1) / 2``; the decodes attend the rest. Exact for a decode-only step and for a lone chunk.
    """
    tokens = prefill_tokens + decode_seqs
    if tokens < 1:
        raise InvalidValueError("an engine step needs at least one token")
    layers = model.num_layers
    seqs = decode_seqs + (1 if prefill_tokens else 0)
    p = prefill_tokens
    if p and prefill_context is not None and prefill_pairs is not None:
        share, cached, pairs = float(prefill_context), max(prefill_context - p, 0.0), float(prefill_pairs)
    else:
        share = context_tokens / seqs if prefill_tokens else 0.0
        cached = max(share - p, 0.0)
        pairs = p * cached + p * (p + 1) / 2
    prefill_pairs = pairs * layers if p else 0.0
    decode_pairs = max(context_tokens - share, 0.0) * layers
    shape = StepShape(tokens, seqs, decode_pairs, prefill_pairs, cached * layers)
    return _estimate(model, gpu, quant, kv_dtype, tp, eff, shape)


BREAKDOWN_COLUMNS = ("op", "launches", "time_ms", "time_per_layer_us", "share", "bytes", "flops", "bound")


def breakdown_table(est: StepEstimate, layers: int) -> pd.DataFrame:
    """Per-op rows of a step (columns BREAKDOWN_COLUMNS): time in ms, per decoder layer in us, share of the
    step, bytes and FLOPs on one GPU, and what bounds it. The step overhead is its own row."""
    rows = [{"op": k.op, "launches": k.launches, "time_ms": k.time_s * 1e3,
             "time_per_layer_us": k.time_s * 1e6 / (layers if k.launches >= layers else 1),
             "share": k.time_s / est.latency_s, "bytes": k.bytes, "flops": k.flops, "bound": k.bound}
            for k in est.kernels]
    over = est.latency_s - sum(k.time_s for k in est.kernels)
    rows.append({"op": "step_overhead", "launches": 1, "time_ms": over * 1e3, "time_per_layer_us": over * 1e6,
                 "share": over / est.latency_s, "bytes": 0.0, "flops": 0.0, "bound": "latency"})
    return pd.DataFrame(rows, columns=list(BREAKDOWN_COLUMNS))
