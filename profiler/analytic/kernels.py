"""The kernels one engine step launches on one GPU of a TP group: their bytes, FLOPs and launches.

A step processes ``tokens`` query tokens (prefill-chunk tokens plus one per decoding sequence) of ``seqs``
sequences. Per decoder layer a serving engine launches (vLLM ``vllm/model_executor/models/llama.py``,
``deepseek_v2.py``, ``layers/fused_moe``; one fused kernel per line)::

    op             kernel                                    bytes read+written (one rank)      FLOPs
    qkv            QKVParallelLinear (MLA: fused q_a+kv_a,   W + tokens x (in + out) x 2 B      2 x tokens x N
                   q_b, kv_b) GEMMs
    attention      FlashAttention / paged decode attention   KV read + new KV written           pairs x per-pair
    o_proj         RowParallelLinear GEMM                    as qkv                             as qkv
    allreduce      after attention and after the MLP (TP)    ring: kernel_efficiency or a       -
                                                             calibrated line (collective_fit)
    gate_up, down  MergedColumnParallel / RowParallel GEMMs  as qkv                             as qkv
    router         MoE gate GEMM + top-k                     as qkv                             as qkv
    experts        fused-MoE grouped GEMMs (w13, w2) over    touched experts' W + activations   2 x tokens x k x N_e
                   the experts the step's tokens touch
    shared_expert  the always-on expert's GEMMs              as qkv                             as qkv
    layer_misc     fused add+RMSNorm x 2, rotary, SiLU x mul activation traffic                 -

and once per step: the embedding gather, the final norm and the lm_head over one row per sequence.

Each kernel carries the quantities its roofline needs (:func:`profiler.analytic.timing.kernel_time`): weight
bytes in the quant's format, plain bytes (KV cache, activations, tensors the scheme keeps bf16), FLOPs at the
quant's compute dtype and at bf16 (tensors kept bf16), and shape factors (<= 1) that scale the large-kernel
efficiencies for this kernel's size (:mod:`profiler.analytic.kernel_efficiency`). Units: bytes, FLOP, seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

from profiler.analytic import collective_fit
from profiler.analytic import kernel_efficiency as ke
from profiler.analytic.memory import kv_bytes_per_token_layer
from profiler.analytic.params import TensorGroup, tensor_inventory
from profiler.analytic.weights import _rank_shape, group_bytes, kept_layers
from profiler.specs import GpuSpec, KvDtype, ModelSpec, QuantScheme

ACTIVATION_BYTES = 2  # bf16 activations between kernels
# Per layer, besides the GEMMs and attention: two fused residual-add + RMSNorm, rotary, SiLU x mul (vLLM
# layernorm.py fused_add_rms_norm, rotary_embedding.py, activation.py SiluAndMul): each reads and writes the
# token's hidden (norms: residual too) or the MLP intermediate. Activation bytes per token per layer:
#   norms 2 x (read x + residual, write both) = 8 H; rotary ~ read+write q,k; SiLU x mul read 2 I, write I.
MISC_HIDDEN_PASSES = 8  # x hidden per token per layer (the two fused add+norms), design count
MISC_INTER_PASSES = 3  # x intermediate-per-rank per token per layer (SiLU x mul), design count
MISC_LAUNCHES_PER_LAYER = 4  # the small kernels above (vLLM llama.py decoder layer, design count)
# fused MoE's small non-GEMM kernels per layer besides the router's top-k: moe_align_block_size and the moe_sum of
# the top-k outputs (vLLM layers/fused_moe/fused_moe.py, design count); each pays a tiny kernel's floor
MOE_SMALL_LAUNCHES_PER_LAYER = 2
COMPUTE_FIT_MIN_ROWS = 64  # kernel_efficiency.GEMM_COMPUTE_FIT was fitted on rows with m >= 64
MIN_SCALE = 1e-3  # shape factors are floored here so a degenerate shape (0 bytes) never divides by zero


@dataclass(frozen=True)
class Kernel:
    """One op of a step, all its launches together, on one GPU (bytes, FLOP)."""

    op: str
    launches: int  # kernel launches per step (layers it runs in x launches per layer)
    weight_bytes: float = 0.0  # weights in the quant's format (streamed at the quant's bandwidth efficiency)
    plain_bytes: float = 0.0  # KV cache and weights kept bf16 (the plain-streaming efficiency)
    activation_bytes: float = 0.0  # activations read and written (plain streaming; not in MBU's bytes)
    flops: float = 0.0  # at the quant's compute dtype
    plain_flops: float = 0.0  # at bf16 (the GEMMs of tensors the scheme keeps bf16)
    bw_scale: float = 1.0  # this kernel's bandwidth efficiency relative to a large streaming GEMM
    compute_scale: float = 1.0  # its compute efficiency relative to a large GEMM
    floor_layers: float = 0.0  # layer-equivalents charged the small kernels' per-layer floor (eta.layer_overhead_s,
    #   MISC_LAUNCHES_PER_LAYER launches a layer): the misc kernels 1 per layer, fused MoE's routing kernels 2/4
    comm_s: float = 0.0  # collective time (all-reduce), not scaled by any efficiency

    @property
    def bytes(self) -> float:
        """Weights and KV cache: the bytes MBU counts (gpt-fast's convention; activations excluded)."""
        return self.weight_bytes + self.plain_bytes

    @property
    def traffic(self) -> float:
        """Every byte the kernel moves, activations included."""
        return self.weight_bytes + self.plain_bytes + self.activation_bytes

    @property
    def total_flops(self) -> float:
        return self.flops + self.plain_flops


@dataclass(frozen=True)
class StepShape:
    """What a step processes, summed over its sequences (see the module docstring)."""

    tokens: int  # query tokens: prefill-chunk tokens + decode sequences
    seqs: int  # sequences whose last token gets logits (lm_head rows)
    decode_pairs: float  # sum over layers of (decode query, attended token) pairs: the KV decode reads
    prefill_pairs: float  # sum over layers of causal (prefill query, attended token) pairs
    prefill_kv_read: float  # sum over layers of KV tokens prefill attention reads from the cache (cached prefix)


# ------------------------------------------------------------------------------------------------
# Shape-dependent efficiency (relative to a large kernel) and collectives: kernel_efficiency's curves
# ------------------------------------------------------------------------------------------------


def gemm_bandwidth_scale(bytes_per_launch: float, gpu: GpuSpec) -> float:
    """A GEMM's streaming efficiency relative to a very large one: b / (b + b_half) (the launch floor t0)."""
    eta = ke.gemm_bandwidth_efficiency(bytes_per_launch, gpu.id, gpu.hbm_bandwidth_bytes_per_s)
    return max(eta / ke.gemm_bandwidth_ceiling(gpu.id), MIN_SCALE)


def gemm_compute_scale(rows: int, n: int, k: int, dtype: str, gpu: GpuSpec) -> float:
    """A GEMM's compute efficiency relative to the family's large-GEMM ceiling, for its (rows x k) @ (k x n).

    The fit covers compute-bound GEMMs of at least COMPUTE_FIT_MIN_ROWS rows; fewer rows take that efficiency
    (such GEMMs are memory-bound: their small-row falloff is the weight streaming, timed by the memory term)."""
    eta = ke.gemm_compute_efficiency(max(rows, COMPUTE_FIT_MIN_ROWS), n, k, dtype, gpu.id)
    return max(eta / ke.gemm_compute_ceiling(dtype, gpu.id), MIN_SCALE)


def grouped_bandwidth_scale(touched_bytes_per_launch: float, gpu: GpuSpec) -> float:
    """Fused-MoE weight streaming: the dense curve at the touched experts' bytes x the grouped multiplier."""
    return gemm_bandwidth_scale(touched_bytes_per_launch, gpu) * ke.grouped_gemm_efficiency(1.0, gpu.id).bandwidth


def grouped_compute_scale(rows_per_expert: float, gpu: GpuSpec) -> float:
    """Fused-MoE compute with few tokens per expert, relative to the dense bf16 ceiling.

    The fitted falloff ``tpe / (tpe + tpe_half)`` is where the grouped GEMM turns from streaming- to math-bound,
    which happens at the GPU's ridge point (FLOP/s per byte/s); the fit's GPU is H100/H200/B200, so tokens per
    expert are rescaled by the ratio of that GPU's ridge to this one's before the curve is read."""
    ridge = gpu.peak_flops("bf16") / gpu.hbm_bandwidth_bytes_per_s
    tpe = rows_per_expert * ke.grouped_fit_ridge(gpu.id) / ridge
    eta = ke.grouped_gemm_efficiency(tpe, gpu.id).compute
    return max(eta / ke.gemm_compute_ceiling("bf16", gpu.id), MIN_SCALE)


def attention_bandwidth_scale(kv_bytes_per_seq_layer: float, batch: int, gpu: GpuSpec) -> float:
    """Decode attention's KV streaming relative to a large streaming GEMM (FlashAttention decode curve)."""
    eta = ke.attention_decode_bandwidth_efficiency(kv_bytes_per_seq_layer, batch, gpu.id)
    return max(eta / ke.gemm_bandwidth_ceiling(gpu.id), MIN_SCALE)


def attention_compute_scale(gpu: GpuSpec) -> float:
    """Prefill (FlashAttention) compute relative to the large-GEMM ceiling (kernel_efficiency.ATTENTION_PREFILL)."""
    return ke.attention_prefill_compute_efficiency(gpu.id) / ke.gemm_compute_ceiling("bf16", gpu.id)


def allreduce_time_s(message_bytes: float, tp: int, gpu: GpuSpec,
                     lines: tuple[tuple[int, float, float], ...] = ()) -> float:
    """One all-reduce [s]: on the calibrated line of the largest fitted tp <= `tp` (`lines`: Efficiency.allreduce,
    collective_fit.ring_time_s), else the catalogue's time for the GPU's interconnect."""
    line = collective_fit.line_for(lines, tp) if tp > 1 else None
    if line is not None:
        return collective_fit.ring_time_s(message_bytes, tp, line[1], line[2])
    return ke.allreduce_time_s(message_bytes, tp, gpu.interconnect)


# ------------------------------------------------------------------------------------------------
# Weight GEMMs
# ------------------------------------------------------------------------------------------------

# op of each linear tensor group, by the group's name (profiler.analytic.params.tensor_inventory)
_OP_BY_NAME = (
    (".shared_experts.", "shared_expert"), (".experts.", "experts"), ("mlp.gate.", "router"),
    ("shared_expert_gate", "router"), ("self_attn.o_proj", "o_proj"), ("self_attn.", "qkv"),
    ("mlp.down_proj", "down"), ("mlp.", "gate_up"), ("lm_head", "lm_head"), ("embed_tokens", "embedding"),
)
# kernel launches per layer of each op: vLLM fuses q, k, v into one GEMM and gate, up into one; MLA runs fused
# q_a + kv_a, q_b, and kv_b's absorbed halves (before and after attention); fused MoE launches w13 and w2 plus
# the routing/align kernels; the router is one GEMM + a top-k.
LAUNCHES_PER_LAYER = {"qkv": 1, "qkv_mla": 4, "o_proj": 1, "gate_up": 1, "down": 1, "router": 2, "experts": 4,
                      "shared_expert": 2}


def op_of(group: TensorGroup) -> str | None:
    """The op a linear tensor group belongs to (None: not a GEMM weight)."""
    if not group.linear:
        return None
    return next((op for key, op in _OP_BY_NAME if key in group.name), None)


@dataclass(frozen=True)
class GemmWeights:
    """One op's weights on one rank, summed over layers (bytes) and its multiply-adds per token."""

    op: str
    layers: int  # decoder layers it runs in (1 for the lm_head)
    quant_bytes: int  # stored in the quant's format
    plain_bytes: int  # kept bf16 (the scheme's `keep`)
    quant_params: float  # parameters per rank, all layers (experts: all experts)
    plain_params: float
    act_per_token: float  # activation elements read + written per token (inputs + outputs, all layers)
    n: int  # output features per rank of the op's widest tensor (GEMM shape for the compute efficiency)
    k: int  # input features per rank


@lru_cache(maxsize=1024)
def gemm_weights(model: ModelSpec, quant: QuantScheme, tp: int) -> tuple[GemmWeights, ...]:
    """Every GEMM op's weights on one rank; experts hold all experts (the step reads the touched ones)."""
    acc: dict[str, dict] = {}
    kept = kept_layers(model, quant)
    for group in tensor_inventory(model):
        op = op_of(group)
        if op is None:
            continue
        q, p = group_bytes(group, model, quant, tp, kept)
        numel, cols = _rank_shape(group, model, tp)
        rows = numel // cols
        a = acc.setdefault(op, {"layers": 0, "q": 0, "p": 0, "qp": 0.0, "pp": 0.0, "act": 0.0, "n": 0, "k": 0})
        a["layers"] = max(a["layers"], _layers_of(group, model))
        a["q"] += q
        a["p"] += p
        a["qp"] += numel * group.count * q / (q + p) if q + p else 0.0
        a["pp"] += numel * group.count * p / (q + p) if q + p else 0.0
        a["act"] += (cols + rows) * group.count
        a["n"] = max(a["n"], rows)
        a["k"] = max(a["k"], cols)
    return tuple(GemmWeights(op, a["layers"], a["q"], a["p"], a["qp"], a["pp"], a["act"], a["n"], a["k"])
                 for op, a in acc.items())


def _layers_of(group: TensorGroup, model: ModelSpec) -> int:
    if not group.per_layer:
        return 1
    if model.moe and op_of(group) == "experts":
        return group.count // model.moe.num_experts
    return group.count


def expected_experts_touched(num_experts: int, top_k: int, tokens: int) -> float:
    """E x (1 - (1 - k/E)^tokens): distinct experts hit by `tokens` uniformly routed tokens."""
    return num_experts * (1.0 - (1.0 - top_k / num_experts) ** tokens)


def _gemm_kernel(w: GemmWeights, model: ModelSpec, gpu: GpuSpec, rows: int, dtype: str) -> Kernel:
    """A dense weight GEMM over `rows` token rows (the lm_head: one per sequence)."""
    mla = w.op == "qkv" and model.attention.is_mla
    launches = w.layers * LAUNCHES_PER_LAYER.get("qkv_mla" if mla else w.op, 1)
    activations = rows * w.act_per_token * ACTIVATION_BYTES
    # the launch floor t0 is paid once per launch whatever the bytes are: the curve is read at all the bytes a
    # launch moves (a small weight over many rows, such as a MoE router at large batch, streams its activations)
    per_launch = (w.quant_bytes + w.plain_bytes + activations) / launches
    return Kernel(w.op, launches, weight_bytes=w.quant_bytes,
                  plain_bytes=w.plain_bytes, activation_bytes=activations,
                  flops=2.0 * w.quant_params * rows, plain_flops=2.0 * w.plain_params * rows,
                  bw_scale=gemm_bandwidth_scale(per_launch, gpu),
                  compute_scale=gemm_compute_scale(rows, w.n, w.k, dtype, gpu))


def _experts_kernel(w: GemmWeights, model: ModelSpec, gpu: GpuSpec, tokens: int) -> Kernel:
    """Fused-MoE grouped GEMMs: each layer reads the experts its tokens touch; every token runs top_k experts."""
    moe = model.moe
    touched = expected_experts_touched(moe.num_experts, moe.top_k, tokens)
    share = touched / moe.num_experts  # of all experts' bytes, the touched ones are read
    frac = moe.top_k / moe.num_experts  # of all experts' parameters, each token multiplies top_k experts'
    rows_per_expert = tokens * moe.top_k / touched
    launches = w.layers * LAUNCHES_PER_LAYER["experts"]
    activations = tokens * frac * w.act_per_token * ACTIVATION_BYTES
    # one layer's w13 + w2 of the touched experts and its activations (the curve is read at all the bytes moved)
    touched_per_layer = ((w.quant_bytes + w.plain_bytes) * share + activations) / w.layers
    return Kernel("experts", launches, weight_bytes=w.quant_bytes * share,
                  plain_bytes=w.plain_bytes * share,
                  activation_bytes=activations,
                  flops=2.0 * w.quant_params * frac * tokens, plain_flops=2.0 * w.plain_params * frac * tokens,
                  bw_scale=grouped_bandwidth_scale(touched_per_layer, gpu),
                  compute_scale=grouped_compute_scale(rows_per_expert, gpu),
                  floor_layers=w.layers * MOE_SMALL_LAUNCHES_PER_LAYER / MISC_LAUNCHES_PER_LAYER)


# ------------------------------------------------------------------------------------------------
# Attention, per-layer elementwise work, collectives
# ------------------------------------------------------------------------------------------------


def pair_flops(model: ModelSpec, tp: int, absorbed: bool) -> float:
    """FLOPs per (query, attended token, layer) on one GPU: QK^T and PV as multiply-adds (see
    :func:`profiler.analytic.timing.attention_flops_per_context_token`)."""
    att = model.attention
    heads = att.num_heads / tp
    if att.is_mla and absorbed:
        return 2.0 * heads * (2 * att.kv_lora_rank + att.qk_rope_head_dim)
    return 2.0 * heads * (att.qk_head_dim + att.v_dim)


def attention_kernels(model: ModelSpec, gpu: GpuSpec, kv_dtype: KvDtype, tp: int, shape: StepShape) -> list[Kernel]:
    """Decode attention (KV reads, absorbed MLA) and prefill attention (causal FLOPs, expanded MLA)."""
    kv_layer = kv_bytes_per_token_layer(model, kv_dtype, tp)
    layers = model.num_layers
    out = []
    write = shape.tokens * layers * kv_layer  # every query token's K/V written to the cache (reshape_and_cache)
    if shape.decode_pairs:
        out.append(Kernel("attention_decode", layers, plain_bytes=shape.decode_pairs * kv_layer + write,
                          flops=0.0, plain_flops=shape.decode_pairs * pair_flops(model, tp, absorbed=True),
                          bw_scale=attention_bandwidth_scale((shape.decode_pairs * kv_layer + write) / layers, 1, gpu)))
        write = 0
    if shape.prefill_pairs:
        out.append(Kernel("attention_prefill", layers, plain_bytes=shape.prefill_kv_read * kv_layer + write,
                          plain_flops=shape.prefill_pairs * pair_flops(model, tp, absorbed=False),
                          compute_scale=attention_compute_scale(gpu)))
    return out


def misc_kernel(model: ModelSpec, quant: QuantScheme, tp: int, tokens: int) -> Kernel:
    """Per layer: two fused add+RMSNorms, rotary, SiLU x mul (activation traffic, MISC_* passes)."""
    inter = model.intermediate_size if model.moe is None else model.moe.expert_intermediate * model.moe.top_k
    per_token = MISC_HIDDEN_PASSES * model.hidden_size + MISC_INTER_PASSES * math.ceil(inter / tp)
    layers = model.num_layers
    return Kernel("layer_misc", layers * MISC_LAUNCHES_PER_LAYER,
                  plain_bytes=vector_bytes(model, quant, tp),
                  activation_bytes=tokens * per_token * layers * ACTIVATION_BYTES, floor_layers=layers)


@lru_cache(maxsize=1024)
def vector_bytes(model: ModelSpec, quant: QuantScheme, tp: int) -> int:
    """Norm weights, biases and sinks on one rank: read by the small kernels each step."""
    kept = kept_layers(model, quant)
    return sum(sum(group_bytes(g, model, quant, tp, kept)) for g in tensor_inventory(model) if op_of(g) is None)


def allreduce_kernel(model: ModelSpec, gpu: GpuSpec, tp: int, tokens: int,
                     lines: tuple[tuple[int, float, float], ...] = ()) -> Kernel | None:
    """Two all-reduces per layer of tokens x hidden bf16 activations (after attention, after the MLP); `lines`:
    the calibrated all-reduce lines (Efficiency.allreduce), () for the catalogue's time."""
    if tp == 1:
        return None
    msg = tokens * model.hidden_size * ACTIVATION_BYTES
    one = allreduce_time_s(msg, tp, gpu, lines)
    return Kernel("allreduce", 2 * model.num_layers, comm_s=2 * model.num_layers * one)


# ------------------------------------------------------------------------------------------------
# The step
# ------------------------------------------------------------------------------------------------


def token_kernels(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme, tp: int, tokens: int, seqs: int,
                  dtype: str = "bf16", allreduce: tuple[tuple[int, float, float], ...] = ()) -> tuple[Kernel, ...]:
    """Every kernel of a step but attention, `dtype` the GEMMs' compute dtype: they depend only on the query
    tokens and the sequences. `allreduce`: calibrated all-reduce lines (Efficiency.allreduce)."""
    by_op = {w.op: w for w in gemm_weights(model, quant, tp)}
    out = [_gemm_kernel(by_op[op], model, gpu, tokens, dtype)
           for op in ("qkv", "o_proj", "gate_up", "down", "router", "shared_expert") if op in by_op]
    if "experts" in by_op:
        out.append(_experts_kernel(by_op["experts"], model, gpu, tokens))
    out.append(misc_kernel(model, quant, tp, tokens))
    ar = allreduce_kernel(model, gpu, tp, tokens, allreduce)
    if ar is not None:
        out.append(ar)
    head = by_op.get("lm_head") or (by_op.get("embedding") if model.tie_word_embeddings else None)
    if head is not None:
        out.append(_gemm_kernel(replace(head, op="lm_head", layers=1), model, gpu, seqs, dtype))
    out.append(_embedding_kernel(model, tp, tokens))
    return tuple(out)


def step_kernels(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme, kv_dtype: KvDtype, tp: int,
                 shape: StepShape, dtype: str = "bf16",
                 allreduce: tuple[tuple[int, float, float], ...] = ()) -> tuple[Kernel, ...]:
    """Every kernel of one step: attention, then the token kernels (GEMMs, elementwise, all-reduce, lm_head)."""
    return (*attention_kernels(model, gpu, kv_dtype, tp, shape),
            *token_kernels(model, gpu, quant, tp, shape.tokens, shape.seqs, dtype, allreduce))


def _embedding_kernel(model: ModelSpec, tp: int, tokens: int) -> Kernel:
    """The gather of one embedding row per query token (vocab-parallel: each rank its share; a tied table is
    streamed whole by the lm_head, which the rows are counted in), and the final norm."""
    rows = 0.0 if model.tie_word_embeddings else tokens * model.hidden_size * ACTIVATION_BYTES / tp
    return Kernel("embedding", 2, plain_bytes=rows, activation_bytes=2 * tokens * model.hidden_size * ACTIVATION_BYTES)


__all__ = ["Kernel", "StepShape", "step_kernels", "token_kernels", "attention_kernels", "gemm_weights",
           "expected_experts_touched", "pair_flops"]
