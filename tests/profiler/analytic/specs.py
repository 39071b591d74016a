"""Hand-written specs and hand-derived constants shared by the analytic tests (not a test module).

Nothing here reads a catalogue. Every number is derived in the comment beside it, from the architecture alone,
so a test that compares the code against these constants does not compare the code against itself.
"""

from __future__ import annotations

from profiler.specs import AttentionSpec, Efficiency, GpuSpec, LayerType, ModelSpec, MoeSpec, QuantScheme

BF16 = QuantScheme("bf16", weight_bits=16)
INT4 = QuantScheme("int4", weight_bits=4, group_size=128, scale_bits=16, zero_bits=16,
                   keep=frozenset({"embedding", "lm_head", "router"}))
FP8 = QuantScheme("fp8", weight_bits=8, group_size=0, scale_bits=32, keep=frozenset({"embedding", "lm_head"}),
                  compute_dtype="fp8", requires="fp8")
# datasheet H100 SXM: 80 GiB, 3.35 TB/s, 989 dense bf16 TFLOP/s, 1,978 fp8, NVLink 450 GB/s per direction
H100 = GpuSpec("h100-sxm", "H100", hbm_bytes=80 * 2**30, hbm_bandwidth_bytes_per_s=3.35e12,
               tflops={"bf16": 989, "fp8": 1978}, interconnect_bytes_per_s=450e9, interconnect="NVLink", tdp_w=700)
A100 = GpuSpec("a100-80gb", "A100", 80 * 2**30, 2.039e12, {"bf16": 312, "int8": 624}, 300e9, "NVLink", 400)
# bandwidth 0.8, compute 0.6, 40 us a step; the Efficiency defaults: kv_bandwidth 0.8, interconnect 0.8, 15 us a layer
EFF = Efficiency(bandwidth=0.8, compute=0.6, step_overhead_s=40e-6)

# ---------------------------------------------------------------------------------------------------------------
# Llama-3.1-8B (hidden 4,096, 32 layers, 32 query heads and 8 KV heads of 128, MLP 14,336, vocab 128,256, untied)
# ---------------------------------------------------------------------------------------------------------------
L8_LAYERS = 32
L8_HIDDEN = 4096
L8_EMBEDDING = 128_256 * 4_096  # 525,336,576 = the embedding table, and the same again for lm_head
# per layer: attention 2 x 4,096^2 (q, o) + 2 x 1,024 x 4,096 (k, v) = 41,943,040; MLP 3 x 4,096 x 14,336
# = 176,160,768; 2 norms of 4,096 = 8,192 -> 218,112,000; x 32 = 6,979,584,000; + final norm 4,096
L8_BODY = 6_979_588_096  # every parameter but the embedding and lm_head (norms included, as the code counts them)
L8_LINEAR = 32 * (41_943_040 + 176_160_768)  # 6,979,321,856 quantisable GEMM weights (no norms)
L8_NORMS = 32 * 8_192 + 4_096  # 266,240
L8_TOTAL = 2 * L8_EMBEDDING + L8_BODY  # 8,030,261,248 (transformers' count: test_params_exact)
L8_KV_TOKEN = 32 * 8 * (128 + 128) * 2  # 131,072 B: layers x KV heads x (K + V dims) x 2 B
L8_KV_TOKEN_LAYER = L8_KV_TOKEN // 32  # 4,096 B
L8_ATTN_FLOPS = 2 * 32 * (128 + 128)  # 16,384 FLOP per (query, attended token, layer): 2 x heads x (dk + dv)


def llama8b(**kw) -> ModelSpec:
    att = AttentionSpec(num_heads=32, num_kv_heads=8, head_dim=128)
    base = dict(name="llama-3.1-8b", model_type="llama", hidden_size=4096, num_layers=32,
                intermediate_size=14336, vocab_size=128256, attention=att, max_context=131072)
    base.update(kw)
    return ModelSpec(**base)


