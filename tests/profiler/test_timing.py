"""Analytic roofline timing: decode and prefill against hand-computed bytes and FLOPs."""

import pytest

from profiler.analytic import memory, timing
from profiler.analytic.params import param_counts
from profiler.errors import InvalidValueError, UnsupportedQuantError
from profiler.specs import AttentionSpec, Efficiency, GpuSpec, KvDtype, ModelSpec, MoeSpec

from .test_memory import BF16, EFF, FP8, H100, llama8b

A100 = GpuSpec("a100-80gb", "A100", 80 * 2**30, 2.039e12, {"bf16": 312, "int8": 624}, 300e9, "NVLink", 400)


def test_decode_batch1_bytes_are_weights_without_embedding_plus_kv():
    m = llama8b()
    est = timing.decode_step(m, H100, BF16, KvDtype.BF16, 1, 1, 1024, EFF)
    counts = param_counts(m)
    weights = 2 * (counts.total - counts.embedding) + 4096 * 2
    kv = 1024 * 131_072 + 131_072
    assert est.bytes_moved == pytest.approx(weights + kv)
    assert est.bound == "memory"
    roofline_tps = H100.hbm_bandwidth_bytes_per_s / est.bytes_moved
    assert 0.6 * roofline_tps < 1 / est.latency_s < roofline_tps
    assert est.mbu == pytest.approx(est.bytes_moved / est.latency_s / 3.35e12)
    # step overhead + the per-layer floor (32 layers) + bytes at 80% of 3.35 TB/s
    assert est.t_fixed_s == pytest.approx(32 * EFF.layer_overhead_s)
    assert est.latency_s == pytest.approx(40e-6 + 32 * EFF.layer_overhead_s + est.bytes_moved / (3.35e12 * 0.8))


def test_decode_flops_include_attention():
    m = llama8b()
    short = timing.decode_step(m, H100, BF16, KvDtype.BF16, 1, 8, 1024, EFF)
    long = timing.decode_step(m, H100, BF16, KvDtype.BF16, 1, 8, 2048, EFF)
    per_ctx = 2 * 32 * (128 + 128) * 32  # 2 x heads x (dk + dv) x layers
    assert long.flops - short.flops == pytest.approx(8 * 1024 * per_ctx)


def test_decode_latency_grows_with_batch_and_context_and_throughput_with_batch():
    m = llama8b()
    lat = {(b, c): timing.decode_step(m, H100, BF16, KvDtype.BF16, 1, b, c, EFF).latency_s
           for b in (1, 8, 64) for c in (1024, 8192)}
    assert lat[(1, 1024)] < lat[(8, 1024)] < lat[(64, 1024)]
    assert lat[(8, 1024)] < lat[(8, 8192)]
    assert 64 / lat[(64, 1024)] > 8 / lat[(8, 1024)] > 1 / lat[(1, 1024)]


def test_prefill_is_compute_bound_and_matches_hand_computed_flops():
    m = llama8b()
    est = timing.prefill(m, H100, BF16, KvDtype.BF16, 1, 1, 2048, EFF)
    counts = param_counts(m)
    body = counts.total - counts.embedding - counts.lm_head  # the embedding is a gather: no FLOPs
    attention = 2 * 32 * (128 + 128) * 32 * 2048 * 2049 / 2  # causal QK^T + PV over 32 layers
    assert est.flops == pytest.approx(2 * body * 2048 + 2 * counts.lm_head + attention)
    # measurement.md §6.4 quotes ~31.8 TFLOP because it also counts the embedding table as a matmul;
    # without it the same arithmetic gives ~29.7 TFLOP -> ~50 ms at 60% of 989 TFLOP/s.
    assert est.flops == pytest.approx(29.7e12, rel=0.01)
    assert est.bound == "compute"
    assert est.latency_s == pytest.approx(est.flops / (989e12 * 0.6) + 40e-6 + 32 * EFF.layer_overhead_s)


