"""Analytic step time as a sum of kernels: decode, prefill and mixed steps against bytes, FLOPs and seconds by hand.

Every expected value comes from the architecture (tests/profiler/analytic/specs.py) and the documented formulas
of profiler/analytic/timing.py, kernels.py and kernel_efficiency.py, written out in the comments; none is read
back from the code under test.
"""

from dataclasses import replace

import pytest

from profiler import catalogue
from profiler.analytic import kernel_efficiency, kernels, timing
from profiler.analytic.efficiency import default_efficiency
from profiler.errors import InvalidValueError, UnsupportedQuantError
from profiler.specs import Efficiency, GpuSpec, KvDtype, QuantScheme
from tests.profiler.analytic.specs import (
    A100,
    BF16,
    EFF,
    FP8,
    GEMMA_LIKE_ATTN_FLOPS,
    GEMMA_LIKE_HEAD,
    GEMMA_LIKE_LINEAR,
    H100,
    INT4,
    L8_ATTN_FLOPS,
    L8_BODY,
    L8_EMBEDDING,
    L8_KV_TOKEN,
    L8_KV_TOKEN_LAYER,
    L8_LINEAR,
    L8_NORMS,
    MOE_EXPERT_BYTES,
    MOE_NON_EXPERT,
    TINY_MLA_BODY,
    TINY_MLA_HEAD,
    TINY_MLA_LINEAR,
    deepseek_v3_attention,
    gemma_like,
    llama8b,
    qwen3_moe_like,
    tiny_mla,
)

BW = 3.35e12 * 0.8  # H100 HBM at EFF's 0.8 (weights and, by Efficiency's default kv_bandwidth, KV): 2.68e12 B/s
FLOPS = 989e12 * 0.6  # H100 dense bf16 at EFF's 0.6: 593.4e12 FLOP/s
FLOOR = 32 * 4 * 2.13e-6  # Efficiency's default layer_overhead_s (4 small kernels x 2.13 us) x 32 layers = 272.64 us
# kernel_efficiency.GEMM_BW_FIT, H100 row: t0 3.73 us, eta_max 0.879 -> b_half = t0 x BW x eta_max = 10,983,304.5 B;
# a GEMM streaming b bytes a launch reaches eta_max x b / (b + b_half), i.e. a shape factor b / (b + b_half)
B_HALF = 3.73e-6 * 3.35e12 * 0.879
H100_NV4 = replace(H100, interconnect="NVLink 4")  # the catalogue's H100 link (kernel_efficiency.ALLREDUCE_TABLE)
# llama-3.1-8b GEMM weights per layer (TP1): qkv 4,096 x (4,096 + 2 x 1,024) = 4,096 x 6,144; o 4,096 x 4,096;
# gate_up 4,096 x 2 x 14,336; down 14,336 x 4,096
L8_QKV, L8_O, L8_GATE_UP, L8_DOWN = 4096 * 6144, 4096 * 4096, 4096 * 28672, 14336 * 4096


def by_op(seq) -> dict:
    return {k.op: k for k in seq}


def gemm_shape(b: float) -> float:
    """The H100 bandwidth shape factor of a GEMM streaming b bytes a launch (above)."""
    return b / (b + B_HALF)


# ---- Decode and prefill of a dense GQA model ------------------------------------------------------------------------


