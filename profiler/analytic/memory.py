"""Analytic GPU memory model of a paged-attention serving engine (vLLM v1), per GPU.

    weights      = sum over tensors of numel_per_rank x bits(quant, kind, in_features) / 8
    kv/token     = sum over layers of the per-layer page bytes for one token (GQA: K and V heads;
                   MLA: one compressed latent + rope dims; sliding layers capped at their window)
    budget       = gpu_memory_utilization x HBM - weights - activation peak - reserves
    capacity     = budget / kv bytes per token            (tokens, per replica)
    max_batch(L) = budget / kv bytes of one sequence of L tokens rounded up to blocks of 16

Byte counts are exact integers; fractional bits (int4 with group scales) are summed as
fractions and rounded up once per tensor group. Sources of every reserve are beside it.
Reference for the engine rules: vllm-project/vllm ``vllm/v1/worker/gpu_worker.py`` and
``vllm/v1/kv_cache_interface.py`` (anchors.md §2.10, measurement.md §1.3 and §6).
"""

from __future__ import annotations

from dataclasses import dataclass

from profiler.analytic.sharding import check_tp, kv_heads_per_rank
from profiler.analytic.weights import weight_bytes
from profiler.errors import InvalidValueError
from profiler.specs import Efficiency, GpuSpec, KvDtype, LayerType, ModelSpec, QuantScheme

BLOCK_TOKENS = 16  # vLLM default --block-size (kv_cache_interface page = block_size tokens)

# Reserves outside weights, activations and KV (bytes per GPU).
CUDA_CONTEXT_BYTES = 512 * 2**20  # CUDA context + cuBLAS/attention workspaces after warm-up: ~400 MB with
#   lazy loading (pytorch/pytorch #109888), grows with kernels loaded later (measurement.md §1.2); 512 MiB.
CUDA_GRAPH_BYTES = 512 * 2**20  # estimate: vLLM captures graphs after KV allocation; its estimator errs both
#   ways by ~1 GB (vLLM #45178, #57475, PR #21489). 512 MiB until an engine log calibrates it.
SAFETY_BYTES = 150 * 2**20  # vLLM PR #21489: suggested --kv-cache-memory subtracts a 150 MiB buffer.
NCCL_BYTES = {1: 0, 2: 342_000_000}  # aiconfigurator h100_sxm.yaml: NCCL 342 MB at TP2, 392 MB at TP4-8
NCCL_BYTES_LARGE_TP = 392_000_000
SAMPLER_LOGIT_BYTES = 4  # fp32 logits in vLLM's sampler dummy run at max_num_seqs (gpu_worker.py)
ACTIVATION_BYTES = 2  # bf16 activations

# Engine defaults used when a caller does not set them.
DEFAULT_CHUNK_TOKENS = 8192  # vLLM v1 max_num_batched_tokens for the OpenAI server (chunked prefill on)
DEFAULT_MAX_NUM_SEQS = 256  # vLLM --max-num-seqs default


# ------------------------------------------------------------------------------------------------
# KV cache
# ------------------------------------------------------------------------------------------------


def kv_bytes_per_token_layer(model: ModelSpec, kv_dtype: KvDtype, tp: int = 1) -> int:
    """Bytes one token adds to ONE layer's KV cache on one GPU, as vLLM pages store it."""
    att = model.attention
    if att.is_mla:
        # MLA: a single latent "head" of kv_lora_rank + rope dims, identical on every TP rank.
        return (att.kv_lora_rank + att.qk_rope_head_dim) * kv_dtype.bytes
    heads = kv_heads_per_rank(model, tp)
    return heads * (att.qk_head_dim + att.v_dim) * kv_dtype.bytes  # K and V: head_size_k + head_size_v


def kv_bytes_per_token(model: ModelSpec, kv_dtype: KvDtype = KvDtype.BF16, tp: int = 1) -> int:
    """Bytes one token adds across all layers (one token inside every sliding window)."""
    return model.num_layers * kv_bytes_per_token_layer(model, kv_dtype, tp)


