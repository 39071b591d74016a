"""Step-time models: the roofline equation, its closed form for decode runs, validation."""

from __future__ import annotations

import numpy as np
import pytest

from planner.simulate import EngineConfig, FixedStepTime, Requests, RooflineStepTime, StepTimeModel, simulate
from profiler.errors import InvalidValueError

ROOF = RooflineStepTime(overhead_s=1e-4, weight_bytes=16e9, kv_bytes_per_token=131072, flops_per_token=16e9,
                        attn_flops_per_context_token=524288, bandwidth_bytes_per_s=2.68e12, flops_per_s=6e14)


def test_decode_step_is_memory_bound_weights_plus_kv():
    # 64 sequences of 1000 tokens: (16e9 + 64 000 × 131072) B / 2.68e12 B/s + 0.1 ms
    expected = 1e-4 + (16e9 + 64_000 * 131072) / 2.68e12
    assert ROOF(0, 64, 64_000) == pytest.approx(expected, rel=1e-12)


def test_prefill_step_is_compute_bound_dense_plus_attention():
    # one 4096-token chunk from an empty cache: dense 4096 × 16e9, attention 524288 × 4096 × 4096
    flops = 4096 * 16e9 + 524288 * 4096 * 4096
    assert ROOF(4096, 0, 4096) == pytest.approx(1e-4 + flops / 6e14, rel=1e-12)
    assert flops / 6e14 > (16e9 + 4096 * 131072) / 2.68e12  # compute side wins


def test_mixed_step_attention_uses_the_mean_context():
    # 10 decodes at 1000 + a 90-token chunk: queries 100, sequences 11, context 10 090
    flops = 100 * 16e9 + 524288 * 10_090 * (100 / 11)
    memory = (16e9 + 10_090 * 131072) / 2.68e12
    assert ROOF(90, 10, 10_090) == pytest.approx(1e-4 + max(memory, flops / 6e14), rel=1e-12)


COMPUTE_BOUND_DECODE = RooflineStepTime(0.0, 1e6, 1e3, 1e12, 1e9, 1e12, 1e13)


@pytest.mark.parametrize("model", [ROOF, FixedStepTime(prefill_s_per_token=1e-4, decode_s=0.012),
                                   COMPUTE_BOUND_DECODE])
def test_decode_affine_agrees_with_the_call(model):
    rng = np.random.default_rng(0)
    for _ in range(200):
        n, ctx0, j = int(rng.integers(1, 512)), int(rng.integers(1, 10**6)), int(rng.integers(0, 5000))
        o, a1, b1, a2, b2 = model.decode_affine(n, ctx0)
        assert b1 >= 0 and b2 >= 0
        assert o + max(a1 + b1 * j, a2 + b2 * j) == pytest.approx(model(0, n, ctx0 + n * j), rel=1e-9)


def test_fixed_step_time():
    m = FixedStepTime(prefill_s_per_token=1e-3, decode_s=0.02)
    assert m(100, 0, 100) == pytest.approx(0.1)
    assert m(100, 7, 5000) == pytest.approx(0.12)
    assert m(0, 7, 5000) == 0.02


def test_a_plain_function_is_a_step_time_model_and_a_number_is_not():
    """StepTimeModel is any callable of (prefill tokens, decode sequences, context tokens): a plain function
    runs the simulator exactly as the model class it copies (step by step, where the class uses its closed
    form); a number is no model."""
    fixed = FixedStepTime(prefill_s_per_token=1e-4, decode_s=0.012)
    plain = lambda p, d, c: p * 1e-4 + (0.012 if d else 0.0)  # noqa: E731 - the point is a bare function
    assert isinstance(plain, StepTimeModel) and not isinstance(0.012, StepTimeModel)
    req = Requests(np.arange(40) * 0.05, np.full(40, 300), np.arange(1, 41))
    cfg = EngineConfig(kv_blocks=500, max_num_seqs=8)
    a, b = simulate(req, cfg, fixed), simulate(req, cfg, plain)
    np.testing.assert_allclose(a.finish_s, b.finish_s, rtol=1e-12)
    assert a.n_steps == b.n_steps and len(a.seg_steps) < len(b.seg_steps)  # closed-form stretches vs steps


@pytest.mark.parametrize("kwargs", [dict(bandwidth_bytes_per_s=0.0), dict(weight_bytes=-1.0),
                                    dict(flops_per_s=float("nan"))])
def test_bad_roofline_numbers(kwargs):
    base = dict(overhead_s=0.0, weight_bytes=1.0, kv_bytes_per_token=1.0, flops_per_token=1.0,
                attn_flops_per_context_token=1.0, bandwidth_bytes_per_s=1.0, flops_per_s=1.0)
    with pytest.raises(InvalidValueError):
        RooflineStepTime(**{**base, **kwargs})


def test_bad_fixed_numbers():
    with pytest.raises(InvalidValueError):
        FixedStepTime(prefill_s_per_token=-1.0, decode_s=0.01)
    with pytest.raises(InvalidValueError):
        FixedStepTime(prefill_s_per_token=0.0, decode_s=0.0)


class _Recorder:
    """A step model that records what the simulator passes (with or without the chunks' context and pairs)."""

    def __init__(self, exact: bool):
        self.exact_prefill, self.calls = exact, []

    def __call__(self, *args):
        self.calls.append(args)
        return 0.01


def test_chunks_sharing_a_step_are_passed_with_their_own_context_and_pairs():
    # two 20,000-token prompts, the second arriving during the first's prefill; 8,192-token budget: the first
    # prompt's third chunk (3,616 tokens after 16,384 cached) shares a step with the second's first (4,576 fresh)
    req = Requests(arrival_s=np.array([0.0, 0.005]), input_tokens=np.array([20_000, 20_000]),
                   output_tokens=np.array([2, 2]))
    cfg = EngineConfig(kv_blocks=10_000, max_num_seqs=8, max_num_batched_tokens=8192)
    rec = _Recorder(exact=True)
    simulate(req, cfg, rec)
    p, k, ctx, pf_ctx, pairs = rec.calls[2]
    assert (p, k, pf_ctx) == (8192, 0, 16_384 + 3_616 + 4_576) and ctx == pf_ctx
    assert pairs == 3_616 * 16_384 + 3_616 * 3_617 // 2 + 4_576 * 4_577 // 2  # each chunk attends its own prefix
    assert rec.calls[1][3:] == (16_384, 8_192 * 8_192 + 8_192 * 8_193 // 2)
    legacy = _Recorder(exact=False)  # a model without the capability gets the three totals, as before
    simulate(req, cfg, legacy)
    assert all(len(c) == 3 for c in legacy.calls) and legacy.calls[2] == (8192, 0, 24_576)


def test_exact_pairs_are_the_mean_share_guess_for_a_lone_chunk_and_less_for_two():
    from planner.simulate_api import deployment
    from profiler.analytic import timing

    d = deployment("llama-3.1-8b", "h100-sxm", "fp8", 1, "bf16")

    def step(*a):
        return timing.mixed_step(d.model, d.gpu, d.quant, d.kv_dtype, d.tp, d.eff, *a).latency_s

    lone = 8192 * 8192 + 8192 * 8193 / 2  # a chunk of 8,192 after 8,192 cached: what the share guess assumes
    assert step(8192, 0, 16_384, 16_384, lone) == pytest.approx(step(8192, 0, 16_384), rel=1e-12)
    two = 3_616 * 16_384 + 3_616 * 3_617 / 2 + 4_576 * 4_577 / 2
    assert step(8192, 0, 24_576, 24_576, two) < step(8192, 0, 24_576)  # the guess charges both with 16,384 cached
