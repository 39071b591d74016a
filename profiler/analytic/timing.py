"""Analytic roofline timing of prefill and decode steps, per GPU of a TP group.

Decode step of ``B`` sequences each attending ``L`` tokens (measurement.md §6.3)::

    bytes  = W_read + B x sum_layers(min(L, window)) x kv_layer_bytes + B x kv_token_bytes   [B]
    W_read = all weights but the embedding table (+ B gathered rows); MoE layers read only the
             experts the batch touches: E_touched = E x (1 - (1 - k/E)^B) per layer            [B]
    flops  = 2 x N_matmul_active x B + attention(B, L)                                        [FLOP]
    t      = t_overhead + n_layers x t_layer + max(W_read / (BW x eta_bw) + KV / (BW x eta_kv),
             flops / (F x eta_c)) + t_allreduce                                              [s]

``eta_bw`` is the weight-streaming efficiency of the quant's GEMV kernels (int4 dequantisation is slower
per byte than bf16), applied to the quantised tensors only; ``eta_kv`` is the plain-streaming efficiency,
applied to the KV cache and to the tensors the scheme keeps in bf16 (embedding gather, lm_head, router,
norms; for mxfp4 also attention), the same whatever the weight format (:mod:`profiler.analytic.efficiency`).
So a quantised model is never predicted slower than its bf16 twin merely because bytes it does not
quantise were charged at the GEMV rate.

Prefill of ``B`` prompts of ``T`` tokens (logits for the last token only)::

    flops  = 2 x N_active_body x B x T + 2 x N_lm_head x B + causal attention(B, T)
             (MLA: prefill attends in the expanded multi-head form, decode in the absorbed latent form)
    bytes  = W_read(touched experts for B x T tokens) + B x T x kv_token_bytes
    t      = t_overhead + max(bytes / (BW x eta_bw), flops / (F x eta_c)) + t_allreduce

Tensor parallelism: 2 all-reduces per layer (after attention and after the MLP) of the step's
activations, ring algorithm: ``2 (tp-1)/tp x msg / (link x eta_link) + latency`` each.
MBU = bytes / t / datasheet BW; MFU = flops / t / datasheet FLOP/s (gpt-fast ``generate.py``).
Units: bytes, FLOP, seconds. Efficiencies and their sources: :mod:`profiler.analytic.efficiency`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from profiler.analytic.efficiency import COLLECTIVE_LATENCY_S
from profiler.analytic.memory import (
    ACTIVATION_BYTES,
    attended_tokens,
    check_tp,
    kv_bytes_per_token,
    kv_bytes_per_token_layer,
)
from profiler.analytic.params import param_counts
from profiler.analytic.weights import weight_bytes_by_kind
from profiler.errors import InvalidValueError, UnsupportedQuantError
from profiler.specs import Efficiency, GpuSpec, KvDtype, LayerType, ModelSpec, QuantScheme


@dataclass(frozen=True)
class StepEstimate:
    """One step's predicted cost on one GPU. Seconds, bytes, FLOP."""

    latency_s: float
    bytes_moved: float
    flops: float
    t_memory_s: float  # weights + KV, each at its own efficiency
    t_compute_s: float
    t_comm_s: float
    mbu: float
    mfu: float
    t_kv_s: float = 0.0  # the part of t_memory_s streamed at the plain rate: KV cache and weights kept bf16
    t_fixed_s: float = 0.0  # layers x per-layer floor (included in latency_s)

    @property
    def bound(self) -> str:
        return "memory" if self.t_memory_s >= self.t_compute_s else "compute"


@lru_cache(maxsize=4096)
def _weights(model: ModelSpec, quant: QuantScheme, tp: int) -> dict[str, int]:
    return weight_bytes_by_kind(model, quant, tp)


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


def expected_experts_touched(num_experts: int, top_k: int, tokens: int) -> float:
    """E x (1 - (1 - k/E)^tokens): distinct experts hit by `tokens` uniformly routed tokens."""
    return num_experts * (1.0 - (1.0 - top_k / num_experts) ** tokens)


# Tensor kinds no scheme quantises (profiler.specs.TENSOR_KINDS; quants.yaml header).
NEVER_QUANTISED = frozenset({"norm", "bias", "sink"})


