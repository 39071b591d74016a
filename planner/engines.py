"""The serving engine a simulation stands for — vLLM V1, TensorRT-LLM or SGLang — and the scheduler limits it gets.

:class:`EngineKnobs` holds what the user set (``None``: the engine's default); :func:`engine_config` turns it,
with a Deployment and its step model, into the simulator's :class:`~planner.simulate.EngineConfig`.

- ``vllm`` (default): max_num_seqs / max_num_batched_tokens = vLLM's API-server defaults
  (:func:`planner.simulate.vllm_default_limits`: 1024 / 8192 on GPUs of >= 70 GiB but A100, else 256 / 2048);
  policy ``vllm`` (admit on the first chunk, preempt the newest request by recompute); KV cache = the memory
  model's vLLM budget (``gpu_memory_utilization x HBM - weights - ...``), 16-token blocks.
- ``trtllm``: max_batch_size 2048 / max_num_tokens 8192; capacity policy ``guaranteed-no-evict`` (TensorRT-LLM's
  default) or ``max-utilization``; KV cache = ``free fraction x`` the memory left free after weights and the
  activation peak (:func:`profiler.analytic.memory.trtllm_kv_budget_bytes`), 32-token blocks.
- ``sglang``: capacity policy ``sglang`` (planner.simulate.engine.POLICIES: admission against the running requests'
  expected future tokens, ``new_token_ratio``; retraction by recompute); max_running_requests / chunked_prefill_size
  = SGLang's defaults (:func:`sglang_default_limits`); KV cache: the memory model's vLLM budget (below), in
  1-token pages (SGLang's ``page_size`` default 1).
- All: max_model_len = the model's max context unless given lower (TensorRT-LLM calls it ``max_seq_len``, SGLang
  ``context_length``).

SGLang's KV cache is ``mem_fraction_static x HBM - weights`` (the static pool holds weights and KV;
python/sglang/srt/model_executor/model_runner.py ``profile_max_num_token``), with ``mem_fraction_static`` chosen from
the GPU memory less a reserve for activations and CUDA graphs (python/sglang/srt/server_args.py
``_handle_gpu_memory_settings``: ``(gpu_mem - reserved) / gpu_mem``, reserved >= 10 GiB on GPUs above 60 GiB, about
0.84 on an 80 GiB H100). This planner does not model that reserve and uses vLLM's budget (``--gpu-memory-utilization``,
default 0.9, less weights and the activation peak), which lands within a few GiB of it: a documented approximation.

TensorRT-LLM defaults: ``BaseLlmArgs.max_batch_size``/``max_num_tokens``, ``KvCacheConfig`` and
``SchedulerConfig.capacity_scheduler_policy`` in NVIDIA/TensorRT-LLM @0004396 tensorrt_llm/llmapi/llm_args.py (the
constants live in :mod:`profiler.analytic.memory`). ``trtllm-bench throughput`` instead tunes max_batch_size and
max_num_tokens to its dataset when they are not given (tensorrt_llm/bench/benchmark/throughput.py: ``get_settings``);
give ``--max-num-seqs`` / ``--max-num-batched-tokens`` to match a run of it.

Chunked prefill: the simulator always chunks prompts to the token budget (vLLM V1's behaviour). TensorRT-LLM leaves
it off by default (``enable_chunked_prefill=False``; trtllm-bench ``--enable_chunked_context`` off), and then
refuses a prompt longer than ``max_num_tokens`` ("should not exceed max_num_tokens", tensorrt_llm/llmapi/llm.py
``_check_arguments``): :func:`chunking_warning` says so when a run has such prompts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from planner import simulate as sim
from planner.launch import ENGINES  # one list of engines, in the light module plan imports
from planner.step_model import Deployment
from profiler.analytic import memory
from profiler.errors import InvalidValueError

TRTLLM_POLICIES = ("guaranteed-no-evict", "max-utilization")  # planner.simulate.engine.POLICIES, TRT-LLM's two
DEFAULT_TRTLLM_POLICY = "guaranteed-no-evict"  # SchedulerConfig.capacity_scheduler_policy default (llm_args.py)
ENGINE_NAMES = {"vllm": "vLLM V1", "trtllm": "TensorRT-LLM", "sglang": "SGLang"}
# What --max-num-seqs / --max-num-batched-tokens are called in each engine's own settings.
LIMIT_NAMES = {"vllm": ("max_num_seqs", "max_num_batched_tokens"), "trtllm": ("max_batch_size", "max_num_tokens"),
               "sglang": ("max_running_requests", "chunked_prefill_size")}
SGLANG_PAGE_SIZE = 1  # ServerArgs.page_size default (python/sglang/srt/server_args.py): KV pages of one token
GIB = 1024**3


def sglang_default_limits(gpu_memory_bytes: float, kv_tokens: int, context_len: int) -> tuple[int, int]:
    """``(max_running_requests, chunked_prefill_size)`` SGLang picks when they are not given.

    - chunked_prefill_size by the GPU's memory (sgl-project/sglang python/sglang/srt/server_args.py,
      ``ServerArgs._handle_gpu_memory_settings``, v0.5 series): < 35 GiB 2048 (A10, 4090, 5090; also the T4 class),
      < 60 GiB 4096 (A100 40 GB, L40), < 160 GiB 8192 (H100, A100 80 GB, H20, H200), else 16384 (B200, MI300).
      Older releases (v0.4) used 2048 below 25 GB and 8192 above; the two agree on every >= 60 GiB GPU.
    - max_running_requests = ``min(max(min(int(kv_tokens / context_len * 512), 4096), 2048), kv_tokens // 2)``: the
      request-slot pool (python/sglang/srt/model_executor/model_runner.py, ``max_num_reqs``) and the scheduler's
      ``max_total_num_tokens // 2`` (python/sglang/srt/managers/scheduler.py).
    SGLang's decode batch is not bounded by the chunk size, but this simulator spends one step budget on decodes and
    prefill (vLLM's rule), so the default running limit is also capped at the chunk size (binding only on < 60 GiB
    GPUs with a large cache).
    """
    gib = gpu_memory_bytes / GIB
    chunk = 2048 if gib < 35 else 4096 if gib < 60 else 8192 if gib < 160 else 16384
    slots = max(min(int(kv_tokens / max(context_len, 1) * 512), 4096), 2048)
    return max(1, min(slots, kv_tokens // 2, chunk)), chunk


@dataclass(frozen=True)
class EngineKnobs:
    """The engine options of `simulate` and `throughput` as given (``None``: the engine's default).

    ``gpu_memory_utilization``: for vLLM (and SGLang, sized like vLLM) the share of the GPU's memory the engine
    may use; for TensorRT-LLM the share of the memory left free after weights and activations that goes to the KV
    cache (``KvCacheConfig.free_gpu_memory_fraction``). ``capacity_policy``: TensorRT-LLM only.
    """

    engine: str = "vllm"
    capacity_policy: str | None = None
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    max_model_len: int | None = None
    gpu_memory_utilization: float | None = None

    @property
    def policy(self) -> str:
        """The simulator's capacity policy (planner.simulate.engine.POLICIES)."""
        if self.engine in ("vllm", "sglang"):
            return self.engine
        return self.capacity_policy or DEFAULT_TRTLLM_POLICY


def check_knobs(knobs: EngineKnobs) -> EngineKnobs:
    """Refuse what no engine would take, in the command-line options' terms (one line each)."""
    if knobs.engine not in ENGINES:
        raise InvalidValueError(f"--engine must be one of {', '.join(ENGINES)}, not '{knobs.engine}'")
    if knobs.capacity_policy is not None:
        if knobs.engine != "trtllm":
            raise InvalidValueError(f"--capacity-policy chooses TensorRT-LLM's capacity scheduler; "
                                    f"{ENGINE_NAMES[knobs.engine]} has one policy (preempt by recompute): add "
                                    "--engine trtllm or drop --capacity-policy")
        if knobs.capacity_policy not in TRTLLM_POLICIES:
            raise InvalidValueError(f"--capacity-policy must be one of {', '.join(TRTLLM_POLICIES)}, not "
                                    f"'{knobs.capacity_policy}'")
    for option, value in (("--max-num-seqs", knobs.max_num_seqs),
                          ("--max-num-batched-tokens", knobs.max_num_batched_tokens)):
        if value is not None and not (isinstance(value, int) and value >= 1):
            raise InvalidValueError(f"{option} must be an integer >= 1, got {value!r}")
    mml = knobs.max_model_len
    if mml is not None and not (isinstance(mml, int) and mml >= 2):
        raise InvalidValueError(f"--max-model-len must be an integer >= 2 (a prompt token and an output token), "
                                f"got {mml!r}")
    f = knobs.gpu_memory_utilization
    if f is not None and not (isinstance(f, (int, float)) and 0 < f <= 1):
        what = ("TensorRT-LLM's free_gpu_memory_fraction: the share of the memory left free after weights and "
                "activations that holds the KV cache; default 0.9" if knobs.engine == "trtllm"
                else "the share of GPU memory vLLM may use; vLLM's default is 0.9, people run 0.95-0.98")
        raise InvalidValueError(f"--gpu-memory-utilization must be a fraction in (0, 1] ({what}), got {f:g}")
    return knobs


def default_limits(engine: str, dep: Deployment, kv_tokens: int | None = None,
                   context_len: int | None = None) -> tuple[int, int]:
    """``(max_num_seqs, max_num_batched_tokens)`` the engine picks on this GPU when they are not given. SGLang's
    running limit depends on its KV capacity and context length (``kv_tokens``, ``context_len``; without them its
    request-slot pool's upper bound, 4096)."""
    if engine == "trtllm":
        return memory.TRTLLM_MAX_BATCH_SIZE, memory.TRTLLM_MAX_NUM_TOKENS
    if engine == "sglang":
        return sglang_default_limits(dep.gpu.hbm_bytes, 8192 if kv_tokens is None else kv_tokens,
                                     1 if context_len is None else context_len)
    return sim.vllm_default_limits(dep.gpu.hbm_bytes, dep.gpu.id)


def limits(knobs: EngineKnobs, dep: Deployment, kv_tokens: int | None = None,
           context_len: int | None = None) -> tuple[int, int]:
    """The limits the run uses: the knobs given, the engine's defaults for the rest; the token budget must hold a
    decode of every running sequence (vLLM refuses otherwise; TensorRT-LLM warns)."""
    seqs0, tokens0 = default_limits(knobs.engine, dep, kv_tokens, context_len)
    seqs = knobs.max_num_seqs if knobs.max_num_seqs is not None else seqs0
    tokens = knobs.max_num_batched_tokens if knobs.max_num_batched_tokens is not None else tokens0
    if tokens < seqs:
        s_name, t_name = LIMIT_NAMES[knobs.engine]
        t_what = "" if knobs.max_num_batched_tokens is not None else f", {ENGINE_NAMES[knobs.engine]}'s default"
        s_what = "" if knobs.max_num_seqs is not None else f", {ENGINE_NAMES[knobs.engine]}'s default"
        raise InvalidValueError(
            f"--max-num-batched-tokens ({t_name} {tokens:,}{t_what}) must be >= --max-num-seqs ({s_name} {seqs:,}"
            f"{s_what}) so that every running sequence's decode fits one step (vLLM requires it); raise the token "
            "budget or lower --max-num-seqs")
    return seqs, tokens


def trtllm_bench_limits(kv_tokens: int, input_tokens: int, output_tokens: int, pp: int = 1) -> tuple[int, int]:
    """``(max_batch_size, max_num_tokens)`` that ``trtllm-bench throughput`` tunes for a dataset of one ISL/OSL when
    they are not given (NVIDIA/TensorRT-LLM tensorrt_llm/bench/build/tuning.py ``calc_engine_setting`` and
    ``finetune_setting``): requests the KV cache holds, ``R = kv_tokens / (ISL + OSL)``; ``bs = min(R, 4096) / pp``,
    rounded up to 32 (at least 64) below 256, to 128 below 1,024, else to 256; ``tokens = min(bs_raw x (1 + ISL /
    OSL), 32768)``, rounded up to 256 (at least 2,048) below 4,096, to 512 below 8,192, else to 1,024. (trtllm-bench
    estimates R from the datasheet memory less the parameters x bytes, x its KV fraction; the engine's own KV
    capacity stands in for it here.) The token budget is raised to the batch if rounding left it below."""
    raw_bs = min(kv_tokens / max(input_tokens + output_tokens, 1), 4096) / pp
    raw_token = min(raw_bs * (1 + input_tokens / output_tokens), 32768)
    bs = max(64, _round_up(raw_bs, ((256, 32), (1024, 128)), 256))
    tokens = max(2048, _round_up(raw_token, ((4096, 256), (8192, 512)), 1024))
    return bs, max(tokens, bs)


def _round_up(x: float, rungs: tuple[tuple[int, int], ...], last: int) -> int:
    """`x` rounded up to the step of the first rung ``(below, step)`` with ``x < below``, else to `last`."""
    step = next((st for below, st in rungs if x < below), last)
    return step * math.ceil(x / step)


def max_model_len(knobs: EngineKnobs, dep: Deployment) -> int:
    """The longest prompt + output the engine accepts: ``--max-model-len``, at most the model's context."""
    ctx = dep.model.max_context
    if knobs.max_model_len is None:
        return ctx
    if knobs.max_model_len > ctx:
        raise InvalidValueError(f"--max-model-len {knobs.max_model_len:,} exceeds {dep.model.name}'s max context of "
                                f"{ctx:,} tokens; give at most {ctx:,}")
    return knobs.max_model_len


def kv_cache(knobs: EngineKnobs, dep: Deployment, step, max_num_tokens: int, mml: int) -> tuple[int, int]:
    """``(kv_blocks, block_size)`` of one replica: vLLM's budget from the step model (the memory model, or a measured
    profile's capacity); TensorRT-LLM's free-memory fraction (memory.trtllm_kv_capacity_tokens); SGLang: vLLM's
    budget (module docstring) in 1-token pages."""
    if knobs.engine == "trtllm":
        fraction = knobs.gpu_memory_utilization or memory.TRTLLM_FREE_GPU_MEMORY_FRACTION
        bs = memory.TRTLLM_TOKENS_PER_BLOCK
        tokens = memory.trtllm_kv_capacity_tokens(dep.model, dep.gpu, dep.quant, dep.kv_dtype, dep.tp, fraction,
                                                  max_num_tokens, mml, bs)
    else:
        bs = SGLANG_PAGE_SIZE if knobs.engine == "sglang" else memory.BLOCK_TOKENS
        tokens = step.kv_capacity_tokens() if hasattr(step, "kv_capacity_tokens") else 0
    blocks = tokens // bs
    if blocks < 1:
        raise InvalidValueError(f"{dep.model.name} at {dep.quant.id} leaves no KV cache on {dep.tp}x {dep.gpu.id} "
                                f"under {ENGINE_NAMES[knobs.engine]}; try `inferplan profile` to see what fits")
    return int(blocks), bs


def engine_config(dep: Deployment, step, knobs: EngineKnobs) -> sim.EngineConfig:
    """The simulator's scheduler for ``dep`` under ``knobs`` (module docstring), checked."""
    check_knobs(knobs)
    mml = max_model_len(knobs, dep)
    if knobs.engine == "sglang":  # its default running limit follows from its KV capacity
        blocks, bs = kv_cache(knobs, dep, step, 0, mml)
        seqs, tokens = limits(knobs, dep, blocks * bs, mml)
    else:
        seqs, tokens = limits(knobs, dep)
        blocks, bs = kv_cache(knobs, dep, step, tokens, mml)
    return sim.EngineConfig(kv_blocks=blocks, max_num_seqs=seqs, max_num_batched_tokens=tokens, block_size=bs,
                            max_model_len=mml, policy=knobs.policy)


def describe(config: sim.EngineConfig, knobs: EngineKnobs) -> dict[str, Any]:
    """The engine as a result shows it (vLLM's names for the limits, whatever the engine)."""
    return {"engine": knobs.engine, "policy": config.policy, "max_num_seqs": config.max_num_seqs,
            "max_num_batched_tokens": config.max_num_batched_tokens, "max_model_len": config.max_model_len,
            "kv_tokens": config.kv_tokens, "kv_blocks": config.kv_blocks, "block_size": config.block_size}


def chunking_warning(config: sim.EngineConfig, knobs: EngineKnobs, longest_prompt: float) -> str | None:
    """TensorRT-LLM refuses prompts above max_num_tokens unless chunked prefill is on; the simulator chunks them."""
    if knobs.engine != "trtllm" or not longest_prompt > config.max_num_batched_tokens:
        return None
    return (f"prompts of up to {math.ceil(longest_prompt):,} tokens exceed max_num_tokens "
            f"{config.max_num_batched_tokens:,}: TensorRT-LLM refuses them unless chunked prefill is on "
            "(enable_chunked_prefill; trtllm-bench --enable_chunked_context), which is off by default; they are "
            "simulated as if it were on (or raise --max-num-batched-tokens)")


def preemption_warning(knobs: EngineKnobs, preemptions: int, where: str = "") -> str | None:
    """What a run with preemptions means: the engine re-prefilled the preempted requests (recompute). vLLM V1 does
    this for real, re-admitting a long prompt chunk by chunk and preempting it again (vllm-project/vllm issue
    #25538, PR #21793; the comment above planner.simulate.engine.POLICIES)."""
    if preemptions <= 0:
        return None
    head = f"{preemptions:,} preemptions{where}: the KV cache ran short and the engine re-prefilled the preempted " \
           "requests (their prompt and the tokens generated so far), "
    if knobs.engine == "vllm":
        return head + ("which real vLLM also does: vLLM V1 preempts by recompute under this load; TensorRT-LLM's "
                       "default policy would not (--engine trtllm)")
    if knobs.engine == "sglang":
        return head + ("as SGLang retracts decoding requests when its new_token_ratio estimate of their remaining "
                       "output proved optimistic (\"KV cache pool is full. Retract requests.\"); SGLang's "
                       "--schedule-conservativeness above 1 makes it admit less and retract less")
    return head + ("as TensorRT-LLM's MAX_UTILIZATION policy pauses requests when the cache runs short; its default "
                   "GUARANTEED_NO_EVICT would not (--capacity-policy guaranteed-no-evict)")


__all__ = ["DEFAULT_TRTLLM_POLICY", "ENGINES", "ENGINE_NAMES", "SGLANG_PAGE_SIZE", "TRTLLM_POLICIES", "EngineKnobs",
           "check_knobs", "chunking_warning", "default_limits", "describe", "engine_config", "kv_cache", "limits",
           "max_model_len", "preemption_warning", "sglang_default_limits", "trtllm_bench_limits"]
