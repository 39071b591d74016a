"""Analytic memory model: KV bytes per token, weight bytes per quant, TP shards, engine budget."""

from fractions import Fraction

import pytest

from profiler.analytic import memory, weights
from profiler.errors import InvalidValueError
from profiler.specs import KvDtype, ModelSpec
from tests.profiler.analytic.specs import (
    BF16,
    EFF,
    H100,
    INT4,
    L8_EMBEDDING,
    L8_LINEAR,
    L8_NORMS,
    L8_TOTAL,
    deepseek_v3_attention,
    gemma_like,
    llama8b,
    qwen3_moe_like,
)


def test_kv_bytes_per_token_gqa_matches_the_published_128_kib():
    m = llama8b()
    assert memory.kv_bytes_per_token(m, KvDtype.BF16) == 2 * 32 * 8 * 128 * 2 == 131_072
    assert memory.kv_bytes_per_token(m, KvDtype.FP8) == 65_536


def test_kv_heads_split_over_tp_and_replicated_beyond():
    m = llama8b()
    assert memory.kv_bytes_per_token(m, KvDtype.BF16, tp=2) == 65_536
    assert memory.kv_bytes_per_token(m, KvDtype.BF16, tp=8) == 16_384
    # 16 ranks, 8 KV heads: every rank keeps one head (replicated), so no further shrink
    assert memory.kv_heads_per_rank(m, 16) == 1
    assert memory.kv_bytes_per_token(m, KvDtype.BF16, tp=16) == 16_384


def test_mla_caches_latent_plus_rope_dims_not_split_by_tp():
    m = ModelSpec(name="dsv3", model_type="deepseek_v3", hidden_size=7168, num_layers=61,
                  intermediate_size=18432, vocab_size=129280, attention=deepseek_v3_attention())
    assert memory.kv_bytes_per_token(m, KvDtype.BF16) == (512 + 64) * 61 * 2 == 70_272
    assert memory.kv_bytes_per_token(m, KvDtype.BF16, tp=8) == 70_272


def test_sliding_layers_hold_the_window_plus_a_block_and_full_layers_all_blocks():
    m = gemma_like()
    per_layer = 4 * (64 + 64) * 2
    # context 1000 -> 63 blocks = 1008 tokens on full layers; window 100 -> ceil(99/16)+1 = 8 blocks = 128 tokens
    assert memory.kv_bytes_per_sequence(m, KvDtype.BF16, 1, 1000) == (2 * 1008 + 2 * 128) * per_layer
    # below the window both kinds hold the same blocks
    assert memory.kv_bytes_per_sequence(m, KvDtype.BF16, 1, 20) == 4 * 32 * per_layer
    assert memory.attended_tokens(m, 1000) == 2 * 1000 + 2 * 100


def test_bf16_weights_are_two_bytes_per_parameter():
    assert weights.weight_bytes(llama8b(), BF16) == 2 * L8_TOTAL == 16_060_522_496


def test_int4_group_scales_and_bf16_embeddings_are_counted():
    m = llama8b()
    by_kind = weights.weight_bytes_by_kind(m, INT4)
    assert by_kind["embedding"] == by_kind["lm_head"] == 128256 * 4096 * 2
    # q_proj: 4096x4096 at 4 bits + (4096/128 groups x 32 bits) per row = 4.25 bits
    assert INT4.bits_per_weight(4096) == Fraction(17, 4)
    # every GEMM input width (4,096 and 14,336) is a multiple of 128, so all 6,979,321,856 GEMM weights are at
    # 4.25 bits: x 17 / 32 = 3,707,764,736 B; embedding + lm_head 2 x 525,336,576 x 2 B; norms 266,240 x 2 B
    assert weights.weight_bytes(m, INT4) == L8_LINEAR * 17 // 32 + 4 * L8_EMBEDDING + 2 * L8_NORMS == 5_809_643_520


def test_tp_shards_weights_and_replicates_norms():
    m = llama8b()
    # per GPU at TP 2: half of the 6,979,321,856 GEMM weights x 2 B, half the embedding and lm_head rows
    # (2 x 525,336,576 x 2 B / 2), every norm whole (266,240 x 2 B) = 8,030,527,488
    assert weights.weight_bytes(m, BF16, tp=2) == L8_LINEAR + 2 * L8_EMBEDDING + 2 * L8_NORMS == 8_030_527_488


def test_budget_capacity_and_max_batch_by_hand():
    m = llama8b()
    b = memory.memory_budget(m, H100, BF16, KvDtype.BF16, 1, EFF)
    # vLLM v0.21+ (the default) on one H100 (80 GiB) at gpu_memory_utilization 0.9:
    #   requested   0.9 x 85,899,345,920                                                  = 77,309,411,328
    #   weights     2 x 8,030,261,248                                                     = 16,060,522,496
    #   torch peak  max(forward: 8,192 tokens x (2 x 4,096 + q 4,096 + k,v 2,048 + 3 x 14,336) x 2 B = 939,524,096,
    #                   hidden 8,192 x 4,096 x 2 B = 67,108,864 + sampler 256 x 128,256 x 16 B = 525,336,576
    #                   -> 592,445,440)                                                   =    939,524,096
    #   inside      non-torch 128 MiB 134,217,728 + CUDA graph estimate 512 MiB 536,870,912 =    671,088,640
    #               (the CUDA context is outside: the baseline snapshot is taken after it)
    #   KV budget   77,309,411,328 - 16,060,522,496 - 939,524,096 - 671,088,640           = 59,638,276,096
    assert (b.usable_bytes, b.weights_bytes, b.activation_bytes) == (77_309_411_328, 16_060_522_496, 939_524_096)
    assert sum(b.reserves.values()) == 671_088_640 and b.kv_budget_bytes == 59_638_276_096 and b.fits
    assert b.outside_util == {"cuda_context": 536_870_912, "nccl": 0, "cuda_graphs": 0}
    # 59,638,276,096 / 131,072 B per token = 455,003.9 -> 454,992 tokens in whole blocks of 16
    assert b.kv_capacity_tokens == 454_992
    # sequences of 1,024 tokens: 134,217,728 B each -> 444.3 -> 444; of 8,192 tokens: 1,073,741,824 B -> 55.5 -> 55
    assert memory.max_concurrent_sequences(b, m, KvDtype.BF16, 1, 1024) == 444
    assert memory.max_concurrent_sequences(b, m, KvDtype.BF16, 1, 8192) == 55
    # 55 sequences share 1,084,332,292 B each = 8,272.8 tokens -> 517 whole blocks = 8,272 tokens
    assert memory.max_context(b, m, KvDtype.BF16, 1, 55) == 8272
    assert memory.max_context(b, m, KvDtype.BF16, 1, 1) == 131_072  # capped at the model's max_context


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
    a = memory.activation_bytes(qwen3_moe_like(), 1, chunk_tokens=100, max_num_seqs=1)
    # forward: 100 tokens x (2 x 2,048 + q 32 x 128 + k,v 2 x 4 x 128 + 3 x top-8 x 768) x 2 B = 5,529,600;
    # sampler phase: hidden 100 x 2,048 x 2 B = 409,600 + 1 row x 151,936 x 16 B = 2,430,976 -> 2,840,576; max wins
    per_token = 2 * 2048 + 32 * 128 + 2 * 4 * 128 + 3 * 8 * 768
    assert a == 100 * per_token * 2 == 5_529_600
