"""The analytic profile grid and the "what would fit" advice, on catalogue models."""

import pytest

from profiler import catalogue
from profiler.analytic.efficiency import default_efficiency
from profiler.analytic.profile import Grid, analytic_profile, require_fit, what_fits
from profiler.errors import DoesNotFitError, InvalidValueError
from profiler.schema import validate
from profiler.specs import KvDtype
from tests.profiler.analytic.specs import L8_KV_TOKEN, L8_TOTAL


def eff(gpu_id, quant_id):
    return default_efficiency(gpu_id, quant_id)


@pytest.fixture(scope="module")
def cat():
    return catalogue.load_models(), catalogue.load_gpus(), catalogue.load_quants()


def test_acceptance_row_llama8b_h100_bf16(cat):
    models, gpus, quants = cat
    m, g = models["llama-3.1-8b"], gpus["h100-sxm"]
    df = analytic_profile(m, g, Grid(quants=(quants["bf16"],), batches=(1,), contexts=(1024,)), eff)
    validate(df)
    dec = df[df["phase"] == "decode"].iloc[0]
    assert dec["status"] == "ok" and dec["source"] == "analytic" and dec["note"] == "memory-bound"
    assert dec["weights_bytes"] == 2 * L8_TOTAL and dec["kv_bytes_per_token"] == L8_KV_TOKEN
    # The published defaults for H100 bf16 (efficiency.py, kernel_efficiency.py): weights, KV and activations at
    # the Hopper GEMM ceiling 0.879 of 3.35 TB/s; each weight GEMM's bandwidth scaled by b / (b + b_half),
    # b_half = t0 x BW x eta_max = 3.73 us x 3.35e12 x 0.879; decode attention at 0.92 x B / (B + 27 MB) of BW;
    # 40 us a step; the small kernels 8.52 us a layer. Batch 1 is memory-bound everywhere, so each kernel takes
    # (its bytes) / (BW x its efficiency): a GEMM moving W weight bytes and A activation bytes per launch is read
    # on the curve at W + A, so it takes (W + A) (W + A + b_half) / (W + A) / (BW x 0.879) = t0 + (W + A) / (BW x
    # 0.879): the launch floor once, whatever the bytes are.
    bw, eta = 3.35e12, 0.879
    b_half = 3.73e-6 * bw * eta

    def gemm(w, act):
        return (w + act + b_half) / (bw * eta)

    # per layer, one token: qkv 4,096 x 6,144 x 2 B, activations in+out (4,096 + 4,096) + 2 x (4,096 + 1,024);
    # o 4,096^2 x 2 B, (4,096 + 4,096); gate+up 2 x 14,336 x 4,096 x 2 B, 2 x (4,096 + 14,336); down 14,336 x
    # 4,096 x 2 B, (14,336 + 4,096); the lm_head once: 128,256 x 4,096 x 2 B, (4,096 + 128,256), 2 B each
    gemms = (32 * (gemm(50_331_648, 18_432 * 2) + gemm(33_554_432, 8_192 * 2) + gemm(234_881_024, 36_864 * 2)
                   + gemm(117_440_512, 18_432 * 2)) + gemm(1_050_673_152, 132_352 * 2))
    # attention per layer: 1,024 tokens x 4,096 B read + 4,096 B written = 4,198,400 B at 0.92 B / (B + 27e6)
    attention = 32 * (4_198_400 + 27e6) / (bw * 0.92)
    # small kernels: 32 x 8.52 us, the norm weights (65 x 4,096 x 2 B = 532,480) and activations (8 x 4,096 +
    # 3 x 14,336) x 2 B a layer; embedding: one 8,192 B row gathered and 2 x 4,096 x 2 B of activations
    misc = 32 * 8.52e-6 + (532_480 + 32 * (8 * 4096 + 3 * 14336) * 2) / (bw * eta)
    embedding = (8_192 + 16_384) / (bw * eta)
    latency = 40e-6 + gemms + attention + misc + embedding  # 6.21859 ms -> 160.81 tok/s
    assert dec["latency_ms"] == pytest.approx(latency * 1e3, rel=1e-9)
    assert dec["tokens_per_s"] == pytest.approx(1 / latency, rel=1e-9) and round(dec["tokens_per_s"], 2) == 160.81
    # MBU counts weights and KV (15,144,206,336 B, test_timing.py), not activations
    assert dec["mbu"] == pytest.approx(15_144_206_336 / latency / 3.35e12, rel=1e-9)
    # KV budget as in test_memory.py, but the catalogue H100 has 81,559 MiB (NVSMI), not 80 GiB:
    #   int(0.9 x 85,520,809,984) = 76,968,728,985 - weights 16,060,522,496 - torch peak 939,524,096
    #   - non-torch increase 128 MiB - CUDA graphs 512 MiB = 59,297,593,753 B -> / 131,072 = 452,404.4
    #   -> 452,400 tokens (whole blocks); / 134,217,728 B per 1,024-token sequence = 441.8 -> 441
    assert (dec["kv_capacity_tokens"], dec["max_batch"]) == (452_400, 441)
    # peak: weights + CUDA context 512 MiB (no NCCL at TP 1) + the profile run's torch peak at one token and
    #   one sampler row (its sampler phase, memory.activation_bytes: 2,060,288 B) + KV of 1,024 tokens (64 blocks)
    assert dec["peak_bytes"] == 2 * L8_TOTAL + 512 * 2**20 + 2_060_288 + 1024 * L8_KV_TOKEN


