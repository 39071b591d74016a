"""Analytic roofline timing: decode, prefill and mixed steps against bytes, FLOPs and seconds derived by hand.

Every expected value comes from the architecture (tests/profiler/analytic/specs.py) and the documented formulas
of profiler/analytic/timing.py, written out in the comments; none is read back from the code under test.
"""

import pytest

from profiler import catalogue
from profiler.analytic import timing
from profiler.analytic.efficiency import default_efficiency
from profiler.errors import InvalidValueError, UnsupportedQuantError
from profiler.specs import Efficiency, GpuSpec, KvDtype, QuantScheme
from tests.profiler.analytic.specs import (
    A100,
    BF16,
    EFF,
    FP8,
    GEMMA_LIKE_ATTN_FLOPS,
    GEMMA_LIKE_BODY,
    GEMMA_LIKE_HEAD,
    H100,
    INT4,
    L8_ATTN_FLOPS,
    L8_BODY,
    L8_EMBEDDING,
    L8_KV_TOKEN,
    L8_LINEAR,
    L8_NORMS,
    MOE_EXPERT_BYTES,
    MOE_NON_EXPERT,
    TINY_MLA_BODY,
    TINY_MLA_HEAD,
    deepseek_v3_attention,
    gemma_like,
    llama8b,
    qwen3_moe_like,
    tiny_mla,
)

BW = 3.35e12 * 0.8  # H100 HBM at the 0.8 streaming efficiency of EFF (weights and KV alike): 2.68e12 B/s
FLOPS = 989e12 * 0.6  # H100 dense bf16 at EFF's 0.6: 593.4e12 FLOP/s
FIXED = 40e-6 + 32 * 15e-6  # EFF: 40 us a step + Efficiency's default 15 us a layer x 32 layers = 520 us


# ------------------------------------------------------------------------------------------------------------
# Decode and prefill of a dense GQA model
# ------------------------------------------------------------------------------------------------------------


def test_decode_batch1_bytes_flops_and_latency_by_hand():
    est = timing.decode_step(llama8b(), H100, BF16, KvDtype.BF16, 1, 1, 1024, EFF)
    # weights: body + lm_head at 2 B, the embedding gathered one row (4,096 x 2 B):
    #   2 x (6,979,588,096 + 525,336,576) + 8,192 = 15,009,857,536
    # KV: read 1,024 tokens x 131,072 B, write the new one: 134,348,800 -> 15,144,206,336 B in all
    assert 2 * (L8_BODY + L8_EMBEDDING) + 8_192 + 1_025 * L8_KV_TOKEN == 15_144_206_336
    assert est.bytes_moved == 15_144_206_336
    # FLOPs: 2 x 7,504,924,672 matmul params + 16,384 x 1,024 attended x 32 layers = 15,546,720,256
    assert est.flops == 2 * (L8_BODY + L8_EMBEDDING) + L8_ATTN_FLOPS * 1024 * 32 == 15_546_720_256
    # memory-bound: 15,144,206,336 / 2.68e12 = 5.6508 ms against 15.5e9 / 593.4e12 = 26 us of compute
    assert est.t_memory_s == pytest.approx(15_144_206_336 / BW, rel=1e-12)
    assert est.t_compute_s == pytest.approx(15_546_720_256 / FLOPS, rel=1e-12) and est.bound == "memory"
    assert est.t_fixed_s == pytest.approx(32 * 15e-6) and est.t_comm_s == 0
    assert est.latency_s == pytest.approx(FIXED + 15_144_206_336 / BW, rel=1e-12)  # 6.1708 ms
    assert est.latency_s == pytest.approx(6.17082e-3, rel=1e-5)
    # MBU and MFU against the datasheet peaks (gpt-fast generate.py)
    assert est.mbu == pytest.approx(15_144_206_336 / est.latency_s / 3.35e12, rel=1e-12)
    assert est.mfu == pytest.approx(15_546_720_256 / est.latency_s / 989e12, rel=1e-12)


def test_decode_flops_and_kv_bytes_scale_with_batch_and_context():
    est = timing.decode_step(llama8b(), H100, BF16, KvDtype.BF16, 1, 8, 2048, EFF)
    # 8 sequences: 8 x 2 x 7,504,924,672 matmul FLOPs + 8 x 2,048 attended x 16,384 x 32 layers
    assert est.flops == 8 * 2 * (L8_BODY + L8_EMBEDDING) + 8 * 2048 * L8_ATTN_FLOPS * 32
    # weights once, 8 embedding rows; KV 8 x (2,048 read + 1 written) x 131,072
    assert est.bytes_moved == 2 * (L8_BODY + L8_EMBEDDING) + 8 * 8_192 + 8 * 2049 * L8_KV_TOKEN


