"""Analytic memory model: KV bytes per token, weight bytes per quant, TP shards, engine budget."""

from fractions import Fraction

import pytest

from profiler.analytic import memory
from profiler.analytic.params import param_counts
from profiler.errors import InvalidValueError
from profiler.specs import (
    AttentionSpec,
    Efficiency,
    GpuSpec,
    KvDtype,
    LayerType,
    ModelSpec,
    MoeSpec,
    QuantScheme,
)

BF16 = QuantScheme("bf16", weight_bits=16)
INT4 = QuantScheme("int4", weight_bits=4, group_size=128, scale_bits=16, zero_bits=16,
                   keep=frozenset({"embedding", "lm_head", "router"}))
FP8 = QuantScheme("fp8", weight_bits=8, group_size=0, scale_bits=32, keep=frozenset({"embedding", "lm_head"}),
                  compute_dtype="fp8", requires="fp8")
H100 = GpuSpec("h100-sxm", "H100", hbm_bytes=80 * 2**30, hbm_bandwidth_bytes_per_s=3.35e12,
               tflops={"bf16": 989, "fp8": 1978}, interconnect_bytes_per_s=450e9, interconnect="NVLink", tdp_w=700)
EFF = Efficiency(bandwidth=0.8, compute=0.6, step_overhead_s=40e-6)


def llama8b(**kw) -> ModelSpec:
    att = AttentionSpec(num_heads=32, num_kv_heads=8, head_dim=128)
    base = dict(name="llama-3.1-8b", model_type="llama", hidden_size=4096, num_layers=32,
                intermediate_size=14336, vocab_size=128256, attention=att, max_context=131072)
    base.update(kw)
    return ModelSpec(**base)


def test_kv_bytes_per_token_gqa_matches_the_published_128_kib():
    m = llama8b()
    assert memory.kv_bytes_per_token(m, KvDtype.BF16) == 2 * 32 * 8 * 128 * 2 == 131_072
    assert memory.kv_bytes_per_token(m, KvDtype.FP8) == 65_536


def test_kv_heads_split_over_tp_and_replicated_beyond():
    m = llama8b()
    assert memory.kv_bytes_per_token(m, KvDtype.BF16, tp=2) == 65_536
    assert memory.kv_bytes_per_token(m, KvDtype.BF16, tp=8) == 16_384
    # 16 ranks, 8 KV heads: every rank keeps one head (replicated), so no further shrink
    m16 = llama8b(attention=AttentionSpec(num_heads=32, num_kv_heads=8, head_dim=128))
    assert memory.kv_heads_per_rank(m16, 16) == 1
    assert memory.kv_bytes_per_token(m16, KvDtype.BF16, tp=16) == 16_384


def test_mla_caches_latent_plus_rope_dims_not_split_by_tp():
    att = AttentionSpec(num_heads=128, num_kv_heads=128, head_dim=128, kv_lora_rank=512, q_lora_rank=1536,
                        qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128)
    m = ModelSpec(name="dsv3", model_type="deepseek_v3", hidden_size=7168, num_layers=61,
                  intermediate_size=18432, vocab_size=129280, attention=att)
    assert memory.kv_bytes_per_token(m, KvDtype.BF16) == (512 + 64) * 61 * 2 == 70_272
    assert memory.kv_bytes_per_token(m, KvDtype.BF16, tp=8) == 70_272


def gemma_like() -> ModelSpec:
    types = tuple(LayerType.SLIDING if i % 2 == 0 else LayerType.FULL for i in range(4))
    att = AttentionSpec(num_heads=8, num_kv_heads=4, head_dim=64, sliding_window=100, layer_types=types)
    return ModelSpec(name="g", model_type="gemma2", hidden_size=256, num_layers=4, intermediate_size=512,
                     vocab_size=1000, attention=att, tie_word_embeddings=True, max_context=8192)


def test_sliding_layers_hold_the_window_plus_a_block_and_full_layers_all_blocks():
    m = gemma_like()
    per_layer = 4 * (64 + 64) * 2
    # context 1000 -> 63 blocks = 1008 tokens on full layers; window 100 -> ceil(99/16)+1 = 8 blocks = 128 tokens
    assert memory.kv_bytes_per_sequence(m, KvDtype.BF16, 1, 1000) == (2 * 1008 + 2 * 128) * per_layer
    # below the window both kinds hold the same blocks
    assert memory.kv_bytes_per_sequence(m, KvDtype.BF16, 1, 20) == 4 * 32 * per_layer
    assert memory.attended_tokens(m, 1000) == 2 * 1000 + 2 * 100