def weight_bytes_read_split(model: ModelSpec, quant: QuantScheme, tp: int, tokens: int) -> tuple[float, float]:
    """(bytes in the quant's format, bytes kept plain bf16) one GPU streams in a step of `tokens` tokens.

    A 16-bit scheme streams everything in its own format. Otherwise the kinds in ``quant.keep`` (embedding,
    lm_head, router, ...), norms and biases are plain bf16 reads, timed at the plain-streaming efficiency,
    not at the quant's dequantising-GEMV rate.
    """
    w = dict(_weights(model, quant, tp))
    if not model.tie_word_embeddings:  # the table is only gathered: B rows, not all of it
        w["embedding"] = tokens * model.hidden_size * ACTIVATION_BYTES / tp
    if model.moe and w.get("expert"):
        touched = expected_experts_touched(model.moe.num_experts, model.moe.top_k, tokens)
        w["expert"] = w["expert"] * touched / model.moe.num_experts
    if quant.weight_bits >= 16:
        return float(sum(w.values())), 0.0
    plain = quant.keep | NEVER_QUANTISED
    return (float(sum(v for k, v in w.items() if k not in plain)),
            float(sum(v for k, v in w.items() if k in plain)))


def weight_bytes_read(model: ModelSpec, quant: QuantScheme, tp: int, tokens: int) -> float:
    """Weight bytes one GPU streams in a step processing `tokens` tokens."""
    return sum(weight_bytes_read_split(model, quant, tp, tokens))


def matmul_params_per_token(model: ModelSpec, tp: int) -> tuple[float, float]:
    """(body, lm_head) parameters multiplied per token on one GPU; experts at top-k."""
    counts = param_counts(model)
    head = model.vocab_size * model.hidden_size
    body = counts.active - counts.embedding - counts.lm_head
    return body / tp, head / tp


def attention_flops_per_context_token(model: ModelSpec, tp: int, absorbed: bool = True) -> float:
    """FLOPs per (query token, attended token, layer) on one GPU: QK^T and PV as multiply-adds.

    MLA is run two ways (vLLM ``vllm/v1/attention/backends/mla/common.py``, after the DeepSeek-V2 paper,
    arXiv 2405.04434, and FlashInfer PR #551): decode in the weight-absorbed, data-movement-friendly form
    (``absorbed=True``: scores over the ``kv_lora_rank`` latent + rope dims, values over the latent, per
    query head), prefill in the compute-friendly form (``absorbed=False``: the latent expanded by kv_b_proj
    into per-head keys of nope + rope dims and values of ``v_head_dim``, then ordinary multi-head
    attention). The expansion and absorption matmuls are kv_b_proj's parameters, counted once per token in
    the body either way. :func:`mixed_step` (the planner's engine step) keeps the absorbed form throughout.
    """
    att = model.attention
    heads = att.num_heads / tp
    if att.is_mla and absorbed:
        return 2.0 * heads * (2 * att.kv_lora_rank + att.qk_rope_head_dim)
    return 2.0 * heads * (att.qk_head_dim + att.v_dim)


def allreduce_s(model: ModelSpec, gpu: GpuSpec, eff: Efficiency, tp: int, tokens: int) -> float:
    """Two ring all-reduces per layer of `tokens` x hidden bf16 activations."""
    if tp == 1:
        return 0.0
    msg = tokens * model.hidden_size * ACTIVATION_BYTES
    one = 2 * (tp - 1) / tp * msg / (gpu.interconnect_bytes_per_s * eff.interconnect) + COLLECTIVE_LATENCY_S[0]
    return 2 * model.num_layers * one


