"""`inferplan plan` refuses bad input in one line, without a traceback, saying what would work."""

import pytest

from tests.helpers import cli, cli_error


@pytest.mark.parametrize("args, says", [
    (("--tp", "two"), "--tp: expected comma-separated integers such as 1,2,4, got 'two'"),
    (("--tp", "0"), "every value must be 1 or more"),
    (("--pricing", "reserved1y"), "did you mean 'reserved-1y'"),
    (("--provider", "nosuch"), "no GPU offers from provider 'nosuch'"),
    (("llama-3.3-7b",), "Did you mean: llama-3.3-70b"),
    (("--tokens-per-day-in", "lots"), "tokens_in_per_day: cannot read 'lots'"),
    (("--availability", "100"), "availability: must lie strictly between 0% and 100%"),
    (("--gpu", "h100"), "Unknown GPU 'h100'. Did you mean: h200, h100-sxm"),
    (("--kv-dtype", "int4"), "--kv-dtype must be bf16 or fp8, not int4"),
    (("--plot", "cost.txt"), "--plot cost.txt: name a .png, .svg, .pdf file"),
    (("-o", "plan.txt"), "plan files are .json, .csv, .xlsx, .md"),
    # every H100 node holds 8 GPUs: TP 16 is a reason, not a crash (it used to be a KeyError traceback)
    (("--gpu", "h100-sxm", "--tp", "16"), "TP=16 needs 16 GPUs in one node and a h100-sxm node holds 8"),
])
def test_bad_plan_options_are_one_line(args, says):
    assert says in cli_error("plan", *args)


def test_an_unknown_format_is_a_usage_error():
    r = cli("plan", "--format", "yaml")
    assert r.exit_code == 2 and "table, json, csv" in r.output


def test_a_bad_workload_file_names_its_line(write_file):
    bad = write_file("w.yaml", "tokens_in_per_day: 5M\n  ttft_p99: [2s\n")
    assert "w.yaml:2" in cli_error("plan", "--workload", bad)


def test_a_model_too_large_for_the_searched_gpus_says_what_would_hold_it():
    out = cli_error("plan", "llama-3.1-405b", "--gpu", "l4")
    # 405B at int4 is ~203 GB of weights: four 80 GB H100s, two 141 GB H200s
    assert "does not fit in memory" in out and "h100-sxm (fp8 TP=8, int8 TP=8, int4 TP=4)" in out
    assert "h200 (bf16 TP=8, fp8 TP=4, int8 TP=4, int4 TP=2)" in out


def test_a_profile_of_another_model_is_refused(tmp_path):
    prof = tmp_path / "p8b.csv"
    assert cli("profile", "llama-3.1-8b", "-o", prof).exit_code == 0
    out = cli_error("plan", "llama-3.3-70b", "--profile", prof)
    assert "profiles llama-3.1-8b, not llama-3.3-70b" in out


def test_bad_price_file_references_are_refused(write_file):
    gp = write_file("g.yaml", "offers:\n  - {provider: me, gpu: h100, pricing: on-demand, usd_per_gpu_hour: 1.0, "
                              "as_of: 2026, source: quote}\n")
    assert "did you mean 'h100-sxm'" in cli_error("plan", "--gpu-prices", gp)
    ap = write_file("a.yaml", "models:\n  - {provider: me, model: m, usd_per_mtok_in: 1, usd_per_mtok_out: 2, "
                              "as_of: 2026, source: quote, tags: [dedicatd-option]}\n")
    assert "did you mean 'dedicated-option'" in cli_error("plan", "--api-prices", ap)