def test_bf16_weights_are_two_bytes_per_parameter():
    m = llama8b()
    assert memory.weight_bytes(m, BF16) == 2 * param_counts(m).total


def test_int4_group_scales_and_bf16_embeddings_are_counted():
    m = llama8b()
    by_kind = memory.weight_bytes_by_kind(m, INT4)
    assert by_kind["embedding"] == 128256 * 4096 * 2
    assert by_kind["lm_head"] == 128256 * 4096 * 2
    # q_proj: 4096x4096 at 4 bits + (4096/128 groups x 32 bits) per row = 4.25 bits
    assert INT4.bits_per_weight(4096) == Fraction(17, 4)
    total = memory.weight_bytes(m, INT4)
    counts = param_counts(m)
    linear = counts.total - counts.embedding - counts.lm_head - counts.by_kind.get("norm", 0)
    expected = (counts.embedding + counts.lm_head + counts.by_kind.get("norm", 0)) * 2 + linear * 4.25 / 8
    assert total == pytest.approx(expected, rel=1e-6)


def test_tp_shards_weights_and_replicates_norms():
    m = llama8b()
    one = memory.weight_bytes(m, BF16, tp=1)
    two = memory.weight_bytes(m, BF16, tp=2)
    norms = 2 * param_counts(m).by_kind["norm"]
    assert two == pytest.approx((one - norms) / 2 + norms, abs=64)


def test_budget_capacity_and_max_batch_are_consistent():
    m = llama8b()
    b = memory.memory_budget(m, H100, BF16, KvDtype.BF16, 1, EFF)
    assert b.fits and b.weights_bytes == 2 * param_counts(m).total
    assert b.kv_budget_bytes == b.usable_bytes - b.weights_bytes - b.activation_bytes - sum(b.reserves.values())
    assert 300_000 < b.kv_capacity_tokens < 600_000  # ~58 GB of KV at 128 KiB/token
    n1k = memory.max_concurrent_sequences(b, m, KvDtype.BF16, 1, 1024)
    n8k = memory.max_concurrent_sequences(b, m, KvDtype.BF16, 1, 8192)
    assert n1k == b.kv_budget_bytes // (1024 * 131_072) and n8k < n1k
    ctx = memory.max_context(b, m, KvDtype.BF16, 1, n8k)
    assert 8192 <= ctx < 8192 * 1.2
    assert memory.max_concurrent_sequences(b, m, KvDtype.BF16, 1, ctx) >= n8k


def test_fp8_kv_doubles_capacity():
    m = llama8b()
    b16 = memory.memory_budget(m, H100, BF16, KvDtype.BF16, 1, EFF)
    b8 = memory.memory_budget(m, H100, BF16, KvDtype.FP8, 1, EFF)
    assert b8.kv_capacity_tokens == pytest.approx(2 * b16.kv_capacity_tokens, rel=1e-3)


def test_model_too_big_has_no_capacity():
    m = llama8b(num_layers=400)
    b = memory.memory_budget(m, H100, BF16, KvDtype.BF16, 1, EFF)
    assert not b.fits and b.kv_capacity_tokens == 0
    assert memory.max_concurrent_sequences(b, m, KvDtype.BF16, 1, 1024) == 0


def test_tp_must_divide_heads():
    with pytest.raises(InvalidValueError, match="does not divide"):
        memory.check_tp(llama8b(), 3)
    with pytest.raises(InvalidValueError):
        memory.check_tp(llama8b(), 0)


def test_moe_activation_uses_top_k_expert_width():
    att = AttentionSpec(num_heads=32, num_kv_heads=4, head_dim=128)
    m = ModelSpec(name="moe", model_type="qwen3_moe", hidden_size=2048, num_layers=48, intermediate_size=6144,
                  vocab_size=151936, attention=att, moe=MoeSpec(num_experts=128, top_k=8, expert_intermediate=768))
    a = memory.activation_bytes(m, 1, chunk_tokens=100, max_num_seqs=1)
    per_token = 2 * 2048 + 32 * 128 + 2 * 4 * 128 + 3 * 8 * 768
    assert a == 100 * per_token * 2 + 151936 * 4