def _blocks(tokens: int) -> int:
    return -(-tokens // BLOCK_TOKENS)


def kv_tokens_held(model: ModelSpec, context: int) -> tuple[int, int]:
    """(full-attention layers x tokens, sliding layers x tokens) one sequence of `context` holds.

    Full layers hold every token rounded up to whole blocks. Sliding layers hold the window plus
    one block, rounded to blocks (vLLM SlidingWindowSpec frees blocks that left the window).
    """
    att = model.attention
    full_tokens = _blocks(context) * BLOCK_TOKENS
    if att.sliding_window:
        slide_tokens = min(full_tokens, (_blocks(att.sliding_window - 1) + 1) * BLOCK_TOKENS)
    else:
        slide_tokens = full_tokens
    n_sliding = sum(1 for i in range(model.num_layers) if att.layer_type(i) is LayerType.SLIDING)
    return (model.num_layers - n_sliding) * full_tokens, n_sliding * slide_tokens


def kv_bytes_per_sequence(model: ModelSpec, kv_dtype: KvDtype, tp: int, context: int) -> int:
    """KV bytes one sequence of `context` tokens occupies on one GPU, paged in blocks of 16."""
    full, sliding = kv_tokens_held(model, context)
    return (full + sliding) * kv_bytes_per_token_layer(model, kv_dtype, tp)


def attended_tokens(model: ModelSpec, context: int) -> int:
    """Sum over layers of tokens attended by one query at `context` (sliding layers see the window)."""
    att = model.attention
    total = 0
    for i in range(model.num_layers):
        sliding = att.layer_type(i) is LayerType.SLIDING and att.sliding_window
        total += min(context, att.sliding_window) if sliding else context
    return total


# ------------------------------------------------------------------------------------------------
# Activations, reserves and the engine budget
# ------------------------------------------------------------------------------------------------


def activation_bytes(model: ModelSpec, tp: int, chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
                     max_num_seqs: int = DEFAULT_MAX_NUM_SEQS) -> int:
    """Peak activation bytes of vLLM's profile run: one prefill chunk of `chunk_tokens` plus the sampler.

    Per token (bf16): residual + normed hidden (2H), q/k/v outputs, MLP gate+up output and the
    activated product (3 x I per rank; MoE: top_k expert copies of I_e). Sampler: fp32 logits for
    `max_num_seqs` rows of the vocabulary shard. A structural estimate in the manner of
    aiconfigurator's ``2 x tokens x hidden x coefficient`` (anchors.md §2.14); a measured profile's
    peak_bytes supersedes it.
    """
    att = model.attention
    q = att.num_heads * att.qk_head_dim // tp
    kv = 2 * kv_heads_per_rank(model, tp) * att.head_dim if not att.is_mla else att.kv_lora_rank
    inter = model.intermediate_size
    if model.moe:
        inter = max(inter if model.moe.first_dense_layers else 0,
                    model.moe.top_k * model.moe.expert_intermediate
                    + model.moe.num_shared_experts * model.moe.shared_intermediate)
    per_token = 2 * model.hidden_size + q + kv + 3 * inter // tp
    logits = max_num_seqs * (-(-model.vocab_size // tp)) * SAMPLER_LOGIT_BYTES
    return chunk_tokens * per_token * ACTIVATION_BYTES + logits


def reserve_bytes(tp: int) -> dict[str, int]:
    """Non-weight, non-KV, non-activation memory per GPU, by item."""
    return {
        "cuda_context": CUDA_CONTEXT_BYTES,
        "nccl": NCCL_BYTES.get(tp, NCCL_BYTES_LARGE_TP),
        "cuda_graphs": CUDA_GRAPH_BYTES,
        "safety": SAFETY_BYTES,
    }


@dataclass(frozen=True)
class MemoryBudget:
    """The engine's memory split on one GPU (all bytes per GPU; capacity per replica)."""

    hbm_bytes: int
    usable_bytes: int  # gpu_memory_utilization x HBM
    weights_bytes: int
    activation_bytes: int
    reserves: dict[str, int]
    kv_budget_bytes: int  # may be negative: the model does not fit
    kv_bytes_per_token: int

    @property
    def fits(self) -> bool:
        return self.kv_budget_bytes > 0

    @property
    def kv_capacity_tokens(self) -> int:
        """KV tokens the budget holds (every layer storing each token), whole blocks only."""
        if not self.fits:
            return 0
        return self.kv_budget_bytes // self.kv_bytes_per_token // BLOCK_TOKENS * BLOCK_TOKENS


def memory_budget(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme, kv_dtype: KvDtype, tp: int,
                  eff: Efficiency, chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
                  max_num_seqs: int = DEFAULT_MAX_NUM_SEQS) -> MemoryBudget:
    """vLLM's rule: KV = util x HBM - weights - profiled activation peak - non-torch - graphs - safety."""
    check_tp(model, tp)
    usable = int(gpu.hbm_bytes * eff.gpu_memory_utilization)
    weights = weight_bytes(model, quant, tp)
    act = activation_bytes(model, tp, chunk_tokens, max_num_seqs)
    reserves = reserve_bytes(tp)
    return MemoryBudget(
        hbm_bytes=gpu.hbm_bytes, usable_bytes=usable, weights_bytes=weights, activation_bytes=act,
        reserves=reserves, kv_budget_bytes=usable - weights - act - sum(reserves.values()),
        kv_bytes_per_token=kv_bytes_per_token(model, kv_dtype, tp),
    )


def max_concurrent_sequences(budget: MemoryBudget, model: ModelSpec, kv_dtype: KvDtype, tp: int,
                             context: int) -> int:
    """Most sequences of `context` tokens whose KV fits the budget at once."""
    if not budget.fits:
        return 0
    return budget.kv_budget_bytes // kv_bytes_per_sequence(model, kv_dtype, tp, context)


def max_context(budget: MemoryBudget, model: ModelSpec, kv_dtype: KvDtype, tp: int, concurrency: int) -> int:
    """Longest context (tokens, multiple of the block size) that `concurrency` sequences can each hold.

    Capped at the model's max_context. Found by bisection on the monotone per-sequence KV size,
    which handles sliding-window layers whose usage stops growing at the window.
    """
    if concurrency < 1:
        raise InvalidValueError(f"concurrency must be >= 1, got {concurrency}")
    per_seq_budget = budget.kv_budget_bytes // concurrency if budget.fits else 0
    lo, hi = 0, _blocks(model.max_context)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if kv_bytes_per_sequence(model, kv_dtype, tp, mid * BLOCK_TOKENS) <= per_seq_budget:
            lo = mid
        else:
            hi = mid - 1
    return min(lo * BLOCK_TOKENS, model.max_context)
