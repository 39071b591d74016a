"""The continuous-batching engine: vLLM v1 scheduling rules, KV paging, preemption, closed form.

The strongest check is differential: a naive simulator (naive_scheduler.py), written straight from
the vLLM v1 scheduler's rules (loops over every running request every step, decides refusals
itself), must give the fast engine's results request by request and step by step, with and
without preemption and refusals, for block sizes 8, 16 and 32. Off-by-one edges, derived by hand,
are in test_sim_scheduler_edges.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from planner.simulate import (
    EngineConfig,
    FixedStepTime,
    LogNormal,
    Poisson,
    Requests,
    RooflineStepTime,
    SloTargets,
    Uniform,
    WorkloadShape,
    make_requests,
    simulate,
    summarize,
    vllm_default_limits,
)
from profiler.errors import InvalidValueError
from tests.helpers import llama8b_h100_step
from tests.planner.simulate.naive_scheduler import assert_matches, naive_simulate, refused

LLAMA8B_H100 = llama8b_h100_step()

# name: (kv_blocks, max_num_seqs, max_num_batched_tokens, block_size, max_model_len, rate/s, requests).
# Lengths: prompts lognormal mean 400 (capped at 3,000), outputs uniform 1-300, so P + O ≤ 3,300.
CASES = {
    "roomy": (4000, 64, 2048, 16, None, 4.0, 250),
    "tight_kv_preempts": (300, 64, 512, 16, None, 6.0, 250),
    "chunked_long_prompts": (2000, 16, 256, 16, None, 2.0, 150),
    "tiny_budget": (600, 8, 16, 16, None, 3.0, 120),
    # 4,800 KV tokens in blocks of 8 and of 32: the same memory, other block arithmetic; both preempt
    "blocks_of_8_preempt": (600, 64, 512, 8, None, 6.0, 250),
    "blocks_of_32_preempt": (150, 64, 512, 32, None, 6.0, 250),
    # 150 × 16 = 2,400 KV tokens < the longest requests: some are refused for the KV cache
    "kv_refuses": (150, 32, 512, 16, None, 4.0, 250),
    # max_model_len 1,000 < the longest requests: some are refused for their length
    "max_model_len_refuses": (2000, 32, 512, 16, 1000, 4.0, 250),
}
PREEMPTING = {"tight_kv_preempts", "blocks_of_8_preempt", "blocks_of_32_preempt", "kv_refuses"}
REFUSING = {"kv_refuses", "max_model_len_refuses"}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("model", ["roofline", "plain_callable"])
def test_engine_matches_naive_reference(name, model):
    """The reference decides refusals itself and schedules request by request; the engine must agree on
    every request (refused or not, first token, finish, admission, preemptions) and every step."""
    kv_blocks, seqs, tokens, block_size, max_model_len, rate, n = CASES[name]
    cfg = EngineConfig(kv_blocks=kv_blocks, max_num_seqs=seqs, max_num_batched_tokens=tokens,
                       block_size=block_size, max_model_len=max_model_len)
    shape = WorkloadShape(Poisson(rate), LogNormal(400, 1.0, max_tokens=3000), Uniform(1, 300))
    req = make_requests(shape, n_requests=n, seed=11)
    step_time = LLAMA8B_H100 if model == "roofline" else (lambda p, d, c: LLAMA8B_H100(p, d, c))
    run = simulate(req, cfg, step_time)
    ref = naive_simulate(req, cfg, LLAMA8B_H100)
    assert_matches(run, ref)
    # each case exercises what it is named for, in the reference as in the engine
    assert (ref["preemptions"].sum() > 0) == (name in PREEMPTING)
    assert (ref["rejected"].sum() > 0) == (name in REFUSING)
    assert max(ref["kv"]) <= kv_blocks


@pytest.mark.parametrize("name", ["roomy", "tight_kv_preempts", "blocks_of_8_preempt", "chunked_long_prompts",
                                  "kv_refuses"])
def test_guaranteed_no_evict_matches_the_reference_and_never_preempts(name):
    """TensorRT-LLM's GUARANTEED_NO_EVICT on the same workloads: the engine equals the naive reference step by
    step, and the cases that preempt under vLLM's policy preempt nothing (admission waits instead)."""
    kv_blocks, seqs, tokens, block_size, max_model_len, rate, n = CASES[name]
    cfg = EngineConfig(kv_blocks=kv_blocks, max_num_seqs=seqs, max_num_batched_tokens=tokens,
                       block_size=block_size, max_model_len=max_model_len, policy="guaranteed-no-evict")
    shape = WorkloadShape(Poisson(rate), LogNormal(400, 1.0, max_tokens=3000), Uniform(1, 300))
    req = make_requests(shape, n_requests=n, seed=11)
    run = simulate(req, cfg, LLAMA8B_H100)
    ref = naive_simulate(req, cfg, LLAMA8B_H100)
    assert_matches(run, ref)
    assert run.preemptions.sum() == 0 and max(ref["kv"]) <= kv_blocks
    ok = ~run.rejected
    assert np.isfinite(run.finish_s[ok]).all()