def test_decode_latency_grows_with_batch_and_context_and_throughput_with_batch():
    m = llama8b()
    lat = {(b, c): timing.decode_step(m, H100, BF16, KvDtype.BF16, 1, b, c, EFF).latency_s
           for b in (1, 8, 64) for c in (1024, 8192)}
    assert lat[(1, 1024)] < lat[(8, 1024)] < lat[(64, 1024)]
    assert lat[(8, 1024)] < lat[(8, 8192)]
    assert 64 / lat[(64, 1024)] > 8 / lat[(8, 1024)] > 1 / lat[(1, 1024)]


def test_prefill_is_compute_bound_and_matches_hand_computed_flops():
    est = timing.prefill(llama8b(), H100, BF16, KvDtype.BF16, 1, 1, 2048, EFF)
    # body for all 2,048 tokens, lm_head for the last one, causal attention: query i attends i tokens,
    # sum 2,048 x 2,049 / 2 = 2,098,176 per layer
    attention = L8_ATTN_FLOPS * 32 * 2048 * 2049 // 2
    assert est.flops == 2 * L8_BODY * 2048 + 2 * L8_EMBEDDING + attention
    # measurement.md §6.4 quotes ~31.8 TFLOP because it also counts the embedding table as a matmul;
    # without it the same arithmetic gives ~29.7 TFLOP -> ~50 ms at 60% of 989 TFLOP/s.
    assert est.flops == pytest.approx(29.7e12, rel=0.01)
    assert est.bound == "compute"
    assert est.latency_s == pytest.approx(FIXED + est.flops / FLOPS, rel=1e-12)


def test_bad_batch_or_an_empty_step_is_a_clear_error():
    with pytest.raises(InvalidValueError, match="batch"):
        timing.decode_step(llama8b(), H100, BF16, KvDtype.BF16, 1, 0, 1024, EFF)
    with pytest.raises(InvalidValueError, match="at least one token"):
        timing.mixed_step(llama8b(), H100, BF16, KvDtype.BF16, 1, EFF, prefill_tokens=0, decode_seqs=0,
                          context_tokens=0)


# ------------------------------------------------------------------------------------------------------------
# Sliding-window attention
# ------------------------------------------------------------------------------------------------------------


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
    # 2 x 3,148,032 x 300 body + 2 x 256,000 lm_head (last token) + 2,048 x 140,400 attention = 2,176,870,400
    assert est.flops == 2 * GEMMA_LIKE_BODY * 300 + 2 * GEMMA_LIKE_HEAD + GEMMA_LIKE_ATTN_FLOPS * 140_400
    assert est.flops == 2_176_870_400


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


# ------------------------------------------------------------------------------------------------------------
# MLA (DeepSeek-V2/V3): absorbed in decode, expanded in prefill
# ------------------------------------------------------------------------------------------------------------


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
    assert d.flops == 2 * (TINY_MLA_BODY + TINY_MLA_HEAD) + absorbed * 64 * 2
    # the KV cache is one latent + rope key per token per layer: (32 + 8) x 2 B = 80 B, 65 tokens x 2 layers
    _, kept = timing.weight_bytes_read_split(m, BF16, 1, 1)
    assert d.bytes_moved == 2 * (TINY_MLA_BODY + TINY_MLA_HEAD) + 64 * 2 + 65 * 2 * 80 and kept == 0
    p = timing.prefill(m, H100, BF16, KvDtype.BF16, 1, 1, 64, EFF)
    # 64 x 65 / 2 = 2,080 attended per layer, 2 layers
    assert p.flops == 2 * TINY_MLA_BODY * 64 + 2 * TINY_MLA_HEAD + expanded * 2080 * 2


# ------------------------------------------------------------------------------------------------------------
# Tensor parallelism: shards and the all-reduce
# ------------------------------------------------------------------------------------------------------------


def test_allreduce_time_is_the_ring_formula_by_hand():
    m = llama8b()
    link = 450e9 * 0.8  # NVLink 450 GB/s per direction at the 0.8 interconnect efficiency: 360e9 B/s
    # TP=2, one token: message 1 x 4,096 x 2 B = 8,192 B; a ring moves 2 (2 - 1) / 2 x 8,192 = 8,192 B per GPU
    #   one all-reduce = 8,192 / 360e9 + 10 us = 10.02276 us; 2 per layer x 32 layers = 641.456 us
    assert timing.allreduce_s(m, H100, EFF, 2, 1) == pytest.approx(64 * (8192 / link + 10e-6), rel=1e-12)
    assert timing.allreduce_s(m, H100, EFF, 2, 1) == pytest.approx(641.456e-6, rel=1e-5)
    # TP=4, 64 tokens: 524,288 B, ring 2 x 3 / 4 x 524,288 = 786,432 B -> 2.18453 us + 10 us; x 64 = 779.810 us
    assert timing.allreduce_s(m, H100, EFF, 4, 64) == pytest.approx(64 * (786_432 / link + 10e-6), rel=1e-12)
    assert timing.allreduce_s(m, H100, EFF, 4, 64) == pytest.approx(779.810e-6, rel=1e-5)
    assert timing.allreduce_s(m, H100, EFF, 1, 64) == 0