def test_grid_covers_every_point_and_marks_oom_and_unsupported(cat):
    models, gpus, quants = cat
    grid = Grid(quants=(quants["bf16"], quants["fp8"], quants["int4"]), batches=(1, 64, 4096),
                contexts=(1024, 131072, 200_000))
    df = analytic_profile(models["llama-3.1-8b"], gpus["a100-80gb"], grid, eff)
    assert len(df) == 3 * 2 * 3 * 3
    assert set(df.loc[df["quant"] == "fp8", "status"]) == {"unsupported"}  # A100 has no FP8
    big = df[(df["quant"] == "bf16") & (df["batch"] == 4096) & (df["context"] == 131072)]
    # 4,096 sequences x 131,072 tokens x 131,072 B = 2^12 x 2^17 x 2^17 B = 2^46 B = 65,536 GiB of KV
    assert set(big["status"]) == {"oom"} and big["note"].str.startswith("needs 65536.0 GiB of KV; ").all()
    assert set(df.loc[df["context"] == 200_000, "status"]) == {"unsupported"}
    ok = df[df["status"] == "ok"]
    assert (ok["peak_bytes"] <= gpus["a100-80gb"].hbm_bytes).all()
    validate(df)


def test_int4_weights_smaller_and_decode_faster_at_batch1(cat):
    models, gpus, quants = cat
    grid = Grid(quants=(quants["bf16"], quants["int4"]), batches=(1,), contexts=(1024,), phases=("decode",))
    df = analytic_profile(models["llama-3.1-8b"], gpus["h100-sxm"], grid, eff).set_index("quant")
    # 4.25-bit GEMM weights, bf16 embedding, lm_head and norms: 5,809,643,520 B (test_memory.py)
    assert df.loc["bf16", "weights_bytes"] == 16_060_522_496 and df.loc["int4", "weights_bytes"] == 5_809_643_520
    assert df.loc["int4", "tokens_per_s"] > df.loc["bf16", "tokens_per_s"]


def test_model_that_fits_no_single_gpu_says_what_would(cat):
    models, gpus, quants = cat
    m = models["llama-3.3-70b"]
    with pytest.raises(DoesNotFitError) as info:
        require_fit(m, gpus["l4"], quants["bf16"], KvDtype.BF16, 1, 1024, gpus, quants, eff)
    msg = str(info.value)
    assert "does not fit" in msg and "h100-sxm" in msg
    options = what_fits(m, gpus, quants, KvDtype.BF16, 1024, eff)
    assert ("h100-sxm", "bf16", 2) in options and ("h200", "fp8", 1) in options
    assert ("h200", "bf16", 2) in options  # 131 GiB of weights > 90% of 141 GiB


def test_bad_grid_values_are_clear_errors(cat):
    _, _, quants = cat
    with pytest.raises(InvalidValueError, match="batches"):
        Grid(quants=(quants["bf16"],), batches=(0,))


def test_no_ok_row_needs_more_memory_than_the_gpu_has(cat):
    models, gpus, quants = cat
    grid = Grid(quants=(quants["bf16"], quants["int4"]), batches=(1, 16, 64, 256), contexts=(512, 8192, 32768))
    for model in ("llama-3.1-8b", "qwen3-30b-a3b", "gemma-2-9b"):
        df = analytic_profile(models[model], gpus["h100-sxm"], grid, eff)
        ok = df[df["status"] == "ok"]
        assert len(ok) and (ok["peak_bytes"] <= gpus["h100-sxm"].hbm_bytes).all()
        assert (ok["batch"] <= ok["max_batch"]).all()