def test_fp8_on_a_gpu_without_fp8_is_unsupported_with_advice():
    with pytest.raises(UnsupportedQuantError, match="int8 or int4"):
        timing.decode_step(llama8b(), A100, FP8, KvDtype.BF16, 1, 1, 1024, EFF)


def test_tp_halves_bytes_and_adds_allreduce():
    m = llama8b()
    one = timing.decode_step(m, H100, BF16, KvDtype.BF16, 1, 1, 1024, EFF)
    two = timing.decode_step(m, H100, BF16, KvDtype.BF16, 2, 1, 1024, EFF)
    assert two.bytes_moved == pytest.approx(one.bytes_moved / 2, rel=0.01)
    assert two.t_comm_s > 0 and one.t_comm_s == 0
    assert two.latency_s < one.latency_s


def test_moe_decode_reads_only_touched_experts():
    att = AttentionSpec(num_heads=32, num_kv_heads=4, head_dim=128)
    m = ModelSpec(name="moe", model_type="qwen3_moe", hidden_size=2048, num_layers=48, intermediate_size=6144,
                  vocab_size=151936, attention=att, moe=MoeSpec(num_experts=128, top_k=8, expert_intermediate=768))
    assert timing.expected_experts_touched(128, 8, 1) == pytest.approx(8)
    assert timing.expected_experts_touched(128, 8, 10_000) == pytest.approx(128)
    w = memory.weight_bytes_by_kind(m, BF16)
    b1 = timing.weight_bytes_read(m, BF16, 1, 1)
    assert b1 == pytest.approx(sum(w.values()) - w["embedding"] + 2048 * 2 - w["expert"] * (1 - 8 / 128))
    assert timing.weight_bytes_read(m, BF16, 1, 64) > b1


def test_bad_batch_is_a_clear_error():
    with pytest.raises(InvalidValueError, match="batch"):
        timing.decode_step(llama8b(), H100, BF16, KvDtype.BF16, 1, 0, 1024, EFF)


def test_mixed_step_equals_decode_when_no_prefill():
    m = llama8b()
    d = timing.decode_step(m, H100, BF16, KvDtype.BF16, 1, 16, 1000, EFF)
    mx = timing.mixed_step(m, H100, BF16, KvDtype.BF16, 1, EFF, prefill_tokens=0, decode_seqs=16,
                           context_tokens=16 * 1000)
    assert mx.latency_s == pytest.approx(d.latency_s, rel=1e-9)


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
    from profiler import catalogue
    from profiler.analytic.efficiency import default_efficiency

    m, q = llama8b(), catalogue.load_quants()
    lat = {k: timing.decode_step(m, H100, q[k], KvDtype.BF16, 1, 64, 8192, default_efficiency("h100-sxm", k))
           for k in ("bf16", "fp8", "int4")}
    assert lat["fp8"].latency_s <= lat["bf16"].latency_s and lat["int4"].latency_s <= lat["bf16"].latency_s
    est = lat["int4"]
    kv_bytes = 64 * (8192 + 1) * 131072
    _, kept = timing.weight_bytes_read_split(m, q["int4"], 1, 64)  # lm_head, embedding rows, norms: bf16
    assert kept > 0
    assert est.t_kv_s == pytest.approx((kv_bytes + kept) / (H100.hbm_bandwidth_bytes_per_s * 0.8), rel=1e-9)


@pytest.mark.parametrize("model, tp", [("gpt-oss-20b", 1), ("qwen3-30b-a3b", 1), ("gpt-oss-120b", 4)])
def test_a_quant_never_predicts_a_slower_memory_bound_decode_than_bf16(model, tp):
    """Tensors a scheme keeps bf16 (attention for mxfp4) stream at the bf16 rate, so quantising the experts
    can only save time at batch 1."""
    from profiler import catalogue
    from profiler.analytic.efficiency import default_efficiency

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
