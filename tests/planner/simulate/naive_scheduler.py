"""Reference scheduler for the engine tests: vLLM v1's rules written out naively, request by request.

Not a test module (nothing here is collected): the engine tests import it. It shares no code with
``planner.simulate.engine`` / ``state`` / ``decode_run`` (only the step-time model it is handed),
and every step loops over every running request, as vLLM's scheduler does:

- **Refusal**, decided here from the rule as vLLM states it: a request is refused up front when the
  KV blocks it would hold when it emits its last token — prompt + every output token but the last
  is cached, ``ceil((P + O − 1) / block_size)`` blocks — exceed the whole cache (it could not finish
  even alone), or when ``P + O`` exceeds ``max_model_len``.
- **Running first**, oldest first: each gets ``min(tokens it still has to compute, budget left)``;
  if its new blocks do not fit, the newest running request is preempted (blocks freed, progress
  dropped, back to the front of the queue) until they do.
- **Admission** (FCFS, only in a step without preemption): the head of the queue, while seats and
  budget last and its first chunk's blocks fit; under ``policy == "guaranteed-no-evict"`` (TensorRT-LLM)
  also only while the blocks every running request and the head will hold at their last tokens
  (``ceil((P + O − 1) / block_size)`` each) add up to at most the cache.
- A request whose cached tokens reach prompt + emitted emits a token at the step's end.
- ``policy == "sglang"`` (SGLang's scheduler, written from its source as cited in planner.simulate.state, by
  loops over the requests): before anything is allocated, the blocks every running request needs this step are
  added up; while they exceed the free blocks, SGLang's ``retract_decode`` runs literally: the decoding requests
  in running order, sorted by ``(tokens out, -prompt)`` with ``reverse=True``, popped from the end (never the last
  decode; the request mid-prefill only when no other decode is left), each freed and appended to the queue; then
  ``ratio = min(1, (Σ out + 20 · n) / Σ output)`` over the ``n`` decodes kept. Admission: ``rem`` = free tokens −
  ``ratio × Σ min(output − out, 4096)`` over the decoding requests − ``min(output, 4096)`` for a request whose last
  prefill chunk runs now; the head goes in while ``prompt + out + min(output − out, 4096) < rem``, then
  ``rem −= blocks · block_size`` of its chunk, and ``min(output, 4096)`` more if its whole prompt went in; stop at
  ``rem <= 0``. The ratio is ``r0`` after a reset (0.7 at the start) and ``max(r0 − decay · k, min)`` after ``k``
  steps that decoded without a retraction (written in closed form here, as the engine does, so that both
  round alike).
"""

from __future__ import annotations

from collections import deque

import numpy as np

# SGLang's constants (sources in planner.simulate.state), written out again here on purpose
SGL_R0, SGL_MIN = 0.7, 0.7 * 0.14
SGL_DECAY = (SGL_R0 - SGL_MIN) / 600
SGL_CLIP, SGL_RETRACT_STEPS = 4096, 20


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def refused(plen: int, olen: int, kv_blocks: int, block_size: int, max_model_len: int | None,
            policy: str = "vllm") -> bool:
    """The refusal rule (module docstring), in blocks: what the request would hold at its last token. SGLang:
    ``max_req_len = kv tokens − 1``; a prompt above ``max_req_len − 5`` is refused, and an output above
    ``max_req_len − P − 1`` would be cut, which counts as refused."""
    if policy == "sglang":
        max_req_len = kv_blocks * block_size - 1
        too_big = plen > max_req_len - 5 or olen > max_req_len - plen - 1
    else:
        too_big = ceil_div(plen + olen - 1, block_size) > kv_blocks
    return too_big or (max_model_len is not None and plen + olen > max_model_len)