def test_decode_batch1_kernels_bytes_flops_and_latency_by_hand():
    est = timing.decode_step(llama8b(), H100, BF16, KvDtype.BF16, 1, 1, 1024, EFF)
    k = by_op(est.kernels)
    assert list(k) == ["attention_decode", "qkv", "o_proj", "gate_up", "down", "layer_misc", "lm_head", "embedding"]
    # every weight GEMM streams its 32 layers' weights at 2 B; the lm_head the 128,256 x 4,096 table
    for op, params in [("qkv", L8_QKV), ("o_proj", L8_O), ("gate_up", L8_GATE_UP), ("down", L8_DOWN)]:
        assert k[op].bytes == 32 * params * 2 and k[op].flops == 2 * 32 * params, op
    assert k["qkv"].bytes == 1_610_612_736 and k["lm_head"].bytes == 2 * L8_EMBEDDING
    # the small kernels read the norm weights (266,240 x 2 B) and one embedding row (4,096 x 2 B), no FLOPs
    assert (k["layer_misc"].bytes, k["embedding"].bytes, k["layer_misc"].flops, k["embedding"].flops) == (
        2 * L8_NORMS, 8_192, 0, 0)
    # attention reads 1,024 tokens x 32 layers x 4,096 B and writes the new token's 32 x 4,096 B
    assert k["attention_decode"].bytes == 1_024 * 32 * L8_KV_TOKEN_LAYER + 32 * L8_KV_TOKEN_LAYER == 134_348_800
    assert k["attention_decode"].flops == L8_ATTN_FLOPS * 1024 * 32
    # in all: 2 x (6,979,588,096 + 525,336,576) + 8,192 + 134,348,800 = 15,144,206,336 B (activations excluded)
    assert est.bytes_moved == 2 * (L8_BODY + L8_EMBEDDING) + 8_192 + 1_025 * L8_KV_TOKEN == 15_144_206_336
    # FLOPs of the GEMM weights only (norms are not multiply-adds): 2 x (6,979,321,856 + 525,336,576)
    #   + 16,384 x 1,024 attended x 32 layers = 15,546,187,776
    assert est.flops == 2 * (L8_LINEAR + L8_EMBEDDING) + L8_ATTN_FLOPS * 1024 * 32 == 15_546_187_776
    # one kernel by hand, the qkv GEMM: 50,331,648 B of weights and (3 x 4,096 in + 6,144 out) x 2 B = 36,864 B of
    # activations a launch -> shape 50,368,512 / 61,351,816.5 = 0.82098; it streams its weights and 32 x 36,864 =
    # 1,179,648 B of activations at 0.8 of 3.35e12 x 0.82098: 0.7326 ms, against 1.61e9 FLOP at >= 0.6 x 0.86 of
    # 989e12: ~3 us -> memory-bound
    qkv, s = k["qkv"], gemm_shape(4096 * 6144 * 2 + 36_864)
    assert qkv.time_s == pytest.approx((1_610_612_736 + 1_179_648) / (3.35e12 * s * 0.8), rel=1e-12)
    assert qkv.bound == "memory" and qkv.time_s == pytest.approx(0.73262e-3, rel=1e-4)
    # the step is the sum of its kernels plus the 40 us step overhead; the floors are layer_misc's 32 x 8.52 us
    assert est.latency_s == pytest.approx(40e-6 + sum(t.time_s for t in est.kernels), rel=1e-12)
    assert est.t_fixed_s == pytest.approx(FLOOR, rel=1e-12) and est.t_comm_s == 0 and est.bound == "memory"
    # small kernels reach less than a large one: above the old whole-step 40 us + 272.64 us + 5.6508 ms
    assert est.latency_s > 40e-6 + FLOOR + 15_144_206_336 / BW
    # MBU and MFU against the datasheet peaks (gpt-fast generate.py)
    assert est.mbu == pytest.approx(15_144_206_336 / est.latency_s / 3.35e12, rel=1e-12)
    assert est.mfu == pytest.approx(15_546_187_776 / est.latency_s / 989e12, rel=1e-12)


def test_decode_flops_and_kv_bytes_scale_with_batch_and_context():
    est = timing.decode_step(llama8b(), H100, BF16, KvDtype.BF16, 1, 8, 2048, EFF)
    # 8 sequences: 8 x 2 x 7,504,658,432 GEMM FLOPs + 8 x 2,048 attended x 16,384 x 32 layers
    assert est.flops == 8 * 2 * (L8_LINEAR + L8_EMBEDDING) + 8 * 2048 * L8_ATTN_FLOPS * 32
    # weights once, 8 embedding rows; KV 8 x (2,048 read + 1 written) x 131,072
    assert est.bytes_moved == 2 * (L8_BODY + L8_EMBEDDING) + 8 * 8_192 + 8 * 2049 * L8_KV_TOKEN
    assert by_op(est.kernels)["attention_decode"].bytes == 8 * 2049 * L8_KV_TOKEN


def test_decode_latency_grows_with_batch_and_context_and_throughput_with_batch():
    m = llama8b()
    lat = {(b, c): timing.decode_step(m, H100, BF16, KvDtype.BF16, 1, b, c, EFF).latency_s
           for b in (1, 8, 64) for c in (1024, 8192)}
    assert lat[(1, 1024)] < lat[(8, 1024)] < lat[(64, 1024)]
    assert lat[(8, 1024)] < lat[(8, 8192)]
    assert 64 / lat[(64, 1024)] > 8 / lat[(8, 1024)] > 1 / lat[(1, 1024)]


