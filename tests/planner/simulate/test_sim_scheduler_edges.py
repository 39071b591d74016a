"""Off-by-one edges of the scheduler, each derived by hand and checked against the naive reference too.

Every run uses STEP: 1 ms per prompt token, 10 ms per step with any decode (FixedStepTime), so each
time below is a sum written out in its comment. Block arithmetic: a sequence with ``c`` cached
tokens holds ``ceil(c / B)`` blocks; the step that emits output token ``k`` (k ≥ 2) caches token
``k − 1``, so a request holds ``P + k − 1`` tokens once it has emitted ``k``.
"""

from __future__ import annotations

import numpy as np
import pytest

from planner.simulate import EngineConfig, FixedStepTime, Requests, simulate
from tests.planner.simulate.naive_scheduler import assert_matches, naive_simulate

STEP = FixedStepTime(prefill_s_per_token=1e-3, decode_s=0.01)


def _run(rows, **config):
    """Simulate requests ``rows`` = [(arrival s, prompt, output), ...]; the reference must agree."""
    arrival, plen, olen = (np.array(c) for c in zip(*rows, strict=True))
    req = Requests(arrival.astype(float), plen.astype(np.int64), olen.astype(np.int64))
    cfg = EngineConfig(**{"max_num_seqs": 8, "max_num_batched_tokens": 2048, **config})
    run = simulate(req, cfg, STEP)
    assert_matches(run, naive_simulate(req, cfg, STEP))
    return run, run.steps()


# --- the KV cache ------------------------------------------------------------------------------


@pytest.mark.parametrize("bs", [8, 16, 32])
def test_a_request_filling_the_whole_cache_runs_and_one_token_more_is_refused(bs):
    """kv_blocks = 2. r1 (P = B, O = B + 1) caches at most P + O − 1 = 2B tokens = exactly the 2 blocks:
    it runs alone, 1 prefill step + B decode steps. r0 (O = B + 2) would cache 2B + 1 tokens = 3 blocks:
    refused up front, it never runs."""
    run, steps = _run([(0.0, bs, bs + 2), (0.0, bs, bs + 1)], kv_blocks=2, block_size=bs)
    assert run.rejected.tolist() == [True, False]
    assert run.n_steps == 1 + bs and run.preemptions.tolist() == [0, 0]
    # step 0 caches the B-token prompt (1 block); step 1 caches token B + 1 (block 2); the rest fit in 2
    assert steps["kv_blocks"].tolist() == [1] + [2] * bs
    assert run.first_token_s[1] == pytest.approx(bs * 1e-3)  # the prefill: B tokens × 1 ms
    assert run.finish_s[1] == pytest.approx(bs * 1e-3 + bs * 0.01)  # then B decode steps of 10 ms
    assert np.isnan(run.finish_s[0]) and np.isnan(run.first_scheduled_s[0])


def test_max_model_len_is_inclusive():
    """max_model_len 120: 100 + 20 = 120 tokens is accepted, 100 + 21 = 121 refused (the KV cache, 100 blocks
    of 16 = 1,600 tokens, holds either)."""
    run, _ = _run([(0.0, 100, 20), (0.0, 100, 21)], kv_blocks=100, max_model_len=120)
    assert run.rejected.tolist() == [False, True]


@pytest.mark.parametrize("bs", [8, 16, 32])
def test_two_requests_exactly_filling_the_cache_share_it_one_block_less_preempts(bs):
    """Two requests at t = 0, each P = B, O = B + 1: each ends holding 2 blocks (2B tokens).

    kv_blocks = 4: step 0 prefills both (2B tokens, 1 block each); step 1 gives each its 2nd block
    (4 in use); both finish after B decode steps: 1 + B steps, no preemption.

    kv_blocks = 3: step 1 needs 2 new blocks with 1 free, so the newest (r1) is preempted: its block is
    freed and r0 takes one (2 in use). r1 waits with B + 1 tokens to recompute (its prompt and its one
    token) = 2 blocks > the 1 free, until r0 finishes at step B. Step B + 1 re-prefills r1 (B + 1 tokens,
    2 blocks), which emits its 2nd token; B − 1 decode steps emit tokens 3 .. B + 1, within its 2 blocks.
    Steps: 1 + B + 1 + (B − 1) = 2B + 1.
    """
    rows = [(0.0, bs, bs + 1), (0.0, bs, bs + 1)]
    fits, fits_steps = _run(rows, kv_blocks=4, block_size=bs)
    assert fits.preemptions.tolist() == [0, 0] and fits.n_steps == 1 + bs
    assert fits_steps["kv_blocks"].tolist() == [2] + [4] * bs
    both_done = 2 * bs * 1e-3 + bs * 0.01  # one prefill step of 2B tokens, B decode steps
    np.testing.assert_allclose(fits.finish_s, [both_done, both_done])

    short, steps = _run(rows, kv_blocks=3, block_size=bs)
    assert short.preemptions.tolist() == [0, 1] and short.n_steps == 2 * bs + 1
    assert steps["kv_blocks"].max() == 2  # never all three: 2 + 1 would leave r1 short of its next block
    assert steps["waiting"].tolist() == [0] + [1] * bs + [0] * bs  # r1 waits from step 1 to step B
    r0_done = 2 * bs * 1e-3 + bs * 0.01
    r1_done = r0_done + (bs + 1) * 1e-3 + (bs - 1) * 0.01  # re-prefill of B + 1 tokens, B − 1 decode steps
    np.testing.assert_allclose(short.finish_s, [r0_done, r1_done])
    np.testing.assert_allclose(short.first_token_s, [2 * bs * 1e-3] * 2)  # r1's first token came before


