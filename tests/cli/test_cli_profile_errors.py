"""Bad `inferplan profile` input ends in one readable message and exit 1, never a traceback (cli_error checks all
three), and the message says what would work."""

import pytest

from tests.helpers import cli_error

# Sizes behind the "does not fit" messages, derived by hand. llama-3.1-405b (hidden 16,384, MLP 53,248, 126 layers,
# 128 heads, 8 KV heads of 128, vocab 128,256): per layer q, o 2 x 16,384^2 + k, v 2 x 1,024 x 16,384 + MLP
# 3 x 16,384 x 53,248 + norms 32,768 = 3,187,703,808; x 126 = 401,650,679,808 in the layers, + embedding and lm_head
# 2 x 128,256 x 16,384 = 4,202,692,608 + final norm 16,384 = 405,853,388,800 parameters.
#   bf16: 2 B each = 811.7e9 B = 756.0 GiB per GPU at TP=1.
#   fp8: 1 B per layer weight = 374.1 GiB, + a 4 B scale per row of K >= 16,384 inputs (~0.1 GiB), + embeddings
#        kept bf16 (7.8 GiB) -> 382.0 GiB;
#        TP=4 95.5 GiB, TP=8 47.7 GiB.
#   int4: 4.25 bits per layer weight (4 + 32-bit scale and zero per 128), embeddings bf16 -> 221.8e9 B = 206.6 GiB;
#        TP=2 103.3 GiB, TP=4 51.6 GiB, TP=8 25.8 GiB.
#   Usable: 90 % of HBM: h100-sxm 81,559 MiB = 79.65 GiB -> 71.7 GiB; h200 139.0 GiB -> 125.2 GiB; l4 22.5 -> 20.2.
#   So on an H100: fp8 and int8 need TP=8, int4 TP=4; on an H200: int4 TP=2, fp8 TP=4; on an L4 nothing, even
#   int4 at TP=8 (25.8 > 20.2 GiB).
#   KV 126 layers x 8 KV heads x 128 x 2 x 2 B = 516,096 B/token; x 1,024 tokens = 0.49 GiB.


@pytest.mark.parametrize("args, says", [
    (("--context", "0"), "contexts must be positive"),
    (("--context", "-5"), "contexts must be positive"),
    (("--batch", "0"), "batches must be positive integers, got [0]"),
    (("--batch", "99999999999"), "batches above 1,048,576"),
    (("--context", "200000", "--batch", "1"), "at most 131,072 tokens"),  # llama-3.1-8b max_position_embeddings
    (("--quant", "mxfp4"), "quantises MoE expert weights only"),
    (("--calibration", "/nonexistent/calibration.yaml"), "does not exist"),
    (("--tp", "16", "--gpu", "l4"), "a l4 node holds 8"),
    (("--batch", "1,x"), "--batch: cannot read '1,x' as a comma-separated list of integers"),
    (("--context", "abc"), "--context: cannot read 'abc' as a comma-separated list of integers (8k = 8192)"),
    (("--tp", "two"), "--tp: cannot read 'two' as a comma-separated list of integers"),
    (("--format", "yaml"), "--format must be one of table, json, csv, not 'yaml'"),
    (("--kv-dtype", "int4"), "--kv-dtype must be bf16 or fp8, not 'int4'"),
])
def test_bad_profile_input_is_one_message(args, says):
    out = cli_error("profile", "llama-3.1-8b", *args)
    assert out.startswith("error: ") and says in out
    assert "parse_count" not in out and "ValueError" not in out  # the user's words, not the code's


def test_an_unknown_model_suggests_the_closest_name_first():
    out = cli_error("profile", "llama-3.1-8", "--format", "json")
    # one character short of llama-3.1-8b: the closest catalogue name, so the first suggestion
    assert out.startswith("error: Unknown model 'llama-3.1-8'. Did you mean: llama-3.1-8b")
    assert "Known models:" in out and "smollm2-135m" in out.split("Known models:")[1]


def test_an_unknown_gpu_suggests_catalogue_ids():
    out = cli_error("profile", "llama-3.1-8b", "--gpu", "h100")
    suggested = out.split("Did you mean: ")[1].split("?")[0].split(", ")
    assert {"h100-sxm", "h100-pcie"} <= set(suggested)


def test_a_model_too_large_for_the_gpu_says_what_fits():
    out = cli_error("profile", "llama-3.1-405b", "--gpu", "h100-sxm", "--quant", "bf16")
    assert "llama-3.1-405b at bf16 does not fit 1x h100-sxm: weights need 756.0 GiB per GPU" in out
    assert "the engine can use 71.7 GiB (90% of HBM)" in out
    assert "one 1024-token sequence needs 0.49 GiB" in out
    assert "On h100-sxm it fits as: fp8 at TP=8, int8 at TP=8, int4 at TP=4." in out
    assert "h200 (int4 TP=2, fp8 TP=4, int8 TP=4)" in out


def test_nothing_fits_in_any_requested_configuration_says_what_would():
    out = cli_error("profile", "llama-3.1-405b", "--gpu", "l4", "--quant", "bf16,fp8")
    # fp8 at TP=1 needs 382.0 GiB of the L4's 20.2; not even int4 at TP=8 fits an L4, so it is not offered
    assert "llama-3.1-405b at fp8 does not fit 1x l4: weights need 382.0 GiB per GPU" in out
    assert "the engine can use 20.2 GiB (90% of HBM)" in out and "h200 (int4 TP=2, fp8 TP=4" in out
    assert "l4 (" not in out.split("Other GPUs")[1]


def test_fp8_on_a100_is_reported_unsupported():
    out = cli_error("profile", "llama-3.1-8b", "--gpu", "a100-80gb", "--quant", "fp8", "--format", "json")
    assert out.strip() == ("error: fp8 needs native fp8 support, which NVIDIA A100 SXM 80GB lacks; use bf16, int8 or "
                           "int4 on this GPU")
