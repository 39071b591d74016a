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
"""

from __future__ import annotations

from collections import deque

import numpy as np


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def refused(plen: int, olen: int, kv_blocks: int, block_size: int, max_model_len: int | None) -> bool:
    """The refusal rule (module docstring), in blocks: what the request would hold at its last token."""
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
    rejected = [refused(plen[i], olen[i], cfg.kv_blocks, bs, cfg.max_model_len) for i in range(n)]
    computed, out, blocks, npre = [0] * n, [0] * n, [0] * n, [0] * n
    first, finish, sched = [np.nan] * n, [np.nan] * n, [np.nan] * n
    rec = {k: [] for k in ("dt", "prefill", "decodes", "waiting", "running", "kv")}
    waiting: deque[int] = deque()
    running: list[int] = []
    free, t, nxt = cfg.kv_blocks, 0.0, 0
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
        no_evict = getattr(cfg, "policy", "vllm") == "guaranteed-no-evict"
        while not preempted and waiting and budget > 0 and len(running) < cfg.max_num_seqs:  # FCFS
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