def test_guaranteed_no_evict_by_hand():
    """Two requests of 64 prompt + 65 output tokens, blocks of 16, 10 blocks: each will hold
    ceil(128 / 16) = 8 blocks at its last token, so 16 > 10 and the second waits for the first to finish;
    vLLM's policy admits both (4 + 4 blocks) and preempts the second when the first needs its 9th-10th."""
    req = Requests(arrival_s=np.array([0.0, 0.0]), input_tokens=np.array([64, 64]), output_tokens=np.array([65, 65]))
    def step(prefill, decodes, context):  # every step 10 ms
        return 0.01

    no_evict = simulate(req, EngineConfig(kv_blocks=10, max_num_seqs=4, max_num_batched_tokens=128,
                                          policy="guaranteed-no-evict"), step)
    # the first: prefill step 0 (first token at 0.01), then 64 decode steps -> finishes at 0.65; the second is
    # admitted in the step after (0.65), first token 0.66, done 1.30; 130 steps of 10 ms in all
    assert no_evict.preemptions.tolist() == [0, 0]
    np.testing.assert_allclose(no_evict.first_scheduled_s, [0.0, 0.65])
    np.testing.assert_allclose(no_evict.first_token_s, [0.01, 0.66])
    np.testing.assert_allclose(no_evict.finish_s, [0.65, 1.30])
    assert no_evict.n_steps == 130 and no_evict.steps()["kv_blocks"].max() <= 8
    vllm = simulate(req, EngineConfig(kv_blocks=10, max_num_seqs=4, max_num_batched_tokens=128), step)
    assert vllm.preemptions.tolist() == [0, 1]
    with pytest.raises(InvalidValueError,
                       match="policy must be one of vllm, max-utilization, guaranteed-no-evict, sglang"):
        EngineConfig(kv_blocks=10, policy="fcfs")


# SGLang-only cases besides CASES: (kv_blocks, max_num_seqs, max_num_batched_tokens, block_size, shape, requests).
# "retracts": a small cache under load, many retractions; "long_outputs": outputs of 3,000-6,000 tokens, above
# SGLang's 4,096-token clip of the expected output, so the clipped and unclipped reservations both occur.
SGLANG_CASES = {
    "retracts": (300, 64, 512, 16, WorkloadShape(Poisson(8.0), LogNormal(300, 1.0, max_tokens=2000), Uniform(1, 600)),
                 400),
    "long_outputs": (800, 32, 1024, 16,
                     WorkloadShape(Poisson(1.0), LogNormal(500, 1.0, max_tokens=3000), Uniform(3000, 6000)), 40),
}


@pytest.mark.parametrize("name", sorted(CASES) + sorted(SGLANG_CASES))
def test_sglang_matches_the_reference(name):
    """SGLang's policy (new_token_ratio admission, retraction of the fewest-tokens-out decodes, ratio reset and
    decay): the engine equals the naive reference, written from SGLang's rules by loops over the requests, request by
    request and step by step, on the vLLM cases and on two of its own."""
    if name in CASES:
        kv_blocks, seqs, tokens, block_size, max_model_len, rate, n = CASES[name]
        shape = WorkloadShape(Poisson(rate), LogNormal(400, 1.0, max_tokens=3000), Uniform(1, 300))
    else:
        kv_blocks, seqs, tokens, block_size, shape, n = SGLANG_CASES[name]
        max_model_len = None
    cfg = EngineConfig(kv_blocks=kv_blocks, max_num_seqs=seqs, max_num_batched_tokens=tokens,
                       block_size=block_size, max_model_len=max_model_len, policy="sglang")
    req = make_requests(shape, n_requests=n, seed=11)
    run = simulate(req, cfg, LLAMA8B_H100)
    ref = naive_simulate(req, cfg, LLAMA8B_H100)
    assert_matches(run, ref)
    assert max(ref["kv"]) <= kv_blocks
    ok = ~run.rejected
    assert np.isfinite(run.finish_s[ok]).all()
    if name in SGLANG_CASES or name in {"kv_refuses", "blocks_of_8_preempt"}:
        assert run.preemptions.sum() > 0  # the retraction path runs
    if name == "long_outputs":
        assert (req.output_tokens - 1 > 4096).any() and (req.output_tokens < 4096).any()


