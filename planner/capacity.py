"""Per-replica capacity under latency SLOs, from a step-time model (analytic or profiled).

Steady state of a continuous-batching replica holding ``B`` running sequences, mean prompt
``L_in`` and output ``L_out`` tokens (chunked prefill mixed into decode steps, as vLLM v1 does):

    prefill tokens per step  p(B) = B x L_in / L_out           (each finished request is replaced)
    step time                s(B) = step(p(B), B, B x (L_in + L_out / 2))   -> TPOT (mean)
    TTFT(B)                 = s(B) + sum over the p99 prompt's chunks c_i of step(c_i, B, ...)   (c_i <= chunk - B)
    request rate            lam(B) = B / ((L_out + ceil(L_in / (chunk - B))) x s(B))    (Little's law)

The batch at the SLO is the largest ``B`` with TPOT <= SLO, TTFT <= SLO, ``p(B) <= chunk - B`` and
KV for ``B`` sequences of ``L_in + L_out`` tokens, one of them as long as ``--max-model-len`` (the p99
prompt + output), fitting the engine budget; a budget that cannot hold one max-model-len sequence is
infeasible, as vLLM refuses to start then. TTFT is the step in flight plus the p99 prompt's chunks.
A replica is loaded to at most ``MAX_UTILISATION`` of lam(B) at peak so queues stay bounded. Mean-value arithmetic: the
simulator (``--simulate``) replaces lam with the simulated p99-SLO rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.workload import Workload

MAX_UTILISATION = 0.8  # Kingman/M/G/1: waits grow as rho/(1-rho); rho = 0.8 keeps them ~4x service (design choice)
MAX_NUM_SEQS_CAP = 1024  # largest --max-num-seqs considered (vLLM default is 256; raised when memory allows)
CHUNK_TOKENS = 8192  # --max-num-batched-tokens assumed for chunked prefill (vLLM v1 server default)


@dataclass(frozen=True)
class Capacity:
    """What one replica sustains at the workload's SLOs. Seconds, requests/s, tokens/s."""

    feasible: bool
    batch: int = 0  # concurrent sequences at the SLO (-> --max-num-seqs)
    tpot_s: float = math.nan  # mean time per output token at that batch (infeasible: at one sequence)
    ttft_s: float = math.nan  # p99-length prompt's time to first token, no queueing (infeasible: at one sequence)
    requests_per_s: float = 0.0  # sustainable per replica, utilisation cap applied
    tokens_out_per_s: float = 0.0
    max_batch_memory: int = 0  # sequences of L_in + L_out tokens that fit the KV budget
    kv_capacity_tokens: int = 0
    limited_by: str = ""  # tpot | ttft | memory | prefill | max_num_seqs
    reason: str = ""  # why infeasible, saying what would help
    headroom: float = MAX_UTILISATION  # requests_per_s / the full rate (1.0 when the simulator set the rate)
    max_num_seqs: int = 0  # the engine's --max-num-seqs when it differs from `batch` (simulated: the engine limit)


def capacity_shape(w: Workload) -> tuple:
    """What a replica's capacity depends on in a workload (lengths and their spread, the SLOs, the cached share):
    not the volume, so ``Workload.scaled_to`` keeps it. Memo keys of the capacity models (planner.search,
    planner.p99_plan, planner.capacity_store) use it. The mean lengths are tokens / requests, which ``scaled_to``'s
    float rounding moves in the last bit at about half of all volumes: they enter to SHAPE_DIGITS significant
    digits, so a sweep over volumes sizes each candidate once (the capacities of lengths that close differ by
    ~1e-15 relative, below any replica or batch step)."""
    return (_sig(w.mean_input_tokens), _sig(w.mean_output_tokens), w.input_dist, w.output_dist, w.ttft_p99_s,
            w.tpot_p99_s, w.cached_input_fraction)


SHAPE_DIGITS = 12


def _sig(x: float) -> float:
    return float(f"{x:.{SHAPE_DIGITS}g}")


def _lengths(w: Workload) -> tuple[float, float, float]:
    return w.mean_input_tokens, w.mean_output_tokens, w.input_tokens_p99