def naive_simulate(req, cfg, step_time) -> dict:
    """Run ``req`` through one replica with limits ``cfg``. Returns per-request arrays (``first``,
    ``finish``, ``sched``, ``preemptions``, ``rejected``), ``steps`` (their count) and per-step lists
    ``dt``, ``prefill``, ``decodes``, ``waiting``, ``running`` (both after admission) and ``kv``
    (blocks in use after this step's allocations, before anything is freed)."""
    arrival, plen, olen = req.arrival_s.tolist(), req.input_tokens.tolist(), req.output_tokens.tolist()
    bs = cfg.block_size
    n = len(arrival)
    policy = getattr(cfg, "policy", "vllm")
    rejected = [refused(plen[i], olen[i], cfg.kv_blocks, bs, cfg.max_model_len, policy) for i in range(n)]
    computed, out, blocks, npre = [0] * n, [0] * n, [0] * n, [0] * n
    first, finish, sched = [np.nan] * n, [np.nan] * n, [np.nan] * n
    rec = {k: [] for k in ("dt", "prefill", "decodes", "waiting", "running", "kv")}
    waiting: deque[int] = deque()
    running: list[int] = []
    free, t, nxt = cfg.kv_blocks, 0.0, 0
    sgl = policy == "sglang"
    r0, k_dec = SGL_R0, 0  # SGLang's new_token_ratio after its last reset, decode steps since

    def decoding(q: int) -> bool:
        return out[q] >= 1 and computed[q] == plen[q] + out[q] - 1

    while True:
        while nxt < n and arrival[nxt] <= t:
            if not rejected[nxt]:
                waiting.append(nxt)
            nxt += 1
        if not running and not waiting:
            if nxt >= n:
                break
            t = arrival[nxt]
            continue
        budget, scheduled, preempted, idx = cfg.max_num_batched_tokens, [], False, 0
        while sgl and running:  # SGLang: retract before allocating, until every running request's blocks fit
            left, wanted = budget, 0
            for r in running:
                num = min(plen[r] + out[r] - computed[r], left)
                left -= num
                wanted += ceil_div(computed[r] + num, bs) - blocks[r]
            if wanted <= free:
                break
            dec = [q for q in running if decoding(q)]
            if len(dec) > 1 or len(dec) == len(running):
                dec.sort(key=lambda q: (out[q], -plen[q]), reverse=True)  # schedule_batch.py retract_decode
                victim = dec.pop()
            else:
                victim = next(q for q in running if not decoding(q))
            running.remove(victim)
            free += blocks[victim]
            blocks[victim] = computed[victim] = 0
            npre[victim] += 1
            waiting.append(victim)
            preempted = True
            kept = [q for q in running if decoding(q)]
            total_max = sum(olen[q] for q in kept)
            r0 = min(1.0, (sum(out[q] for q in kept) + SGL_RETRACT_STEPS * len(kept)) / total_max) if kept else 1.0
            k_dec = 0
        while idx < len(running) and budget > 0:  # running requests, oldest first
            r = running[idx]
            num = min(plen[r] + out[r] - computed[r], budget)
            while True:
                new = ceil_div(computed[r] + num, bs) - blocks[r]
                if new <= free:
                    free -= new
                    blocks[r] += new
                    break
                victim = running.pop()  # preempt the newest, by recompute
                free += blocks[victim]
                blocks[victim] = computed[victim] = 0
                npre[victim] += 1
                waiting.appendleft(victim)
                preempted = True
                if victim == r:
                    num = None
                    break
            if num is None:
                break
            scheduled.append((r, num))
            budget -= num
            idx += 1
        no_evict = policy == "guaranteed-no-evict"
        if sgl:
            ratio = r0 if k_dec == 0 else max(r0 - SGL_DECAY * k_dec, SGL_MIN)
            rem = free * bs - ratio * sum(min(olen[q] - out[q], SGL_CLIP) for q in running if decoding(q))
            rem -= sum(min(olen[q], SGL_CLIP) for q, num in scheduled
                       if not decoding(q) and computed[q] + num == plen[q] + out[q])
        while sgl and not preempted and waiting and budget > 0 and len(running) < cfg.max_num_seqs and rem > 0:
            r = waiting[0]
            if plen[r] + out[r] + min(olen[r] - out[r], SGL_CLIP) >= rem:
                break
            num = min(plen[r] + out[r], budget)
            waiting.popleft()
            free -= ceil_div(num, bs)
            blocks[r] = ceil_div(num, bs)
            rem -= blocks[r] * bs + (min(olen[r], SGL_CLIP) if num == plen[r] + out[r] else 0)
            running.append(r)
            scheduled.append((r, num))
            budget -= num
            sched[r] = t if np.isnan(sched[r]) else sched[r]
        while not sgl and not preempted and waiting and budget > 0 and len(running) < cfg.max_num_seqs:  # FCFS
            r = waiting[0]
            num = min(plen[r] + out[r], budget)
            if ceil_div(num, bs) > free:
                break
            if no_evict and sum(ceil_div(plen[q] + olen[q] - 1, bs) for q in [*running, r]) > cfg.kv_blocks:
                break
            waiting.popleft()
            free -= ceil_div(num, bs)
            blocks[r] = ceil_div(num, bs)
            running.append(r)
            scheduled.append((r, num))
            budget -= num
            sched[r] = t if np.isnan(sched[r]) else sched[r]
        decodes = {r for r, num in scheduled if out[r] >= 1 and computed[r] == plen[r] + out[r] - 1}
        prefill = sum(num for r, num in scheduled if r not in decodes)
        if decodes and not preempted:
            k_dec += 1
        dt = step_time(prefill, len(decodes), sum(computed[r] + num for r, num in scheduled))
        for key, value in (("dt", dt), ("prefill", prefill), ("decodes", len(decodes)), ("waiting", len(waiting)),
                           ("running", len(running)), ("kv", cfg.kv_blocks - free)):
            rec[key].append(value)
        t_end = t + dt
        for r, num in scheduled:
            computed[r] += num
            if computed[r] == plen[r] + out[r]:  # a token comes out
                out[r] += 1
                first[r] = t_end if out[r] == 1 else first[r]
                if out[r] == olen[r]:
                    finish[r] = t_end
                    free += blocks[r]
                    blocks[r] = 0
                    running.remove(r)
        t = t_end
    return {"first": np.array(first), "finish": np.array(finish), "sched": np.array(sched),
            "preemptions": np.array(npre), "rejected": np.array(rejected, dtype=bool), "steps": len(rec["dt"]),
            **rec}


