"""Analytic parameter counts against hand-computed tiny models and derived catalogue totals.

Every expected number is derived in the comment beside it; the catalogue totals are also checked
against transformers' own count in tests/profiler/analytic/test_params_exact.py.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from profiler import catalogue
from profiler.analytic.params import (
    TENSOR_KINDS,
    TP_SPLITS,
    expert_params_per_expert_layer,
    param_counts,
    tensor_inventory,
)
from profiler.specs import AttentionSpec, ModelSpec, MoeSpec

# Tiny dense GQA model: hidden 64, 2 layers, 4 query heads and 2 KV heads of 16, MLP 128, vocab 100.
#   embedding          100 x 64                                  =  6,400
#   attention / layer  q 64x64 + k 32x64 + v 32x64 + o 64x64     = 12,288
#   MLP / layer        gate, up, down: 3 x 64 x 128              = 24,576
#   norms / layer      2 x 64                                    =    128
#   layers             2 x (12,288 + 24,576 + 128)               = 73,984
#   final norm 64, lm_head 6,400 -> total 6,400 + 73,984 + 64 + 6,400 = 86,848
TINY_TOTAL = 86_848


def tiny(**kw) -> ModelSpec:
    att = kw.pop("attention", AttentionSpec(num_heads=4, num_kv_heads=2, head_dim=16))
    base = dict(name="tiny", model_type="llama", hidden_size=64, num_layers=2, intermediate_size=128,
                vocab_size=100, attention=att)
    base.update(kw)
    return ModelSpec(**base)


def test_dense_gqa_by_hand():
    c = param_counts(tiny())
    assert c.total == c.active == TINY_TOTAL
    assert (c.embedding, c.lm_head) == (6_400, 6_400)
    assert c.by_kind["attention"] == 2 * 12_288 and c.by_kind["mlp"] == 2 * 24_576
    assert c.by_kind["norm"] == 2 * 128 + 64 and c.by_kind["expert"] == 0
    assert set(c.by_kind) == set(TENSOR_KINDS) and sum(c.by_kind.values()) == c.total


def test_tied_embedding_is_one_tensor():
    c = param_counts(tiny(tie_word_embeddings=True))
    assert c.total == TINY_TOTAL - 6_400 and (c.embedding, c.lm_head) == (6_400, 0)
    assert not any(g.kind == "lm_head" for g in tensor_inventory(tiny(tie_word_embeddings=True)))


def test_mha_kv_heads_add_key_and_value_rows():
    mha = tiny(attention=AttentionSpec(num_heads=4, num_kv_heads=4, head_dim=16))
    # k and v each grow by 2 heads x 16 x 64, in 2 layers
    assert param_counts(mha).total == TINY_TOTAL + 2 * (2 * 32 * 64)


def test_biases_norms_and_mlp_variants():
    qkv = AttentionSpec(num_heads=4, num_kv_heads=2, head_dim=16, qkv_bias=True)
    assert param_counts(tiny(attention=qkv)).by_kind["bias"] == 2 * (64 + 32 + 32)  # q, k, v biases, 2 layers
    qkvo = replace(qkv, o_bias=True)
    assert param_counts(tiny(attention=qkvo)).by_kind["bias"] == 2 * (64 + 32 + 32 + 64)
    qk_norm = AttentionSpec(num_heads=4, num_kv_heads=2, head_dim=16, qk_norm=True)
    assert param_counts(tiny(attention=qk_norm)).total == TINY_TOTAL + 2 * 2 * 16  # q_norm, k_norm: head_dim
    assert param_counts(tiny(norms_per_layer=4)).total == TINY_TOTAL + 2 * 2 * 64  # Gemma2: 4 norms per layer
    assert param_counts(tiny(norm_bias=True)).total == TINY_TOTAL + 2 * 128 + 64  # every norm gets a bias
    assert param_counts(tiny(gated_mlp=False)).total == TINY_TOTAL - 2 * 64 * 128  # no gate projection
    assert param_counts(tiny(mlp_bias=True)).by_kind["bias"] == 2 * (128 + 128 + 64)  # gate, up, down biases
    # a sliding window changes the KV cache, never the weights
    slide = AttentionSpec(num_heads=4, num_kv_heads=2, head_dim=16, sliding_window=8)
    assert param_counts(tiny(attention=slide)).total == TINY_TOTAL


def test_moe_with_dense_first_layer_and_shared_expert():
    # 3 layers: layer 0 dense, layers 1-2 MoE with 4 experts of width 32 (top 2) and one shared expert of 32.
    #   dense layer  12,288 + 24,576 + 128                                     = 36,992
    #   MoE layer    attention 12,288 + router 4x64 = 256 + experts 4 x 3x64x32 = 24,576
    #                + shared 3x64x32 = 6,144 + norms 128                      = 43,392
    #   total = 36,992 + 2 x 43,392 + final norm 64 + embedding and lm_head 2 x 6,400 = 136,640
    #   one expert = 3 x 64 x 32 = 6,144; idle per token = (4 - 2) x 6,144 x 2 layers = 24,576
    moe = MoeSpec(num_experts=4, top_k=2, expert_intermediate=32, num_shared_experts=1,
                  shared_intermediate=32, first_dense_layers=1)
    spec = tiny(num_layers=3, moe=moe)
    c = param_counts(spec)
    assert c.total == 136_640 and c.active == 136_640 - 24_576
    assert expert_params_per_expert_layer(spec) == 6_144
    assert c.by_kind["expert"] == 2 * 24_576 and c.by_kind["shared_expert"] == 2 * 6_144
    assert c.by_kind["router"] == 2 * 256 and c.by_kind["mlp"] == 24_576


def test_moe_with_biases_and_sinks_gpt_oss_style():
    # 2 layers, 4 experts of 32 (top 2), biases on attention, router and experts, one sink per head.
    #   attention  12,288 weights + biases q 64 + k 32 + v 32 + o 64 + sinks 4 = 12,484
    #   router     4 x 64 + bias 4                                            =    260
    #   one expert 3 x 64 x 32 + biases gate 32 + up 32 + down 64              =  6,272
    #   layer      12,484 + 260 + 4 x 6,272 + norms 128                        = 37,960
    #   total = 2 x 37,960 + 64 + 2 x 6,400 = 88,784; idle = (4 - 2) x 6,272 x 2 = 25,088
    att = AttentionSpec(num_heads=4, num_kv_heads=2, head_dim=16, qkv_bias=True, o_bias=True, sinks=True)
    moe = MoeSpec(num_experts=4, top_k=2, expert_intermediate=32, router_bias=True, expert_bias=True)
    spec = tiny(attention=att, moe=moe, intermediate_size=32)
    c = param_counts(spec)
    assert expert_params_per_expert_layer(spec) == 6_272
    assert c.total == 88_784 and c.active == 88_784 - 25_088
    assert c.by_kind["sink"] == 8 and c.by_kind["router"] == 2 * 256


def test_mla_by_hand():
    # One layer of MLA: hidden 64, 4 heads, q_lora 32, kv_lora 16, rope 8, nope 16, v 16.
    #   q_a 32x64 = 2,048; q_a_layernorm 32; q_b (4 x 24) x 32 = 3,072
    #   kv_a_proj_with_mqa (16 + 8) x 64 = 1,536; kv_a_layernorm 16; kv_b 4 x (16 + 16) x 16 = 2,048
    #   o_proj 64 x (4 x 16) = 4,096                     -> attention 12,848 (norms 48 of it)
    #   layer = 12,848 + MLP 24,576 + norms 128 = 37,552; total = 37,552 + 64 + 2 x 6,400 = 50,416
    att = AttentionSpec(num_heads=4, num_kv_heads=4, head_dim=16, q_lora_rank=32, kv_lora_rank=16,
                        qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16)
    spec = tiny(attention=att, num_layers=1)
    c = param_counts(spec)
    assert c.total == 50_416 and c.by_kind["attention"] == 12_848 - 48
    # without the query bottleneck: q_proj (4 x 24) x 64 = 6,144 replaces 2,048 + 32 + 3,072
    direct = tiny(attention=replace(att, q_lora_rank=0), num_layers=1)
    assert param_counts(direct).total == 50_416 + 6_144 - 5_152
    splits = {g.name.split(".")[-2]: g.tp_split for g in tensor_inventory(spec) if g.name.endswith(".weight")}
    assert splits["q_a_proj"] == splits["kv_a_proj_with_mqa"] == "replicate"
    assert splits["q_b_proj"] == splits["kv_b_proj"] == "col" and splits["o_proj"] == "row"


def test_inventory_is_well_formed_for_every_catalogue_model():
    for name, spec in catalogue.load_models().items():
        groups = tensor_inventory(spec)
        assert len({g.name for g in groups}) == len(groups), name
        for g in groups:
            assert g.kind in TENSOR_KINDS and g.tp_split in TP_SPLITS and g.count >= 1, (name, g)
            assert not g.linear or len(g.shape) == 2, (name, g)
            assert g.per_layer == (g.name.startswith("layers.")), (name, g)
        kv = [g for g in groups if g.tp_split == "kv"]
        assert all(g.name.split(".")[2] in ("k_proj", "v_proj") for g in kv), name


@pytest.mark.parametrize("name, total, active", [
    # Llama-3.1-8B: embedding and lm_head 2 x 128,256 x 4,096 = 1,050,673,152; per layer attention
    # 2 x 4,096^2 + 2 x 1,024 x 4,096 = 41,943,040, MLP 3 x 4,096 x 14,336 = 176,160,768, norms 8,192;
    # 32 layers = 6,979,584,000; + final norm 4,096 -> 8,030,261,248 (the brief's acceptance number).
    ("llama-3.1-8b", 8_030_261_248, 8_030_261_248),
    ("llama-3.3-70b", 70_553_706_496, 70_553_706_496),
    # Mixtral-8x7B: per layer attention 41,943,040 + router 8 x 4,096 + 8 experts x 3 x 4,096 x 14,336
    # (176,160,768 each) + norms 8,192 = 1,451,270,144; x 32 + final norm + 2 x 32,000 x 4,096
    # = 46,702,792,704.
    # Active: minus 6 idle experts x 176,160,768 x 32 layers = 33,822,867,456 -> 12,879,925,248 (~12.9B).
    ("mixtral-8x7b", 46_702_792_704, 12_879_925_248),
    # Qwen3-30B-A3B: per layer attention 2 x 4,096 x 2,048 + 2 x 512 x 2,048 = 18,874,368, q/k norms 256,
    # router 128 x 2,048 = 262,144, 128 experts x 3 x 2,048 x 768 (4,718,592 each) = 603,979,776, norms 4,096
    # = 623,120,640; x 48 + final norm 2,048 + 2 x 151,936 x 2,048 = 30,532,122,624.
    # Active: minus 120 idle experts x 4,718,592 x 48 = 27,179,089,920 -> 3,353,032,704 (~3.3B).
    ("qwen3-30b-a3b", 30_532_122_624, 3_353_032_704),
    # DeepSeek-V3 (no MTP layer): MLA per layer q_a 1,536 x 7,168 = 11,010,048, q_a norm 1,536,
    # q_b 128 x 192 x 1,536 = 37,748,736, kv_a 576 x 7,168 = 4,128,768, kv_a norm 512,
    # kv_b 128 x 256 x 512 = 16,777,216, o 7,168 x 16,384 = 117,440,512 -> 187,107,328; + norms 14,336.
    # 61 x 187,121,664 = 11,414,421,504; 3 dense MLPs x 3 x 7,168 x 18,432 = 1,189,085,184;
    # 58 MoE layers x (router 256 x 7,168 + 257 experts (256 routed + 1 shared) x 3 x 7,168 x 2,048)
    # = 58 x 11,320,164,352 = 656,569,532,416; embedding + lm_head 2 x 129,280 x 7,168 = 1,853,358,080;
    # final norm 7,168 -> 671,026,404,352 (~671B). Active: minus 248 idle experts x 44,040,192 x 58
    # = 633,474,121,728 -> 37,552,282,624 (~37B).
    ("deepseek-v3", 671_026_404_352, 37_552_282_624),
    # gpt-oss-20b: per layer attention weights 2 x 4,096 x 2,880 + 2 x 512 x 2,880 = 26,542,080, biases 8,000,
    # sinks 64; router 32 x 2,880 + 32; 32 experts x (3 x 2,880^2 + 3 x 2,880 biases) = 32 x 24,891,840;
    # norms 5,760 -> 823,186,976; x 24 + 2 x 201,088 x 2,880 + 2,880 = 20,914,757,184.
    # Active: minus 28 idle experts x 24,891,840 x 24 = 16,727,316,480 -> 4,187,440,704 (OpenAI's 3.6B
    # active leaves out the embedding, 579,133,440).
    ("gpt-oss-20b", 20_914_757_184, 4_187_440_704),
    # gpt-oss-120b: 36 layers of 26,550,144 + (128 x 2,880 + 128) + 128 x 24,891,840 + 5,760 = 3,213,080,192,
    # + 1,158,266,880 + 2,880 = 116,829,156,672; minus 124 x 24,891,840 x 36 -> 5,711,982,912 (OpenAI: 5.1B
    # without the embedding).
    ("gpt-oss-120b", 116_829_156_672, 5_711_982_912),
])
def test_catalogue_totals_and_active(name, total, active):
    c = param_counts(catalogue.get_model(name))
    assert (c.total, c.active) == (total, active)


def test_dense_catalogue_models_are_fully_active_and_tied_ones_have_no_lm_head():
    for name, spec in catalogue.load_models().items():
        c = param_counts(spec)
        assert (c.total == c.active) == (spec.moe is None), name
        assert (c.lm_head == 0) == spec.tie_word_embeddings, name
        assert c.embedding == spec.vocab_size * spec.hidden_size, name
