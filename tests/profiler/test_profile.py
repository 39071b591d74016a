"""The analytic profile grid and the "what would fit" advice, on catalogue models."""

import pytest

from profiler import catalogue
from profiler.analytic.efficiency import default_efficiency
from profiler.analytic.params import param_counts
from profiler.analytic.profile import Grid, analytic_profile, require_fit, what_fits
from profiler.errors import DoesNotFitError, InvalidValueError
from profiler.schema import validate
from profiler.specs import KvDtype


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
    assert dec["status"] == "ok" and dec["source"] == "analytic"
    assert abs(dec["weights_bytes"] / (2 * param_counts(m).total) - 1) < 0.005
    roofline = g.hbm_bandwidth_bytes_per_s / dec["weights_bytes"]
    assert 0.6 * roofline <= dec["tokens_per_s"] <= roofline
    assert dec["kv_bytes_per_token"] == 131_072


def test_grid_covers_every_point_and_marks_oom_and_unsupported(cat):
    models, gpus, quants = cat
    grid = Grid(quants=(quants["bf16"], quants["fp8"], quants["int4"]), batches=(1, 64, 4096),
                contexts=(1024, 131072, 200_000))
    df = analytic_profile(models["llama-3.1-8b"], gpus["a100-80gb"], grid, eff)
    assert len(df) == 3 * 2 * 3 * 3
    assert set(df.loc[df["quant"] == "fp8", "status"]) == {"unsupported"}  # A100 has no FP8
    big = df[(df["quant"] == "bf16") & (df["batch"] == 4096) & (df["context"] == 131072)]
    assert set(big["status"]) == {"oom"} and big["note"].str.contains("GiB").all()
    assert set(df.loc[df["context"] == 200_000, "status"]) == {"unsupported"}
    ok = df[df["status"] == "ok"]
    assert (ok["peak_bytes"] <= gpus["a100-80gb"].hbm_bytes).all()
    validate(df)


def test_int4_weights_smaller_and_decode_faster_at_batch1(cat):
    models, gpus, quants = cat
    grid = Grid(quants=(quants["bf16"], quants["int4"]), batches=(1,), contexts=(1024,), phases=("decode",))
    df = analytic_profile(models["llama-3.1-8b"], gpus["h100-sxm"], grid, eff).set_index("quant")
    assert df.loc["int4", "weights_bytes"] < 0.4 * df.loc["bf16", "weights_bytes"]
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