def test_prefill_is_compute_bound_and_matches_hand_computed_flops():
    est = timing.prefill(llama8b(), H100, BF16, KvDtype.BF16, 1, 1, 2048, EFF)
    # GEMMs for all 2,048 tokens, lm_head for the last one, causal attention: query i attends i tokens,
    # sum 2,048 x 2,049 / 2 = 2,098,176 per layer
    assert (attention := L8_ATTN_FLOPS * 32 * 2048 * 2049 // 2) == 1_100_048_498_688
    assert est.flops == 2 * L8_LINEAR * 2048 + 2 * L8_EMBEDDING + attention
    # measurement.md §6.4 quotes ~31.8 TFLOP because it also counts the embedding table as a matmul;
    # without it the same arithmetic gives ~29.7 TFLOP -> ~50 ms at 60% of 989 TFLOP/s.
    assert est.flops == pytest.approx(29.7e12, rel=0.01) and est.bound == "compute"
    # the attention kernel by hand: FlashAttention prefill at kernel_efficiency's 0.65 (H100, FA3) against the
    # 0.829 large-GEMM ceiling, times EFF's 0.6: 1.100e12 / (989e12 x 0.65 / 0.829 x 0.6) = 2.3644 ms; its memory
    # (2,048 x 32 x 4,096 B written) is 0.1 ms
    att = by_op(est.kernels)["attention_prefill"]
    assert att.bytes == 2048 * 32 * L8_KV_TOKEN_LAYER and att.bound == "compute"
    assert att.time_s == pytest.approx(attention / (989e12 * 0.65 / 0.829 * 0.6), rel=1e-12)
    # each kernel at most reaches the large-kernel ceiling, so the sum is above 40 us + 272.64 us + flops / FLOPS
    assert est.latency_s == pytest.approx(40e-6 + sum(t.time_s for t in est.kernels), rel=1e-12)
    assert est.latency_s > 40e-6 + FLOOR + est.flops / FLOPS


def test_bad_batch_or_an_empty_step_is_a_clear_error():
    with pytest.raises(InvalidValueError, match="batch"):
        timing.decode_step(llama8b(), H100, BF16, KvDtype.BF16, 1, 0, 1024, EFF)
    with pytest.raises(InvalidValueError, match="at least one token"):
        timing.mixed_step(llama8b(), H100, BF16, KvDtype.BF16, 1, EFF, prefill_tokens=0, decode_seqs=0,
                          context_tokens=0)


# ---- Sliding-window attention ---------------------------------------------------------------------------------------


def causal_attended_by_brute_force(prompt: int, window: int | None) -> int:
    """Query i (1-based) of a causal prompt attends its last min(i, window) tokens, itself included."""
    return sum(min(i, window) if window else i for i in range(1, prompt + 1))


def test_sliding_window_prefill_caps_what_each_query_attends():
    m = gemma_like()  # 4 layers: 0 and 2 sliding (window 100), 1 and 3 full
    # prompt 300: a full layer attends 300 x 301 / 2 = 45,150; a sliding one 1 + ... + 100 = 5,050 for the first
    # 100 queries, then 100 each for the other 200 = 25,050 -> 2 x 45,150 + 2 x 25,050 = 140,400
    assert causal_attended_by_brute_force(300, None) == 45_150 and causal_attended_by_brute_force(300, 100) == 25_050
    assert timing.causal_attended(m, 300) == 140_400
    est = timing.prefill(m, H100, BF16, KvDtype.BF16, 1, 1, 300, EFF)
    # 2 x 3,145,728 x 300 GEMMs + 2 x 256,000 lm_head (last token) + 2,048 x 140,400 attention = 2,175,488,000
    assert est.flops == 2 * GEMMA_LIKE_LINEAR * 300 + 2 * GEMMA_LIKE_HEAD + GEMMA_LIKE_ATTN_FLOPS * 140_400
    assert est.flops == 2_175_488_000
    assert by_op(est.kernels)["attention_prefill"].flops == GEMMA_LIKE_ATTN_FLOPS * 140_400


@pytest.mark.parametrize("prompt", [1, 99, 100, 101, 102, 257])
def test_sliding_window_edges_against_brute_force(prompt):
    """At and below the window a sliding layer attends like a full one; one token past it, one fewer."""
    expected = 2 * causal_attended_by_brute_force(prompt, None) + 2 * causal_attended_by_brute_force(prompt, 100)
    assert timing.causal_attended(gemma_like(), prompt) == expected
    if prompt <= 100:
        assert expected == 4 * prompt * (prompt + 1) // 2
    if prompt == 101:  # query 101 sees 100 tokens, not 101: one fewer per sliding layer
        assert expected == 4 * 101 * 102 // 2 - 2


def test_sliding_window_decode_attends_at_most_the_window():
    m = gemma_like()
    short = timing.decode_step(m, H100, BF16, KvDtype.BF16, 1, 1, 1000, EFF)
    long = timing.decode_step(m, H100, BF16, KvDtype.BF16, 1, 1, 2000, EFF)
    # 1,000 more context tokens reach only the 2 full layers: 2,048 x 1,000 x 2 more FLOPs, and KV reads of
    # 1,000 x 2 layers x 4 KV heads x (64 + 64) x 2 B = 2,048,000 more bytes
    assert long.flops - short.flops == GEMMA_LIKE_ATTN_FLOPS * 1000 * 2
    assert long.bytes_moved - short.bytes_moved == 1000 * 2 * 4 * 128 * 2


# ---- MLA (DeepSeek-V2/V3): absorbed in decode, expanded in prefill --------------------------------------------------


def test_mla_attention_flops_per_context_token_by_hand():
    m = catalogue.get_model("deepseek-v3")
    assert m.attention == deepseek_v3_attention()
    # Decode, weight-absorbed (vLLM MLA "data-movement friendly" path): each of the 128 query heads scores against
    # the cached latent (512) plus the shared rope key (64) and sums the 512-wide latent values:
    #   2 x (512 + 64) + 2 x 512 = 2,176 FLOP per head -> 128 x 2,176 = 278,528; TP=8: 16 heads -> 34,816
    assert timing.attention_flops_per_context_token(m, 1) == 278_528
    assert timing.attention_flops_per_context_token(m, 8) == 34_816
    # Prefill, expanded ("compute friendly"): ordinary MHA with keys of nope 128 + rope 64 and values of 128:
    #   2 x (128 + 64) + 2 x 128 = 640 FLOP per head -> 128 x 640 = 81,920; TP=8 -> 10,240
    assert timing.attention_flops_per_context_token(m, 1, absorbed=False) == 81_920
    assert timing.attention_flops_per_context_token(m, 8, absorbed=False) == 10_240
    # a GQA model has one form: 2 x 32 heads x (128 + 128) = 16,384 either way
    assert timing.attention_flops_per_context_token(llama8b(), 1, absorbed=False) == L8_ATTN_FLOPS


def test_mla_decode_and_prefill_use_their_own_attention_form():
    m = tiny_mla()  # 4 heads, kv_lora 32, rope 8, nope 16, values 16, 2 layers
    absorbed = 4 * (2 * (32 + 8) + 2 * 32)  # 576 FLOP per (query, attended token, layer)
    expanded = 4 * (2 * (16 + 8) + 2 * 16)  # 320
    d = timing.decode_step(m, H100, BF16, KvDtype.BF16, 1, 1, 64, EFF)
    assert d.flops == 2 * (TINY_MLA_LINEAR + TINY_MLA_HEAD) + absorbed * 64 * 2
    assert by_op(d.kernels)["attention_decode"].flops == absorbed * 64 * 2
    # the KV cache is one latent + rope key per token per layer: (32 + 8) x 2 B = 80 B, 64 read + 1 written x 2
    # layers; weights 2 x (83,328 + 6,400) + one embedding row 64 x 2 B
    assert by_op(d.kernels)["attention_decode"].bytes == 65 * 2 * 80
    assert d.bytes_moved == 2 * (TINY_MLA_BODY + TINY_MLA_HEAD) + 64 * 2 + 65 * 2 * 80
    # MLA's attention projections run as 4 launches a layer (fused q_a + kv_a, q_b, kv_b's two halves)
    assert by_op(d.kernels)["qkv"].launches == 4 * 2
    p = timing.prefill(m, H100, BF16, KvDtype.BF16, 1, 1, 64, EFF)
    # 64 x 65 / 2 = 2,080 attended per layer, 2 layers
    assert p.flops == 2 * TINY_MLA_LINEAR * 64 + 2 * TINY_MLA_HEAD + expanded * 2080 * 2
    assert by_op(p.kernels)["attention_prefill"].flops == expanded * 2080 * 2


# ---- Tensor parallelism: shards and the all-reduce ------------------------------------------------------------------


def test_allreduce_time_is_the_measured_vllm_table_by_hand():
    # kernel_efficiency.ALLREDUCE_TABLE, NVLink 4, entries at 256 B x 2^i: 8 KiB (i = 5) TP2 4.376 us, TP8 5.108 us;
    # 512 KiB (i = 11) TP4 11.4 us; 8 MiB (i = 15) TP2 44.96 us. PCIe keeps a line: TP2 5.65 us + bytes / 10e9
    ar = kernel_efficiency.allreduce_time_s
    assert ar(8192, 8, "NVLink 4") == pytest.approx(5.108e-6, rel=1e-12)
    assert ar(8192, 3, "NVLink 4") == pytest.approx(4.376e-6, rel=1e-12)  # TP3: TP2's row
    assert ar(8192, 1, "NVLink 4") == 0
    m = llama8b()
    # TP=2, one token: message 1 x 4,096 x 2 B = 8,192 B; 2 a layer x 32 layers:
    #   NVLink 4: 64 x 4.376 us = 280.064 us; PCIe Gen4 x16 (5.65 us, 10e9): 64 x 6.4692 us
    nv = kernels.allreduce_kernel(m, H100_NV4, 2, 1)
    assert nv.launches == 64 and nv.comm_s == pytest.approx(64 * 4.376e-6, rel=1e-12)
    assert nv.comm_s == pytest.approx(280.064e-6, rel=1e-9)
    pcie = kernels.allreduce_kernel(m, replace(H100, interconnect="PCIe Gen4 x16"), 2, 1)
    assert pcie.comm_s == pytest.approx(64 * (5.65e-6 + 8192 / 10e9), rel=1e-12) and pcie.comm_s > nv.comm_s
    # TP=4, 64 tokens: 64 x 4,096 x 2 B = 524,288 B (i = 11): 11.4 us; x 64 = 729.6 us
    assert kernels.allreduce_kernel(m, H100_NV4, 4, 64).comm_s == pytest.approx(64 * 11.4e-6, rel=1e-12)
    assert kernels.allreduce_kernel(m, H100_NV4, 1, 64) is None
    # a TP2 prefill of 2 prompts x 512 tokens all-reduces 1,024 x 4,096 x 2 B = 8,388,608 B (i = 15) twice a layer:
    #   64 x 44.96 us = 2.87744 ms
    est = timing.prefill(m, H100_NV4, BF16, KvDtype.BF16, 2, 2, 512, EFF)
    assert est.t_comm_s == pytest.approx(64 * 44.96e-6, rel=1e-12)


def test_tp2_decode_shards_the_bytes_and_adds_the_allreduce():
    tp1 = timing.decode_step(llama8b(), H100_NV4, BF16, KvDtype.BF16, 1, 1, 1024, EFF)
    est = timing.decode_step(llama8b(), H100_NV4, BF16, KvDtype.BF16, 2, 1, 1024, EFF)
    # per GPU: half of every GEMM weight (6,979,321,856 x 2 B / 2), the norms whole (266,240 x 2 B), half the
    # lm_head (525,336,576 B), half an embedding row (4,096 B), and 4 of 8 KV heads: 1,025 x 65,536 B
    assert L8_LINEAR + 2 * L8_NORMS + L8_EMBEDDING + 4_096 + 1_025 * 65_536 == 7_572_369_408
    assert est.bytes_moved == 7_572_369_408
    # the qkv GEMM per rank: 32 x 4,096 x 3,072 x 2 B = 805,306,368; a launch moves 25,165,824 B of weights and
    # ((4,096 + 2,048) + 2 x (4,096 + 512)) x 2 B = 30,720 B of activations, so it streams at a shape factor of
    # 25,196,544 / 36,179,848.5 = 0.6964 against TP1's 0.8210: a smaller shard reaches less of the peak
    q1, q2 = by_op(tp1.kernels)["qkv"], by_op(est.kernels)["qkv"]
    tp1_shape, tp2_shape = gemm_shape(4096 * 6144 * 2 + 36_864), gemm_shape(4096 * 3072 * 2 + 30_720)
    assert q2.bytes == 32 * 4096 * 3072 * 2 == q1.bytes / 2
    assert q2.m == pytest.approx(805_306_368 / (3.35e12 * tp2_shape), rel=1e-12)
    assert q2.m / q1.m == pytest.approx(0.5 * tp1_shape / tp2_shape, rel=1e-12)
    assert q2.time_s > q1.time_s / 2
    # two all-reduces a layer of 8,192 B over NVLink 4 (test above)
    comm = 64 * 4.376e-6
    assert est.t_comm_s == pytest.approx(comm, rel=1e-12)
    assert by_op(est.kernels)["allreduce"].time_s == pytest.approx(comm, rel=1e-12)
    assert est.latency_s == pytest.approx(40e-6 + sum(t.time_s for t in est.kernels), rel=1e-12)


# ---- Mixed continuous-batching steps --------------------------------------------------------------------------------


def test_mixed_step_with_a_prefill_chunk_by_hand_is_a_sum_of_kernels_not_a_max_over_the_step():
    # one engine step: a 512-token prefill chunk and 16 decodes, 20,000 KV tokens in the step in all
    est = timing.mixed_step(llama8b(), H100, BF16, KvDtype.BF16, 1, EFF, prefill_tokens=512, decode_seqs=16,
                            context_tokens=20_000)
    tokens = 512 + 16
    # the chunk is taken to hold the mean share 20,000 / 17 = 1,176.47 KV tokens: a cached prefix of 664.47 and
    # 512 x 664.47 + 512 x 513 / 2 causal pairs a layer; the 16 decodes attend the other 18,823.53
    share = 20_000 / 17
    prefill_pairs = (512 * (share - 512) + 512 * 513 / 2) * 32
    decode_pairs = (20_000 - share) * 32
    # FLOPs: GEMMs for all 528 tokens, lm_head for 16 decodes + the chunk's last token (17 sequences), attention
    # 2 x 6,979,321,856 x 528 + 2 x 525,336,576 x 17 = 7,370,163,879,936 + 17,861,443,584
    gemm_flops = 2 * L8_LINEAR * tokens + 2 * L8_EMBEDDING * 17
    assert gemm_flops == 7_388_025_323_520
    assert est.flops == pytest.approx(gemm_flops + L8_ATTN_FLOPS * (prefill_pairs + decode_pairs), rel=1e-12)
    k = by_op(est.kernels)
    assert [k["attention_decode"].flops, k["attention_prefill"].flops] == pytest.approx(
        [L8_ATTN_FLOPS * decode_pairs, L8_ATTN_FLOPS * prefill_pairs], rel=1e-12)
    # KV: the decodes read 18,823.53, the chunk its 664.47 cached tokens (its own stay on chip): 20,000 - 512 =
    # 19,488 read, 528 written, 131,072 B each; weights with 528 embedding rows
    #   15,009,849,344 + 4,325,376 + 20,016 x 131,072 = 17,637,711,872
    nbytes = 2 * (L8_BODY + L8_EMBEDDING) + tokens * 8_192 + (20_000 - 512 + tokens) * L8_KV_TOKEN
    assert nbytes == 17_637_711_872 and est.bytes_moved == pytest.approx(nbytes, rel=1e-12)
    # memory and compute are comparable, so the old whole-step max hid the decodes' KV reads behind the chunk's
    # GEMM math: 40 us + 272.64 us + max(17.64e9 / 2.68e12 = 6.58 ms, 7.645e12 / 593.4e12 = 12.88 ms)
    prefill_att, decode_att = L8_ATTN_FLOPS * prefill_pairs, L8_ATTN_FLOPS * decode_pairs
    old = 40e-6 + FLOOR + max(nbytes / BW, (gemm_flops + prefill_att + decode_att) / FLOPS)
    # kernels run one after another, each at least its own roofline at the large-kernel ceilings: GEMMs 12.45 ms
    # of math, the decode attention (18,823.53 read + 528 written) x 131,072 B / 2.68e12 = 0.95 ms of KV, the
    # prefill attention 0.247e12 / 593.4e12 = 0.42 ms of math
    decode_kv = (20_000 - share + tokens) * L8_KV_TOKEN
    floor = 40e-6 + FLOOR + gemm_flops / FLOPS + decode_kv / BW + prefill_att / FLOPS
    assert floor > old + 0.5e-3 and est.latency_s >= floor


def test_a_lone_prefill_chunk_from_an_empty_cache_equals_prefill():
    """context_tokens counts the KV tokens in the step: a fresh 1,000-token chunk holds its own 1,000, attends
    1,000 x 1,001 / 2 pairs a layer and reads nothing from the cache, like prefill()."""
    m, t = llama8b(), 1000
    p = timing.prefill(m, H100, BF16, KvDtype.BF16, 1, 1, t, EFF)
    mx = timing.mixed_step(m, H100, BF16, KvDtype.BF16, 1, EFF, prefill_tokens=t, decode_seqs=0, context_tokens=t)
    assert mx.flops == p.flops == 2 * L8_LINEAR * t + 2 * L8_EMBEDDING + L8_ATTN_FLOPS * 32 * t * (t + 1) // 2
    assert mx.bytes_moved == p.bytes_moved == 2 * (L8_BODY + L8_EMBEDDING) + t * 8_192 + t * L8_KV_TOKEN
    assert mx.latency_s == pytest.approx(p.latency_s, rel=1e-12)


def test_mixed_step_equals_decode_when_no_prefill():
    m = llama8b()
    d = timing.decode_step(m, H100, BF16, KvDtype.BF16, 1, 16, 1000, EFF)
    mx = timing.mixed_step(m, H100, BF16, KvDtype.BF16, 1, EFF, prefill_tokens=0, decode_seqs=16,
                           context_tokens=16 * 1000)
    assert mx.latency_s == pytest.approx(d.latency_s, rel=1e-9)
    assert mx.flops == d.flops and mx.bytes_moved == d.bytes_moved


# ---- Compute dtype: what a quant needs, and the bf16 fallback -------------------------------------------------------


def test_fp8_on_a_gpu_without_fp8_is_unsupported_with_advice():
    with pytest.raises(UnsupportedQuantError, match="int8 or int4"):
        timing.decode_step(llama8b(), A100, FP8, KvDtype.BF16, 1, 1, 1024, EFF)


def test_a_compute_dtype_the_gpu_lacks_falls_back_to_the_bf16_peak():
    fp16 = QuantScheme("fp16", weight_bits=16, compute_dtype="fp16")  # needs nothing: runs anywhere
    w4a4 = QuantScheme("w4a4", weight_bits=4, group_size=32, scale_bits=8, compute_dtype="fp4")
    b200 = GpuSpec("b200", "B200", 180 * 2**30, 8e12, {"bf16": 2250, "fp8": 4500, "fp4": 9000}, 900e9, "NVLink", 1000)
    # H100 here lists bf16 989 and fp8 1,978 only: fp16 and fp4 GEMMs run at the bf16 989 TFLOP/s, not at fp8's
    assert [timing.compute_dtype(g, q) for g, q in [(H100, fp16), (H100, w4a4), (b200, w4a4), (A100, BF16), (H100, FP8)]
            ] == ["bf16", "bf16", "fp4", "bf16", "fp8"]
    # the qkv GEMM of a 2,048-token prefill: 2 x 32 x 4,096 x 6,144 x 2,048 FLOPs, shape (2,048 x 4,096) @ (4,096 x
    # 4,096) (n: its widest tensor, q). Its compute term is FLOPs / (peak x eta(m, n, k) / eta_max) with
    # kernel_efficiency.GEMM_COMPUTE_FIT's (m0, n0, k0): H100 bf16 (6, 44, 212), H100 fp8 (256, 1,517, 210),
    # B200 fp4 its own fit (130, 1,625, 651); fp16 and fp4 on H100 run on the bf16 fit
    assert (flops := 2 * 32 * 4096 * 6144 * 2048) == 3_298_534_883_328

    def scale(m0, n0, k0):
        return 2048 / (2048 + m0) * 4096 / (4096 + n0) * 4096 / (4096 + k0)

    for quant, gpu, peak, s in [(fp16, H100, 989e12, scale(6, 44, 212)), (w4a4, H100, 989e12, scale(6, 44, 212)),
                                (w4a4, b200, 9000e12, scale(130, 1625, 651)),
                                (FP8, H100, 1978e12, scale(256, 1517, 210))]:
        est = timing.prefill(llama8b(), gpu, quant, KvDtype.BF16, 1, 1, 2048, EFF)
        qkv = by_op(est.kernels)["qkv"]
        assert qkv.flops == flops  # the FLOP count does not depend on the format
        assert qkv.c == pytest.approx(flops / (peak * s), rel=1e-12), (quant.id, gpu.id)
        assert est.mfu == pytest.approx(est.flops / est.latency_s / peak, rel=1e-12), (quant.id, gpu.id)


# ---- Weights streamed: MoE experts touched, bytes each quant keeps in bf16 ------------------------------------------


def test_moe_decode_reads_only_touched_experts():
    m = qwen3_moe_like()  # 128 experts, top 8
    # one token touches its 8; two tokens: each expert escapes one token with probability 1 - 8/128 = 15/16,
    # so 128 x (1 - (15/16)^2) = 128 x 31/256 = 15.5 distinct experts; 10,000 tokens touch all 128
    touched = [timing.expected_experts_touched(128, 8, n) for n in (1, 2, 10_000)]
    assert touched == pytest.approx([8, 15.5, 128], rel=1e-12)
    # the fused-MoE kernel reads the touched share of the 57,982,058,496 expert bytes; every token multiplies
    # 8 of 128 experts' 28,991,029,248 parameters: 2 x 28,991,029,248 / 16 = 3,623,878,656 FLOPs a token
    for batch, touched in [(1, 8), (2, 15.5)]:
        est = timing.decode_step(m, H100, BF16, KvDtype.BF16, 1, batch, 1, EFF)
        experts = by_op(est.kernels)["experts"]
        assert experts.bytes == pytest.approx(MOE_EXPERT_BYTES * touched / 128, rel=1e-12)
        assert experts.flops == pytest.approx(3_623_878_656 * batch, rel=1e-12)
        # the step: 1,229,916,160 non-expert parameters x 2 B + one 4,096 B embedding row a token + the touched
        # experts + KV, 1 read + 1 written a sequence x 48 layers x 4 KV heads x 256 x 2 B = 98,304 B a token:
        #   batch 1 -> 6,083,715,072 + 196,608; batch 2 -> 9,481,105,408 + 393,216
        weights = 2 * MOE_NON_EXPERT + 4_096 * batch + MOE_EXPERT_BYTES * touched / 128
        assert weights == pytest.approx({1: 6_083_715_072, 2: 9_481_105_408}[batch], rel=1e-12)
        assert est.bytes_moved == pytest.approx(weights + batch * 2 * 98_304, rel=1e-12)


def test_a_small_weight_over_many_rows_pays_the_launch_floor_once_a_launch():
    """The MoE router (128 x 2,048 weights, bf16, replicated) at 4,096 tokens: its activations dwarf its weights, and
    the bandwidth curve is read at all the bytes a launch moves, so the floor t0 is paid once a launch, not scaled
    by the activation bytes (that once made a Mixtral router at large batch cost 120 ms a step)."""
    m = qwen3_moe_like()
    est = timing.decode_step(m, H100, BF16, KvDtype.BF16, 1, 4096, 1, EFF)
    router, experts = by_op(est.kernels)["router"], by_op(est.kernels)["experts"]
    # 48 layers x (GEMM + top-k) = 96 launches; weights 48 x 128 x 2,048 x 2 B = 25,165,824 B; activations
    # 4,096 tokens x 48 layers x (2,048 in + 128 out) x 2 B = 855,638,016 B
    weights, acts = 48 * 128 * 2048 * 2, 4096 * 48 * (2048 + 128) * 2
    assert (router.launches, router.bytes) == (96, weights) and (weights, acts) == (25_165_824, 855_638_016)
    # time = (W + A) / (BW x eta x shape), shape = b / (b + B_HALF) at b = (W + A) / 96 a launch:
    #   = (W + A) / BW + 96 x B_HALF / BW, i.e. 96 launch floors of t0 (scaled by eta_max / EFF's 0.8) + streaming
    assert router.time_s == pytest.approx((weights + acts) / BW + 96 * B_HALF / BW, rel=1e-12)
    # 0.72 ms; read at the weights alone (262,144 B a launch: shape 0.0233) it would be ~20x that, 14.1 ms
    assert router.time_s == pytest.approx(0.72210e-3, rel=1e-4)
    assert (weights + acts) / (BW * gemm_shape(weights / 96)) > 19 * router.time_s
    # fused MoE also launches moe_align_block_size and moe_sum a layer: 2 of the 4 small kernels' floor a layer
    assert experts.fixed_s == pytest.approx(48 * 2 * 2.13e-6, rel=1e-12)


def test_efficiency_is_used_linearly_in_the_memory_term():
    m = llama8b()
    slow = Efficiency(bandwidth=0.4, compute=0.6, step_overhead_s=0.0, kv_bandwidth=0.4, layer_overhead_s=0.0)
    fast = Efficiency(bandwidth=0.8, compute=0.6, step_overhead_s=0.0, kv_bandwidth=0.8, layer_overhead_s=0.0)
    a = timing.decode_step(m, H100, BF16, KvDtype.BF16, 1, 1, 1024, slow).latency_s
    b = timing.decode_step(m, H100, BF16, KvDtype.BF16, 1, 1, 1024, fast).latency_s
    assert a == pytest.approx(2 * b)


def test_kv_reads_are_charged_at_the_kv_efficiency_not_the_quants():
    """A quant's slow GEMV rate applies to its weight bytes only: at long context, where KV dominates, fp8 and
    int4 weights must not predict a slower decode than bf16 (they move fewer bytes and the same KV)."""
    m, q = llama8b(), catalogue.load_quants()
    lat = {k: timing.decode_step(m, H100, q[k], KvDtype.BF16, 1, 64, 8192, default_efficiency("h100-sxm", k))
           for k in ("bf16", "fp8", "int4")}
    assert lat["fp8"].latency_s <= lat["bf16"].latency_s and lat["int4"].latency_s <= lat["bf16"].latency_s
    # int4 keeps bf16: lm_head 1,050,673,152 B + 64 embedding rows x 8,192 B + norms 266,240 x 2 B = 1,051,729,920
    int4 = by_op(timing.decode_step(m, H100, INT4, KvDtype.BF16, 1, 64, 8192, EFF).kernels)
    assert int4["lm_head"].m == 0 and int4["lm_head"].bytes == 2 * L8_EMBEDDING
    assert int4["embedding"].bytes == 64 * 8_192 and int4["layer_misc"].bytes == 2 * L8_NORMS
    assert 2 * L8_EMBEDDING + 64 * 8_192 + 2 * L8_NORMS == 1_051_729_920
    # decode attention streams 64 x (8,192 read + 1 written) x 131,072 B at kernel_efficiency.ATTENTION_DECODE's
    # eta = 0.92 x b / (b + 27e6), b = the bytes of one layer = 2,147,745,792: 0.9086; every quant's default
    # kv_bandwidth is the large-GEMM ceiling, so the shape factor (eta / 0.879) x 0.879 leaves BW x eta
    kv, b = 64 * 8193 * L8_KV_TOKEN, 64 * 8193 * L8_KV_TOKEN_LAYER
    for k in ("bf16", "fp8", "int4"):
        att = by_op(lat[k].kernels)["attention_decode"]
        assert att.bytes == kv and att.time_s == pytest.approx(kv / (3.35e12 * 0.92 * b / (b + 27e6)), rel=1e-12)


@pytest.mark.parametrize("model, tp", [("gpt-oss-20b", 1), ("qwen3-30b-a3b", 1), ("gpt-oss-120b", 4)])
def test_a_quant_never_predicts_a_slower_memory_bound_decode_than_bf16(model, tp):
    """Tensors a scheme keeps bf16 (attention for mxfp4) stream at the bf16 rate, so quantising the experts
    can only save time at batch 1."""
    m, q = catalogue.get_model(model), catalogue.load_quants()
    t = {k: timing.decode_step(m, H100, q[k], KvDtype.BF16, tp, 1, 1024, default_efficiency("h100-sxm", k)).latency_s
         for k in ("bf16", "mxfp4", "int4")}
    assert t["mxfp4"] < t["bf16"] and t["int4"] < t["bf16"]


def test_spec_defaults_agree_with_the_sourced_efficiency_constants():
    from profiler.analytic import efficiency

    e = Efficiency(bandwidth=0.5, compute=0.5, step_overhead_s=0.0)
    assert e.layer_overhead_s == efficiency.LAYER_OVERHEAD_S[0] == pytest.approx(4 * 2.13e-6, rel=1e-12)
    # the defaults stream KV at the GPU family's large-GEMM ceiling (H100: 0.879), whatever the weights' format;
    # int4 weights at 0.879 x its 0.808 ratio
    for quant in ("bf16", "fp8", "int4"):
        assert default_efficiency("h100-sxm", quant).kv_bandwidth == 0.879
    assert kernel_efficiency.gemm_bandwidth_ceiling("h100-sxm") == 0.879
    assert default_efficiency("h100-sxm", "int4").bandwidth == pytest.approx(0.879 * 0.808, rel=1e-12)