# gemma_like(): per layer q 512 x 256 = 131,072, k and v 256 x 256 = 65,536 each, o 256 x 512 = 131,072, MLP
# 3 x 256 x 512 = 393,216, 2 norms 512 -> 786,944; 4 layers + final norm 256 = 3,148,032 multiplied per token
# besides the (tied) 1,000 x 256 = 256,000 table used once more as the lm_head.
GEMMA_LIKE_BODY = 3_148_032
GEMMA_LIKE_HEAD = 256_000
# GEMM weights only: 4 layers x (131,072 + 2 x 65,536 + 131,072 + 393,216) = 3,145,728 (the body less its
# 4 x 512 + 256 = 2,304 norm weights)
GEMMA_LIKE_LINEAR = 3_145_728
GEMMA_LIKE_ATTN_FLOPS = 2 * 8 * (64 + 64)  # 2,048 FLOP per (query, attended token, layer)


def gemma_like() -> ModelSpec:
    """4 layers, sliding (window 100) and full alternating, 8 query / 4 KV heads of 64, tied embedding."""
    types = tuple(LayerType.SLIDING if i % 2 == 0 else LayerType.FULL for i in range(4))
    att = AttentionSpec(num_heads=8, num_kv_heads=4, head_dim=64, sliding_window=100, layer_types=types)
    return ModelSpec(name="g", model_type="gemma2", hidden_size=256, num_layers=4, intermediate_size=512,
                     vocab_size=1000, attention=att, tie_word_embeddings=True, max_context=8192)


# qwen3_moe_like(): per layer q 4,096 x 2,048 = 8,388,608, k and v 512 x 2,048 = 1,048,576 each, o 8,388,608,
# router 128 x 2,048 = 262,144, 2 norms 4,096 -> 19,140,608 besides the experts; 48 layers = 918,749,184;
# + final norm 2,048 + lm_head 151,936 x 2,048 = 311,164,928 -> 1,229,916,160 non-expert parameters streamed.
# Experts: 48 layers x 128 x 3 x 2,048 x 768 = 28,991,029,248 parameters = 57,982,058,496 B in bf16.
MOE_NON_EXPERT = 1_229_916_160
MOE_EXPERT_BYTES = 57_982_058_496


def qwen3_moe_like() -> ModelSpec:
    """Qwen3-30B-A3B's shape without q/k norms: 48 layers, 128 experts of 768 (top 8), hidden 2,048."""
    att = AttentionSpec(num_heads=32, num_kv_heads=4, head_dim=128)
    return ModelSpec(name="moe", model_type="qwen3_moe", hidden_size=2048, num_layers=48, intermediate_size=6144,
                     vocab_size=151936, attention=att, moe=MoeSpec(num_experts=128, top_k=8, expert_intermediate=768))


def deepseek_v3_attention() -> AttentionSpec:
    """DeepSeek-V3's MLA: 128 heads, q_lora 1,536, kv_lora 512, nope 128 + rope 64, values 128."""
    return AttentionSpec(num_heads=128, num_kv_heads=128, head_dim=128, kv_lora_rank=512, q_lora_rank=1536,
                         qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128)


TINY_MLA_BODY = 83_328
TINY_MLA_HEAD = 6_400
# GEMM weights only: 2 x (6,144 + 2,560 + 4,096 + 4,096 + 24,576) = 82,944 (the body less its 2 x (128 + 32) + 64
# = 384 norm weights: two layer norms and kv_a_layernorm a layer, and the final norm)
TINY_MLA_LINEAR = 82_944


def tiny_mla() -> ModelSpec:
    """2 layers of MLA: hidden 64, 4 heads, kv_lora 32, rope 8, nope 16, values 16, no query bottleneck.

    Parameters: q_proj (4 x 24) x 64 = 6,144; kv_a_proj_with_mqa (32 + 8) x 64 = 2,560; kv_a_layernorm 32;
    kv_b_proj 4 x (16 + 16) x 32 = 4,096; o_proj 64 x (4 x 16) = 4,096 -> attention 16,928 per layer; MLP
    3 x 64 x 128 = 24,576; norms 128 -> 41,632 per layer; body 2 x 41,632 + final norm 64 = 83,328;
    embedding = lm_head = 100 x 64 = 6,400.
    """
    att = AttentionSpec(num_heads=4, num_kv_heads=4, head_dim=16, kv_lora_rank=32, qk_rope_head_dim=8,
                        qk_nope_head_dim=16, v_head_dim=16)
    return ModelSpec(name="mla-tiny", model_type="deepseek_v3", hidden_size=64, num_layers=2, intermediate_size=128,
                     vocab_size=100, attention=att)