def prefill_share(w: Workload) -> float:
    """Share of prompt tokens a replica computes: the rest (``cached_input_fraction``, the share an API bills as
    cached) comes from vLLM's automatic prefix cache (on by default in V1), which skips their prefill but keeps
    them in the KV cache and in every attention read. Assumes requests sharing a prefix reach the replica that
    holds it (prefix-aware routing, e.g. vLLM production-stack's or SGLang's router)."""
    return 1.0 - w.cached_input_fraction


def _prefill_steps(l_in: float, b: int) -> int:
    return math.ceil(l_in / max(CHUNK_TOKENS - b, 1))


def _tpot(step, b: int, l_in: float, l_out: float, f: float = 1.0) -> float | None:
    """Decode step beside the prefill tokens that keep pace with `b` sequences' arrivals (`f`: prefill_share)."""
    p = b * l_in * f / l_out
    if p > CHUNK_TOKENS - b:
        return None  # cannot keep up with prefill at this concurrency
    return step(round(p), b, int(b * (l_in + l_out / 2)))


def _ttft(step, b: int, l_in: float, l_out: float, l_in99: float, f: float = 1.0) -> float:
    """The p99 prompt's time to first token beside `b` running sequences, no queueing: the step in flight
    when it arrives (a steady mixed step), then its chunks of ``CHUNK_TOKENS - b`` tokens and the remainder,
    each beside the `b` decodes and attending the chunks before it; the first token comes with the last. With a
    prefix cache (`f` < 1) only the uncached share is prefilled, after (and attending) the cached prefix."""
    ctx = int(b * (l_in + l_out / 2))
    in_flight = _tpot(step, b, l_in, l_out, f)
    total = in_flight if in_flight is not None else step(0, b, ctx)
    c = max(CHUNK_TOKENS - b, 1)
    prompt = int(math.ceil(l_in99 * f))
    done = 0
    ctx += int(l_in99) - prompt  # the cached prefix the chunks attend
    while done < prompt:
        n = min(c, prompt - done)
        total += step(n, b, ctx + done + n)
        done += n
    return total


def _ok(step, b: int, w: Workload) -> tuple[bool, str]:
    l_in, l_out, l_in99 = _lengths(w)
    f = prefill_share(w)
    tpot = _tpot(step, b, l_in, l_out, f)
    if tpot is None:
        return False, "prefill"
    if tpot > w.tpot_p99_s:
        return False, "tpot"
    if _ttft(step, b, l_in, l_out, l_in99, f) > w.ttft_p99_s:
        return False, "ttft"
    return True, ""


def replica_capacity(step, workload: Workload) -> Capacity:
    """Largest SLO-meeting batch and the request rate one replica sustains with it.

    `step` is a step-time model with ``step(prefill_tokens, decode_seqs, context_tokens) -> s``,
    ``max_batch(context)``, ``kv_capacity_tokens()`` and ``max_context()`` (planner.step_model).
    """
    l_in, l_out, l_in99 = _lengths(workload)
    f = prefill_share(workload)
    model_max = step.max_context() if hasattr(step, "max_context") else 2**31  # test doubles may not say
    longest = max_model_len(workload.longest_request_tokens, model_max)
    if step.max_batch(longest) < 1:  # vLLM refuses to start when one max-model-len sequence does not fit
        return Capacity(False, limited_by="memory", reason=f"no room in the KV cache for one {longest:,}-token "
                        "sequence (--max-model-len: the p99.9 prompt + output) beside the weights; use more TP, a "
                        "smaller quant or a larger GPU")
    mean = int(math.ceil(l_in + l_out))
    # sequences of mean length, with room for one longest request among them (paged KV; measured not needed)
    b_mem = step.max_batch(mean) - math.ceil(longest / mean) + 1
    if b_mem < 1:
        b_mem = 1  # the longest request alone fits (checked above): a replica of one sequence at a time
    cap = min(b_mem, MAX_NUM_SEQS_CAP)
    ok1, why1 = _ok(step, 1, workload)
    if not ok1:  # tpot_s / ttft_s: one sequence alone, the closest this replica gets to the SLOs
        tpot1 = _tpot(step, 1, l_in, l_out, f)
        return Capacity(False, tpot_s=math.nan if tpot1 is None else tpot1,
                        ttft_s=_ttft(step, 1, l_in, l_out, l_in99, f),
                        max_batch_memory=b_mem, limited_by=why1, reason=_why_not(step, workload, why1))
    lo, hi = 1, cap  # invariant: lo passes; find the largest passing batch (monotone in B)
    limited = "memory" if b_mem <= MAX_NUM_SEQS_CAP else "max_num_seqs"
    ok_hi, why_hi = _ok(step, hi, workload)
    if ok_hi:
        lo = hi
    else:
        limited = why_hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            ok, why = _ok(step, mid, workload)
            lo, hi, limited = (mid, hi, limited) if ok else (lo, mid, why)
    b = lo
    tpot = _tpot(step, b, l_in, l_out, f)
    lam = b / ((l_out + _prefill_steps(l_in * f, b)) * tpot)
    return Capacity(True, batch=b, tpot_s=tpot, ttft_s=_ttft(step, b, l_in, l_out, l_in99, f),
                    requests_per_s=lam * MAX_UTILISATION, tokens_out_per_s=lam * MAX_UTILISATION * l_out,
                    max_batch_memory=b_mem, kv_capacity_tokens=step.kv_capacity_tokens(), limited_by=limited)


