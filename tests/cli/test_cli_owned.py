"""Issue 14 item 7 from the CLI: `plan --owned GPU:N` (a cap and a sunk cost), its view and its one-line errors."""

from __future__ import annotations

import pytest

from tests.helpers import cli, cli_error, cli_json

SMALL = ("plan", "llama-3.1-8b", "--gpu", "h100-sxm", "--quant", "fp8")


def test_plan_owned_json_carries_the_owned_view():
    d = cli_json(*SMALL, "--owned", "h100-sxm:8")
    assert d["pricing"] == "owned" and d["gpus_total"] <= 8
    rec = d["views"]["owned"]["record"]
    assert rec["gpus_owned"] == 8 and rec["gpus_used"] == d["gpus_total"] + rec["guard_gpus"]  # the guard's MIG GPU
    assert rec["gpus_idle"] == 8 - rec["gpus_used"] and rec["extra_gpus_needed"] == 0
    gpu_lines = sum(li["monthly_cost"] for li in d["line_items"] if li["category"] == "gpu")
    assert abs(gpu_lines - d["usd_per_gpu_hour"] * d["gpus_total"] * 730) < 1e-6


def test_plan_owned_table_says_what_is_billed_and_what_is_sunk():
    r = cli(*SMALL, "--owned", "h100-sxm:8")
    assert r.exit_code == 0, r.output
    assert "GPUs you own" in r.output and "sunk, not billed" in r.output and "powered down" in r.output


def test_malformed_or_unknown_owned_gpus_fail_in_one_line():
    assert "expected gpu:count" in cli_error(*SMALL, "--owned", "h100-sxm")
    assert "expected gpu:count" in cli_error(*SMALL, "--owned", "h100-sxm:0")
    assert "h100-sxm" in cli_error(*SMALL, "--owned", "h100-sxn:8")  # the close name suggested


def test_needing_more_gpus_than_owned_fails_in_one_line_with_the_cost_of_the_rest():
    out = cli_error("plan", "llama-3.3-70b", "--gpu", "h100-sxm", "--quant", "fp8", "--owned", "h100-sxm:1")
    assert "you own 1" in out and "more would cost" in out and "/month" in out


@pytest.mark.parametrize("flag", [["--pricing", "buy"], ["--provider", "aws"], ["--region", "us"]])
def test_offer_flags_that_would_not_apply_are_refused(flag):
    out = cli_error("plan", "llama-3.1-8b", "--owned", "h100-sxm:8", *flag)
    assert "--owned bills the GPUs you own at their running costs" in out and flag[0] in out