def test_sglang_retracts_the_newest_of_equal_decodes():
    """Bursts of four requests with equal prompts: requests admitted together tie on SGLang's retraction key
    (tokens out, prompt length); its stable reverse sort then retracts the newest of them. Engine = reference."""
    rng = np.random.default_rng(3)
    n = 120
    req = Requests(arrival_s=np.repeat(np.arange(n // 4) * 0.25, 4), input_tokens=np.full(n, 64),
                   output_tokens=rng.integers(100, 400, n))
    cfg = EngineConfig(kv_blocks=200, max_num_seqs=32, max_num_batched_tokens=512, policy="sglang")
    run = simulate(req, cfg, LLAMA8B_H100)
    assert_matches(run, naive_simulate(req, cfg, LLAMA8B_H100))
    assert run.preemptions.sum() > 0


def test_sglang_by_hand():
    """Blocks of 1 token (SGLang's page size), 100 of them, every step 10 ms, budget 64 tokens.

    A (prompt 2, output 41) at 0; B (prompt 20, output 48) at 0.005; C (prompt 3, output 30) at 0.405.
    d = SGLang's decay per decode step = (0.7 − 0.7 · 0.14) / 600 = 0.0010033.

    - step 0 (t 0): A admitted (2 + 41 = 43 < 100 free tokens); first token at 0.01.
    - step 1 (0.01): A decodes (cache 3), free 97; ratio still 0.7 (step 0 decoded nothing); rem_total =
      97 − 0.7 · (41 − 1) = 69 > 20 + 48 = 68: B admitted (prefill 20); B's first token at 0.02. (With an output of
      49, 69 >= 69 would keep B waiting: checked below.)
    - steps s = 2..39: A holds 2 + s tokens, B 19 + s: 21 + 2s <= 99. Step 40 needs 2 more, 1 is free: SGLang
      retracts the decode with the fewest tokens out: B (39 out; A has 40), which keeps its 39 tokens, joins the back
      of the queue, and the ratio becomes min(1, (A's 40 out + 20 · 1) / A's 41) = 1.0; no admission in step 40.
      A finishes at 0.41.
    - step 41 (0.41): queue B, C (arrived 0.405). B re-admitted: 20 + 39 = 59 tokens to prefill, 59 + 9 left = 68
      < 100; it then reserves 59 + min(48, 4096) = 107 (SGLang reserves max_new_tokens, not what is left), so
      rem_total <= 0 and C waits. B's 40th token at 0.42.
    - step 42 (0.42): B decodes (cache 60), free 40; ratio 1.0 (steps 40 and 41 did not decay it: a retraction,
      then a prefill-only step); rem_total = 40 − 1.0 · 8 = 32 <= 3 + 30 = 33: C waits (with the ratio left near
      0.66, 40 − 5.3 = 34.7 would have admitted it). Steps s = 43..49: rem_total = 82 − s − (1 − d (s − 42)) (50 − s)
      stays between 32.00 and 32.02: C waits; B's 48th token at 0.50.
    - step 50 (0.50): C admitted; first token 0.51, its 30th at step 79: 0.80. 80 steps in all.
    """
    def step(prefill, decodes, context):
        return 0.01

    cfg = EngineConfig(kv_blocks=100, max_num_seqs=8, max_num_batched_tokens=64, block_size=1, policy="sglang")
    req = Requests(arrival_s=np.array([0.0, 0.005, 0.405]), input_tokens=np.array([2, 20, 3]),
                   output_tokens=np.array([41, 48, 30]))
    run = simulate(req, cfg, step)
    assert run.preemptions.tolist() == [0, 1, 0]
    np.testing.assert_allclose(run.first_scheduled_s, [0.0, 0.01, 0.50])
    np.testing.assert_allclose(run.first_token_s, [0.01, 0.02, 0.51])
    np.testing.assert_allclose(run.finish_s, [0.41, 0.50, 0.80])
    np.testing.assert_allclose(run.resume_at_s, [0.42])  # B's first token after its re-prefill
    assert run.n_steps == 80
    steps = run.steps()
    assert steps["kv_blocks"].max() == 99 and steps["prefill_tokens"].iloc[41] == 59
    assert_matches(run, naive_simulate(req, cfg, step))
    # one more output token for B and 69 >= 69: B waits for A to finish (step 41, 0.41), and nothing is retracted
    req2 = Requests(arrival_s=np.array([0.0, 0.005]), input_tokens=np.array([2, 20]), output_tokens=np.array([41, 49]))
    run2 = simulate(req2, cfg, step)
    assert run2.preemptions.tolist() == [0, 0]
    np.testing.assert_allclose(run2.first_scheduled_s, [0.0, 0.41])


def test_closed_form_stretches_equal_step_by_step():
    """A model with ``decode_affine`` (closed-form decode runs) and the same model as a plain function."""
    cfg = EngineConfig(kv_blocks=3000, max_num_seqs=256, max_num_batched_tokens=2048)
    req = make_requests(WorkloadShape(Poisson(3.0), LogNormal(1000, 1.0), LogNormal(250, 1.0)),
                        n_requests=1500, seed=5)
    fast = simulate(req, cfg, LLAMA8B_H100)
    slow = simulate(req, cfg, lambda p, d, c: LLAMA8B_H100(p, d, c))
    assert len(fast.seg_steps) < len(slow.seg_steps) / 3  # most steps went through closed-form runs
    assert fast.n_steps == slow.n_steps
    np.testing.assert_allclose(fast.finish_s, slow.finish_s, rtol=1e-9)
    np.testing.assert_array_equal(fast.preemptions, slow.preemptions)
    a, b = fast.steps(), slow.steps()
    np.testing.assert_allclose(a["dt_s"], b["dt_s"], rtol=1e-9)
    np.testing.assert_array_equal(a["decode_seqs"], b["decode_seqs"])
    assert (a["kv_blocks"] - b["kv_blocks"]).abs().max() <= 256  # interpolated inside a run: < 1 block/seq


def test_kv_never_over_capacity_and_every_accepted_request_finishes():
    cfg = EngineConfig(kv_blocks=500, max_num_seqs=128, max_num_batched_tokens=1024)
    req = make_requests(WorkloadShape(Poisson(8.0), LogNormal(600, 1.0), LogNormal(200, 1.0)),
                        n_requests=1500, seed=2)
    run = simulate(req, cfg, LLAMA8B_H100)
    ok = ~run.rejected
    # refused: exactly those that would not fit the 8,000-token cache even alone (the reference's rule, in
    # blocks); the lognormal tail has such prompts
    expected = [refused(p, o, 500, 16, None) for p, o in zip(req.input_tokens, req.output_tokens, strict=True)]
    np.testing.assert_array_equal(run.rejected, expected)
    assert run.rejected.sum() > 0
    assert np.isfinite(run.finish_s[ok]).all() and np.isnan(run.finish_s[~ok]).all()
    assert (run.kv_last <= cfg.kv_blocks).all() and (run.kv_first <= run.kv_last).all()
    assert (run.first_token_s[ok] >= req.arrival_s[ok]).all()
    assert (run.finish_s[ok] >= run.first_token_s[ok]).all()
    # every output token is emitted exactly once: steps' tokens out add up to the outputs
    assert int((run.tokens_out * run.seg_steps).sum()) == int(req.output_tokens[ok].sum())


def test_low_load_ttft_is_the_prefill_time_and_tpot_the_decode_step():
    p, o = 512, 64
    cfg = EngineConfig(kv_blocks=10_000, max_num_seqs=64, max_num_batched_tokens=2048)
    req = make_requests(WorkloadShape(Poisson(0.05), Uniform(p, p), Uniform(o, o)), n_requests=200, seed=1)
    m = summarize(simulate(req, cfg, LLAMA8B_H100), SloTargets())
    prefill = LLAMA8B_H100(p, 0, p)
    steps = [LLAMA8B_H100(0, 1, p + 1 + j) for j in range(o - 1)]
    assert m.ttft.p50 == pytest.approx(prefill, rel=1e-9)  # alone: TTFT is exactly one prefill step
    assert m.tpot.p50 == pytest.approx(np.mean(steps), rel=1e-9)  # and TPOT the mean decode step
    # at 2 % load a few arrivals find a request decoding: they wait for its step, then share one
    assert m.ttft.p99 <= LLAMA8B_H100(p, 1, p + p + o) + max(steps)


def test_small_kv_cache_preempts_and_blows_up_ttft():
    shape = WorkloadShape(Poisson(6.0), LogNormal(1000, 0.5), LogNormal(400, 0.5))
    req = make_requests(shape, n_requests=2000, seed=4)
    big = summarize(simulate(req, EngineConfig(kv_blocks=30_000, max_num_seqs=256,
                                                max_num_batched_tokens=4096), LLAMA8B_H100))
    small_run = simulate(req, EngineConfig(kv_blocks=700, max_num_seqs=256, max_num_batched_tokens=4096),
                         LLAMA8B_H100)
    small = summarize(small_run)
    assert big.preemptions == 0 and small.preemptions > 50
    assert small.ttft.p99 > 10 * big.ttft.p99
    assert small.kv_util_max > 0.95
    assert len(small_run.resume_gap_s) > 0 and small.itl.p99 >= big.itl.p99


def test_same_seed_same_run_other_seed_other_run():
    cfg = EngineConfig(kv_blocks=2000)
    shape = WorkloadShape(Poisson(5.0), LogNormal(800, 1.0), LogNormal(200, 1.0))
    a = simulate(make_requests(shape, n_requests=500, seed=9), cfg, LLAMA8B_H100)
    b = simulate(make_requests(shape, n_requests=500, seed=9), cfg, LLAMA8B_H100)
    c = simulate(make_requests(shape, n_requests=500, seed=10), cfg, LLAMA8B_H100)
    np.testing.assert_array_equal(a.finish_s, b.finish_s)
    np.testing.assert_array_equal(a.seg_dt_s, b.seg_dt_s)
    assert not np.array_equal(a.finish_s, c.finish_s)


def test_fixed_step_time_single_request_service_time():
    req = Requests(np.array([0.0]), np.array([100]), np.array([11]))
    run = simulate(req, EngineConfig(kv_blocks=100, max_num_seqs=1, max_num_batched_tokens=128),
                   FixedStepTime(prefill_s_per_token=1e-3, decode_s=0.02))
    assert run.first_token_s[0] == pytest.approx(0.1)
    assert run.finish_s[0] == pytest.approx(0.1 + 10 * 0.02)


def test_long_prompt_is_chunked_by_the_token_budget():
    req = Requests(np.array([0.0]), np.array([1000]), np.array([1]))
    run = simulate(req, EngineConfig(kv_blocks=100, max_num_seqs=4, max_num_batched_tokens=256),
                   FixedStepTime(prefill_s_per_token=1e-3, decode_s=0.01))
    assert run.prefill_tokens.tolist() == [256, 256, 256, 232]
    assert run.first_token_s[0] == pytest.approx(1.0)


def test_bad_inputs_raise_domain_errors():
    with pytest.raises(InvalidValueError, match="max_num_batched_tokens"):
        EngineConfig(kv_blocks=10, max_num_seqs=512, max_num_batched_tokens=256)
    with pytest.raises(InvalidValueError, match="kv_blocks"):
        EngineConfig(kv_blocks=0)
    req = Requests(np.array([0.0]), np.array([10]), np.array([5]))
    with pytest.raises(InvalidValueError, match="step-time model returned"):
        simulate(req, EngineConfig(kv_blocks=10), lambda p, d, c: float("nan"))
    with pytest.raises(InvalidValueError, match="callable"):
        simulate(req, EngineConfig(kv_blocks=10), 0.01)  # type: ignore[arg-type]


def test_vllm_default_limits():
    assert vllm_default_limits(80 * 1024**3, "NVIDIA H100 80GB HBM3") == (1024, 8192)
    assert vllm_default_limits(80 * 1024**3, "NVIDIA A100-SXM4-80GB") == (256, 2048)
    assert vllm_default_limits(24 * 1024**3, "NVIDIA L4") == (256, 2048)


def test_closed_form_follows_the_memory_to_compute_kink():
    """Attention-heavy toy model: decode steps turn compute-bound as contexts grow within a run."""
    kinky = RooflineStepTime(overhead_s=0.0, weight_bytes=1e10, kv_bytes_per_token=1e3, flops_per_token=1e9,
                             attn_flops_per_context_token=1e6, bandwidth_bytes_per_s=1e12, flops_per_s=1e13)
    cfg = EngineConfig(kv_blocks=20_000, max_num_seqs=64, max_num_batched_tokens=4096)
    req = make_requests(WorkloadShape(Poisson(0.5), LogNormal(3000, 0.3), LogNormal(3000, 0.3)),
                        n_requests=150, seed=1)
    fast = simulate(req, cfg, kinky)
    slow = simulate(req, cfg, lambda p, d, c: kinky(p, d, c))
    np.testing.assert_allclose(fast.finish_s, slow.finish_s, rtol=1e-9)
    runs = fast.seg_steps > 1
    slope_per_seq = fast.seg_ddt_s[runs] / fast.decode_seqs[runs]
    memory_side = np.isclose(slope_per_seq, 1e3 / 1e12)  # kv bytes / bandwidth per step per sequence
    compute_side = np.isclose(slope_per_seq, 1e6 / 1e13)  # attention FLOPs / FLOP rate
    assert memory_side.any() and compute_side.any() and (memory_side | compute_side).all()