def assert_matches(run, ref, *, rtol: float = 1e-9) -> None:
    """The engine's ``run`` equals the reference ``ref`` request by request and step by step.

    KV blocks are compared at every step where the engine records them exactly: every single step,
    and the first and last step of a decode-only stretch advanced in closed form (inside one, the
    engine's step table interpolates).
    """
    np.testing.assert_array_equal(run.rejected, ref["rejected"])
    ok = ~ref["rejected"]
    assert np.isnan(run.finish_s[~ok]).all() and np.isnan(run.first_token_s[~ok]).all()
    np.testing.assert_allclose(run.first_token_s[ok], ref["first"][ok], rtol=rtol)
    np.testing.assert_allclose(run.finish_s[ok], ref["finish"][ok], rtol=rtol)
    np.testing.assert_allclose(run.first_scheduled_s[ok], ref["sched"][ok], rtol=rtol)
    np.testing.assert_array_equal(run.preemptions, ref["preemptions"])
    assert run.n_steps == ref["steps"]
    steps = run.steps()
    np.testing.assert_allclose(steps["dt_s"], ref["dt"], rtol=rtol)
    for col, key in (("prefill_tokens", "prefill"), ("decode_seqs", "decodes"), ("waiting", "waiting"),
                     ("running", "running")):
        np.testing.assert_array_equal(steps[col], ref[key], err_msg=col)
    last = np.cumsum(run.seg_steps) - 1
    kv = np.asarray(ref["kv"], dtype=np.int64)
    np.testing.assert_array_equal(run.kv_first, kv[last - run.seg_steps + 1])
    np.testing.assert_array_equal(run.kv_last, kv[last])