@pytest.mark.parametrize(("p1", "admitted_at_once"), [(16, True), (17, False)])
def test_admission_needs_the_whole_first_chunk_in_free_blocks(p1, admitted_at_once):
    """kv_blocks = 3; r0 (32 tokens, 1 out) takes 2 blocks in step 0. r1's 16-token prompt needs exactly the
    1 block left: admitted in the same step (one step of 48 tokens). A 17-token prompt needs 2: it waits
    for r0 to finish and is prefilled in step 1, at 32 ms."""
    run, steps = _run([(0.0, 32, 1), (0.0, p1, 1)], kv_blocks=3)
    if admitted_at_once:
        assert steps["prefill_tokens"].tolist() == [48] and steps["kv_blocks"].tolist() == [3]
        np.testing.assert_allclose(run.first_scheduled_s, [0.0, 0.0])
    else:
        assert steps["prefill_tokens"].tolist() == [32, 17] and steps["kv_blocks"].tolist() == [2, 2]
        np.testing.assert_allclose(run.first_scheduled_s, [0.0, 0.032])
        np.testing.assert_allclose(run.finish_s, [0.032, 0.032 + 0.017])


# --- the token budget and the seats -------------------------------------------------------------


@pytest.mark.parametrize(("prompt", "chunks"), [(256, [256]), (257, [256, 1])])
def test_a_prompt_of_exactly_the_token_budget_is_one_chunk_one_more_token_two(prompt, chunks):
    """max_num_batched_tokens 256: a 256-token prompt is prefilled in 1 step, 257 in 2 (256 + 1). The first
    token comes when the last chunk is done: 0.256 s or 0.257 s (1 ms per token, no decode step)."""
    run, steps = _run([(0.0, prompt, 1)], kv_blocks=100, max_num_seqs=4, max_num_batched_tokens=256)
    assert steps["prefill_tokens"].tolist() == chunks
    # blocks after each chunk: ceil(256 / 16) = 16, then ceil(257 / 16) = 17
    assert steps["kv_blocks"].tolist() == [-(-sum(chunks[:i + 1]) // 16) for i in range(len(chunks))]
    assert run.first_token_s[0] == pytest.approx(prompt * 1e-3)


@pytest.mark.parametrize("seats", [4, 5])
def test_exactly_max_num_seqs_run_at_once(seats):
    """Five requests at t = 0 (16 in, 3 out each). With 5 seats all run: step 0 prefills 80 tokens, steps 1
    and 2 decode, done at 0.08 + 0.02 = 0.1 s. With 4 seats the 5th waits for a seat: steps 0-2 as before
    for four (64 tokens: 0.064 s, then 2 × 10 ms), the 5th is admitted at 0.084 and done after its prefill
    (16 ms) and 2 decode steps: 0.12 s."""
    run, steps = _run([(0.0, 16, 3)] * 5, kv_blocks=100, max_num_seqs=seats)
    if seats == 5:
        assert steps["running"].tolist() == [5, 5, 5] and steps["waiting"].tolist() == [0, 0, 0]
        np.testing.assert_allclose(run.finish_s, [0.1] * 5)
    else:
        assert steps["running"].tolist() == [4, 4, 4, 1, 1, 1]
        assert steps["waiting"].tolist() == [1, 1, 1, 0, 0, 0]
        np.testing.assert_allclose(run.first_scheduled_s, [0.0] * 4 + [0.084])
        np.testing.assert_allclose(run.finish_s, [0.084] * 4 + [0.12])


# --- block boundaries and block sizes ----------------------------------------------------------


@pytest.mark.parametrize(("bs", "blocks_16", "blocks_17"), [(8, 2, 3), (16, 1, 2), (32, 1, 1)])
def test_tokens_on_a_block_boundary(bs, blocks_16, blocks_17):
    """ceil(16 / B) and ceil(17 / B) blocks: B = 8: 2 and 3; B = 16: 1 and 2; B = 32: 1 and 1.

    A 16-token prompt, 2 output tokens: step 0 caches 16 tokens, the decode step caches the 17th."""
    _, steps = _run([(0.0, 16, 2)], kv_blocks=10, block_size=bs)
    assert steps["kv_blocks"].tolist() == [blocks_16, blocks_17]
    _, steps = _run([(0.0, 17, 1)], kv_blocks=10, block_size=bs)
    assert steps["kv_blocks"].tolist() == [blocks_17]


@pytest.mark.parametrize(("bs", "blocks"), [(8, 5), (16, 3), (32, 2)])
def test_block_accounting_scales_with_the_block_size(bs, blocks):
    """A 40-token prompt holds ceil(40 / B) blocks: 5 of 8, 3 of 16, 2 of 32. With exactly that many blocks
    the request (40 + 1 − 1 = 40 tokens cached) runs; with one block fewer it is refused."""
    run, steps = _run([(0.0, 40, 1)], kv_blocks=blocks, block_size=bs)
    assert not run.rejected[0] and steps["kv_blocks"].tolist() == [blocks]
    assert EngineConfig(kv_blocks=blocks, block_size=bs).kv_tokens == blocks * bs
    short, _ = _run([(0.0, 40, 1)], kv_blocks=blocks - 1, block_size=bs)
    assert short.rejected[0] and short.n_steps == 0
