"""What an analytic `inferplan profile` reports, checked against hand-derived sizes and the roofline bound."""

import pytest

from tests.helpers import cli_json

LLAMA_8B_PARAMS = 8_030_261_248  # derived by hand in tests/profiler/test_params.py
H100_SXM_BYTES_PER_S = 3.35e12  # gpus.yaml h100-sxm, datasheet HBM bandwidth


def test_profile_json_acceptance_row():
    rows = cli_json("profile", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "bf16", "--batch", "1",
                    "--context", "1024")
    assert [(r["phase"], r["batch"], r["context"]) for r in rows] == [("prefill", 1, 1024), ("decode", 1, 1024)]
    dec = rows[1]
    assert dec["weights_bytes"] == pytest.approx(2 * LLAMA_8B_PARAMS, rel=0.005)  # bf16: 2 B per parameter
    assert dec["kv_bytes_per_token"] == 32 * 8 * 128 * 2 * 2  # layers x KV heads x dims x (K, V) x 2 B
    # decode at batch 1 streams every weight once per token: no faster than the datasheet roofline, and
    # at least 60 % of it (the default bandwidth efficiency is 0.8; overheads take part of the rest)
    roofline = H100_SXM_BYTES_PER_S / dec["weights_bytes"]
    assert 0.6 * roofline <= dec["tokens_per_s"] <= roofline
    assert dec["tokens_per_s"] == pytest.approx(1000 / dec["latency_ms"])  # batch 1: one token per step


def test_the_analytic_default_gpu_is_h100_sxm():
    rows = cli_json("profile", "llama-3.1-8b", "--batch", "1", "--context", "1024")
    assert {r["gpu"] for r in rows} == {"h100-sxm"} and {r["source"] for r in rows} == {"analytic"}


def test_mxfp4_on_a_moe_model_quantises_its_experts_only():
    rows = cli_json("profile", "gpt-oss-20b", "--quant", "mxfp4,bf16", "--batch", "1", "--context", "1024")
    w = {row["quant"]: row["weights_bytes"] for row in rows}
    # gpt-oss-20b: 20,914,757,184 parameters (tests/profiler/test_params.py), of which the expert weight
    # matrices are 24 layers x 32 experts x 3 x 2,880^2 = 19,110,297,600 (their biases stay bf16).
    # bf16: 2 x 20,914,757,184 = 41,829,514,368 B.
    # mxfp4: experts at 4 bits + an 8-bit E8M0 scale per 32 = 4.25 bits: 19,110,297,600 x 4.25 / 8
    # = 10,152,345,600 B; the other 1,804,459,584 parameters in bf16 = 3,608,919,168 B -> 13,761,264,768 B.
    assert w == {"bf16": 41_829_514_368, "mxfp4": 13_761_264_768}
