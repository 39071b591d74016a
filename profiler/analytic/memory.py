"""Analytic GPU memory model of a paged-attention serving engine (vLLM v1), per GPU.

    weights      = sum over tensors of numel_per_rank x bits(quant, kind, in_features) / 8
    kv/token     = sum over layers of the per-layer page bytes for one token (GQA: K and V heads;
                   MLA: one compressed latent + rope dims; sliding layers capped at their window)
    requested    = gpu_memory_utilization x HBM                        (the engine's "requested memory")
    budget       = requested - weights - torch activation peak of the profile run
                   - non-torch increase since the baseline snapshot [- CUDA graph estimate, v0.21+]
    headroom     = HBM - requested must hold what the engine keeps outside that accounting: the CUDA
                   context (and NCCL buffers, CUDA graphs where the version leaves them outside)
    capacity     = budget / kv bytes per token            (tokens, per replica)

The accounting is vLLM's ``Worker.determine_available_memory`` (vllm-project/vllm
@35d5cda:vllm/v1/worker/gpu_worker.py) with ``memory_profiling`` (@a6d5c39:vllm/utils/mem_utils.py):
``available_kv = requested_memory - (weights + torch_peak_increase + non_torch_increase)`` where the
non-torch increase is measured from ``init_snapshot``, taken in ``init_device`` *after* the CUDA context
exists, so the context is never charged to the utilisation share; ``init_device`` instead refuses to start
when ``free_memory < requested_memory``. How that rule changed by version is `EngineVersion`.
Byte counts are exact integers; fractional bits (int4 with group scales) are summed as fractions and
rounded up once per tensor group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from profiler.analytic.sharding import check_tp, kv_heads_per_rank
from profiler.analytic.weights import weight_bytes
from profiler.defaults import DEFAULT_CHUNK_TOKENS, DEFAULT_MAX_NUM_SEQS
from profiler.errors import InvalidValueError
from profiler.specs import Efficiency, GpuSpec, KvDtype, LayerType, ModelSpec, QuantScheme

BLOCK_TOKENS = 16  # vLLM default --block-size (kv_cache_interface page = block_size tokens)

# Memory the engine holds besides weights, activations and KV (bytes per GPU).
CUDA_CONTEXT_BYTES = 512 * 2**20  # CUDA context + module images after warm-up: ~400 MB with lazy loading
#   (pytorch/pytorch #109888) and more as kernels load; 512 MiB. Outside the util share from v0.9.2 (baseline).
CUDA_GRAPH_BYTES = 512 * 2**20  # graph pool: vLLM logs "Estimated CUDA graph memory" 0.36-0.61 GiB on 1-GPU
#   dense/MoE models (v0.2x logs cited in benchmarks/data/kv_capacity_logs.yaml) and 0.65 GiB for gemma-3-4b
#   (vLLM PR #21489); the estimator errs both ways on large models (vLLM #45178, #53013). 512 MiB.
SAFETY_BYTES = 150 * 2**20  # vLLM gpu_worker.py compile_or_warm_up_model: 150 MiB "redundancy buffer" in the
#   suggested --kv-cache-memory only; it is NOT subtracted from the KV budget (kept for callers that show it).
NCCL_BYTES = {1: 0, 2: 342_000_000}  # aiconfigurator h100_sxm.yaml: NCCL 342 MB at TP2, 392 MB at TP4-8
NCCL_BYTES_LARGE_TP = 392_000_000
NON_TORCH_PROFILE_BYTES = 128 * 2**20  # non-torch increase during the profile run at TP1 (cuBLAS/cuBLASLt
#   handles, attention-backend and Triton workspaces, lazily loaded kernels): vLLM logs 0.07 GiB (gemma-3-4b,
#   B200, PR #21489) and 0.16 GiB (Llama-3.2-11B, H100, PR #12126); 128 MiB between them.
SAMPLER_BYTES_PER_LOGIT = 4 + 4 + 8  # v1 sampler dummy run at max_num_seqs rows of the FULL vocabulary: fp32
#   logits, the sorted copy and its int64 indices of top-k/top-p (vllm/v1/sample/ops/topk_topp_sampler.py
#   apply_top_k_top_p: logits.sort()); v1 all-gathers logits so every TP rank holds the whole vocabulary.
ACTIVATION_BYTES = 2  # bf16 activations

# Engine defaults used when a caller does not set them: DEFAULT_CHUNK_TOKENS, DEFAULT_MAX_NUM_SEQS (profiler.defaults).


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
# Activations of the profile run
# ------------------------------------------------------------------------------------------------


def _forward_bytes_per_token(model: ModelSpec, tp: int) -> int:
    """Live activation bytes per token at the forward's peak (bf16), per rank.

    Residual + normed hidden (2H), q/k/v outputs, MLP gate+up output and the activated product
    (3 x I per rank; MoE: top_k expert copies of I_e plus shared experts).
    """
    att = model.attention
    q = att.num_heads * att.qk_head_dim // tp
    kv = 2 * kv_heads_per_rank(model, tp) * att.head_dim if not att.is_mla else att.kv_lora_rank
    inter = model.intermediate_size
    if model.moe:
        inter = max(inter if model.moe.first_dense_layers else 0,
                    model.moe.top_k * model.moe.expert_intermediate
                    + model.moe.num_shared_experts * model.moe.shared_intermediate)
    return (2 * model.hidden_size + q + kv + 3 * inter // tp) * ACTIVATION_BYTES


def activation_bytes(model: ModelSpec, tp: int, chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
                     max_num_seqs: int = DEFAULT_MAX_NUM_SEQS) -> int:
    """Torch peak of vLLM v1's profile run: max(dummy forward, its hidden states + the sampler dummy run).

    ``GPUModelRunner.profile_run`` runs ``_dummy_run(max_num_batched_tokens)`` and then
    ``_dummy_sampler_run`` on ``min(max_num_seqs, max_num_batched_tokens)`` rows; the forward's
    intermediates are freed before the sampler, so the torch peak is the larger of the two phases,
    not their sum. Forward: ``chunk_tokens`` x the per-token live activations (a structural estimate
    in the manner of aiconfigurator's ``2 x tokens x hidden x coefficient``; vLLM #10517's Llama-3.1-8B
    V0 log shows a 2.07 GiB torch peak at 20,000 tokens against 2.14 GiB here). Sampler: full-vocabulary
    fp32 logits with top-k/top-p sort buffers (`SAMPLER_BYTES_PER_LOGIT`). A measured peak supersedes it.
    """
    forward = chunk_tokens * _forward_bytes_per_token(model, tp)
    rows = min(max_num_seqs, chunk_tokens)
    hidden = chunk_tokens * model.hidden_size * ACTIVATION_BYTES  # the dummy run's output, alive for the sampler
    sampler = rows * model.vocab_size * SAMPLER_BYTES_PER_LOGIT
    return max(forward, hidden + sampler)


# ------------------------------------------------------------------------------------------------
# The engine's budget, by version
# ------------------------------------------------------------------------------------------------


class EngineVersion(str, Enum):
    """How vLLM splits ``gpu_memory_utilization x HBM``; each value names the versions that do it."""

    # V1 before PR #19312 (@0012cf6 gpu_worker.py): peak = torch peak + (used - torch allocated), so the CUDA
    # context, NCCL and other processes were all charged to the util share; graphs captured in the headroom.
    V1_LEGACY = "v1<=0.9.1"
    # PR #19312 (v0.9.2): memory_profiling against a baseline taken after CUDA init and BEFORE NCCL init: the
    # context is outside the share, NCCL buffers are a non-torch increase inside it; graphs in the headroom.
    V1_BASELINE = "v0.9.2"
    # @35d5cda init_device: "Initialize the distributed environment BEFORE taking memory snapshot", so NCCL
    # buffers join the context outside the share (vLLM PR #45517 describes it); graphs still in the headroom.
    V1_NCCL_IN_BASELINE = "v0.1x"
    # v0.21.0+: VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS defaults on (PR #30515 added it, off; the log reads
    # "CUDA graph memory profiling is enabled (default since v0.21.0)"): the graph estimate is subtracted too.
    V1_GRAPHS_PROFILED = "v0.21+"


DEFAULT_ENGINE = EngineVersion.V1_GRAPHS_PROFILED  # what vLLM 0.21-0.27 do by default (logs of v0.27.1)


def nccl_bytes(tp: int) -> int:
    """NCCL communicator buffers per GPU (0 at TP 1)."""
    return NCCL_BYTES.get(tp, NCCL_BYTES_LARGE_TP)


def _split(engine: EngineVersion, tp: int, cuda_graphs: bool) -> tuple[dict[str, int], dict[str, int]]:
    """(charged inside the util share, held outside it in the headroom), by item, for one engine version."""
    graphs = CUDA_GRAPH_BYTES if cuda_graphs else 0
    inside = {"non_torch": NON_TORCH_PROFILE_BYTES, "cuda_context": 0, "nccl": 0, "cuda_graphs": 0}
    outside = {"cuda_context": CUDA_CONTEXT_BYTES, "nccl": 0, "cuda_graphs": graphs}
    if engine is EngineVersion.V1_LEGACY:
        inside.update(cuda_context=CUDA_CONTEXT_BYTES, nccl=nccl_bytes(tp))
        outside.update(cuda_context=0)
    elif engine is EngineVersion.V1_BASELINE:
        inside.update(nccl=nccl_bytes(tp))
    else:
        outside.update(nccl=nccl_bytes(tp))
    if engine is EngineVersion.V1_GRAPHS_PROFILED:
        inside.update(cuda_graphs=graphs)
        outside.update(cuda_graphs=0)
    return inside, outside


@dataclass(frozen=True)
class MemoryBudget:
    """The engine's memory split on one GPU (all bytes per GPU; capacity per replica).

    ``reserves`` are the items charged INSIDE ``usable_bytes`` (keys ``non_torch``, ``cuda_context``, ``nccl``,
    ``cuda_graphs``; 0 where the version holds the item outside); ``outside_util`` the items the
    (1 - utilisation) headroom must hold. ``headroom_short_bytes`` > 0 means the engine fails:
    ``headroom_failure`` says whether at startup ("Free memory on device ... is less than desired GPU memory
    utilization") or at CUDA graph capture (out of memory).
    """

    hbm_bytes: int
    usable_bytes: int  # gpu_memory_utilization x HBM (vLLM's requested_memory)
    weights_bytes: int
    activation_bytes: int
    reserves: dict[str, int]
    kv_budget_bytes: int  # may be negative: the model does not fit
    kv_bytes_per_token: int
    outside_util: dict[str, int] = field(default_factory=dict)
    headroom_short_bytes: int = 0
    headroom_failure: str = ""  # "" | "startup" | "cuda-graph-capture"
    engine: EngineVersion = DEFAULT_ENGINE

    @property
    def fits(self) -> bool:
        return self.kv_budget_bytes > 0

    @property
    def resident_bytes(self) -> int:
        """Everything but KV and activations the GPU holds once serving: weights + both reserve sets."""
        return self.weights_bytes + sum(self.reserves.values()) + sum(self.outside_util.values())

    @property
    def kv_capacity_tokens(self) -> int:
        """KV tokens the budget holds (every layer storing each token), whole blocks only."""
        if not self.fits:
            return 0
        return self.kv_budget_bytes // self.kv_bytes_per_token // BLOCK_TOKENS * BLOCK_TOKENS


def _headroom(hbm: int, usable: int, outside: dict[str, int]) -> tuple[int, str]:
    """Shortfall of the (1 - util) headroom and the stage it shows at (init_device's check, then capture)."""
    headroom = hbm - usable
    at_startup = outside["cuda_context"] + outside["nccl"]  # already in use when init_device compares
    if at_startup > headroom:
        return sum(outside.values()) - headroom, "startup"
    short = sum(outside.values()) - headroom
    return (short, "cuda-graph-capture") if short > 0 else (0, "")


def memory_budget(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme, kv_dtype: KvDtype, tp: int,
                  eff: Efficiency, chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
                  max_num_seqs: int = DEFAULT_MAX_NUM_SEQS, engine: EngineVersion = DEFAULT_ENGINE,
                  cuda_graphs: bool = True) -> MemoryBudget:
    """vLLM's rule: KV = util x HBM - weights - profile-run torch peak - non-torch increase [- graphs, v0.21+].

    ``cuda_graphs=False`` is ``--enforce-eager``. See `EngineVersion` for what each version charges where.
    """
    check_tp(model, tp)
    usable = int(gpu.hbm_bytes * eff.gpu_memory_utilization)
    weights = weight_bytes(model, quant, tp)
    act = activation_bytes(model, tp, chunk_tokens, max_num_seqs)
    inside, outside = _split(engine, tp, cuda_graphs)
    short, stage = _headroom(gpu.hbm_bytes, usable, outside)
    return MemoryBudget(
        hbm_bytes=gpu.hbm_bytes, usable_bytes=usable, weights_bytes=weights, activation_bytes=act,
        reserves=inside, kv_budget_bytes=usable - weights - act - sum(inside.values()),
        kv_bytes_per_token=kv_bytes_per_token(model, kv_dtype, tp), outside_util=outside,
        headroom_short_bytes=short, headroom_failure=stage, engine=engine,
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


# ------------------------------------------------------------------------------------------------
# The engine's own startup lines
# ------------------------------------------------------------------------------------------------


def _kv_groups(model: ModelSpec) -> tuple[int, list[LayerType]]:
    """(layers per group, one type per group) as vLLM's hybrid allocator groups them.

    Uniform models: one group of every layer. Full + sliding: groups of min(n_full, n_sliding) layers
    (``_get_kv_cache_groups_uniform_page_size``; the last group of a type is padded).
    """
    n_sliding = sum(1 for i in range(model.num_layers) if model.attention.layer_type(i) is LayerType.SLIDING)
    n_full = model.num_layers - n_sliding
    if not (n_sliding and n_full and model.attention.sliding_window):
        return model.num_layers, [LayerType.FULL]
    size = min(n_full, n_sliding)
    return size, [LayerType.FULL] * -(-n_full // size) + [LayerType.SLIDING] * -(-n_sliding // size)


def engine_kv_numbers(budget: MemoryBudget, model: ModelSpec, kv_dtype: KvDtype, tp: int, max_model_len: int,
                      chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> tuple[int, int, float]:
    """(num_blocks, "GPU KV cache size" tokens, "Maximum concurrency") computed as vLLM v1 does.

    vllm/v1/core/kv_cache_utils.py: ``num_blocks = available // page_size // layers_per_group``; the size
    log is ``num_blocks // len(groups) * block_size``; the concurrency is ``num_blocks /`` the blocks one
    request of max_model_len takes summed over groups (``get_max_concurrency_for_kv_cache_config``): full
    attention ``cdiv(L, 16)``, sliding window ``cdiv(min(window - 1 + max_num_batched_tokens, L), 16) + 1``
    (``SlidingWindowSpec.max_memory_usage_bytes``).
    """
    size, groups = _kv_groups(model)
    page = BLOCK_TOKENS * kv_bytes_per_token_layer(model, kv_dtype, tp)
    num_blocks = max(budget.kv_budget_bytes, 0) // page // size
    window = model.attention.sliding_window
    per_request = sum(_blocks(max_model_len) if g is LayerType.FULL
                      else _blocks(min(window - 1 + chunk_tokens, max_model_len)) + 1 for g in groups)
    return num_blocks, num_blocks // len(groups) * BLOCK_TOKENS, num_blocks / per_request


def _gib(n: int) -> str:
    return str(round(n / 2**30, 2))  # vllm/utils/mem_utils.py format_gib: round(b / GiB_bytes, 2), printed %s


def engine_log_lines(budget: MemoryBudget, model: ModelSpec, kv_dtype: KvDtype, tp: int, max_model_len: int,
                     chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> list[str]:
    """The startup lines vLLM v1 prints (per rank), to hold against a real log.

    Formats from gpu_model_runner.py ("Model loading took %s GiB memory"), gpu_worker.py ("Available KV
    cache memory: %s GiB") and kv_cache_utils.py ("GPU KV cache size: %s tokens", "Maximum concurrency for
    %s tokens per request: %.2fx"). "Model loading took" also counts buffers loaded with the weights.
    """
    _, tokens, concurrency = engine_kv_numbers(budget, model, kv_dtype, tp, max_model_len, chunk_tokens)
    return [
        f"Model loading took {_gib(budget.weights_bytes)} GiB memory",
        f"Available KV cache memory: {_gib(budget.kv_budget_bytes)} GiB",
        f"GPU KV cache size: {tokens:,} tokens",
        f"Maximum concurrency for {max_model_len:,} tokens per request: {concurrency:.2f}x",
    ]


def engine_kv_needed_bytes(model: ModelSpec, kv_dtype: KvDtype, tp: int, max_model_len: int,
                           chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> int:
    """KV one request of max_model_len takes on one rank, summed over layers, as vLLM checks it at startup.

    vllm/v1/core/kv_cache_utils.py ``max_memory_usage_bytes``: a full-attention layer ``cdiv(L, 16)`` pages, a
    sliding one ``cdiv(min(window - 1 + max_num_batched_tokens, L), 16) + 1``; sliding layers only count as such
    in a full + sliding hybrid, as :func:`engine_kv_numbers` groups them.
    """
    page = BLOCK_TOKENS * kv_bytes_per_token_layer(model, kv_dtype, tp)
    window = model.attention.sliding_window
    n_sliding = sum(1 for i in range(model.num_layers) if model.attention.layer_type(i) is LayerType.SLIDING)
    if not (n_sliding and n_sliding < model.num_layers and window):
        return model.num_layers * _blocks(max_model_len) * page
    sliding = _blocks(min(window - 1 + chunk_tokens, max_model_len)) + 1
    return ((model.num_layers - n_sliding) * _blocks(max_model_len) + n_sliding * sliding) * page


def engine_max_model_len(budget: MemoryBudget, model: ModelSpec, kv_dtype: KvDtype, tp: int, max_model_len: int,
                         chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> int:
    """Longest max_model_len (<= the one asked for) whose request fits the KV budget; 0 if not even one token.

    vLLM's ``estimate_max_model_len``: a bisection over 1..max_model_len on :func:`engine_kv_needed_bytes`.
    """
    def fits(length: int) -> bool:
        return engine_kv_needed_bytes(model, kv_dtype, tp, length, chunk_tokens) <= budget.kv_budget_bytes

    if not fits(1):
        return 0
    lo, hi = 1, max_model_len
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo


NO_CACHE_MEMORY = ("No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when "
                   "initializing the engine.")  # kv_cache_utils.py check_enough_kv_cache_memory, verbatim


def engine_startup(budget: MemoryBudget, model: ModelSpec, kv_dtype: KvDtype, tp: int, max_model_len: int,
                   chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> tuple[list[str], str, str]:
    """(the :func:`engine_log_lines` vLLM gets to print, how it then stops, why); "", "" when it serves.

    In vLLM's order: ``init_device`` refuses to start when the (1 - utilisation) headroom cannot hold the CUDA
    context (before the model loads: no lines); ``check_enough_kv_cache_memory`` raises after "Available KV cache
    memory" when the budget is <= 0 (:data:`NO_CACHE_MEMORY`) or one max_model_len request needs more KV than
    it (a paraphrase of its ValueError, with its numbers and formats); graphs that do not fit the headroom
    run out of memory at capture, after all four lines. Weights larger than the whole GPU beside the CUDA context
    and NCCL buffers run out of memory while loading, before any line. The kinds: "startup-headroom", "load-oom",
    "no-cache-memory", "max-model-len", "cuda-graph-capture".
    """
    lines = engine_log_lines(budget, model, kv_dtype, tp, max_model_len, chunk_tokens)
    short = f"{budget.headroom_short_bytes / 2**30:.2f} GiB"
    if budget.headroom_failure == "startup":
        why = (f"the engine stops at startup, before loading the model: the GPU memory left outside "
               f"gpu_memory_utilization is {short} short of the CUDA context and NCCL buffers it must hold (vLLM: "
               "free memory on the device is less than the desired utilization); lower gpu_memory_utilization")
        return [], "startup-headroom", why
    resident = sum(items.get(k, 0) for items in (budget.reserves, budget.outside_util)
                   for k in ("cuda_context", "nccl"))
    if budget.weights_bytes + resident > budget.hbm_bytes:
        why = (f"CUDA out of memory while loading the weights: {budget.weights_bytes / 2**30:.2f} GiB per GPU do not "
               f"fit the {(budget.hbm_bytes - resident) / 2**30:.2f} GiB the GPU has beside the CUDA context and NCCL "
               "buffers; use more TP or a smaller quant")
        return [], "load-oom", why
    if not budget.fits:
        return lines[:2], "no-cache-memory", NO_CACHE_MEMORY
    needed = engine_kv_needed_bytes(model, kv_dtype, tp, max_model_len, chunk_tokens)
    if needed > budget.kv_budget_bytes:
        longest = engine_max_model_len(budget, model, kv_dtype, tp, max_model_len, chunk_tokens)
        estimate = (f" Based on the available memory, the estimated maximum model length is {longest}."
                    if longest > 0 else "")
        why = (f"To serve at least one request with the model's max seq len ({max_model_len}), "
               f"{needed / 2**30:.2f} GiB KV cache is needed, which is larger than the available KV cache memory "
               f"({budget.kv_budget_bytes / 2**30:.2f} GiB).{estimate} Try increasing `gpu_memory_utilization` or "
               "decreasing `max_model_len` when initializing the engine.")
        return lines[:2], "max-model-len", why
    if budget.headroom_failure == "cuda-graph-capture":
        why = (f"CUDA out of memory while capturing CUDA graphs: the GPU memory left outside gpu_memory_utilization "
               f"is {short} short of the CUDA context, NCCL buffers and graph pool it must hold; lower "
               "gpu_memory_utilization or add --enforce-eager")
        return lines, "cuda-graph-capture", why
    return lines, "", ""


def engine_version(text: str) -> EngineVersion:
    """The accounting a vLLM release ("0.8.5", "v0.9.2", "0.10.1.1", "0.21.0", "latest") used, per `EngineVersion`.

    0.8.0-0.9.1 V1_LEGACY; 0.9.2 V1_BASELINE; 0.10-0.20 V1_NCCL_IN_BASELINE; 0.21 and later V1_GRAPHS_PROFILED;
    "" or "latest" :data:`DEFAULT_ENGINE`. Pre-release and local suffixes (rc1, .dev0, +cu128) count as their
    release. Before 0.8 the V0 engine was the default: its accounting is not modelled, so it is refused.
    """
    import re  # only here: the rest of the module parses nothing

    t = text.strip().lower()
    if t in ("", "latest"):
        return DEFAULT_ENGINE
    m = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.(\d+))?(?:\.\d+)*(?:[.-]?(?:rc|a|b|dev|post)\d*)*(?:\+[0-9a-z.]+)?", t)
    if m is None:
        raise InvalidValueError(f"vLLM version '{text.strip()}' is not a release number; give one like 0.10.1.1 "
                                "or v0.9.2, or 'latest'")
    release = tuple(int(g or 0) for g in m.groups())
    if release < (0, 8, 0):
        raise InvalidValueError(f"vLLM {text.strip().lstrip('vV')} ran the V0 engine, whose accounting is not "
                                "modelled; give 0.8 or later")
    if release < (0, 9, 2):
        return EngineVersion.V1_LEGACY
    if release < (0, 10, 0):
        return EngineVersion.V1_BASELINE
    if release < (0, 21, 0):
        return EngineVersion.V1_NCCL_IN_BASELINE
    return EngineVersion.V1_GRAPHS_PROFILED


# ------------------------------------------------------------------------------------------------
# TensorRT-LLM (PyTorch backend): the KV cache is a fraction of the memory left free
# ------------------------------------------------------------------------------------------------

# Defaults of the TensorRT-LLM LLM API, NVIDIA/TensorRT-LLM @0004396 tensorrt_llm/llmapi/llm_args.py:
TRTLLM_FREE_GPU_MEMORY_FRACTION = 0.9  # KvCacheConfig.free_gpu_memory_fraction (default=0.9; also
#   trtllm-bench throughput --kv_cache_free_gpu_mem_fraction .90, tensorrt_llm/bench/benchmark/throughput.py)
TRTLLM_TOKENS_PER_BLOCK = 32  # KvCacheConfig.tokens_per_block (default=32)
TRTLLM_MAX_BATCH_SIZE = 2048  # BaseLlmArgs.max_batch_size (default=2048)
TRTLLM_MAX_NUM_TOKENS = 8192  # BaseLlmArgs.max_num_tokens (default=8192)


def trtllm_activation_bytes(model: ModelSpec, tp: int, max_num_tokens: int = TRTLLM_MAX_NUM_TOKENS,
                            max_seq_len: int | None = None) -> int:
    """Torch peak of TensorRT-LLM's memory-estimation forward: dummy context requests of
    ``min(max_num_tokens, max_seq_len)`` tokens filling ``max_num_tokens`` (KvCacheCreator
    ``_create_dummy_context_requests``, tensorrt_llm/_torch/pyexecutor/_util.py), each sampling one token.

    The same structural estimate as :func:`activation_bytes`, with one sampler row per dummy request
    (``ceil(max_num_tokens / min(max_num_tokens, max_seq_len))``, 1 when a request can hold them all)
    instead of vLLM's ``max_num_seqs`` rows.
    """
    seq = min(max_num_tokens, max_seq_len or model.max_context)
    return activation_bytes(model, tp, max_num_tokens, -(-max_num_tokens // max(seq, 1)))


def trtllm_kv_budget_bytes(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme, tp: int,
                           free_fraction: float = TRTLLM_FREE_GPU_MEMORY_FRACTION,
                           max_num_tokens: int = TRTLLM_MAX_NUM_TOKENS, max_seq_len: int | None = None) -> int:
    """KV bytes per GPU TensorRT-LLM allocates: ``free_fraction x`` the memory free after loading and profiling.

        kv = free_fraction x (HBM - weights - activation peak - CUDA context - non-torch profile increase - NCCL)

    TensorRT-LLM's PyTorch backend (KvCacheCreator, tensorrt_llm/_torch/pyexecutor/_util.py) runs a forward of
    ``max_num_tokens`` dummy context tokens, takes the peak memory (torch + non-torch: weights, activations, the
    CUDA context, workspaces, NCCL buffers) and sizes the cache as ``(total_gpu_memory - peak_memory) x
    fraction``, ``fraction`` = ``KvCacheConfig.free_gpu_memory_fraction`` (default 0.9: "TensorRT LLM will try
    to allocate 90% of free GPU memory for KV cache", nvidia.github.io/TensorRT-LLM examples/kvcacheconfig;
    trtllm-serve: "Free GPU memory fraction reserved for KV Cache, after allocating model weights and
    buffers"). Unlike vLLM's ``gpu_memory_utilization`` the fraction applies to what is free, not to the whole
    GPU; the other ``1 - fraction`` of it stays free for CUDA graphs and runtime buffers. The items are this
    module's: :func:`weight_bytes`, :func:`trtllm_activation_bytes`, :data:`CUDA_CONTEXT_BYTES`,
    :data:`NON_TORCH_PROFILE_BYTES` (cuBLAS handles and workspaces the profiling forward adds) and
    :func:`nccl_bytes`. Negative when the model does not fit.
    """
    check_tp(model, tp)
    if not 0 < free_fraction <= 1:
        raise InvalidValueError(f"free_fraction must be in (0, 1], got {free_fraction!r}")
    free = (gpu.hbm_bytes - weight_bytes(model, quant, tp) - trtllm_activation_bytes(model, tp, max_num_tokens,
                                                                                      max_seq_len)
            - CUDA_CONTEXT_BYTES - NON_TORCH_PROFILE_BYTES - nccl_bytes(tp))
    return int(free * free_fraction) if free > 0 else free


def trtllm_kv_capacity_tokens(model: ModelSpec, gpu: GpuSpec, quant: QuantScheme, kv_dtype: KvDtype, tp: int,
                              free_fraction: float = TRTLLM_FREE_GPU_MEMORY_FRACTION,
                              max_num_tokens: int = TRTLLM_MAX_NUM_TOKENS, max_seq_len: int | None = None,
                              tokens_per_block: int = TRTLLM_TOKENS_PER_BLOCK) -> int:
    """KV tokens of :func:`trtllm_kv_budget_bytes`, whole blocks of ``tokens_per_block`` only (0 if none fit)."""
    budget = trtllm_kv_budget_bytes(model, gpu, quant, tp, free_fraction, max_num_tokens, max_seq_len)
    if budget <= 0:
        return 0
    return budget // kv_bytes_per_token(model, kv_dtype, tp) // tokens_per_block * tokens_per_block
