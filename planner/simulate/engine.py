"""One serving replica with continuous batching, step by step, as vLLM v1 schedules it.

The replica (vLLM ``vllm/v1/core/sched/scheduler.py``, FCFS policy, no prefix-cache hits, no
speculative decoding) is modelled as follows. Each *step* is one forward pass:

1. **Arrivals** up to the step's start time join the back of the waiting queue.
2. **Running requests first**, in admission order: every decoding sequence gets one token, and the
   (at most one) request with an unfinished prefill gets the next chunk,
   ``min(tokens left to prefill, token budget left)``. The token budget per step is
   ``max_num_batched_tokens`` (vLLM requires it to be ≥ ``max_num_seqs``, so every decode fits).
3. **KV cache**: paged, ``kv_blocks`` blocks of ``block_size`` (16) tokens. A sequence holds
   ``ceil(tokens in cache / block_size)`` blocks; a decode step needs a new block when its cache
   is a whole number of blocks. If the running requests need more blocks than are free, the
   **newest** running request is **preempted by recompute** (its blocks freed, its progress
   dropped, put back at the *front* of the waiting queue), repeatedly, until the rest fit.
   A resumed request re-prefills prompt + tokens generated so far and then continues.
4. **Admission** (only in a step with no preemption): while fewer than ``max_num_seqs`` run and
   token budget is left, the head of the waiting queue is admitted with a chunk of
   ``min(its prompt, budget left)`` tokens if the free blocks cover the chunk; otherwise admission
   stops (FCFS: no overtaking). Under ``policy="guaranteed-no-evict"`` (TensorRT-LLM's default) the
   head is admitted only if, besides, the blocks it will hold at its last token fit beside those of
   every running request at theirs: step 3 then never preempts (see :data:`POLICIES`). Under
   ``policy="sglang"`` the head is admitted while its prompt + clipped output fit the free tokens less the
   running requests' expected future tokens (SGLang's ``new_token_ratio``), and step 3 *retracts* the decodes
   SGLang would (fewest tokens out first) and resets the ratio (:func:`planner.simulate.state.admit_sglang`,
   :func:`planner.simulate.state.retract_until_fits`).
5. The step's duration comes from the step-time model for the step's totals (prefill tokens,
   decode sequences, context tokens attended, see :mod:`planner.simulate.step_time`). A request
   whose prefill completes in a step emits its next token at the step's end (the first token for
   a fresh request); each decode emits one token at the step's end.

Requests whose prompt + output cannot fit the whole KV cache (``P + O − 1 > kv_blocks ·
block_size``) or exceed ``max_model_len`` are *rejected* up front, as vLLM refuses them.

Speed: no step loops over the batch. A decoding request is stored by the step it entered decode
in, so the batch's context total, the blocks it needs and who finishes when all follow from the
step counter (:mod:`planner.simulate.state`); only events (admission, prefill completion,
finish, preemption) touch one request. Decode-only stretches between arrivals are advanced in
closed form (:mod:`planner.simulate.decode_run`) and recorded run-length encoded.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.simulate import decode_run
from planner.simulate.arrivals import Requests
from planner.simulate.limits import MAX_ENGINE_ITERATIONS
from planner.simulate.state import (
    RUN_FIELDS,
    STEP_FIELDS,
    Book,
    admit,
    admit_sglang,
    complete_prefills,
    finish_decodes,
    preempt_until_fits,
    retract_until_fits,
)
from planner.simulate.step_time import StepTimeModel
from profiler.errors import InvalidValueError

CLOSED_FORM_MIN_STEPS = 8  # decode-only stretches expected shorter than this are stepped one by one
# (measured on this simulator: below ~8 steps the per-step loop is cheaper than the closed form's set-up)
PER_STEP_COLUMNS = ("prefill_tokens", "decode_seqs", "tokens_out", "waiting", "running")
VLLM_BLOCK_SIZE = 16  # vLLM CacheConfig.block_size default on CUDA (tokens per KV block)
GIB = 1024**3
# Capacity (admission) policies. "vllm": vLLM V1 admits a request when its first chunk's blocks are free and
# preempts the newest running request by recompute when a step runs short (vllm/v1/core/sched/scheduler.py,
# schedule(): running requests first, `self.running.pop()` on a failed allocate_slots, no admission in a step
# that preempted). "max-utilization": TensorRT-LLM's MAX_UTILIZATION capacity scheduler, which packs the cache
# the same way and pauses the newest requests when it runs short (tensorrt_llm/batch_manager
# capacityScheduler.cpp, MaxUtilizationScheduler); paused requests are recomputed here as in vLLM.
# Under KV pressure with long prompts the "vllm" policy re-admits a preempted request as soon as its next chunk
# fits and preempts it again a few chunks later: real vLLM V1 does this too (vllm-project/vllm issue #25538, PR
# #21793; PR #37307 added an opt-in to admit on the whole prompt), so the simulator reproduces it and says so.
# "guaranteed-no-evict": TensorRT-LLM's default GUARANTEED_NO_EVICT (GuaranteedNoEvictScheduler) admits a request
# only if the blocks for its whole prompt + max output fit beside every running request's, so it never evicts.
# "sglang": SGLang's scheduler (sgl-project/sglang python/sglang/srt/managers/schedule_policy.py PrefillAdder,
# scheduler.py update_running_batch, schedule_batch.py retract_decode; the constants and their sources are in
# planner.simulate.state): admit FCFS while prompt + min(output left, 4096) < free tokens − new_token_ratio ×
# Σ min(output left, 4096) over the running requests − what this step admitted; new_token_ratio starts at 0.7 and
# falls linearly to 0.098 over 600 decode steps; when a step runs short, retract the decodes with the fewest tokens
# out (then the longest prompt) by recompute, put them at the back of the queue and reset the ratio to
# min(1, (Σ tokens out + 20 · n) / Σ max output) over the n decodes kept. Simplified here: the output length stands
# for max_new_tokens (the simulator knows no other cap; real clients' max_tokens are larger, which SGLang's ratio
# exists to discount), no prefix cache (evictable radix tokens, the cache hits), prefill and decode share one step
# (SGLang runs a prefill batch *instead of* a decode step unless --enable-mixed-chunk), max_prefill_tokens and
# page-aligned chunk cuts are not modelled, and the request mid-prefill is preempted only if no decode is left.
POLICIES = ("vllm", "max-utilization", "guaranteed-no-evict", "sglang")


@dataclass(frozen=True)
class EngineConfig:
    """Scheduler limits of one replica (vLLM names).

    ``kv_blocks``: KV-cache capacity in blocks (vLLM's ``num_gpu_blocks``);
    ``max_num_seqs``: most requests running at once; ``max_num_batched_tokens``: token budget of one
    step; ``block_size``: tokens per block; ``max_model_len``: longest prompt + output accepted
    (``None``: only the KV capacity limits it); ``policy``: the capacity policy (:data:`POLICIES`).
    Defaults: vLLM's API-server defaults on GPUs under
    70 GiB (see :func:`vllm_default_limits`).
    """

    kv_blocks: int
    max_num_seqs: int = 256
    max_num_batched_tokens: int = 2048
    block_size: int = VLLM_BLOCK_SIZE
    max_model_len: int | None = None
    policy: str = "vllm"  # one of POLICIES

    def __post_init__(self) -> None:
        for name in ("kv_blocks", "max_num_seqs", "max_num_batched_tokens", "block_size"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise InvalidValueError(f"EngineConfig.{name} must be an integer >= 1, got {value!r}.")
        if self.max_num_batched_tokens < self.max_num_seqs:
            raise InvalidValueError(
                f"max_num_batched_tokens ({self.max_num_batched_tokens}) must be >= max_num_seqs "
                f"({self.max_num_seqs}), as vLLM requires; raise the token budget or lower max_num_seqs.")
        if self.policy not in POLICIES:
            raise InvalidValueError(f"EngineConfig.policy must be one of {', '.join(POLICIES)}, got "
                                    f"{self.policy!r}.")
        mml = self.max_model_len
        if mml is not None and (not isinstance(mml, (int, np.integer)) or mml < 2):
            raise InvalidValueError(
                f"EngineConfig.max_model_len must be an integer >= 2 or None, got {mml!r}.")

    @property
    def kv_tokens(self) -> int:
        """KV-cache capacity in tokens."""
        return self.kv_blocks * self.block_size


def vllm_default_limits(gpu_memory_bytes: float, gpu_name: str = "") -> tuple[int, int]:
    """``(max_num_seqs, max_num_batched_tokens)`` vLLM's API server picks when not given.

    Source: vLLM ``EngineArgs.get_batch_defaults`` (vllm/engine/arg_utils.py, v0.9–0.11): GPUs with
    ≥ 70 GiB that are not A100 get 1024 sequences / 8192 tokens for ``UsageContext.OPENAI_API_SERVER``;
    others 256 / 2048.
    """
    if gpu_memory_bytes >= 70 * GIB and "a100" not in gpu_name.lower():
        return 1024, 8192
    return 256, 2048


@dataclass(frozen=True, eq=False)
class EngineRun:
    """Raw record of one simulation, per request and per step; :mod:`planner.simulate.metrics` reads it.

    Per request (aligned with ``requests``; NaN where it never happened): ``first_token_s`` [s],
    ``finish_s`` [s] (last token), ``first_scheduled_s`` [s] (first admission), ``preemptions``
    [count], ``rejected`` [bool].

    Steps, run-length encoded in *segments* (one array entry per segment, in time order): segment
    ``i`` is ``seg_steps[i]`` consecutive steps from ``seg_start_s[i]``; its ``j``-th step lasts
    ``seg_dt_s[i] + seg_ddt_s[i] · j`` [s]; per step it schedules ``prefill_tokens[i]`` prompt
    tokens and ``decode_seqs[i]`` decodes, emits ``tokens_out[i]`` tokens, and has ``waiting[i]``
    and ``running[i]`` requests (after admission); KV blocks in use (after allocation) go from
    ``kv_first[i]`` to ``kv_last[i]``. Single steps have ``seg_steps == 1``.
    ``resume_gap_s`` / ``resume_at_s``: gap before, and time of, each token emitted right after a
    preempted request's re-prefill (the only inter-token gaps that are not one step long).
    """

    requests: Requests
    config: EngineConfig
    first_token_s: np.ndarray
    finish_s: np.ndarray
    first_scheduled_s: np.ndarray
    preemptions: np.ndarray
    rejected: np.ndarray
    seg_start_s: np.ndarray
    seg_steps: np.ndarray
    seg_dt_s: np.ndarray
    seg_ddt_s: np.ndarray
    prefill_tokens: np.ndarray
    decode_seqs: np.ndarray
    tokens_out: np.ndarray
    waiting: np.ndarray
    running: np.ndarray
    kv_first: np.ndarray
    kv_last: np.ndarray
    resume_gap_s: np.ndarray
    resume_at_s: np.ndarray

    @property
    def n_steps(self) -> int:
        return int(self.seg_steps.sum())

    @property
    def seg_duration_s(self) -> np.ndarray:
        """Length of each segment [s]: ``L · dt + ddt · L (L − 1) / 2``."""
        n = self.seg_steps
        return n * self.seg_dt_s + self.seg_ddt_s * n * (n - 1) / 2

    def steps(self) -> pd.DataFrame:
        """One row per engine step (segments expanded; KV in use interpolated inside a segment).

        Columns: ``start_s``, ``dt_s`` [s], ``prefill_tokens``, ``decode_seqs``, ``tokens_out``,
        ``waiting``, ``running``, ``kv_blocks``.
        """
        seg, j = expand_segments(self.seg_steps)
        dt0, ddt = self.seg_dt_s[seg], self.seg_ddt_s[seg]
        frac = j / np.maximum(self.seg_steps[seg] - 1, 1)
        kv0 = self.kv_first[seg]
        return pd.DataFrame({
            "start_s": self.seg_start_s[seg] + j * dt0 + ddt * j * (j - 1) / 2,
            "dt_s": dt0 + ddt * j,
            **{c: getattr(self, c)[seg] for c in PER_STEP_COLUMNS},
            "kv_blocks": np.rint(kv0 + frac * (self.kv_last[seg] - kv0)).astype(np.int64),
        })


def expand_segments(steps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each step: its segment index and its position ``j`` in the segment."""
    seg = np.repeat(np.arange(len(steps)), steps)
    starts = np.cumsum(steps) - steps
    return seg, np.arange(len(seg)) - starts[seg]


def rejected_mask(requests: Requests, config: EngineConfig) -> np.ndarray:
    """Requests the engine refuses: ``P + O − 1`` above the KV capacity, or ``P + O > max_model_len``.

    Under ``policy="sglang"`` the KV side is SGLang's: ``max_req_len = min(context_len − 1, max_total_num_tokens −
    1)``, prompts above ``max_req_len − 5`` are refused and ``max_new_tokens`` is capped at ``max_req_len − P − 1``
    (sgl-project/sglang python/sglang/srt/managers/tp_worker.py and scheduler.py ``init_req_max_new_tokens``), so a
    request whose output would be cut (``P + O > kv_tokens − 2``) counts as refused here. That cap is also what
    lets SGLang's admission (``P + O < free tokens``) take any request into an empty cache.
    """
    total = requests.input_tokens + requests.output_tokens
    if config.policy == "sglang":
        too_long = (total > config.kv_tokens - 2) | (requests.input_tokens > config.kv_tokens - 6)
    else:
        too_long = total - 1 > config.kv_tokens
    if config.max_model_len is not None:
        too_long |= total > config.max_model_len
    return too_long


def simulate(requests: Requests, config: EngineConfig, step_time: StepTimeModel, *,
             max_iterations: int | None = None) -> EngineRun:
    """Run ``requests`` through one replica until every accepted request has finished; a run that records more
    than ``max_iterations`` steps and decode stretches (None: :data:`MAX_ENGINE_ITERATIONS`) is stopped with
    :class:`InvalidValueError`."""
    if not callable(step_time):
        raise InvalidValueError("step_time must be callable as (prefill_tokens, decode_seqs, context_tokens) "
                                f"-> seconds, got {step_time!r}.")
    rejected = rejected_mask(requests, config)
    b = Book(requests.input_tokens.tolist(), requests.output_tokens.tolist(), config.block_size,
             no_evict=config.policy == "guaranteed-no-evict", sglang=config.policy == "sglang")
    _run(b, requests.arrival_s.tolist(), rejected.tolist(), config, step_time,
         MAX_ENGINE_ITERATIONS if max_iterations is None else max_iterations)
    return EngineRun(
        requests=requests, config=config,
        first_token_s=np.asarray(b.first, dtype=float), finish_s=np.asarray(b.finish, dtype=float),
        first_scheduled_s=np.asarray(b.sched, dtype=float), preemptions=np.asarray(b.npre, dtype=np.int64),
        rejected=rejected, **_segments(b),
        resume_gap_s=np.asarray(b.resume_gap, dtype=float), resume_at_s=np.asarray(b.resume_at, dtype=float),
    )


def _as_numpy(a: array) -> np.ndarray:
    return np.frombuffer(a, dtype=float if a.typecode == "d" else np.int64)


def _segments(b: Book) -> dict[str, np.ndarray]:
    """Merge single-step rows and decode runs into one segment table, ordered by step."""
    st = {f: _as_numpy(a) for f, a in zip(STEP_FIELDS, b.steps, strict=True)}
    ru = {f: _as_numpy(a) for f, a in zip(RUN_FIELDS, b.runs, strict=True)}
    n_st, n_ru = len(st["step"]), len(ru["step"])
    zeros, ones = np.zeros(n_ru, dtype=np.int64), np.ones(n_st, dtype=np.int64)
    merged = {
        "seg_start_s": (st["start_s"], ru["start_s"]), "seg_steps": (ones, ru["steps"]),
        "seg_dt_s": (st["dt_s"], ru["dt_s"]), "seg_ddt_s": (np.zeros(n_st), ru["ddt_s"]),
        "prefill_tokens": (st["prefill_tokens"], zeros),
        "decode_seqs": (st["decode_seqs"], ru["decode_seqs"]),
        "tokens_out": (st["tokens_out"], ru["decode_seqs"]), "waiting": (st["waiting"], zeros),
        "running": (st["running"], ru["decode_seqs"]), "kv_first": (st["kv_blocks"], ru["kv_first"]),
        "kv_last": (st["kv_blocks"], ru["kv_last"]),
    }
    order = np.argsort(np.concatenate([st["step"], ru["step"]]), kind="stable")
    return {k: np.concatenate(v)[order] for k, v in merged.items()}


def _next_decode_s(affine: decode_run.Affine, n_dec: int, ctx_a: int, step: int) -> float:
    """Duration of the next decode-only step, from the model's closed form."""
    o, a1, _, a2, _ = affine(n_dec, ctx_a + n_dec * step)
    return o + (a1 if a1 > a2 else a2)


def _decode_only(b: Book, step_time: StepTimeModel, step: int, t: float, lim: float, free: int, n_dec: int,
                 ctx_a: int, kv_blocks: int, budget: int) -> tuple[int, float, int, int, int, bool]:
    """Decode-only steps until ``lim``: in closed form when the model allows and the stretch is long."""
    affine = getattr(step_time, "decode_affine", None)
    if affine is not None and lim - t > CLOSED_FORM_MIN_STEPS * _next_decode_s(affine, n_dec, ctx_a, step):
        return decode_run.closed_form(b, affine, step, t, lim, free, n_dec, ctx_a, kv_blocks)
    return decode_run.step_by_step(b, step_time, step, t, lim, free, n_dec, ctx_a, kv_blocks, budget)


def _schedule_running(b: Book, step: int, t: float, partial: int, free: int, n_dec: int, ctx_a: int,
                      max_tokens: int, completing: list[int]) -> tuple[int, int, int, int, int, int, bool]:
    """Blocks for this step's decodes and the unfinished prefill's next chunk, preempting if short.

    Returns (prefill tokens, their context, partial, free, n_dec, ctx_a, preempted).
    """
    bs = b.bs
    need = b.cnt[-step % bs] if n_dec else 0
    p_chunk = p_need = 0
    if partial >= 0:
        p_chunk = min(b.plen[partial] + b.done[partial] - b.computed[partial], max_tokens - n_dec)
        p_need = (b.computed[partial] + p_chunk + bs - 1) // bs - b.held[partial]
    preempted = need + p_need > free
    if preempted:
        need, p_need, partial, free, n_dec, ctx_a = (retract_until_fits if b.sgl else preempt_until_fits)(
            b, step, t, need, p_need, partial, free, n_dec, ctx_a)
    free -= need + p_need
    if partial < 0:
        return 0, 0, partial, free, n_dec, ctx_a, preempted
    b.held[partial] += p_need
    b.pairs += p_chunk * b.computed[partial] + p_chunk * (p_chunk + 1) // 2  # after its cached prefix
    b.computed[partial] += p_chunk
    pf_ctx = b.computed[partial]
    if pf_ctx == b.plen[partial] + b.done[partial]:
        completing.append(partial)
        partial = -1
    return p_chunk, pf_ctx, partial, free, n_dec, ctx_a, preempted


def _over_budget(b: Book, t: float, rej: list[bool], budget: int) -> InvalidValueError:
    """The error of a run stopped at ``budget`` recorded segments (:data:`MAX_ENGINE_ITERATIONS`)."""
    done = sum(1 for f in b.finish if f == f)  # not NaN: finished
    accepted = len(rej) - sum(rej)
    return InvalidValueError(
        f"the simulation stopped after {budget:,} engine steps (the most one run takes, about two minutes of "
        f"simulating; planner.simulate.limits.MAX_ENGINE_ITERATIONS), at {t:,.0f} s of simulated time with {done:,} "
        f"of {accepted:,} requests finished: simulate fewer requests (a shorter --duration or a lower --rate), "
        "shorter outputs, or a larger --max-num-seqs / --max-num-batched-tokens (more requests a step).")


def _run(b: Book, arr: list[float], rej: list[bool], config: EngineConfig, step_time: StepTimeModel,
         budget: int) -> None:
    """The event loop: one iteration per engine step, or per decode-only stretch. Fills ``b``.

    Kept as one flat loop over local variables on purpose: it is the simulator's hot path. More than ``budget``
    recorded segments (steps and closed-form stretches: the loop's work and the run's memory) stop it.
    """
    kv_blocks, max_seqs, max_tokens = config.kv_blocks, config.max_num_seqs, config.max_num_batched_tokens
    seg_steps, seg_runs = b.steps[0], b.runs[0]
    waiting, running, fin = b.waiting, b.running, b.fin
    r_step, r_t, r_dt, r_pf, r_nd, r_out, r_w, r_r, r_kv = (a.append for a in b.steps)
    n, inf = len(arr), math.inf
    n_dec = ctx_a = 0  # decoding requests; Σ (d_c − d_s + 1), so the decode context is ctx_a + n_dec · step
    partial = -1  # the running request whose prefill is unfinished (at most one), or −1
    free, t, step, nxt, blocked = kv_blocks, 0.0, 0, 0, False
    sgl = b.sgl  # SGLang: its own admission; the decode steps run (b.dsteps) drive its new_token_ratio
    # a step model that takes the chunks' own context and causal pairs gets them (timing.mixed_step); others get
    # the totals (step_time module docstring)
    exact = getattr(step_time, "exact_prefill", False)
    while True:
        if len(seg_steps) + len(seg_runs) > budget:
            raise _over_budget(b, t, rej, budget)
        while nxt < n and arr[nxt] <= t:
            if not rej[nxt]:
                waiting.append(nxt)
            nxt += 1
        if not running and not waiting:
            if nxt >= n:
                return
            t = arr[nxt]
            continue
        if partial < 0 and not waiting and not blocked:
            s0 = step
            step, t, free, n_dec, ctx_a, blocked = _decode_only(
                b, step_time, step, t, arr[nxt] if nxt < n else inf, free, n_dec, ctx_a, kv_blocks, budget)
            if sgl:  # every step of a decode-only stretch decodes and retracts nothing
                b.dsteps += step - s0
            continue
        blocked = False
        completing: list[int] = []
        b.pairs = 0
        pf_tokens, pf_ctx, partial, free, n_dec, ctx_a, preempted = _schedule_running(
            b, step, t, partial, free, n_dec, ctx_a, max_tokens, completing)
        if waiting and not preempted and partial < 0:  # admission, FCFS, only in a step without preemption
            if sgl:
                free, admitted, partial = admit_sglang(b, t, step, max_tokens - n_dec - pf_tokens, free, max_seqs,
                                                       completing)
            else:
                free, admitted, partial = admit(b, t, max_tokens - n_dec - pf_tokens, free, max_seqs, completing,
                                                kv_blocks)
            pf_tokens += admitted
            pf_ctx += admitted
        ctx = ctx_a + n_dec * step + pf_ctx
        dt = step_time(pf_tokens, n_dec, ctx, pf_ctx, b.pairs) if exact and pf_tokens else step_time(
            pf_tokens, n_dec, ctx)
        if not 0.0 <= dt < inf:
            raise decode_run.bad_step(dt, (pf_tokens, n_dec, ctx))
        if not (pf_tokens or n_dec):  # pragma: no cover - the oldest request always fits
            raise RuntimeError("the simulator scheduled an empty step; please report this as a bug")
        t_end = t + dt
        r_step(step)
        r_t(t)
        r_dt(dt)
        r_pf(pf_tokens)
        r_nd(n_dec)
        r_out(n_dec + len(completing))
        r_w(len(waiting))
        r_r(len(running))
        r_kv(kv_blocks - free)
        if sgl and n_dec and not preempted:  # SGLang decays new_token_ratio after each decode step
            b.dsteps += 1
        ending = fin.pop(step, None)
        if ending:
            freed, dctx = finish_decodes(b, ending, step, t_end)
            free, n_dec, ctx_a = free + freed, n_dec - len(ending), ctx_a - dctx
        if completing:
            freed, added, dctx = complete_prefills(b, completing, step, t_end)
            free, n_dec, ctx_a = free + freed, n_dec + added, ctx_a + dctx
        t = t_end
        step += 1