def _finish(gpu: GpuSpec, dtype: str, eff: Efficiency, weight_bytes: float, plain_bytes: float, flops: float,
            comm: float, layers: int = 0) -> StepEstimate:
    """`weight_bytes` stream at the quant's efficiency; `plain_bytes` (KV cache, weights kept bf16) at the
    plain-streaming one (``eff.kv_bandwidth``)."""
    nbytes = weight_bytes + plain_bytes
    t_kv = plain_bytes / (gpu.hbm_bandwidth_bytes_per_s * eff.kv_bandwidth)
    t_mem = weight_bytes / (gpu.hbm_bandwidth_bytes_per_s * eff.bandwidth) + t_kv
    t_comp = flops / (gpu.peak_flops(dtype) * eff.compute)
    fixed = layers * eff.layer_overhead_s  # the per-layer floor of a step (efficiency.LAYER_OVERHEAD_S)
    latency = eff.step_overhead_s + fixed + max(t_mem, t_comp) + comm
    return StepEstimate(
        latency_s=latency, bytes_moved=nbytes, flops=flops, t_memory_s=t_mem, t_compute_s=t_comp,
        t_comm_s=comm, mbu=nbytes / latency / gpu.hbm_bandwidth_bytes_per_s,
        mfu=flops / latency / gpu.peak_flops(dtype), t_kv_s=t_kv, t_fixed_s=fixed,
    )


def _check(batch: int, tokens: int, what: str) -> None:
    if batch < 1 or tokens < 1:
        raise InvalidValueError(f"{what}: batch and length must be >= 1 (got batch={batch}, length={tokens})")


def decode_step(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme, kv_dtype: KvDtype, tp: int, batch: int,
                context: int, eff: Efficiency, attended: int | None = None) -> StepEstimate:
    """One decode step: `batch` sequences, each attending `context` tokens (or `attended`, e.g. an HF
    static cache's max_cache_len), one new token each."""
    _check(batch, context, "decode")
    check_tp(model, tp)
    dtype = compute_dtype(gpu, quant)
    ctx = attended_tokens(model, attended or context)  # summed over layers
    kv_layer = kv_bytes_per_token_layer(model, kv_dtype, tp)
    weights, kept = weight_bytes_read_split(model, quant, tp, batch)
    kv = kept + batch * ctx * kv_layer + batch * kv_bytes_per_token(model, kv_dtype, tp)
    body, head = matmul_params_per_token(model, tp)
    flops = 2.0 * (body + head) * batch + attention_flops_per_context_token(model, tp) * batch * ctx
    return _finish(gpu, dtype, eff, weights, kv, flops, allreduce_s(model, gpu, eff, tp, batch), model.num_layers)


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
    """Prefill of `batch` prompts of `prompt` tokens, logits for the last position only."""
    _check(batch, prompt, "prefill")
    check_tp(model, tp)
    dtype = compute_dtype(gpu, quant)
    tokens = batch * prompt
    weights, kept = weight_bytes_read_split(model, quant, tp, tokens)
    kv = kept + tokens * kv_bytes_per_token(model, kv_dtype, tp)
    body, head = matmul_params_per_token(model, tp)
    flops = (2.0 * body * tokens + 2.0 * head * batch
             + attention_flops_per_context_token(model, tp, absorbed=False) * batch
             * causal_attended(model, prompt))
    return _finish(gpu, dtype, eff, weights, kv, flops, allreduce_s(model, gpu, eff, tp, tokens),
                   model.num_layers)


def mixed_step(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme, kv_dtype: KvDtype, tp: int,
               eff: Efficiency, prefill_tokens: int, decode_seqs: int, context_tokens: int) -> StepEstimate:
    """A continuous-batching engine step: `prefill_tokens` chunked-prefill tokens plus `decode_seqs`
    decodes, attending `context_tokens` KV tokens in total (per layer, full-attention equivalent)."""
    tokens = prefill_tokens + decode_seqs
    if tokens < 1:
        raise InvalidValueError("an engine step needs at least one token")
    check_tp(model, tp)
    dtype = compute_dtype(gpu, quant)
    kv_layer = kv_bytes_per_token_layer(model, kv_dtype, tp)
    weights, kept = weight_bytes_read_split(model, quant, tp, tokens)
    kv = kept + context_tokens * model.num_layers * kv_layer + tokens * kv_bytes_per_token(model, kv_dtype, tp)
    body, head = matmul_params_per_token(model, tp)
    seqs = decode_seqs + (1 if prefill_tokens else 0)
    flops = (2.0 * body * tokens + 2.0 * head * seqs
             + attention_flops_per_context_token(model, tp) * context_tokens * model.num_layers)
    return _finish(gpu, dtype, eff, weights, kv, flops, allreduce_s(model, gpu, eff, tp, tokens),
                   model.num_layers)