def test_tp2_decode_shards_the_bytes_and_adds_the_allreduce():
    est = timing.decode_step(llama8b(), H100, BF16, KvDtype.BF16, 2, 1, 1024, EFF)
    # per GPU: half of every GEMM weight (6,979,321,856 x 2 B / 2), the norms whole (266,240 x 2 B), half the
    # lm_head (525,336,576 B), half an embedding row (4,096 B), and 4 of 8 KV heads: 1,025 x 65,536 B
    assert L8_LINEAR + 2 * L8_NORMS + L8_EMBEDDING + 4_096 + 1_025 * 65_536 == 7_572_369_408
    assert est.bytes_moved == 7_572_369_408
    comm = 64 * (8192 / (450e9 * 0.8) + 10e-6)
    assert est.t_comm_s == pytest.approx(comm, rel=1e-12)
    assert est.latency_s == pytest.approx(FIXED + 7_572_369_408 / BW + comm, rel=1e-12)


def test_tp_prefill_all_reduces_every_prompt_token():
    est = timing.prefill(llama8b(), H100, BF16, KvDtype.BF16, 2, 2, 512, EFF)
    # 2 prompts x 512 tokens = 1,024 x 4,096 x 2 B = 8,388,608 B per all-reduce; ring share 1/1 at TP=2
    assert est.t_comm_s == pytest.approx(64 * (8_388_608 / 360e9 + 10e-6), rel=1e-12)


# ------------------------------------------------------------------------------------------------------------
# Mixed continuous-batching steps
# ------------------------------------------------------------------------------------------------------------


def test_mixed_step_with_a_prefill_chunk_by_hand():
    # one engine step: a 512-token prefill chunk and 16 decodes, 20,000 KV tokens attended in all
    est = timing.mixed_step(llama8b(), H100, BF16, KvDtype.BF16, 1, EFF, prefill_tokens=512, decode_seqs=16,
                            context_tokens=20_000)
    tokens = 512 + 16
    # FLOPs: body for all 528 tokens, lm_head for 16 decodes + the chunk's last token (17 sequences), attention
    #   2 x 6,979,588,096 x 528 + 2 x 525,336,576 x 17 + 16,384 x 20,000 x 32 = 7,398,792,232,960
    flops = 2 * L8_BODY * tokens + 2 * L8_EMBEDDING * 17 + L8_ATTN_FLOPS * 20_000 * 32
    assert flops == 7_398_792_232_960 and est.flops == flops
    # bytes: weights (528 embedding rows) + 20,000 KV tokens read + 528 written, 131,072 B each
    #   15,009,849,344 + 4,325,376 + 2,621,440,000 + 69,206,016 = 17,704,820,736
    nbytes = 2 * (L8_BODY + L8_EMBEDDING) + tokens * 8_192 + (20_000 + tokens) * L8_KV_TOKEN
    assert nbytes == 17_704_820_736 and est.bytes_moved == nbytes
    # compute-bound: 7.3988e12 / 593.4e12 = 12.468 ms > 17.7e9 / 2.68e12 = 6.606 ms
    assert est.bound == "compute"
    assert est.latency_s == pytest.approx(FIXED + flops / FLOPS, rel=1e-12)
    assert est.latency_s == pytest.approx(12.98854e-3, rel=1e-5)