MAX_MODEL_LEN_STEP = 1024  # --max-model-len is the p99.9 request rounded up to this (design choice: tidy flags)


def max_model_len(longest_request_tokens: float, model_max_context: int) -> int:
    """The longest request admitted (Workload.longest_request_tokens: p99.9 prompt + output) rounded up to
    MAX_MODEL_LEN_STEP tokens, within the model's limit."""
    want = int(math.ceil(longest_request_tokens / MAX_MODEL_LEN_STEP) * MAX_MODEL_LEN_STEP)
    return max(min(MAX_MODEL_LEN_STEP, model_max_context), min(want, model_max_context))


def launch_max_model_len(longest_request_tokens: float, model_max_context: int, kv_capacity_tokens: int = 0) -> int:
    """--max-model-len to launch with: the longest request the plan admits (the p99.9 prompt + output,
    Workload.longest_request_tokens, rounded up to MAX_MODEL_LEN_STEP tokens, within the model's context:
    :func:`max_model_len`), not the whole KV cache: a
    longer limit admits requests whose prefill and KV the sizing never counted. Longer requests are refused
    instead (planner.launch's notes say how, and what to raise).
    `kv_capacity_tokens` is not used (kept for callers: planner.simulated passes it)."""
    del kv_capacity_tokens  # issue 11 item 10: the limit follows the workload, not the cache
    return max_model_len(longest_request_tokens, model_max_context)


def _why_not(step, w: Workload, why: str) -> str:
    l_in, l_out, l_in99 = _lengths(w)
    f = prefill_share(w)
    if why == "tpot":  # the value _ok compared: decode plus this sequence's share of prefill chunks
        t = _tpot(step, 1, l_in, l_out, f)
        return (f"even one sequence decodes at {t * 1e3:.1f} ms/token, above the TPOT p99 target of "
                f"{w.tpot_p99_s * 1e3:g} ms; a faster GPU, more TP or a smaller quant would help")
    if why == "ttft":
        t = _ttft(step, 1, l_in, l_out, l_in99, f)
        return (f"a {l_in99:.0f}-token prompt alone takes {t:.2f} s to its first token, above the TTFT p99 "
                f"target of {w.ttft_p99_s:.2f} s; more TP or a faster GPU would help")
    return "prompts are too long for the prefill budget at this batch"


def replicas_needed(capacity: Capacity, peak_requests_per_s: float) -> int:
    """Replicas that serve the peak rate, each at most MAX_UTILISATION loaded (at least one)."""
    if not capacity.feasible or capacity.requests_per_s <= 0:
        raise ValueError("replicas_needed on an infeasible capacity")
    return max(1, math.ceil(peak_requests_per_s / capacity.requests_per_s - 1e-12))


def utilisation(capacity: Capacity, replicas: int, mean_requests_per_s: float) -> float:
    """Mean load / full (uncapped) capacity of the replicas."""
    full = capacity.requests_per_s / capacity.headroom * replicas
    return mean_requests_per_s / full if full else math.nan