def test_mixed_step_of_a_whole_prompt_costs_the_prefill_flops_plus_reading_its_kv():
    """A prefill-only engine step over a fresh prompt attends T(T+1)/2 tokens per layer: the same FLOPs as
    prefill(); its bytes add reading those attended tokens' KV, which prefill() keeps on chip."""
    m, t = llama8b(), 1000
    p = timing.prefill(m, H100, BF16, KvDtype.BF16, 1, 1, t, EFF)
    mx = timing.mixed_step(m, H100, BF16, KvDtype.BF16, 1, EFF, prefill_tokens=t, decode_seqs=0,
                           context_tokens=t * (t + 1) // 2)
    assert mx.flops == p.flops
    assert mx.bytes_moved - p.bytes_moved == t * (t + 1) // 2 * L8_KV_TOKEN


def test_mixed_step_equals_decode_when_no_prefill():
    m = llama8b()
    d = timing.decode_step(m, H100, BF16, KvDtype.BF16, 1, 16, 1000, EFF)
    mx = timing.mixed_step(m, H100, BF16, KvDtype.BF16, 1, EFF, prefill_tokens=0, decode_seqs=16,
                           context_tokens=16 * 1000)
    assert mx.latency_s == pytest.approx(d.latency_s, rel=1e-9)


# ------------------------------------------------------------------------------------------------------------
# Compute dtype: what a quant needs, and the bf16 fallback
# ------------------------------------------------------------------------------------------------------------


def test_fp8_on_a_gpu_without_fp8_is_unsupported_with_advice():
    with pytest.raises(UnsupportedQuantError, match="int8 or int4"):
        timing.decode_step(llama8b(), A100, FP8, KvDtype.BF16, 1, 1, 1024, EFF)


def test_a_compute_dtype_the_gpu_lacks_falls_back_to_the_bf16_peak():
    fp16 = QuantScheme("fp16", weight_bits=16, compute_dtype="fp16")  # needs nothing: runs anywhere
    w4a4 = QuantScheme("w4a4", weight_bits=4, group_size=32, scale_bits=8, compute_dtype="fp4")
    b200 = GpuSpec("b200", "B200", 180 * 2**30, 8e12, {"bf16": 2250, "fp8": 4500, "fp4": 9000}, 900e9, "NVLink", 1000)
    # H100 here lists bf16 989 and fp8 1,978 only: fp16 and fp4 GEMMs run at the bf16 989 TFLOP/s, not at fp8's
    assert timing.compute_dtype(H100, fp16) == "bf16" and timing.compute_dtype(H100, w4a4) == "bf16"
    assert timing.compute_dtype(b200, w4a4) == "fp4" and timing.compute_dtype(A100, BF16) == "bf16"
    assert timing.compute_dtype(H100, FP8) == "fp8"
    m = llama8b()
    flops = 2 * L8_BODY * 2048 + 2 * L8_EMBEDDING + L8_ATTN_FLOPS * 32 * 2048 * 2049 // 2  # as in the prefill test
    for quant, gpu, peak in [(fp16, H100, 989e12), (w4a4, H100, 989e12), (w4a4, b200, 9000e12),
                             (FP8, H100, 1978e12)]:
        est = timing.prefill(m, gpu, quant, KvDtype.BF16, 1, 1, 2048, EFF)
        assert est.flops == flops  # the FLOP count does not depend on the format
        assert est.t_compute_s == pytest.approx(flops / (peak * 0.6), rel=1e-12), (quant.id, gpu.id)
        assert est.mfu == pytest.approx(flops / est.latency_s / peak, rel=1e-12), (quant.id, gpu.id)


# ------------------------------------------------------------------------------------------------------------
# Weights streamed: MoE experts touched, bytes each quant keeps in bf16
# ------------------------------------------------------------------------------------------------------------


def test_moe_decode_reads_only_touched_experts():
    m = qwen3_moe_like()  # 128 experts, top 8
    # one token touches its 8; two tokens: each expert escapes one token with probability 1 - 8/128 = 15/16,
    # so 128 x (1 - (15/16)^2) = 128 x 31/256 = 15.5 distinct experts; 10,000 tokens touch all 128
    assert timing.expected_experts_touched(128, 8, 1) == pytest.approx(8, rel=1e-12)
    assert timing.expected_experts_touched(128, 8, 2) == pytest.approx(15.5, rel=1e-12)
    assert timing.expected_experts_touched(128, 8, 10_000) == pytest.approx(128, rel=1e-12)
    # bytes: 1,229,916,160 non-expert parameters x 2 B + tokens embedding rows x 4,096 B + the touched share
    # of the 57,982,058,496 expert bytes: batch 1 -> 6,083,715,072; batch 2 -> 9,481,105,408
    assert timing.weight_bytes_read(m, BF16, 1, 1) == pytest.approx(
        2 * MOE_NON_EXPERT + 4_096 + MOE_EXPERT_BYTES * 8 / 128, rel=1e-12)
    assert timing.weight_bytes_read(m, BF16, 1, 1) == pytest.approx(6_083_715_072, rel=1e-12)
    assert timing.weight_bytes_read(m, BF16, 1, 2) == pytest.approx(9_481_105_408, rel=1e-12)


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
    kept = 2 * L8_EMBEDDING + 64 * 8_192 + 2 * L8_NORMS
    assert kept == 1_051_729_920 and timing.weight_bytes_read_split(m, INT4, 1, 64)[1] == kept
    kv_bytes = 64 * (8192 + 1) * L8_KV_TOKEN
    assert lat["int4"].t_kv_s == pytest.approx((kv_bytes + kept) / (3.35e12 * 0.8), rel=1e-12)


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
    assert e.interconnect == efficiency.INTERCONNECT_EFFICIENCY[0]
    assert e.kv_bandwidth == efficiency.KV_BANDWIDTH_EFFICIENCY[0]
    assert e.layer_overhead_s == efficiency.LAYER_OVERHEAD_S[0]
